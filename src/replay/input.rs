//! The access logs a replay reads, opened one after another and read line by line.
//!
//! Operators replay what logrotate leaves behind: a live log, yesterday's, and older ones
//! compressed. Each input is therefore gunzipped when its first bytes are the gzip magic,
//! whatever its name, and concatenated gzip members (as `cat a.gz b.gz` makes) are read
//! through. A replay of a large log takes a while, so the bytes read are shown on a progress
//! bar when stderr is a terminal; the bar counts bytes on disk, compressed or not, so that
//! its total is known up front for files.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The path that stands for standard input.
const STDIN_PATH: &str = "-";

/// The first two bytes of every gzip member (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Read buffer size: large reads keep the per-line cost of I/O negligible.
const BUFFER_BYTES: usize = 256 * 1024;

/// Longest line kept whole. A binary file or a corrupt log can go gigabytes without a line
/// break; past this, the rest of the line is skipped so memory stays bounded.
const MAX_LINE_BYTES: u64 = 1024 * 1024;

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// No input paths were given.
    #[error("no input files given")]
    NoInputs,
    /// An input could not be opened or examined.
    #[error("cannot open {}: {error}", .path.display())]
    Open {
        /// The input, `-` for standard input.
        path: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },
    /// An input is a directory, not a log.
    #[error("cannot read {}: it is a directory", .path.display())]
    Directory {
        /// The directory given as input.
        path: PathBuf,
    },
    /// Reading or decompressing an input failed part-way.
    #[error("cannot read {} at line {line}: {error}", .path.display())]
    Read {
        /// The input, `-` for standard input.
        path: PathBuf,
        /// The line that could not be read, counting from 1.
        line: u64,
        /// What went wrong, including corrupt or truncated gzip data.
        error: io::Error,
    },
}

/// Access logs read one line at a time, in the order given, with progress on a terminal.
pub struct LogInput {
    paths: Vec<PathBuf>,
    next_path: usize,
    current: Option<Source>,
    progress: ProgressBar,
}

/// The input being read.
struct Source {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line_number: u64,
}

impl LogInput {
    /// Prepares to read `paths` in order (`-` is standard input). Each path is checked now,
    /// so a typo fails before a long replay starts, but opened only when its turn comes.
    /// With `show_progress`, a bar is drawn on stderr while it is a terminal.
    ///
    /// Fails when `paths` is empty, or a path does not exist, cannot be examined or is a
    /// directory.
    pub fn open(paths: &[PathBuf], show_progress: bool) -> Result<Self, InputError> {
        if paths.is_empty() {
            return Err(InputError::NoInputs);
        }
        let mut total_bytes = Some(0u64);
        for path in paths {
            let size = input_size(path)?;
            total_bytes = total_bytes.zip(size).map(|(total, size)| total + size);
        }

        Ok(Self {
            paths: paths.to_vec(),
            next_path: 0,
            current: None,
            progress: progress_bar(show_progress, total_bytes),
        })
    }

    /// Reads the next line into `buf` (cleared first, its allocation reused), without the
    /// line break; `Ok(false)` once all inputs are exhausted. Bytes that are not UTF-8 are
    /// replaced with U+FFFD, so a stray binary byte costs at most that line.
    ///
    /// Fails when an input cannot be opened or read, or its gzip data is corrupt; the input
    /// is then abandoned, and the next call goes on with the next one.
    pub fn next_line(&mut self, buf: &mut String) -> Result<bool, InputError> {
        buf.clear();
        loop {
            let source = match &mut self.current {
                Some(source) => source,
                None if self.next_path < self.paths.len() => self.start_next()?,
                None => return Ok(false),
            };
            let read = read_line(source, buf);
            match read {
                Ok(true) => return Ok(true),
                Ok(false) => self.current = None,
                Err(error) => {
                    self.current = None;
                    return Err(error);
                }
            }
        }
    }

    /// The input being read, `-` for standard input; `None` before the first line and after
    /// the last.
    pub fn current_path(&self) -> Option<&Path> {
        self.current.as_ref().map(|source| source.path.as_path())
    }

    /// The number of the line last read from the current input, counting from 1.
    pub fn line_number(&self) -> u64 {
        self.current.as_ref().map_or(0, |source| source.line_number)
    }

    /// The bytes read so far from all inputs, as stored (compressed bytes for gzip).
    pub fn bytes_read(&self) -> u64 {
        self.progress.position()
    }

    /// Removes the progress bar from the terminal.
    pub fn finish(self) {
        self.progress.finish_and_clear();
    }

    /// Opens the next path and makes it the current input.
    fn start_next(&mut self) -> Result<&mut Source, InputError> {
        let path = self.paths[self.next_path].clone();
        self.next_path += 1;

        let reader = open_reader(&path, &self.progress)?;
        self.progress.set_message(display_name(&path));
        Ok(self.current.insert(Source {
            path,
            reader,
            line_number: 0,
        }))
    }
}

impl Drop for LogInput {
    fn drop(&mut self) {
        // An error path that skips finish() must not leave a stale bar on the terminal.
        self.progress.finish_and_clear();
    }
}

/// Reads one line of `source` into `buf` (which is empty); `Ok(false)` at its end. A line
/// longer than [`MAX_LINE_BYTES`] is cut there.
fn read_line(source: &mut Source, buf: &mut String) -> Result<bool, InputError> {
    // Reading into the string's own bytes avoids a copy when the line is valid UTF-8,
    // which is nearly always.
    let mut bytes = std::mem::take(buf).into_bytes();
    let mut result = (&mut source.reader)
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', &mut bytes);
    if matches!(result, Ok(n_bytes) if n_bytes as u64 == MAX_LINE_BYTES && !bytes.ends_with(b"\n"))
    {
        result = source.reader.skip_until(b'\n').map(|_| bytes.len());
    }
    *buf = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    };

    let n_bytes = result.map_err(|error| InputError::Read {
        path: source.path.clone(),
        line: source.line_number + 1,
        error,
    })?;
    if n_bytes == 0 {
        return Ok(false);
    }
    source.line_number += 1;
    let content_len = buf.trim_end_matches('\n').trim_end_matches('\r').len();
    buf.truncate(content_len);
    Ok(true)
}

/// The size of a regular file, `None` for standard input, pipes and other streams.
/// Fails when the path cannot be examined or is a directory.
fn input_size(path: &Path) -> Result<Option<u64>, InputError> {
    if path.as_os_str() == STDIN_PATH {
        return Ok(None);
    }
    let metadata = std::fs::metadata(path).map_err(|error| InputError::Open {
        path: path.to_owned(),
        error,
    })?;
    if metadata.is_dir() {
        return Err(InputError::Directory {
            path: path.to_owned(),
        });
    }
    Ok(metadata.is_file().then_some(metadata.len()))
}

/// Opens `path` (or standard input) for reading lines, counting its bytes on `progress`
/// and decompressing it if it starts like gzip.
fn open_reader(path: &Path, progress: &ProgressBar) -> Result<Box<dyn BufRead + Send>, InputError> {
    let open_error = |error| InputError::Open {
        path: path.to_owned(),
        error,
    };
    let raw: Box<dyn Read + Send> = if path.as_os_str() == STDIN_PATH {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(open_error)?)
    };

    // The first bytes are read apart and put back in front, because a pipe may deliver
    // fewer bytes per read than the magic is long.
    let mut counted = progress.wrap_read(raw);
    let mut head = [0u8; GZIP_MAGIC.len()];
    let head_len = read_head(&mut counted, &mut head).map_err(open_error)?;
    let is_gzip = head == GZIP_MAGIC;
    let whole = io::Cursor::new(head).take(head_len as u64).chain(counted);

    let buffered = BufReader::with_capacity(BUFFER_BYTES, whole);
    if is_gzip {
        let decoder = MultiGzDecoder::new(buffered);
        Ok(Box::new(BufReader::with_capacity(BUFFER_BYTES, decoder)))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Fills `head` from `reader` unless the input ends first; returns how many bytes it got.
fn read_head(reader: &mut impl Read, head: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n_bytes) => filled += n_bytes,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Creates the progress bar: drawn on stderr when wanted and stderr is a terminal, hidden
/// (but still counting) otherwise; a byte total when every input's size is known.
fn progress_bar(show: bool, total_bytes: Option<u64>) -> ProgressBar {
    if !show || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let template = match total_bytes {
        Some(_) => "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {wide_msg}",
        None => "{spinner} {bytes} {bytes_per_sec} {wide_msg}",
    };
    // The templates are constants, so the fallback style is only a safety net.
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(total_bytes, ProgressDrawTarget::stderr()).with_style(style)
}

/// The name the progress bar shows for an input.
fn display_name(path: &Path) -> String {
    if path.as_os_str() == STDIN_PATH {
        return "standard input".to_owned();
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    /// How a test input is stored on disk.
    enum Stored<'a> {
        Plain(&'a [u8]),
        /// Each part becomes its own gzip member, one after another in the file.
        Gzip(&'a [&'a [u8]]),
        /// Gzip data cut off after this many bytes.
        TruncatedGzip(&'a [u8], usize),
    }

    /// Writes `files` (name and content) to a fresh directory, reads them all as one input,
    /// and compares the lines and errors read, in order, with `expected`.
    fn check(files: &[(&str, Stored<'_>)], expected: &[&str]) {
        let dir = tempfile::tempdir().expect("a temporary directory is writable");
        let mut paths = Vec::new();
        for (name, stored) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, encode(stored)).expect("the temporary file is writable");
            paths.push(path);
        }

        let mut input = LogInput::open(&paths, false).expect("the inputs exist");
        let mut seen = Vec::new();
        let mut line = String::from("stale content");
        loop {
            match input.next_line(&mut line) {
                Ok(true) => seen.push(line.clone()),
                Ok(false) => break,
                // The reason is left out: its wording depends on the gzip backend.
                Err(InputError::Read { path, line, .. }) => {
                    let name = path.file_name().unwrap_or_default().to_string_lossy();
                    seen.push(format!("error reading {name} at line {line}"));
                }
                Err(error) => seen.push(format!("error: {error}")),
            }
        }
        let total: usize = files.iter().map(|(_, stored)| encode(stored).len()).sum();
        assert_eq!(
            input.bytes_read(),
            total as u64,
            "every stored byte is counted"
        );
        input.finish();
        assert_eq!(seen, expected);
    }

    /// The bytes a test input is stored as.
    fn encode(stored: &Stored<'_>) -> Vec<u8> {
        match stored {
            Stored::Plain(bytes) => bytes.to_vec(),
            Stored::Gzip(members) => members.iter().flat_map(|member| gzip(member)).collect(),
            Stored::TruncatedGzip(bytes, len) => gzip(bytes)[..*len].to_vec(),
        }
    }

    /// Compresses `bytes` into one gzip member.
    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder
            .write_all(bytes)
            .expect("writing to memory cannot fail");
        encoder.finish().expect("writing to memory cannot fail")
    }

    #[test]
    fn plain_files_in_order() {
        check(
            &[
                ("a.log", Stored::Plain(b"one\ntwo\r\n\nthree")),
                ("empty.log", Stored::Plain(b"")),
                ("b.log", Stored::Plain(b"four\n")),
            ],
            &["one", "two", "", "three", "four"],
        );
    }

    #[test]
    fn gzip_is_detected_by_content() {
        check(
            &[
                ("rotated.log", Stored::Gzip(&[b"one\ntwo\n"])),
                ("not-really.gz", Stored::Plain(b"three\n")),
                ("joined.gz", Stored::Gzip(&[b"four\nfi", b"ve\n", b""])),
                ("short.gz", Stored::Plain(b"\x1f")),
            ],
            &["one", "two", "three", "four", "five", "\u{1f}"],
        );
    }

    #[test]
    fn overlong_lines_are_cut() {
        let limit = MAX_LINE_BYTES as usize;
        let long_line = format!("{}\nnext\n", "x".repeat(limit + 10));
        let exact_line = format!("{}\nlast", "y".repeat(limit - 1));
        let (cut, exact) = ("x".repeat(limit), "y".repeat(limit - 1));
        check(
            &[
                ("long.log", Stored::Plain(long_line.as_bytes())),
                ("exact.log", Stored::Plain(exact_line.as_bytes())),
            ],
            &[&cut, "next", &exact, "last"],
        );
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        check(
            &[(
                "binary.log",
                Stored::Plain(b"ok\nbad \xff\xfe byte\n\xc3\xa9t\xc3\xa9\n"),
            )],
            &["ok", "bad \u{fffd}\u{fffd} byte", "été"],
        );
    }

    #[test]
    fn corrupt_gzip_reports_the_file_and_moves_on() {
        let long_text = "a line of log text\n".repeat(200);
        check(
            &[
                (
                    "cut.log.gz",
                    Stored::TruncatedGzip(long_text.as_bytes(), 15),
                ),
                ("next.log", Stored::Plain(b"after\n")),
            ],
            &["error reading cut.log.gz at line 1", "after"],
        );
    }

    #[test]
    fn open_checks_every_path() {
        let dir = tempfile::tempdir().expect("a temporary directory is writable");
        let present = dir.path().join("present.log");
        std::fs::write(&present, "x\n").expect("the temporary file is writable");
        let missing = dir.path().join("missing.log");

        let cases = [
            (vec![], "no input files given".to_owned()),
            (
                vec![present.clone(), missing.clone()],
                format!(
                    "cannot open {}: No such file or directory (os error 2)",
                    missing.display()
                ),
            ),
            (
                vec![dir.path().to_owned()],
                format!("cannot read {}: it is a directory", dir.path().display()),
            ),
        ];
        for (paths, expected) in cases {
            let error = LogInput::open(&paths, true)
                .err()
                .map(|error| error.to_string());
            assert_eq!(error.as_deref(), Some(expected.as_str()));
        }
    }

    #[test]
    fn position_is_reported() {
        let dir = tempfile::tempdir().expect("a temporary directory is writable");
        let path = dir.path().join("a.log");
        std::fs::write(&path, "one\ntwo\n").expect("the temporary file is writable");

        let mut input =
            LogInput::open(std::slice::from_ref(&path), true).expect("the input exists");
        let mut line = String::new();
        assert_eq!((input.current_path(), input.line_number()), (None, 0));
        for expected_number in [1, 2] {
            assert!(matches!(input.next_line(&mut line), Ok(true)));
            assert_eq!(input.current_path(), Some(path.as_path()));
            assert_eq!(input.line_number(), expected_number);
        }
        assert!(matches!(input.next_line(&mut line), Ok(false)));
        assert_eq!((input.current_path(), input.line_number()), (None, 0));
    }
}
