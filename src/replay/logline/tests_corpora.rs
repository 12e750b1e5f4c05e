//! Checks the parser against real logs from the shared corpora, and checks that no input,
//! however broken, makes it panic or depend on what it parsed before.
//!
//! The corpora are copied into `tests/data/` with their sources and licences; both the benign
//! Apache log and the CrowdSec hub fixtures come with the fields of each line already
//! extracted by their collectors, which gives an independent account to compare with.

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::clf::unescape;
use super::{LineParser, LogEntry, LogFormat};

/// Where the test copies of the corpora are.
fn corpora_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// A file of the shared corpora; the test fails, rather than passes vacuously, without it.
fn corpus_file(relative: &str) -> String {
    let path = corpora_dir().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("corpus file {} is readable: {error}", path.display()))
}

/// The text of a string field of a corpus record, `None` when null or absent.
fn text<'v>(record: &'v Value, key: &str) -> Option<&'v str> {
    record.get(key).and_then(Value::as_str)
}

/// The client address of a corpus record.
fn address(record: &Value) -> Option<IpAddr> {
    text(record, "ip")?.parse().ok()
}

/// A header as the entry should carry it: unescaped, and `None` for `-` or empty.
fn expected_header(logged: Option<&str>) -> Option<String> {
    let logged = logged.filter(|value| !value.is_empty() && *value != "-")?;
    Some(unescape(logged).into_owned())
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
        assert_eq!(Some(entry.client), address(&record), "client of {line}");
        assert_eq!(
            Some(entry.status),
            record["status"].as_u64().map(|s| s as u16)
        );
        assert_eq!(entry.method, text(&record, "method").unwrap_or_default());
        assert_eq!(
            entry.target,
            unescape(text(&record, "uri").unwrap_or_default())
        );
        assert_eq!(
            entry.referer.map(Cow::into_owned),
            expected_header(text(&record, "referer"))
        );
        assert_eq!(
            entry.user_agent.map(Cow::into_owned),
            expected_header(text(&record, "ua"))
        );

        // The same request read from its JSON form must come out the same.
        let from_json = json_parser
            .parse(record_line)
            .expect("every benign record parses");
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
    assert_eq!(Some(entry.client), address(record));
    assert_eq!(Some(u64::from(entry.status)), record["status"].as_u64());

    let method = text(record, "method");
    let uri = text(record, "uri").unwrap_or_default();
    let well_formed = method.is_some_and(super::is_token);
    let protocol = text(record, "proto");
    if well_formed && protocol.is_some_and(|protocol| !protocol.starts_with("HTTP/")) {
        // The hub takes the third word for the protocol even when it is the rest of a
        // target with spaces in it; rapsheet keeps such a target whole.
        let whole = format!("{uri} {}", protocol.unwrap_or_default());
        assert_eq!(
            (&*entry.target, entry.protocol.as_deref()),
            (whole.as_str(), None)
        );
    } else if well_formed {
        assert_eq!(Some(&*entry.method), method);
        // rapsheet drops the blanks between target and protocol; the hub keeps them.
        assert_eq!(entry.target, unescape(uri.trim_end()));
        assert_eq!(entry.protocol.as_deref(), protocol);
    } else {
        // The hub splits junk at its first space; rapsheet keeps the junk whole.
        let whole = method.map_or(uri.to_owned(), |method| format!("{method} {uri}"));
        assert_eq!((&*entry.method, &*entry.target), ("", whole.as_str()));
    }
    assert_eq!(
        entry.referer.as_deref().map(str::to_owned),
        expected_header(text(record, "referer"))
    );
    assert_eq!(
        entry.user_agent.as_deref().map(str::to_owned),
        expected_header(text(record, "ua"))
    );
}

#[test]
fn crowdsec_fixtures_match_the_hub_parsers() {
    let requests = corpus_file("crowdsec-hub-tests/requests.jsonl");
    let mut n_checked = 0;
    for request in requests.lines() {
        let record: Value = serde_json::from_str(request).expect("the corpus is JSON");
        let test = text(&record, "test").expect("every request names its test");
        let line_no = record["line_no"]
            .as_u64()
            .expect("every request has a line");
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

/// Lines of every corpus log, for the robustness tests: all of the CrowdSec fixtures, and
/// one in 50 of the benign log, whose lines all look alike.
fn corpus_lines() -> Vec<String> {
    let corpora = corpora_dir();
    let mut files = vec![
        (corpora.join("benign-apache-log/access.log"), 50),
        (corpora.join("benign-apache-log/access.jsonl"), 50),
    ];
    let fixtures = std::fs::read_dir(corpora.join("crowdsec-hub-tests/tests"))
        .expect("the crowdsec fixtures are present");
    for fixture in fixtures.filter_map(Result::ok) {
        let logs = std::fs::read_dir(fixture.path()).expect("a fixture directory is readable");
        let logs = logs.filter_map(Result::ok).map(|entry| entry.path());
        files.extend(
            logs.filter(|path| path.extension().is_some_and(|ext| ext == "log"))
                .map(|path| (path, 1)),
        );
    }
    files.sort();

    let mut lines = Vec::new();
    for (file, step) in files {
        let bytes = std::fs::read(&file).expect("a corpus log is readable");
        let text = String::from_utf8_lossy(&bytes);
        lines.extend(text.lines().step_by(step).map(str::to_owned));
    }
    lines
}

/// Parses `line` with each parser in `warm` (which have parsed other lines before) and with
/// a fresh one of the same format, and insists the outcome does not depend on that history.
fn parse_everywhere(line: &str, warm: &mut [LineParser]) {
    for warm in warm {
        let format = warm.format;
        let fresh = LineParser::new(format)
            .parse(line)
            .map_err(|e| e.to_string());
        let warmed = warm.parse(line).map_err(|e| e.to_string());
        assert_eq!(fresh, warmed, "format {format}, line {line:?}");
    }
}

/// Parsers for every format, to carry state from one line to the next.
fn warm_parsers() -> [LineParser; 4] {
    [
        LogFormat::Auto,
        LogFormat::Common,
        LogFormat::Combined,
        LogFormat::JsonLines,
    ]
    .map(LineParser::new)
}

#[test]
fn truncated_corpus_lines_never_panic() {
    // Auto reads both text and JSON lines; Common stops where Combined goes on.
    let mut warm = [
        LineParser::new(LogFormat::Auto),
        LineParser::new(LogFormat::Common),
    ];
    for line in corpus_lines() {
        // Every cut near the start, where most fields are; further on, a sample of cuts keeps
        // the cost linear in the line's length.
        let cuts = line.char_indices().map(|(cut, _)| cut).enumerate();
        for (_, cut) in cuts.filter(|&(n, _)| n < 100 || n % 29 == 0) {
            parse_everywhere(&line[..cut], &mut warm);
        }
        parse_everywhere(&line, &mut warm);
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
    let lines = corpus_lines();
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
