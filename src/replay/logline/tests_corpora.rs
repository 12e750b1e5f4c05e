//! Checks the parser against real logs from the shared corpora, and checks that no input,
//! however broken, makes it panic or depend on what it parsed before.
//!
//! The corpora sit in `shared/` beside the repository; both the benign Apache log and the
//! CrowdSec hub fixtures come with the fields of each line already extracted by their
//! collectors, which gives an independent account to compare with.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::clf::unescape;
use super::{LineParser, LogEntry, LogFormat};

/// A file of the shared corpora; the test fails, rather than passes vacuously, without it.
fn corpus_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora").join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("corpus file {} is readable: {error}", path.display()))
}

/// The text of a string field of a corpus record, `None` when null or absent.
fn text<'v>(record: &'v Value, key: &str) -> Option<&'v str> {
    record.get(key).and_then(Value::as_str)
}

/// A header as the entry should carry it: unescaped, and `None` for `-`.
fn expected_header(logged: Option<&str>) -> Option<String> {
    logged.filter(|value| *value != "-").map(unescape)
}

#[test]
fn benign_apache_log_matches_its_extracted_fields() {
    let log = corpus_file("benign-apache-log/access.log");
    let extracted = corpus_file("benign-apache-log/access.jsonl");
    let mut text_parser = LineParser::new(LogFormat::Auto);
    let mut json_parser = LineParser::new(LogFormat::Auto);

    let mut n_lines = 0;
    for (line, record_line) in log.lines().zip(extracted.lines()) {
        let entry = text_parser.parse(line).expect("every benign line parses");
        let record: Value = serde_json::from_str(record_line).expect("the corpus is JSON");
        let seconds = record["ts"].as_f64().expect("every record has a time");
        assert_eq!(entry.time_ms, (seconds * 1000.0) as u64, "time of {line}");
        assert_eq!(entry.client.to_string(), record["ip"], "client of {line}");
        assert_eq!(Some(entry.status), record["status"].as_u64().map(|s| s as u16));
        assert_eq!(entry.method, text(&record, "method").unwrap_or_default());
        assert_eq!(entry.target, unescape(text(&record, "uri").unwrap_or_default()));
        assert_eq!(entry.referer.map(Cow::into_owned), expected_header(text(&record, "referer")));
        assert_eq!(entry.user_agent.map(Cow::into_owned), expected_header(text(&record, "ua")));

        // The same request read from its JSON form must come out the same.
        let from_json = json_parser.parse(record_line).expect("every benign record parses");
        assert_eq!(from_json, text_parser.parse(line).expect("parsed above"));
        n_lines += 1;
    }
    assert_eq!(n_lines, 5526);
}

/// The raw log lines of the CrowdSec hub fixtures, by test name and line number.
fn crowdsec_line(test: &str, line_no: u64) -> String {
    let expected = corpus_file("crowdsec-hub-tests/expected.jsonl");
    let log_file = expected
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|record| record["test"] == test)
        .and_then(|record| record["log_file"].as_str().map(str::to_owned))
        .expect("every request's test is listed");
    let log = corpus_file(&format!("crowdsec-hub-tests/tests/{test}/{log_file}"));
    let index = usize::try_from(line_no - 1).expect("line numbers are small");
    log.lines().nth(index).expect("the line exists").to_owned()
}

/// Compares what the parser made of a CrowdSec fixture line with the request the hub's
/// parsers extracted from it.
fn check_crowdsec_request(entry: &LogEntry<'_>, record: &Value) {
    assert_eq!(entry.client.to_string(), record["ip"]);
    assert_eq!(Some(u64::from(entry.status)), record["status"].as_u64());

    let method = text(record, "method");
    let uri = text(record, "uri").unwrap_or_default();
    let well_formed = method.is_some_and(|method| super::is_token(method));
    if well_formed {
        assert_eq!(Some(&*entry.method), method);
        assert_eq!(entry.target, unescape(uri));
        assert_eq!(entry.protocol.as_deref(), text(record, "proto"));
    } else {
        // The hub splits junk at its first space; rapsheet keeps the junk whole.
        let whole = method.map_or(uri.to_owned(), |method| format!("{method} {uri}"));
        assert_eq!((&*entry.method, &*entry.target), ("", whole.as_str()));
    }
    assert_eq!(entry.referer.as_deref().map(str::to_owned), expected_header(text(record, "referer")));
    assert_eq!(entry.user_agent.as_deref().map(str::to_owned), expected_header(text(record, "ua")));
}

#[test]
fn crowdsec_fixtures_match_the_hub_parsers() {
    let requests = corpus_file("crowdsec-hub-tests/requests.jsonl");
    let mut n_checked = 0;
    for request in requests.lines() {
        let record: Value = serde_json::from_str(request).expect("the corpus is JSON");
        let test = text(&record, "test").expect("every request names its test");
        let line_no = record["line_no"].as_u64().expect("every request has a line");
        let line = crowdsec_line(test, line_no);
        let outcome = LineParser::new(LogFormat::Auto).parse(&line);

        match outcome {
            Ok(entry) => check_crowdsec_request(&entry, &record),
            // Envoy's own text format puts no client first; Traefik logs `-` for a status
            // it never got. Both are known gaps; anything else is a failure.
            Err(error) => {
                let known = test == "envoy-logs" || record["status"].is_null();
                assert!(known, "{test}:{line_no}: {error}: {line}");
            }
        }
        n_checked += 1;
    }
    assert_eq!(n_checked, 887);
}

/// Every line of every corpus log, for the robustness tests.
fn all_corpus_lines() -> Vec<String> {
    let mut files = vec![
        PathBuf::from("benign-apache-log/access.log"),
        PathBuf::from("benign-apache-log/access.jsonl"),
    ];
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/crowdsec-hub-tests/tests");
    let mut test_dirs: Vec<_> = std::fs::read_dir(&tests_dir)
        .expect("the crowdsec fixtures are present")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    test_dirs.sort();
    for dir in test_dirs {
        let mut logs: Vec<_> = std::fs::read_dir(&dir)
            .expect("a fixture directory is readable")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .collect();
        logs.sort();
        files.extend(logs);
    }

    let mut lines = Vec::new();
    for file in files {
        let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora").join(&file))
            .expect("a corpus log is readable");
        lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_owned));
    }
    lines
}

/// Parses `line` with every format, both with a fresh parser and with `warm` (which has
/// parsed other lines before), and insists the outcome does not depend on that history.
fn parse_everywhere(line: &str, warm: &mut [LineParser; 4]) {
    let formats = [LogFormat::Auto, LogFormat::Common, LogFormat::Combined, LogFormat::JsonLines];
    for (format, warm) in formats.into_iter().zip(warm.iter_mut()) {
        let fresh = LineParser::new(format).parse(line).map_err(|e| e.to_string());
        let warmed = warm.parse(line).map_err(|e| e.to_string());
        assert_eq!(fresh, warmed, "format {format}, line {line:?}");
    }
}

/// Parsers for every format, to carry state from one line to the next.
fn warm_parsers() -> [LineParser; 4] {
    [LogFormat::Auto, LogFormat::Common, LogFormat::Combined, LogFormat::JsonLines]
        .map(LineParser::new)
}

#[test]
fn truncated_corpus_lines_never_panic() {
    let mut warm = warm_parsers();
    for (index, line) in all_corpus_lines().iter().enumerate() {
        // All benign lines look alike, so a sample of them is enough.
        if index < 5526 && index % 25 != 0 {
            continue;
        }
        for (cut, _) in line.char_indices() {
            parse_everywhere(&line[..cut], &mut warm);
        }
        parse_everywhere(line, &mut warm);
    }
}

/// A small deterministic pseudo-random generator (xorshift64*), so failures reproduce.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[test]
fn random_and_mutated_lines_never_panic() {
    // Bytes that mean something to one of the formats, to reach deeper than noise would.
    const ALPHABET: &[u8] = b" \t\"\\[]{}:,/.-+0123456789xTZ:ABCabcGET HTTP/1.1\xc3\xa9\xff\x00";
    let lines = all_corpus_lines();
    let mut random = Random(0x5eed_1234_abcd_ef01);
    let mut warm = warm_parsers();

    for _ in 0..20_000 {
        let mut bytes = if random.below(2) == 0 {
            lines[random.below(lines.len())].clone().into_bytes()
        } else {
            Vec::new()
        };
        for _ in 0..1 + random.below(8) {
            let byte = ALPHABET[random.below(ALPHABET.len())];
            match (random.below(3), bytes.is_empty()) {
                (0, false) => {
                    let at = random.below(bytes.len());
                    bytes[at] = byte;
                }
                (1, false) => {
                    let at = random.below(bytes.len());
                    bytes.remove(at);
                }
                _ => {
                    let at = random.below(bytes.len() + 1);
                    bytes.insert(at, byte);
                }
            }
        }
        parse_everywhere(&String::from_utf8_lossy(&bytes), &mut warm);
    }
}
