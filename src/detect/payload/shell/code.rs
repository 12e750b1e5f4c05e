//! Code for interpreters that run inside the application: log4j lookups, template engines,
//! PHP, Java and its expression languages, Node.js, Ruby, Python, server-side includes, and
//! the Windows command line.
//!
//! These are read in the canonical view, before the shell view removes the quotes and
//! brackets they are made of. A rule here fires on syntax that only code has (`<?php`, a
//! serialized object, `$f(`) or on a name that nothing else is called (`gzinflate(`,
//! `child_process`); a name that is also a word (`system`, `exec`) needs call syntax that
//! prose does not write. The quiet-text screen must know every word such a rule can fire on
//! without a risky character (see `screen.rs`).

/// Code-execution syntax read in the canonical view: [`CODE_RULES`] and the rules built from
/// parts.
pub(super) fn code_rules() -> Vec<String> {
    let fixed = CODE_RULES.iter().map(|rule| rule.to_string());
    fixed.chain(variable_calls()).collect()
}

/// What PHP skips between the parts of a call: white space, a `/* */` comment, or a `//` or
/// `#` comment up to its line break.
const GAP: &str = r"(?:\s|/\*.*?\*/|(?://|#)[^\n]*\n)";

/// One subscript of a PHP variable: `[x]` (with one level of nesting, `[$_[1]]`), `{x}`, or
/// `->name`.
const SUBSCRIPT: &str =
    r"(?:\[(?:[^\[\]]+|[^\[\]]*\[[^\]]+\][^\[\]]*)\]|\{[^}]+\}|->\s*[a-z0-9_]+)";

/// Calls through a PHP variable, the usual shape of an obfuscated web shell: `$fn(1)`,
/// `@$_[x](2)`, `$$a(3)`, `$_aB[5] /*x*/ (4)`. A one-letter variable called without a
/// subscript (`$f(x)`) is left alone: that is how TeX writes a function between its dollar
/// signs, in every maths post.
fn variable_calls() -> [String; 3] {
    let subscript = format!("(?:{GAP}*{SUBSCRIPT})");
    let call = format!(r"{GAP}*\(");
    [
        // Behind `@` (error suppression) or a variable variable.
        format!(r"(?:@\$+|\$\$+)\s*(?:[a-z_][a-z0-9_]*|\{{[^}}]+\}}){subscript}*{call}"),
        // A name of two characters or more, or `$_`.
        format!(r"\$\s*(?:[a-z_][a-z0-9_]+|_){subscript}*{call}"),
        // A one-letter or braced name with at least one subscript.
        format!(r"\$\s*(?:[a-z]|\{{[^}}]+\}}){subscript}+{call}"),
    ]
}

/// The code-execution rules written out whole.
const CODE_RULES: &[&str] = &[
    // log4j lookups, including nested ones that spell `jndi` in pieces, and a `{jndi:` left
    // behind once an obfuscating lookup in front of it has been resolved.
    r"\$\{\s*(?:jndi\s*:|(?:lower|upper|env|sys|java|base64|date|main|ctx|spring|k8s|docker|web|log4j|bundle|marker|sd|script|url|dns|file)\s*:|\$\{|::-)",
    r"\{\s*jndi\s*:|\bjndi\s*:\s*(?:ldaps?|rmi|dns|iiop|corba|nds|nis|https?)\s*:",
    // Shellshock: a function definition where a header or parameter value starts.
    r"(?:^|[;|&=\x22':])\s*\(\s*\)\s*\{",
    // Template injection: arithmetic probes and object-graph walks.
    r"\{\{\s*[\d\s*+\-/.]+\}\}|\$\{\s*\d+\s*[*+\-/]\s*\d+\s*\}|#\{\s*\d+\s*[*+]\s*\d+\s*\}|<%=?\s*\d+\s*[*+]\s*\d+\s*%>",
    r"\{\{[^}]{0,80}(?:__class__|__mro__|__globals__|__builtins__|__subclasses__|__init__|config\.|lipsum|cycler|joiner|self\._)",
    r"\b(?:__class__\s*\.\s*__mro__|__subclasses__\s*\(|__globals__\s*\[|__builtins__|__import__\s*\()",
    r"\{%\s*(?:import|include|set|for|if|macro)\b[^%]{0,80}%\}",
    // PHP code: an opening tag (also BBCode's and Smarty's), a superglobal, a variable
    // variable (`${'a'}`, `$ {$a}`), a function named in a string or in parentheses
    // (`"system"('id')`, `(system)('id')`); calls through a variable are built by
    // `variable_calls`.
    r"<\?\s*(?:php\b|=|\$|(?:echo|print|system|exec|passthru|eval|include|require)\b)|[\[{][\\/]?php[\]}]",
    r"\$(?:_(?:get|post|request|cookie|server|files|env|session)|globals|http_raw_post_data|http_[a-z0-9_]+_vars)\b",
    r"\$\s*\{\s*[\x22'$@]",
    r"(?:[\x22']|\(\s*(?:/\*.*?\*/\s*)*)(?:system|exec|shell_exec|passthru|popen|proc_open|assert|eval|phpinfo|pcntl_exec)\s*(?:/\*.*?\*/\s*)*[\x22')]\s*\(",
    // PHP functions that nothing but PHP is named after, called even through comments or
    // line breaks (`gzinflate/**/(`, `file_exists (\n)`); the common-word ones (`exec`,
    // `system`) only with an argument that no prose has.
    r"\b(?:phpinfo|shell_exec|passthru|proc_open|pcntl_[a-z0-9_]+|gz(?:inflate|uncompress|decode)|bzdecompress|zlib_(?:decode|encode)|str_rot13|file_(?:put|get)_contents|file_exists|filegroup|fileowner|fileperms|create_function|call_user_func(?:_array)?|base64_decode|p?fsockopen|posix_[a-z0-9_]+|assert_options|get_defined_(?:functions|vars|constants)|curl_(?:init|exec)|move_uploaded_file|ini_(?:set|get_all|restore)|php_uname|highlight_file|show_source|escapeshell(?:arg|cmd)|unserialize)(?:\s|=|/\*.*?\*/|(?://|#)[^\n]*\n)*\(",
    r"\b(?:system|exec|popen|assert|eval|include|require)(?:_once)?\s*\(\s*[\x22'$`]",
    r"\b(?:system|exec|shell_exec|passthru|popen)\s*\(\s*(?:whoami|id|uname|ls|pwd|dir|hostname|ipconfig|ifconfig|wget|curl|nc|bash|sh|cmd)\b",
    r"\bexec(?:\s|/\*.*?\*/|#[^\n]*\n)*(?:/\*.*?\*/|#[^\n]*\n)(?:\s|/\*.*?\*/|#[^\n]*\n)*\(|\bexec[\t\n\r]+\(|\bexec\s{2,}\(",
    // A serialized PHP object, which unserialize() turns into a gadget chain.
    r"\b[oc]:\+?\d+:\x22[^\x22]{1,200}\x22:\d+:\{",
    // PHP stream wrappers that run or smuggle code through include().
    r"\b(?:php|phar|zlib|glob|expect|ogg|rar|ssh2\.[a-z0-9_]+|compress\.(?:zlib|bzip2))://|\bdata:(?://)?(?:text/plain|application/x-(?:httpd-)?php)\b",
    // php.ini directives, as PHP-FPM's PHP_VALUE and .user.ini take them, at the start of a
    // value or line: what an attacker sets to make the next request run his input. Those
    // named by an everyday word (`engine`, `precision`, `extension`) are left out, since a
    // line such as `precision = 2` is ordinary text.
    r"(?:^|[\n;])\s*(?:auto_(?:prepend|append)_file|allow_url_(?:include|fopen)|disable_(?:functions|classes)|open_basedir|safe_mode[a-z0-9_]*|extension_dir|zend_extension|include_path|sendmail_path|error_log|log_errors|display_errors|cgi\.[a-z0-9_]+|doc_root|user_dir|opcache\.[a-z0-9_]+|mbstring\.[a-z0-9_]+|session\.[a-z0-9_]+|memory_limit|max_execution_time|sendmail_from|unserialize_max_depth|short_open_tag|register_globals|file_uploads|upload_tmp_dir|expose_php|pcre\.[a-z0-9_]+)\s*=",
    // Java, OGNL and expression languages.
    r"\bjava\s*\.\s*(?:lang\s*\.\s*)?(?:runtime|processbuilder)\b|\bjava\.lang\.(?:system|class|reflect)|\bgetruntime\s*\(|\bprocessbuilder|\bclass\.forname|#_memberaccess|@ognl|\bognl\.|#context\s*\[|\.getclass\s*\(\s*\)\s*\.|\bjavax\.script|\bscriptenginemanager|%\{\s*[#(@]|\bt\s*\(\s*java\.",
    // A Java class of the packages that deserialization gadget chains are built from, standing
    // alone as a value, a quoted string or an XML text (`"java.io.File"`, `>com.sun.x<`): what
    // a polymorphic JSON or XML payload names. Inside prose or a pasted stack trace (`at
    // java.lang.Thread.run(`) it does not count.
    r"(?:^|[\x22'>\[,])\s*(?:java\.(?:io|lang|net|nio|rmi|beans|security)|javax\.(?:naming|script|management|el|xml\.transform)|com\.sun|sun\.(?:misc|reflect|rmi)|org\.omg\.corba|com\.opensymphony\.xwork2|org\.apache\.(?:commons|xalan|xbean|naming|tomcat\.dbcp|catalina|struts2)|org\.springframework\.(?:beans|context|jndi|aop)|org\.codehaus\.groovy|groovy\.lang|bsh\.(?:interpreter|xthis)|com\.mchange\.v2|org\.mozilla\.javascript|clojure\.(?:core|lang)|ch\.qos\.logback|net\.sf\.json)(?:\.[a-z0-9_$]+)*\s*(?:$|[\x22'<\],])",
    // A serialized Java object (its stream magic, raw in hex or in base64) at the start of
    // a value; the transformer and closure classes of the commons-collections gadget chains;
    // Spring contexts loaded from an attacker's XML.
    r"^(?:ro0ab|aced0005)",
    r"\b(?:clonetransformer|forclosure|instantiatefactory|instantiatetransformer|invokertransformer|prototypeclonefactory|prototypeserializationfactory|whileclosure|(?:filesystem|classpath)xmlapplicationcontext)\b",
    // Node.js: node-serialize's and funcster's function markers, the child_process module,
    // the module loader and environment reached from the process.
    r"_\$\$nd_func\$\$_|\b__js_function\b|\bchild_process\b|\bprocess\s*\.\s*(?:mainmodule|binding|dlopen)\b|\brequire\s*\.\s*main\b|\._load\s*\(",
    r"\bprocess\s*(?:\.\s*env\b|\[)|\brequire\s*\[",
    // React Server Components' flight references walked to a constructor (React2Shell).
    r"\$\d+:(?:[a-z0-9_$]+:)?(?:constructor|prototype|__proto__)\b",
    // A loop with an always-true condition and an empty body: the request hangs the
    // interpreter that evaluates it. Code with a real body (`while (true) {`) is left alone.
    r"\bwhile\s*\(+\s*(?:!+\s*(?:false|[-+]?0|\x22\x22|''|``|null|undefined|nan|\{\})?|true|[-+]?(?:1|infinity)|this|string|new\s+date)\s*\)+\s*(?:;|$)",
    // Ruby: process and shell calls; Perl: code run inside an interpolated string (`@{[ ]}`).
    r"\b(?:process\s*\.\s*spawn|kernel\s*\.\s*(?:exec|system|spawn|open)|io\s*\.\s*popen|open3\s*\.\s*[a-z0-9_]+)\s*\(|%x\s*[({\[]|@\{\s*\[",
    // Spring and Struts data binding walked up to the class loader (Spring4Shell and kin).
    r"\bclass\s*\.\s*(?:module\s*\.\s*)?classloader\b|\[\s*[\x22']?class[\x22']?\s*\]\s*\[\s*[\x22']?classloader",
    // A PHP front controller asked to call a function by name (ThinkPHP's invokefunction).
    r"\binvokefunction\b|\bfunction\s*=\s*(?:call_user_func(?:_array)?|system|exec|shell_exec|passthru|assert|phpinfo)\b",
    // Python.
    r"\bos\s*\.\s*(?:system|popen|exec\w*|spawn\w*)\s*\(|\bsubprocess\s*\.\s*(?:call|popen|run|check_output)|\beval\s*\(\s*compile",
    // Server-side includes.
    r"<!--\s*#\s*(?:exec|include|echo|set|printenv|config|fsize|flastmod|if|elif)\b",
    // Windows shells, PowerShell and batch syntax.
    r"\bcmd(?:\.exe)?\s*/[ck]\b|\bpowershell(?:\.exe)?\s+-|\bpwsh\s+-",
    r"\b(?:invoke-expression|invoke-webrequest|invoke-restmethod|start-process|downloadstring|downloadfile|set-executionpolicy)\b|\biex\s*\(|-encodedcommand\b|new-object\s+(?:system\.)?net\.webclient",
    r"%(?:comspec|systemroot|systemdrive|windir|programfiles|programdata|appdata|localappdata|userprofile|homedrive|homepath|allusersprofile|temp)%",
    // cmd.exe's `for [/d | /r dir | /l | /f "options"] %name in (set) do command`.
    r"\bfor\s+(?:/[dflr]\b[^%\n]{0,80}?\s)?%%?[a-z][\w]*\s+in\s*\([^)\n]{0,200}\)\s*do\b",
    r"\bfor\s+(?:/[dflr]\s+(?:[^%\n]{0,60}\s)?)?%%?\S{0,3}\s+in\s*\(",
    r"\bif\s+(?:/i\s+)?(?:not\s+)?(?:exist|defined|errorlevel|cmdextversion)\s|\bif\s*/i\b",
    r"\bif\s+[^\n]{0,80}?\s(?:equ|neq|lss|leq|gtr|geq)\s|\bif\s+(?:not\s+)?[^\s=]*[%\x22(][^\s=]*\s*==",
    r"\bif\s+(?:/i\s+)?(?:not\s+)?(?:[^\s(=]\S*?|\x22[^\x22]*\x22)\s*===?\s*\S+\s+[a-z@(]",
    // Shell parameter expansion operators, aliases and variables holding a shell.
    r"\$\{[a-z_][a-z0-9_]*(?:#|%|:[-=?+0-9]|/|\^|,)",
    r"\$\{?(?:shell|bash)\}?\s+-c\b",
    // Brace expansion glued to a word or starting with a comma: c{a,oun}t, {,ip,a}.
    r"\w\{[\w./-]*,[\w./,-]*\}|\{,[\w./-]+|\{[\w./-]*,-",
    // Mail protocol commands smuggled after a line break.
    // Arithmetic and command expansions (read before the shell view splits braces).
    r"\$\[[\d\s+\-*/%]*\]|\$\{\s*`|\$\(\(",
    // The SQLite shell's dot-commands, which run programs or dump the database, after a line
    // break or a statement end.
    r"[;\r\n]\s*\.(?:shell|system|sh|databases|tables|dump|import|load)\b",
    r"[\r\n]\s*(?:rcpt\s+to|mail\s+from)\s*:|[\r\n]\s*(?:ehlo|helo)\s+[a-z0-9.-]+\.[a-z]",
    // POP3 and SMTP commands smuggled after a line break: a numbered list, an APOP digest, an
    // AUTH with its credentials.
    r"[\r\n]\s*list\s+\d+\s*(?:$|[\r\n])|[\r\n]\s*apop\s+\S+\s+[0-9a-f]{32}\b|[\r\n]\s*auth\s+(?:plain|login|cram-md5|xoauth2|\S+\s+[a-z0-9+/]{8,}={0,2}(?:$|[\r\n]))",
    r"[\r\n]\s*[a-z]*\d[a-z0-9]*\s+(?:login|authenticate|select|examine|append|fetch|store|uid|search|list|status|logout)\s|[\r\n]\s*(?:retr|dele|top|uidl)\s+\d",
];

#[cfg(test)]
mod tests {
    use crate::detect::payload::{Location, PayloadMatcher};

    /// Each pair is scanned as a query and as a form field's name and value, through the
    /// quiet-text screen, which debug builds check against the full analysis.
    fn check(cases: &[(&str, bool)]) {
        let matcher = PayloadMatcher::builtin();
        for (pair, expected) in cases {
            let query = matcher.scan(Location::Query, pair);
            assert_eq!(!query.is_empty(), *expected, "query {pair:?}: {query:?}");
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let form = matcher
                .scan(Location::Body, name)
                .union(matcher.scan(Location::Body, value));
            assert_eq!(!form.is_empty(), *expected, "form {pair:?}: {form:?}");
        }
    }

    #[test]
    fn php_code_is_found_in_its_disguises() {
        check(&[
            ("x=%3C%3F%20php%20echo%20%22test%22", true),
            ("x=%3C%3F%09echo%20%22test%22%3B%3F%3E", true),
            ("x=%5Bphp%5Decho%20%22test%22", true),
            ("x=%24_COOKIE", true),
            ("x=%24%20%7B%27_VAR%27.%27IABLE%27%7D", true),
            (
                "x=%24_aB_4c%5B5%5D%5B%27d%27%5D%20%2F%2Alol%2A%2F%20%2817%29",
                true,
            ),
            ("x=%40%24___%5B%40%21%2B_%5D%2821%29", true),
            ("x=%24fn%28101%29.%24fn%28120%29", true),
            ("x=%24_GET%5B0%5D(%24_GET%5B1%5D)", true),
            ("x=%40%24a(1)", true),
            ("x=%28string%29%22system%22%28%27uname%27%29%3B", true),
            ("x=%28%2f*+comment+*%2fsystem%29%28ls%29%3B", true),
            ("x=gzuncompress/*comment*/()", true),
            ("x=file_ExistS%20%28%0A%0A%29", true),
            ("x=posix_getpwuiD%28%27foo%27%29", true),
            ("x=exec%20%23comment%0d%0a%20%28blah%29", true),
            ("x=O%3A8%3A%22stdClass%22%3A0%3A%7B%7D", true),
            ("x=php://filter/convert.base64-encode/resource=index", true),
            ("x=phar://uploads/avatar.jpg", true),
            ("x=auto_prepend_file%3Dphp://input", true),
            ("x=memory_limit%20=%20512M", true),
            ("x=%24__%5B%24_%5B1%5D%5D%287%29", true),
            (
                "x=%24_aB_4c%20%23foo%0D%0A%09%5B5%5D%2F%2Fbar%0D%0A%09%5B%27d%27%5D%20(17)",
                true,
            ),
            ("cmd=system(whoami)", true),
            ("x=ZlIb%5fDeCoDe=(bla)", true),
        ]);
    }

    #[test]
    fn java_node_and_ruby_code_is_found() {
        check(&[
            ("x=java.io.FileOutputStream", true),
            ("java.lang.ProcessBuilder=x", true),
            (
                "x=%7B%22%40type%22%3A%22com.sun.rowset.JdbcRowSetImpl%22%7D",
                true,
            ),
            ("x=java.Runtime", true),
            ("x=rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcA", true),
            ("x=runtime.InvokerTransformer", true),
            ("h=com.bea.core.repackaged.springframework.context.support.FileSystemXmlApplicationContext('http://x/wb.xml')", true),
            ("x=_%24%24ND_FUNC%24%24_function(){}", true),
            ("x=require('child_process').exec('id')", true),
            ("x=while(!false)", true),
            ("x=while(true);", true),
            ("x=while(new%20Date);", true),
            ("x=process.env", true),
            ("x=process%5BmainModule", true),
            (
                "x=%7B%22get%22%3A%22%243%3Aconstructor%3Aconstructor%22%7D",
                true,
            ),
            ("x=Process.spawn(%22id%22)", true),
            ("x=%40%7B%5Bsystem%20%27whoami%27%5D%7D", true),
            ("a[constructor][prototype][onerror]=a", true),
            ("constructor.prototype.polluted=1", true),
        ]);
    }

    #[test]
    fn code_talk_and_ordinary_values_are_left_alone() {
        check(&[
            // Prose and data that share words or characters with the rules.
            ("q=the+system+(which+we+built)+works", false),
            ("q=exec+(short+for+executive)", false),
            ("q=operating+system(s)+and+identity", false),
            ("price=costs+%245+(each)", false),
            ("post=Let+%24f(x)+%3D+x%5E2%24+and+%24g(t)%24+be+given", false),
            ("note=rounding%0Aprecision+%3D+2%0Aengine+%3D+v8", false),
            ("tpl=Total%3A+%24+%7Bamount%7D", false),
            ("x=%24a%5B%5D%28%29", false),
            ("x=%24%7B%7D%28%29", false),
            ("x=%26lt%3B%3F%20should%20not%20trigger", false),
            ("doc=%3C%3Fxml%20version%3D%221.0%22%3F%3E%3Cnote%3Ehi%3C%2Fnote%3E", false),
            ("x=safe.phpinfo", false),
            ("search=my+search+engine", false),
            ("q=ordering+a+java+coffee", false),
            // A pasted Java stack trace: class names inside text, not values of their own.
            (
                "report=java.lang.IllegalStateException%3A+closed%0A%09at+java.io.FileInputStream.read(FileInputStream.java%3A87)",
                false,
            ),
            ("q=how+to+use+child+processes+in+node", false),
            ("code=while+(true)+%7B+step()%3B+%7D", false),
            ("q=worked+while+(mostly)+asleep", false),
            ("q=the+process+(environment)", false),
            ("token=xRo0ABQsomething", false),
            ("img=data%3Aimage%2Fpng%3Bbase64%2CiVBORw0KGgo%3D", false),
            ("redirect=https%3A%2F%2Fwww.example.com%2Faccount", false),
        ]);
    }
}
