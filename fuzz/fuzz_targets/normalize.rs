//! Fuzzes the normaliser and the payload scanner, which see every request component an
//! attacker sends.
//!
//! Whatever the bytes, canonicalising and building each view must not panic, and neither must
//! a scan in any location. The canonical form must also never be longer than its input:
//! every decoding step replaces an escape by at most as many bytes as spelled it, which is
//! what keeps hostile nesting from making the work grow. In builds with debug assertions,
//! which cargo-fuzz uses, every component the quiet-text screen lets through is checked
//! against the full analysis inside `scan` as well.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rapsheet::detect::normalize::{canonicalize, path_view, shell_view, sql_view, PlusSign};
use rapsheet::detect::payload::{Location, PayloadMatcher};

thread_local! {
    /// Built once: compiling the rules for every input would drown the fuzzer.
    static MATCHER: PayloadMatcher = PayloadMatcher::builtin();
}

const LOCATIONS: [Location; 5] = [
    Location::Path,
    Location::Query,
    Location::Header,
    Location::Cookie,
    Location::Body,
];

fuzz_target!(|input: &str| {
    let mut canonical = String::new();
    let mut view = String::new();
    for plus in [PlusSign::Literal, PlusSign::Space] {
        canonicalize(input, plus, &mut canonical);
        assert!(
            canonical.len() <= input.len(),
            "the canonical form grew: {input:?} became {canonical:?}"
        );
        path_view(&canonical, &mut view);
        sql_view(&canonical, &mut view);
        shell_view(&canonical, &mut view);
    }
    MATCHER.with(|matcher| {
        for location in LOCATIONS {
            let _ = matcher.scan(location, input);
        }
    });
});
