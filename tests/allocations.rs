//! The request path must not allocate for an ordinary request from a known client: the
//! engine is called for every request, and allocation is the cost that grows with load.
//! A counting allocator (counts kept per thread, so the test harness's other threads do not
//! disturb them) watches `Engine::on_request` and `on_response`.
//!
//! None is allowed: the client table finds a known client under a read lock and clones its
//! `Arc`. (When the records lived in a moka cache, its read-log maintenance allocated about
//! once per hundred requests, and its `get_with` once per request.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;
use std::path::Path;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use rapsheet::engine::{Engine, RequestFacts};
use rapsheet::policy::Policy;
use rapsheet::store::StoreLimits;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed on unchanged to the system allocator; counting touches only
// a const-initialised thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, that is from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: as for `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const START_MS: u64 = 1_767_225_600_000;

const REQUESTS: u64 = 20_000;

#[test]
fn an_ordinary_request_from_a_known_client_allocates_nothing() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/policy.yaml");
    let policy = Policy::load(&path).expect("the shipped policy loads");
    let engine = Engine::new(StoreLimits::default());
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
        ("accept-language", "en-GB,en;q=0.5"),
        ("sec-fetch-mode", "navigate"),
        ("x-requested-with", "XMLHttpRequest"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let client: IpAddr = "198.51.100.7".parse().unwrap();
    let pages = ["/", "/blog/2024/a-post", "/about", "/static/site.css?v=3"];
    let request = |path| {
        let mut request = RequestFacts::new(client, "GET", path);
        request.host = Some("www.example.com");
        request.user_agent =
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0");
        request.referer = Some("https://www.example.com/");
        request.cookie = Some("session=4f2a9c0e8b7d41e6; theme=dark");
        request.headers = Some(&headers);
        request
    };
    // The first requests create the record and fill what it remembers.
    for (i, path) in pages.iter().enumerate() {
        let now_ms = START_MS + i as u64 * 1_000;
        let outcome = engine.on_request(&policy, &request(path), now_ms);
        engine.on_response(&policy, &request(path), &outcome, 200, now_ms);
    }
    engine.store().sync();

    let before = allocations();
    let mut learned = 0;
    for round in 0..REQUESTS {
        let path = pages[(round % 4) as usize];
        let now_ms = START_MS + 10_000 + round * 750;
        let outcome = engine.on_request(&policy, &request(path), now_ms);
        assert_eq!(
            outcome.verdict.score, 0,
            "an ordinary request scores nothing"
        );
        let responding = allocations();
        engine.on_response(&policy, &request(path), &outcome, 200, now_ms);
        learned += allocations() - responding;
    }
    let made = allocations() - before;
    assert_eq!(learned, 0, "allocations in on_response");
    assert_eq!(made, 0, "allocations in {REQUESTS} ordinary requests");
}
