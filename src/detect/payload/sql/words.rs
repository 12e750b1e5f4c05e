//! The SQL vocabulary: which words are keywords, which calls are SQL functions, and which names
//! only a probe of the database's own catalogue would use.
//!
//! Many SQL words are English too ("select", "order", "left", "position"), so a word's letter
//! in the shape depends on how it is used: a common function name counts as a call only when a
//! `(` follows, and the two-word keywords (`order by`, `waitfor delay`) only as a pair. The
//! tables are data so the quiet-text screen can be built from the very words they list.

use std::collections::HashMap;

/// Keywords and the shape letter each stands for when not followed by `(`.
const KEYWORDS: &[(&str, char)] = &[
    ("union", 'U'),
    ("except", 'U'),
    ("intersect", 'U'),
    ("select", 'S'),
    ("from", 'F'),
    ("where", 'W'),
    ("and", '&'),
    ("or", '&'),
    ("xor", '&'),
    ("not", 'x'),
    ("like", 'L'),
    ("rlike", 'L'),
    ("ilike", 'L'),
    ("regexp", 'L'),
    ("glob", 'L'),
    ("similar", 'L'),
    ("between", 'B'),
    ("is", 'i'),
    ("in", 'I'),
    ("null", 'N'),
    ("true", 'N'),
    ("false", 'N'),
    ("having", 'H'),
    ("limit", 'M'),
    ("offset", 'M'),
    ("insert", 'R'),
    ("replace", 'R'),
    ("into", 'T'),
    ("update", 'P'),
    ("exec", 'E'),
    ("execute", 'E'),
    ("declare", 'E'),
    ("shutdown", 'E'),
    ("drop", 'X'),
    ("create", 'X'),
    ("alter", 'X'),
    ("truncate", 'X'),
    ("delete", 'D'),
    ("table", 'K'),
    ("database", 'K'),
    ("schema", 'K'),
    ("view", 'K'),
    ("procedure", 'K'),
    ("function", 'K'),
    ("trigger", 'K'),
    ("index", 'K'),
    ("user", 'K'),
    ("login", 'K'),
    ("all", 'A'),
    ("distinct", 'A'),
    ("then", 'V'),
    // Functions no English text names, strong even without their parentheses.
    ("pg_sleep", 'Y'),
    ("extractvalue", 'Y'),
    ("updatexml", 'Y'),
    ("load_file", 'Y'),
    ("name_const", 'Y'),
    ("group_concat", 'Y'),
];

/// Operators spelled as words: they keep their keyword letter even when a `(` follows, as in
/// `) like (` or `in (select ...)`.
const OPERATOR_LETTERS: &str = "USF&xLBiIW";

/// Keyword letters that some rule needs with nothing but words, numbers and `( ) , ; . / -`
/// around them. The others (`K`, `L`, `N`, ...) only count next to one of these or next to
/// punctuation the screen already treats as a trigger, so their words need not wake it.
const STANDALONE_LETTERS: &str = "USQYyZ!&xEXRPDOCH";

/// Calls of functions only SQL has: damning wherever they appear.
const SQL_ONLY_CALLS: &[&str] = &[
    "pg_sleep",
    "extractvalue",
    "updatexml",
    "load_file",
    "name_const",
    "randomblob",
    "sys_eval",
    "sys_exec",
    "lo_import",
    "lo_export",
    "lo_get",
    "pg_read_file",
    "pg_ls_dir",
    "dbms_pipe",
    "receive_message",
    "get_host_address",
    "make_set",
    "geometrycollection",
    "multipoint",
    "gtid_subset",
    "json_keys",
    "xmltype",
    "utl_inaddr",
    "ctxsys",
    "dbms_xdb_version",
    "group_concat",
    "find_in_set",
    "db_name",
    "schema_name",
    "substring_index",
    "current_database",
    "is_srvrolemember",
    "has_dbaccess",
    "object_id",
    "waitfor",
    "concat_ws",
    "ifnull",
    "unhex",
    "sysdate",
    "json_extract",
    "json_unquote",
    "export_set",
    "char_length",
    "octet_length",
    "bit_length",
    "nvl",
    "nvl2",
    "iif",
    "datalength",
    "sqlite_version",
    "pg_client_encoding",
    "convert_tz",
    "last_insert_id",
    "found_rows",
    "connection_id",
    "inet_aton",
    "inet_ntoa",
    "lcase",
    "ucase",
];

/// Timing functions whose names are ordinary words, so they need an argument.
const TIMING_CALLS: &[&str] = &["sleep", "benchmark"];

/// Common SQL functions, many of them English words: evidence only in SQL company.
const COMMON_CALLS: &[&str] = &[
    "ascii",
    "ord",
    "char",
    "chr",
    "nchar",
    "concat",
    "substr",
    "substring",
    "length",
    "len",
    "if",
    "isnull",
    "nullif",
    "coalesce",
    "cast",
    "convert",
    "hex",
    "version",
    "database",
    "user",
    "current_user",
    "system_user",
    "session_user",
    "exists",
    "count",
    "rand",
    "now",
    "floor",
    "instr",
    "locate",
    "position",
    "left",
    "right",
    "reverse",
    "lower",
    "upper",
    "trim",
    "ltrim",
    "rtrim",
    "encode",
    "decode",
    "overlay",
    "json_build_object",
    "to_char",
    "to_number",
    "string_to_array",
    "unnest",
    "array_agg",
    "mod",
    "div",
    "glob",
    "insert",
    "replace",
    "abs",
    "acos",
    "asin",
    "atan",
    "atan2",
    "ceil",
    "ceiling",
    "cos",
    "cot",
    "exp",
    "ln",
    "log",
    "log10",
    "log2",
    "pi",
    "pow",
    "power",
    "radians",
    "degrees",
    "round",
    "sign",
    "sin",
    "sqrt",
    "tan",
    "lpad",
    "rpad",
    "repeat",
    "space",
    "format",
    "field",
    "quote",
    "soundex",
    "curdate",
    "curtime",
    "date_format",
    "sum",
    "avg",
    "min",
    "max",
    "schema",
    "md5",
    "sha1",
    "mid",
    "elt",
    "crc32",
    "sha2",
    "strcmp",
    "compress",
    "uncompress",
    "starts_with",
    "to_base64",
    "from_base64",
    "row_count",
];

/// Names of the database's own catalogue and of server-side objects that a probe reads.
const CATALOGUE: &[&str] = &[
    "information_schema",
    "sysobjects",
    "syscolumns",
    "sysusers",
    "sysdatabases",
    "sysprocesses",
    "pg_catalog",
    "pg_shadow",
    "pg_user",
    "pg_database",
    "pg_tables",
    "sqlite_master",
    "sqlite_schema",
    "msysobjects",
    "msysaccessobjects",
    "all_tables",
    "user_tables",
    "all_users",
    "user_objects",
    "sys_context",
    "outfile",
    "dumpfile",
    "tempdb",
    "msdb",
    "msdasql",
    "sqloledb",
    "openrowset",
    "opendatasource",
    "openquery",
];

/// Catalogue name prefixes: stored procedures and packages.
const CATALOGUE_PREFIXES: &[&str] = &["xp_", "sp_", "dbms_", "utl_"];

/// Tables of the `mysql` schema that hold accounts and privileges.
const MYSQL_TABLES: &[&str] = &["user", "db", "tables_priv", "columns_priv", "proc", "func"];

/// Two-word keywords whose first word alone is ordinary English, with their letter.
const PHRASES: &[(&str, &str, char)] = &[
    ("order", "by", 'O'),
    ("group", "by", 'O'),
    ("waitfor", "delay", 'Z'),
    ("waitfor", "time", 'Z'),
    ("execute", "immediate", 'Z'),
    ("into", "outfile", 'Q'),
    ("into", "dumpfile", 'Q'),
    ("procedure", "analyse", 'Q'),
    ("sounds", "like", 'L'),
    ("case", "when", 'C'),
];

/// What one word may stand for.
#[derive(Clone, Copy, Default)]
struct Meaning {
    keyword: Option<char>,
    call: Option<char>,
}

/// The compiled vocabulary, built once per matcher.
pub(crate) struct SqlWords {
    meanings: HashMap<&'static str, Meaning>,
}

impl SqlWords {
    /// Builds the lookup table from the constant lists.
    pub(crate) fn new() -> Self {
        let mut meanings: HashMap<&'static str, Meaning> = HashMap::new();
        for (name, letter) in KEYWORDS {
            meanings.entry(name).or_default().keyword = Some(*letter);
        }
        let calls = [
            (COMMON_CALLS, 'f'),
            (TIMING_CALLS, 'y'),
            (SQL_ONLY_CALLS, 'Y'),
        ];
        for (names, letter) in calls {
            for name in names {
                meanings.entry(name).or_default().call = Some(letter);
            }
        }
        SqlWords { meanings }
    }

    /// The shape letter of `name`; `called` says whether a `(` follows it.
    pub(crate) fn classify(&self, name: &str, called: bool) -> char {
        if is_catalogue(name) {
            return 'Q';
        }
        let meaning = self.meanings.get(name).copied().unwrap_or_default();
        match (meaning.keyword, meaning.call, called) {
            (Some(letter), _, _) if OPERATOR_LETTERS.contains(letter) => letter,
            (_, Some(letter), true) => letter,
            (Some(letter), _, _) => letter,
            (None, None, true) => 'g',
            _ => 'w',
        }
    }

    /// Every word that can give a shape a letter other than `w`, with whether it does so only
    /// when a `(` follows, for the quiet-text screen.
    pub(crate) fn trigger_words(&self) -> impl Iterator<Item = (&str, bool)> + '_ {
        let phrases = PHRASES.iter().map(|(first, _, _)| (*first, false));
        let catalogue = CATALOGUE.iter().map(|name| (*name, false));
        let words = self.meanings.iter().filter_map(|(name, meaning)| {
            let standalone = meaning
                .keyword
                .is_some_and(|letter| STANDALONE_LETTERS.contains(letter));
            match (standalone, meaning.call) {
                (true, _) => Some((*name, false)),
                (false, Some(_)) => Some((*name, true)),
                (false, None) => None,
            }
        });
        phrases
            .chain(catalogue)
            .chain(words)
            .chain(["mysql", "load"].map(|name| (name, false)))
    }

    /// Catalogue prefixes (`xp_`), which match the start of a word, for the screen.
    pub(crate) fn trigger_prefixes() -> &'static [&'static str] {
        CATALOGUE_PREFIXES
    }
}

/// A two-word keyword made of `name` and the start of `next`, with its letter and the length
/// of the second word.
pub(crate) fn phrase(name: &str, next: &str) -> Option<(char, usize)> {
    let second = next
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()?;
    PHRASES
        .iter()
        .find(|(first, then, _)| *first == name && *then == second)
        .map(|(_, _, letter)| (*letter, second.len()))
}

/// `load data infile` or `load data local`: MySQL reading a file of the server or client;
/// `load data` alone is English. Returns the length of `next` that the phrase used.
pub(crate) fn load_data_len(next: &str) -> Option<usize> {
    let rest = next.strip_prefix("data")?;
    let third = rest.trim_start_matches([' ', '\t', '\n', '\r']);
    let word = ["infile", "local"]
        .into_iter()
        .find(|word| third.starts_with(word))?;
    Some(next.len() - third.len() + word.len())
}

/// `mysql.user` and its siblings: the length of the qualified name after `mysql`, if `next`
/// (the text right after the word) names one of those tables.
pub(crate) fn mysql_table_len(next: &str) -> Option<usize> {
    let table = next.strip_prefix('.')?;
    let len = table
        .bytes()
        .take_while(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
        .count();
    MYSQL_TABLES.contains(&&table[..len]).then_some(len + 1)
}

/// Names that only a probe of the database's own structure or capabilities would use.
pub(crate) fn is_catalogue(name: &str) -> bool {
    CATALOGUE_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || CATALOGUE.contains(&name)
}
