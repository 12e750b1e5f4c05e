//! Reading YAML files so that every mistake is reported with its place.
//!
//! serde stops at the first error, and `serde_yaml::Value` forgets where things were. An
//! operator fixing a policy wants every mistake at once, each with a file, a line and the key
//! that is wrong. So a document is read twice: once by a YAML event parser that records the
//! line of every key path (`signals.burst.points`, `levels[1].ratio`), and once by serde into
//! a `Value`. Sections are then deserialised one by one, collecting each failure as a
//! [`Problem`] located through the line index, and validation adds its own problems the same
//! way.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One mistake in a configuration file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file the mistake is in.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The key path, e.g. `signals.burst.points`; empty for the whole file.
    pub key: String,
    /// What is wrong, lower-case, with the offending value.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a set of files; the error of a failed load or validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl Problems {
    /// True when nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when nothing was wrong, the problems otherwise.
    ///
    /// # Errors
    ///
    /// Returns `self` when it holds at least one problem, ordered by file and line
    /// (unlocated last), the order an operator fixes them in.
    pub fn into_result(mut self) -> Result<(), Problems> {
        if self.is_empty() {
            return Ok(());
        }
        let order = |problem: &Problem| (problem.file.clone(), problem.line.unwrap_or(usize::MAX));
        self.0.sort_by_key(order);
        Err(self)
    }
}

/// A parsed YAML document that remembers the line of each key path.
pub struct YamlDoc {
    file: PathBuf,
    root: Mapping,
    lines: HashMap<String, usize>,
}

impl YamlDoc {
    /// Reads and parses `file`.
    ///
    /// # Errors
    ///
    /// Fails with one located problem when the file cannot be read, is not valid YAML, or
    /// its top level is not a mapping.
    pub fn read(file: &Path) -> Result<YamlDoc, Problems> {
        let text = std::fs::read_to_string(file).map_err(|error| {
            Problems(vec![Problem {
                file: file.to_path_buf(),
                line: None,
                key: String::new(),
                message: format!("cannot read file: {error}"),
            }])
        })?;
        YamlDoc::parse(file, &text)
    }

    /// Parses `text` as the contents of `file`.
    ///
    /// # Errors
    ///
    /// Fails with one located problem when `text` is not valid YAML or its top level is not
    /// a mapping.
    pub fn parse(file: &Path, text: &str) -> Result<YamlDoc, Problems> {
        let whole_file = |line: Option<usize>, message: String| {
            Problems(vec![Problem {
                file: file.to_path_buf(),
                line,
                key: String::new(),
                message,
            }])
        };
        let value: Value = serde_yaml::from_str(text).map_err(|error| {
            let line = error.location().map(|at| at.line());
            whole_file(line, format!("invalid yaml: {}", strip_location(&error)))
        })?;
        let root = match value {
            Value::Mapping(root) => root,
            Value::Null => Mapping::new(),
            _ => return Err(whole_file(Some(1), "expected a mapping of keys".into())),
        };
        Ok(YamlDoc {
            file: file.to_path_buf(),
            root,
            lines: index_lines(text),
        })
    }

    /// The file this document came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The top-level mapping.
    pub fn root(&self) -> &Mapping {
        &self.root
    }

    /// The line of `key` (a dotted path), or of its nearest ancestor that has one.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        let mut path = key;
        loop {
            if let Some(line) = self.lines.get(path) {
                return Some(*line);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// A problem at `key`, located through the line index.
    pub fn problem(&self, key: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.clone(),
            line: self.line_of(key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// Reports every top-level key that is not in `known`.
    pub fn check_keys(&self, known: &[&str], problems: &mut Vec<Problem>) {
        check_mapping_keys(self, "", &self.root, known, problems);
    }

    /// Deserialises the top-level `key`, or returns `None` (and records the problem) when it
    /// does not fit `T`. A missing key gives `T::default()`.
    pub fn section<T>(&self, key: &str, problems: &mut Vec<Problem>) -> Option<T>
    where
        T: DeserializeOwned + Default,
    {
        match self.root.get(key) {
            None | Some(Value::Null) => Some(T::default()),
            Some(value) => self.deserialize(key, value, problems),
        }
    }

    /// Deserialises `value`, found at `key`, recording a located problem when it does not
    /// fit `T`.
    pub fn deserialize<T>(&self, key: &str, value: &Value, problems: &mut Vec<Problem>) -> Option<T>
    where
        T: DeserializeOwned,
    {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let inner = error.path().to_string();
                let full = join_key(key, &inner);
                problems.push(self.problem(&full, strip_location(error.inner())));
                None
            }
        }
    }
}

/// Reports every key of `mapping` (found at `at`) that is not in `known`.
pub fn check_mapping_keys(
    doc: &YamlDoc,
    at: &str,
    mapping: &Mapping,
    known: &[&str],
    problems: &mut Vec<Problem>,
) {
    for key in mapping.keys() {
        let name = key.as_str().unwrap_or_default();
        if !known.contains(&name) {
            let message = format!("unknown key `{name}`, expected one of {}", known.join(", "));
            problems.push(doc.problem(&join_key(at, name), message));
        }
    }
}

/// Joins a parent key path and a child path the way `serde_path_to_error` prints paths.
pub fn join_key(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child.is_empty() || child == ".") {
        (_, true) => parent.to_string(),
        (true, false) => child.to_string(),
        (false, false) if child.starts_with('[') => format!("{parent}{child}"),
        (false, false) => format!("{parent}.{child}"),
    }
}

/// serde_yaml appends " at line L column C" to its messages; the line is reported separately.
fn strip_location(error: &impl fmt::Display) -> String {
    let message = error.to_string();
    match message.find(" at line ") {
        Some(cut) => message[..cut].to_string(),
        None => message,
    }
}

/// Builds the map from key path to line by walking the parser's events.
fn index_lines(text: &str) -> HashMap<String, usize> {
    let mut indexer = LineIndexer::default();
    // A syntax error was already reported by serde_yaml; a partial index is still useful.
    let _ = Parser::new_from_str(text).load(&mut indexer, false);
    indexer.lines
}

/// What the indexer is inside of.
enum Frame {
    /// A mapping; `pending` holds the key whose value comes next.
    Map {
        path: String,
        pending: Option<String>,
    },
    /// A sequence and the index of its next item.
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct LineIndexer {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
}

impl LineIndexer {
    /// The path of the value that starts now, advancing the enclosing frame.
    fn next_value_path(&mut self) -> Option<String> {
        match self.stack.last_mut()? {
            Frame::Map { pending, .. } => pending.take(),
            Frame::Seq { path, next } => {
                let item = format!("{path}[{next}]");
                *next += 1;
                Some(item)
            }
        }
    }

    fn open(&mut self, mark: Marker, make: impl FnOnce(String) -> Frame) {
        let path = self.next_value_path().unwrap_or_default();
        self.lines.entry(path.clone()).or_insert(mark.line());
        self.stack.push(make(path));
    }
}

impl MarkedEventReceiver for LineIndexer {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::MappingStart(..) => self.open(mark, |path| Frame::Map {
                path,
                pending: None,
            }),
            Event::SequenceStart(..) => self.open(mark, |path| Frame::Seq { path, next: 0 }),
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Scalar(text, ..) => {
                if let Some(Frame::Map { path, pending }) = self.stack.last_mut() {
                    if pending.is_none() {
                        let key = join_key(path, &text);
                        self.lines.insert(key.clone(), mark.line());
                        *pending = Some(key);
                        return;
                    }
                }
                if let Some(path) = self.next_value_path() {
                    self.lines.entry(path).or_insert(mark.line());
                }
            }
            Event::Alias(_) => {
                self.next_value_path();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
mode: enforce
signals:
  burst:
    points: 35
  not_found_ratio:
    levels:
      - ratio: 0.4
        points: 15
      - { ratio: 0.6, points: 25 }
lists: [a, b]
";

    #[test]
    fn key_paths_have_their_lines() {
        let doc = YamlDoc::parse(Path::new("p.yaml"), TEXT).unwrap();
        let cases = [
            ("mode", Some(1)),
            ("signals", Some(2)),
            ("signals.burst.points", Some(4)),
            ("signals.not_found_ratio.levels[0].ratio", Some(7)),
            ("signals.not_found_ratio.levels[1].points", Some(9)),
            ("signals.not_found_ratio.levels[1].nope", Some(9)),
            ("lists[1]", Some(10)),
            ("missing", None),
        ];
        for (key, line) in cases {
            assert_eq!(doc.line_of(key), line, "{key}");
        }
    }

    #[test]
    fn syntax_error_is_located() {
        let error = YamlDoc::parse(Path::new("p.yaml"), "a: 1\nb: [1, 2\nc: 3\n")
            .err()
            .unwrap();
        assert_eq!(error.0.len(), 1);
        assert!(error.0[0].line.is_some(), "{error}");
        assert!(error.0[0].message.starts_with("invalid yaml"), "{error}");
    }

    #[derive(serde::Deserialize, Default, Debug)]
    #[serde(deny_unknown_fields)]
    struct Burst {
        #[allow(dead_code)] // read by the test through Debug only
        points: u32,
    }

    #[test]
    fn section_errors_carry_key_and_line() {
        let doc = YamlDoc::parse(Path::new("p.yaml"), "burst:\n  points: -3\n").unwrap();
        let mut problems = Vec::new();
        assert!(doc.section::<Burst>("burst", &mut problems).is_none());
        assert_eq!(problems[0].key, "burst.points");
        assert_eq!(problems[0].line, Some(2));
        let text = problems[0].to_string();
        assert!(
            text.starts_with("p.yaml:2: burst.points: invalid value"),
            "{text}"
        );
    }
}
