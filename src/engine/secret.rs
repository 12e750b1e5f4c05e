//! Requests for secret and configuration files: the strong tier of `danger_hits`. A site's
//! owners open its admin panels every day, so those add up slowly, but nobody has a reason to
//! fetch a site's `.env`, its `.git` directory or a database dump, so one such request is
//! enough to refuse. A request is such a probe when its path names an entry of `secret_files`
//! or has a segment that starts with a dot (a hidden file or directory, which ordinary sites
//! never publish, `/.well-known/` aside), or when a query value names one the same way.
//!
//! The same tier covers the upload side: a file sent under a name that the web server or
//! the application reads as its own configuration (`.htaccess`, `web.config`,
//! `wp-config.php`), in the upload-name headers that upload scripts read.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName};

use crate::detect::normalize::{canonicalize, PlusSign};
use crate::policy::lists::{PathList, UploadNames};

/// Headers that carry the name of an uploaded file to the scripts that read them.
/// Built once, so looking for them costs no parsing per request.
const UPLOAD_NAME_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("x-filename"),
    HeaderName::from_static("x_filename"),
    HeaderName::from_static("x.filename"),
    HeaderName::from_static("x-file-name"),
];

/// The one dot directory that sites publish on purpose (RFC 8615).
const WELL_KNOWN: &str = ".well-known";

/// True when the path asks for a secret or configuration file.
pub(super) fn is_secret_path(secrets: Option<&PathList>, path: &str) -> bool {
    let path = decoded(path, PlusSign::Literal);
    has_hidden_segment(&path) || secrets.is_some_and(|list| list.matches(&path))
}

/// True when an upload-name header names a restricted file.
pub(super) fn names_restricted_upload(
    uploads: Option<&UploadNames>,
    headers: Option<&HeaderMap>,
) -> bool {
    let (Some(uploads), Some(headers)) = (uploads, headers) else {
        return false;
    };
    UPLOAD_NAME_HEADERS.iter().any(|name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| is_restricted_upload(uploads, value))
    })
}

/// True when `file_name`, from a header or a multipart body, names a restricted file or a
/// PHP session file.
pub(super) fn is_restricted_upload(uploads: &UploadNames, file_name: &str) -> bool {
    let name = decoded(file_name, PlusSign::Literal);
    uploads.matches(&name) || is_php_session_file(&name)
}

/// True when `name` (after any directory part) is a PHP session file: `sess_` and a session
/// id of 20 to 128 letters, digits, `-` or `,`. PHP unserializes such a file when a request
/// names its id, so an upload under that name plants an object of the uploader's choosing.
fn is_php_session_file(name: &str) -> bool {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name).trim();
    base.get(..5)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("sess_"))
        && (20..=128).contains(&(base.len() - 5))
        && base[5..]
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b',')
}

/// True when a segment of `path` is a hidden name: one dot, then something other than a dot,
/// and not `.well-known`. Segments of dots (`..`, `..foo`) are not hidden-file names; traversal
/// is judged by the payload detectors.
pub(super) fn has_hidden_segment(path: &str) -> bool {
    path.split(['/', '\\']).any(|segment| {
        let mut bytes = segment.bytes();
        bytes.next() == Some(b'.')
            && bytes.next().is_some_and(|second| second != b'.')
            && !segment.eq_ignore_ascii_case(WELL_KNOWN)
    })
}

/// True when a query value names a secret file. Only a value that reads as one file name or
/// path counts: a search for a sentence that mentions `.sql` is not a request for a dump. A
/// hidden segment counts only after a slash, since a search for `.net` is ordinary.
pub(super) fn query_names_secret(secrets: Option<&PathList>, query: &str) -> bool {
    let mut value = String::new();
    query.split(['&', ';']).any(|pair| {
        let raw = pair.split_once('=').map_or(pair, |(_, value)| value);
        canonicalize(raw, PlusSign::Space, &mut value);
        if value.is_empty() || value.contains(char::is_whitespace) {
            return false;
        }
        let from_slash = value.find('/').map_or("", |at| &value[at..]);
        if has_hidden_segment(from_slash) {
            return true;
        }
        // Entries start with a slash; a bare file name is a path from the root.
        value.insert(0, '/');
        secrets.is_some_and(|list| list.matches(&value))
    })
}

/// `text` with its encodings undone; borrowed when there is nothing to undo.
fn decoded(text: &str, plus: PlusSign) -> Cow<'_, str> {
    if text
        .bytes()
        .all(|byte| byte.is_ascii() && byte != b'%' && byte != b'&')
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    canonicalize(text, plus, &mut out);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::lists::ListFile;
    use crate::yaml::Problem;
    use std::path::Path;

    /// The shipped list `name`, compiled by `compile`.
    fn shipped<T>(name: &str, compile: fn(&ListFile, &mut Vec<Problem>) -> T) -> T {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("conf/lists")
            .join(name);
        let text = std::fs::read_to_string(path).expect("the shipped list is in the repository");
        let list = ListFile::parse(Path::new(name), &text);
        let mut problems = Vec::new();
        let compiled = compile(&list, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        compiled
    }

    fn secrets() -> PathList {
        shipped("secret-files.txt", PathList::from_list)
    }

    #[test]
    fn uploads_named_like_configuration_files_are_restricted() {
        let uploads = shipped("restricted-uploads.txt", UploadNames::from_list);
        let cases = [
            ("x-filename", "settings.php", true),
            ("X-Filename", "settings. php", true),
            ("x_filename", "config.yml ", true),
            ("x-file-name", "../../.htaccess", true),
            ("x-filename", "WP-CONFIG-php.bak", true),
            ("x-filename", "wp-config_php.txt", true),
            ("x-filename", ".boto", true),
            ("x-filename", "mtrr", true),
            ("x-filename", "%2ehtaccess", true),
            // Server-side scripts, also behind the dots and spaces Windows drops.
            ("x-filename", "a.php", true),
            ("x-filename", "fda.PHP7", true),
            ("x-file-name", "foo.jspx...", true),
            ("x_filename", "shell. jsp", true),
            ("x-filename", "shell.aspx ", true),
            ("x.filename", "dangerous.phar", true),
            ("x-filename", "sess_d8ew88tqmabdcokhumchy8htqm", true),
            ("x-file-name", "C:\\temp\\sess_malicious12345678901", true),
            // Ordinary uploads, including names that contain a listed one.
            ("x-filename", "abc.botox.jpg", false),
            ("x-filename", "amtrra.jpg", false),
            ("x-filename", "JACpic.jpg", false),
            ("x-filename", "shadow.png", false),
            ("x-filename", "passwd-reset.pdf", false),
            ("x-filename", "my-settings.php.png", false),
            ("x-filename", "safe.phpinfo", false),
            ("x-filename", "notes.php.txt", false),
            ("x-filename", "report.jsp2017", false),
            ("x-filename", "sess_short", false),
            (
                "x-filename",
                "my_sess_data_from_the_last_quarter.txt",
                false,
            ),
            ("x-upload-id", "settings.php", false),
        ];
        for (header, name, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(
                http::HeaderName::from_bytes(header.as_bytes()).unwrap(),
                http::HeaderValue::from_str(name).unwrap(),
            );
            let found = names_restricted_upload(Some(&uploads), Some(&headers));
            assert_eq!(found, expected, "{header}: {name:?}");
        }
    }

    fn check(cases: &[(&str, Option<&str>, bool)]) {
        let secrets = secrets();
        for (path, query, expected) in cases {
            let found = is_secret_path(Some(&secrets), path)
                || query.is_some_and(|query| query_names_secret(Some(&secrets), query));
            assert_eq!(found, *expected, "{path} ? {query:?}");
        }
    }

    #[test]
    fn hidden_files_and_directories_are_secret() {
        check(&[
            ("/.env", None, true),
            ("/@fs/.env", None, true),
            ("/app/.env.production", None, true),
            ("/.git/config", None, true),
            ("/.svn/entries", None, true),
            ("/.aws/credentials", None, true),
            ("/home/.ssh/id_rsa", None, true),
            ("/.htpasswd", None, true),
            ("/.vscode/sftp.json", None, true),
            ("/.some-editor/settings.json", None, true),
            ("/%2eenv", None, true),
            ("/%252egit/HEAD", None, true),
            ("/.WELL-KNOWN/../.git/config", None, true),
            ("/.well-known/.env", None, true),
        ]);
    }

    #[test]
    fn listed_secret_files_are_secret() {
        check(&[
            ("/backup.sql", None, true),
            ("/db/dump.sql.gz", None, true),
            ("/get/backup.sql.zip", None, true),
            ("/backup.zip", None, true),
            ("/wp-config.php.bak", None, true),
            ("/wp-config.php", None, true),
            ("/web.config.bak", None, true),
            ("/id_rsa", None, true),
            ("/wp-content/debug.log", None, true),
            ("/storage/logs/laravel.log", None, true),
        ]);
    }

    #[test]
    fn query_values_naming_secrets_are_secret() {
        check(&[
            ("/get", Some("code=/path/to/.docker/secrets"), true),
            ("/get", Some("code=backup.sql.zip"), true),
            ("/download", Some("file=%2Fvar%2Fwww%2F.env"), true),
            ("/view", Some("a=1&page=wp-config.php"), true),
        ]);
    }

    #[test]
    fn ordinary_paths_and_queries_are_not() {
        check(&[
            ("/", None, false),
            ("/.well-known/acme-challenge/x", None, false),
            ("/.well-known/security.txt", None, false),
            ("/environment", None, false),
            ("/blog/the-env-file", None, false),
            ("/docs/mysql-tips", None, false),
            ("/a/./b", None, false),
            ("/a/../b", None, false),
            ("/get/..foo", None, false),
            ("/get/foo../1234", None, false),
            ("/a/.", None, false),
            ("/wp-admin/", None, false),
            ("/phpmyadmin/", None, false),
            ("/config", None, false),
            ("/data/migrations/1550601598648_payees.sql", None, false),
            ("/search", Some("q=.net+core"), false),
            ("/search", Some("q=how+to+restore+backup.sql+files"), false),
            ("/login", Some("next=/.well-known/change-password"), false),
            ("/page", Some("v=1.2.3&ref=a.b"), false),
        ]);
    }
}
