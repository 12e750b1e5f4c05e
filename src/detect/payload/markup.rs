//! Cross-site scripting and markup injection.
//!
//! A value is suspect when it would change a page that echoes it: a script-capable tag, any
//! tag with an event handler, a quote that closes an attribute and opens a tag, a
//! `javascript:` URL, a CSS binding, an XML entity declaration. Outside the URL path, script
//! sinks are suspect too (`document.cookie`, `alert(1)`, `window["eval"]`, JSFuck). All rules
//! run on the canonical form, so entity, percent and fullwidth disguises are already undone;
//! rules about script code also run on the comment-stripped view, since `document/**/.cookie`
//! is still `document.cookie` to a browser.

use regex::RegexSet;

/// Tags that run script, load content or reshape the page whatever their attributes.
const DANGEROUS_TAGS: &[&str] = &[
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "meta",
    "base",
    "link",
    "style",
    "svg",
    "math",
    "form",
    "isindex",
    "vmlframe",
    "noscript",
    "xmp",
    "plaintext",
    "noembed",
    "marquee",
    "bgsound",
    "layer",
    "ilayer",
    "dialog",
    "portal",
    "xss",
    "template",
    "keygen",
    "handler",
    "animate",
    "listener",
];

/// Tags whose closing form is how an attacker breaks out of a text-only context.
const BREAKOUT_CLOSERS: &[&str] = &[
    "script", "title", "textarea", "style", "noscript", "xmp", "template", "iframe", "noembed",
    "select", "option",
];

/// Event handler names (without `on`) that fire without user intent or on ordinary use.
const HANDLERS: &[&str] = &[
    "abort",
    "activate",
    "afterprint",
    "afterscriptexecute",
    "animationcancel",
    "animationend",
    "animationiteration",
    "animationstart",
    "auxclick",
    "beforeactivate",
    "beforecopy",
    "beforecut",
    "beforedeactivate",
    "beforeinput",
    "beforepaste",
    "beforeprint",
    "beforescriptexecute",
    "beforetoggle",
    "beforeunload",
    "begin",
    "blur",
    "bounce",
    "canplay",
    "canplaythrough",
    "change",
    "click",
    "close",
    "contextmenu",
    "copy",
    "cuechange",
    "cut",
    "dblclick",
    "drag",
    "dragend",
    "dragenter",
    "dragleave",
    "dragover",
    "dragstart",
    "drop",
    "durationchange",
    "emptied",
    "end",
    "ended",
    "error",
    "finish",
    "focus",
    "focusin",
    "focusout",
    "formdata",
    "fullscreenchange",
    "hashchange",
    "input",
    "invalid",
    "keydown",
    "keypress",
    "keyup",
    "load",
    "loadeddata",
    "loadedmetadata",
    "loadend",
    "loadstart",
    "message",
    "mousedown",
    "mouseenter",
    "mouseleave",
    "mousemove",
    "mouseout",
    "mouseover",
    "mouseup",
    "mousewheel",
    "pagehide",
    "pageshow",
    "paste",
    "pause",
    "play",
    "playing",
    "pointercancel",
    "pointerdown",
    "pointerenter",
    "pointerleave",
    "pointermove",
    "pointerout",
    "pointerover",
    "pointerrawupdate",
    "pointerup",
    "popstate",
    "progress",
    "propertychange",
    "ratechange",
    "readystatechange",
    "repeat",
    "reset",
    "resize",
    "scroll",
    "scrollend",
    "search",
    "securitypolicyviolation",
    "seeked",
    "seeking",
    "select",
    "selectionchange",
    "selectstart",
    "show",
    "start",
    "stalled",
    "storage",
    "submit",
    "suspend",
    "timeupdate",
    "toggle",
    "touchcancel",
    "touchend",
    "touchmove",
    "touchstart",
    "transitioncancel",
    "transitionend",
    "transitionrun",
    "transitionstart",
    "unhandledrejection",
    "unload",
    "volumechange",
    "waiting",
    "webkitanimationend",
    "webkitanimationiteration",
    "webkitanimationstart",
    "webkitplaybacktargetavailabilitychanged",
    "webkittransitionend",
    "wheel",
    "zoom",
];

/// Script sinks and script-only syntax; not applied to the URL path, where words such as
/// `document.cookie` are legitimate page names.
const SCRIPT_RULES: &[&str] = &[
    r"\b(?:alert|prompt|confirm|eval|settimeout|setinterval|execscript|fromcharcode|atob|btoa)(?:\(|`)",
    r"\bnew\s+function\s*\(",
    r"\bdocument\s*\)?\s*\.\s*(?:cookie|domain|write|writeln|location|body|createelement|queryselector|getelementby|forms|referrer|url\b|documenturi|open\s*\()",
    r"\bwindow\s*\.\s*(?:location|open\s*\(|name\b|eval|alert|atob|execscript|settimeout)",
    r"\.\s*(?:inner|outer)html\s*=",
    r"\b(?:window|self|top|parent|frames|globalthis|document|this)\s*\)?\s*\[\s*[`'\x22]",
    r"\.\s*(?:call|apply|bind)\s*`",
    r"[!+]{2,}\s*\[\s*\]|\(\s*!\s*\[\s*\]\s*\+",
    r"\bconstructor\s*\.\s*constructor|\bconstructor\s*\(\s*['\x22]|\b__proto__|\bconstructor\s*(?:\.|\]?\s*\[)\s*['\x22]?prototype\b",
    r"\breflect\s*\.\s*(?:apply|construct|get)\b",
];

/// Compiled XSS rules.
pub(crate) struct MarkupMatcher {
    markup: RegexSet,
    script: RegexSet,
}

impl MarkupMatcher {
    /// Compiles the rules; they are built from constants, so failure is a bug.
    pub(crate) fn new() -> Result<Self, regex::Error> {
        Ok(Self {
            markup: super::rule_set(markup_rules().iter().map(String::as_str))?,
            script: super::rule_set(SCRIPT_RULES.iter().copied())?,
        })
    }

    /// Says whether a value carries markup or script injection. `in_path` limits the check
    /// to markup; `sql_view` is the comment-stripped view, consulted for script rules.
    pub(crate) fn is_xss(&self, canonical: &str, sql_view: &str, in_path: bool) -> bool {
        if self.markup.is_match(canonical) {
            return true;
        }
        if in_path {
            return false;
        }
        self.script.is_match(canonical) || (sql_view != canonical && self.script.is_match(sql_view))
    }
}

fn markup_rules() -> Vec<String> {
    let tags = DANGEROUS_TAGS
        .iter()
        .map(|tag| spaced(tag))
        .collect::<Vec<_>>()
        .join("|");
    let closers = BREAKOUT_CLOSERS.join("|");
    let handlers = HANDLERS.join("|");
    vec![
        // A dangerous tag, also with a namespace prefix (`<x:script`) or spaced letters.
        format!(r"<\s*/?\s*(?:[a-z0-9_-]*\s*:\s*)?(?:{tags})(?:[\s/>]|$)"),
        format!(r"</\s*(?:{closers})"),
        r"<\s*\?\s*import\b".to_string(),
        // Any tag carrying an event handler.
        r"<[a-z][a-z0-9:_-]*[^>]*?[\s/\x22'`]on[a-z]{3,}\s*=".to_string(),
        // A known handler after a separator, as when an attribute value is broken out of.
        format!(r"(?:^|[\s\x22'`;/,(])on(?:{handlers})\s*="),
        r"(?:^|[\s\x22'`/])(?:formaction|srcdoc|xlink:href)\s*=".to_string(),
        // Script URLs, with the tabs and newlines that browsers strip from URLs.
        format!(r"\b(?:{}|{}|{})[\t\n\r]*:", spaced_by("javascript", "[\\t\\n\\r]*"), spaced_by("vbscript", "[\\t\\n\\r]*"), spaced_by("livescript", "[\\t\\n\\r]*")),
        r"\bdata:\s*(?:text/html|image/svg|application/x?html)|\bdata:[^,]{0,40},\s*<".to_string(),
        // An attribute value closed and a new tag opened.
        r"[\x22'`]\s*/?\s*>\s*<\s*[a-z!/?]".to_string(),
        // UTF-7 spellings of < and >.
        r"\+ad[w4]-".to_string(),
        // XML entity declarations and inclusions (XXE).
        r"<!\s*entity|<!doctype\s+[a-z0-9_:-]+\s*\[|<\s*xi\s*:\s*include|!entity\s+%?\s*[a-z0-9_-]+\s+(?:system|public)".to_string(),
        // CSS that runs script.
        r"-moz-binding\s*:|:\s*expression\s*\(|\bbehavior\s*:\s*url|url\s*\(\s*[\x22']?\s*(?:java|vb)script".to_string(),
    ]
}

/// A word with optional whitespace between its letters, as `<s c r i p t` still parses in
/// some legacy engines and filters fail on it.
fn spaced(word: &str) -> String {
    spaced_by(word, r"\s*")
}

fn spaced_by(word: &str, separator: &str) -> String {
    let letters: Vec<String> = word.chars().map(|letter| letter.to_string()).collect();
    letters.join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[(&str, bool, bool)]) {
        let matcher = MarkupMatcher::new().expect("the XSS rules are constants that compile");
        for (text, in_path, expected) in cases {
            assert_eq!(matcher.is_xss(text, text, *in_path), *expected, "{text:?}");
        }
    }

    #[test]
    fn injections_are_found() {
        check(&[
            ("<script>alert(1)</script>", false, true),
            ("<svg/onload=alert(1)>", true, true),
            ("\"><img src=x onerror=alert(1)>", false, true),
            ("' onmouseover=alert(1) '", false, true),
            ("ja\tvascript:alert(1)", false, true),
            ("<x:script src=//evil>", false, true),
            ("<:vmlframe src=", false, true),
            ("<f o r m", false, true),
            ("document.cookie", false, true),
            ("window[\"alert\"](1)", false, true),
            ("+!![]", false, true),
            ("<!entity % x system \"http://evil\">", false, true),
            ("style=background:url(javascript:alert(1))", false, true),
            ("+adw-script+ad4-", false, true),
        ]);
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        check(&[
            ("/get/javascript-manual/document.cookie", true, false),
            ("i <3 you", false, false),
            ("compare 123<456", false, false),
            ("online=1&onboarding=done", false, false),
            ("the regular expression (regex) works", false, false),
            ("a script for the play", false, false),
            ("use the command prompt (cmd)", false, false),
            ("find your solution here -> link", false, false),
        ]);
    }
}
