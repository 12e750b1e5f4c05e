//! The test site: the pages, assets, redirects and missing paths that benign clients ask
//! for, and the static files the upstream serves for them. The generator and the upstream
//! read the same lists, so a path the generator expects to exist does exist.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// Host header of every request, a name like a real site's: ModSecurity's CRS scores a bare
/// IP address in Host, which would skew the comparison.
pub const HOST: &str = "www.example.com";

/// Pages (served as `index.html` under each directory).
pub const PAGES: &[&str] = &[
    "/",
    "/about/",
    "/pricing/",
    "/contact/",
    "/blog/",
    "/blog/2024/rust-at-the-edge/",
    "/blog/2024/keeping-state-small/",
    "/blog/2025/tarpits-that-do-not-hurt/",
    "/blog/2025/reading-access-logs/",
    "/docs/",
    "/docs/install/",
    "/docs/policy/",
    "/docs/metrics/",
    "/products/widget/",
    "/products/gadget/",
    "/products/gizmo/",
];

/// Assets referenced by every page, with their sizes in bytes.
pub const ASSETS: &[(&str, usize)] = &[
    ("/static/site.css", 14_000),
    ("/static/app.js", 24_000),
    ("/static/logo.svg", 3_000),
    ("/static/fonts/inter.woff2", 22_000),
    ("/favicon.ico", 1_100),
];

/// Images, a few per page.
pub const IMAGES: &[(&str, usize)] = &[
    ("/img/hero.webp", 18_000),
    ("/img/team.jpg", 9_000),
    ("/img/chart-1.png", 6_000),
    ("/img/chart-2.png", 5_500),
    ("/img/product-widget.jpg", 12_000),
    ("/img/product-gadget.jpg", 11_000),
    ("/img/avatar-1.png", 1_800),
    ("/img/avatar-2.png", 1_700),
];

/// Old addresses the upstream redirects (302) to a page.
pub const REDIRECTS: &[(&str, &str)] = &[
    ("/old-pricing", "/pricing/"),
    ("/blog/feed", "/blog/"),
    ("/signup", "/contact/"),
];

/// Links that went stale: the upstream answers 404.
pub const MISSING_PAGES: &[&str] = &["/blog/2019/gone/", "/docs/v1/", "/products/discontinued/"];

/// Images that went stale.
pub const MISSING_IMAGES: &[&str] = &["/img/old-banner.png", "/apple-touch-icon.png"];

/// The bytes of an HTML page, about 6 KB.
fn page_body(path: &str) -> String {
    let mut html = format!(
        "<!doctype html><html><head><title>{path}</title>\
         <link rel=stylesheet href=/static/site.css></head><body>\n"
    );
    for line in 0..60 {
        let _ = writeln!(
            html,
            "<p>Paragraph {line} of {path}: some ordinary text here.</p>"
        );
    }
    html.push_str("<script src=/static/app.js></script></body></html>\n");
    html
}

fn write_file(root: &Path, path: &str, bytes: &[u8]) -> io::Result<()> {
    let file = root.join(path.trim_start_matches('/'));
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(file, bytes)
}

/// Writes the site's files under `root`.
///
/// # Errors
///
/// Fails when a file cannot be written.
pub fn write_docroot(root: &Path) -> io::Result<()> {
    for page in PAGES {
        let index = format!("{page}index.html");
        write_file(root, &index, page_body(page).as_bytes())?;
    }
    for (path, size) in ASSETS.iter().chain(IMAGES) {
        write_file(root, path, &vec![b'x'; *size])?;
    }
    Ok(())
}

/// Browser User-Agents; a benign client keeps one.
pub const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
];

/// Referers of a first page view: search engines, social sites, or none.
pub const ENTRY_REFERERS: &[Option<&str>] = &[
    None,
    None,
    Some("https://www.google.com/"),
    Some("https://www.bing.com/"),
    Some("https://duckduckgo.com/"),
    Some("https://news.ycombinator.com/"),
];
