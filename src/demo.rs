//! A small built-in website, served by the same process on a loopback port, so that the
//! shipped configuration works with nothing else installed: a few pages with their assets, a
//! login that redirects, an `/admin` that redirects to an area the demo does not have, and
//! 404 for everything else. Tests use it as their upstream and read how many requests
//! reached it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use parking_lot::Mutex;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

/// The demo site; clones share their counters.
#[derive(Default, Clone)]
pub struct DemoSite {
    seen: Arc<Seen>,
}

/// What reached the demo.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    recent: Mutex<VecDeque<String>>,
}

/// One answer of the demo.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The Content-Type.
    pub content_type: &'static str,
    /// Where a redirect points.
    pub location: Option<&'static str>,
    /// The body.
    pub body: String,
}

/// How many recent request targets the demo remembers.
const RECENT_KEPT: usize = 1024;

/// A request body the demo reads at most (a login form).
const BODY_MAX: usize = 16 * 1024;

const PAGE_STYLE: &str = "/static/site.css";

impl DemoSite {
    /// Requests that reached the demo since start.
    pub fn requests(&self) -> u64 {
        self.seen.requests.load(Ordering::Relaxed)
    }

    /// The targets of the most recent requests, oldest first.
    pub fn recent(&self) -> Vec<String> {
        self.seen.recent.lock().iter().cloned().collect()
    }

    /// The answer for `method` and `path`.
    pub fn route(method: &Method, path: &str) -> Answer {
        let html = "text/html; charset=utf-8";
        let answer = |status, content_type, location, body: String| Answer {
            status,
            content_type,
            location,
            body,
        };
        let page =
            |title: &str, body: &str| answer(StatusCode::OK, html, None, render_page(title, body));
        let found = |to| answer(StatusCode::FOUND, html, Some(to), String::new());
        match (method, path) {
            (_, "/") => page("Welcome", "<p>This is the rapsheet demo site.</p>"),
            (_, "/about") => page("About", "<p>A site that exists to be protected.</p>"),
            (_, "/blog") => answer(
                StatusCode::MOVED_PERMANENTLY,
                html,
                Some("/blog/"),
                String::new(),
            ),
            (_, "/blog/") => page("Blog", BLOG_INDEX),
            (_, "/blog/first-post") => page("First post", "<p>Hello.</p>"),
            (_, "/static/site.css") => answer(StatusCode::OK, "text/css", None, CSS.into()),
            (_, "/static/app.js") => answer(StatusCode::OK, "text/javascript", None, JS.into()),
            (_, "/static/logo.svg") => answer(StatusCode::OK, "image/svg+xml", None, LOGO.into()),
            (&Method::POST, "/login") => found("/account"),
            (_, "/login") => page("Log in", LOGIN_FORM),
            (_, "/account") => found("/login"),
            (_, "/admin") => found("/admin/"),
            (_, "/health") => answer(StatusCode::OK, "text/plain", None, "ok\n".into()),
            _ => answer(
                StatusCode::NOT_FOUND,
                html,
                None,
                render_page("Not found", NOT_FOUND),
            ),
        }
    }
}

const CSS: &str = "body{font:16px sans-serif}";

const NOT_FOUND: &str = "<p>No such page.</p>";

const JS: &str = "console.log('demo');";

const BLOG_INDEX: &str = "<ul><li><a href=\"/blog/first-post\">First post</a></li></ul>";

const LOGO: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"16\" height=\"16\"/>";

const LOGIN_FORM: &str = "<form method=\"post\" action=\"/login\">\
<input name=\"user\"><input name=\"password\" type=\"password\"><button>Log in</button></form>";

fn render_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"{PAGE_STYLE}\"><script src=\"/static/app.js\"></script>\
         </head><body><img src=\"/static/logo.svg\" alt=\"\"><h1>{title}</h1>{body}</body></html>"
    )
}

#[async_trait]
impl ServeHttp for DemoSite {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        self.seen.requests.fetch_add(1, Ordering::Relaxed);
        let (method, target) = {
            let request = session.req_header();
            (request.method.clone(), request.uri.to_string())
        };
        {
            let mut recent = self.seen.recent.lock();
            if recent.len() == RECENT_KEPT {
                recent.pop_front();
            }
            recent.push_back(target.clone());
        }
        // Read (and discard) a small body, so the connection can be reused.
        let mut read = 0;
        while read < BODY_MAX {
            match session.read_request_body().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        let path = target.split('?').next().unwrap_or("/");
        let answer = DemoSite::route(&method, path);
        let mut response = Response::builder()
            .status(answer.status)
            .header(http::header::CONTENT_TYPE, answer.content_type)
            .header(http::header::CONTENT_LENGTH, answer.body.len());
        if let Some(location) = answer.location {
            response = response.header(http::header::LOCATION, location);
        }
        response
            .body(answer.body.into_bytes())
            .unwrap_or_else(|_| Response::new(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_answer_as_documented() {
        let cases = [
            (Method::GET, "/", 200, None),
            (Method::GET, "/blog", 301, Some("/blog/")),
            (Method::GET, "/static/site.css", 200, None),
            (Method::POST, "/login", 302, Some("/account")),
            (Method::GET, "/login", 200, None),
            (Method::GET, "/admin", 302, Some("/admin/")),
            (Method::GET, "/admin/", 404, None),
            (Method::GET, "/favicon.ico", 404, None),
        ];
        for (method, path, status, location) in cases {
            let answer = DemoSite::route(&method, path);
            let got = (answer.status.as_u16(), answer.location);
            assert_eq!(got, (status, location), "{method} {path}");
        }
    }
}
