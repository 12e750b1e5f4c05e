//! Fuzzes the access-log line parser that `rapsheet replay` runs on every line of a log.
//!
//! Logs record what attackers send, so a line may hold anything. Beyond never panicking, the
//! parser must not let one line change how the next is read: it caches the last timestamp,
//! so each input is also parsed by a parser that has seen the previous inputs, and the two
//! outcomes must agree.

#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use rapsheet::replay::logline::{LineParser, LogFormat};

const FORMATS: [LogFormat; 4] = [
    LogFormat::Auto,
    LogFormat::Common,
    LogFormat::Combined,
    LogFormat::JsonLines,
];

thread_local! {
    /// One long-lived parser per format, carrying its cache from input to input.
    static WARM: RefCell<[LineParser; 4]> = RefCell::new(FORMATS.map(LineParser::new));
}

fuzz_target!(|line: &str| {
    WARM.with_borrow_mut(|warm| {
        for (format, warm) in FORMATS.into_iter().zip(warm.iter_mut()) {
            let fresh = LineParser::new(format).parse(line).map_err(|e| e.to_string());
            let warmed = warm.parse(line).map_err(|e| e.to_string());
            assert_eq!(fresh, warmed, "format {format} disagrees with itself");
        }
    });
});
