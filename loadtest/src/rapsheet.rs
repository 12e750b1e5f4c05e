//! A rapsheet under test: its generated configuration (a copy of the repository's `conf/`
//! with the edits a scenario needs), the running process, and what can be asked of it over
//! loopback: a metric from the Prometheus endpoint, a reload through the admin API.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::lab::{free_port, Server};

/// How a rapsheet is configured.
#[derive(Clone, Debug)]
pub struct Options {
    /// `scoring:` in rapsheet.yaml.
    pub scoring: bool,
    /// Worker threads.
    pub threads: usize,
    /// `store.max_clients`.
    pub max_clients: u64,
    /// `client_ip.trusted_proxies`.
    pub trusted_proxies: Vec<String>,
    /// Edits to policy.yaml: a line starting with the key (indentation included) gets the
    /// new value.
    pub policy_edits: Vec<(String, String)>,
    /// RUST_LOG for the process.
    pub log_filter: String,
    /// `state.flush_interval`, with `state.path: state.db` beside the configuration; `None`
    /// keeps state in memory only.
    pub state_flush_interval: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scoring: true,
            threads: 1,
            max_clients: 1_000_000,
            trusted_proxies: Vec::new(),
            policy_edits: Vec::new(),
            log_filter: "info,pingora=warn".into(),
            state_flush_interval: None,
        }
    }
}

/// Where a started rapsheet's files and endpoints are.
pub struct Files {
    /// rapsheet.yaml.
    pub config: PathBuf,
    /// policy.yaml (rewrite it to reload).
    pub policy: PathBuf,
    /// The proxy listener.
    pub listen: SocketAddr,
    /// The metrics endpoint.
    pub metrics: SocketAddr,
    /// The admin API.
    pub admin: SocketAddr,
    /// The admin bearer token.
    pub token: String,
}

/// A running rapsheet.
pub struct Running {
    /// The process.
    pub server: Server,
    /// Its files and endpoints.
    pub files: Files,
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Replaces the value of the line starting with `key` (its indentation is part of the key).
///
/// # Errors
///
/// Fails when no line starts with `key`, so a renamed setting cannot go unnoticed.
pub fn edit_yaml(text: &str, key: &str, value: &str) -> anyhow::Result<String> {
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.strip_prefix(key) {
            Some(rest) if rest.starts_with(':') && !found => {
                found = true;
                format!("{key}: {value}")
            }
            _ => line.to_string(),
        })
        .collect();
    if !found {
        bail!("policy.yaml has no line `{key}:` to edit");
    }
    Ok(lines.join("\n") + "\n")
}

/// Writes rapsheet.yaml, the policy and its lists into `dir`.
///
/// # Errors
///
/// Fails when a file cannot be copied or written, or an edit finds no line.
pub fn write_config(
    dir: &Path,
    conf: &Path,
    upstream: SocketAddr,
    options: &Options,
) -> anyhow::Result<Files> {
    copy_dir(conf, dir)?;
    let policy = dir.join("policy.yaml");
    let mut text = fs::read_to_string(&policy)?;
    for (key, value) in &options.policy_edits {
        text = edit_yaml(&text, key, value)?;
    }
    fs::write(&policy, text)?;
    let token = format!("load-{}", std::process::id());
    fs::write(dir.join("admin.token"), &token)?;
    let (listen, metrics, admin) = (free_port()?, free_port()?, free_port()?);
    let trusted: Vec<String> = options
        .trusted_proxies
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect();
    let config = format!(
        "listen: {listen}\nupstreams: [\"{upstream}\"]\npolicy: policy.yaml\nthreads: {}\n\
         scoring: {}\nstore:\n  max_clients: {}\n  idle_timeout: 1h\nclient_ip:\n  \
         trusted_proxies: [{}]\n  header: X-Forwarded-For\nmetrics:\n  listen: {metrics}\n\
         admin:\n  listen: {admin}\n  token_file: admin.token\n",
        options.threads,
        options.scoring,
        options.max_clients,
        trusted.join(", ")
    );
    let state = match options.state_flush_interval {
        Some(interval) => format!(
            "state:\n  path: state.db\n  flush_interval: {}ms\n",
            interval.as_millis()
        ),
        None => String::new(),
    };
    let file = dir.join("rapsheet.yaml");
    fs::write(&file, config + &state)?;
    Ok(Files {
        config: file,
        policy,
        listen,
        metrics,
        admin,
        token,
    })
}

/// Sends one request with `Connection: close` and returns the status and body.
///
/// # Errors
///
/// Fails on a connection error or an unreadable response.
pub async fn fetch(address: SocketAddr, head: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address).await?;
    stream.write_all(head.as_bytes()).await?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no status line")?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, dechunk_if_needed(&text, body)))
}

/// Bodies here are small; a chunked one is reassembled crudely by dropping size lines.
fn dechunk_if_needed(text: &str, body: &str) -> String {
    if !text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_string();
    }
    let mut out = String::new();
    let mut lines = body.split("\r\n");
    while let Some(size) = lines.next() {
        if usize::from_str_radix(size.trim(), 16).unwrap_or(0) == 0 {
            break;
        }
        out.push_str(lines.next().unwrap_or(""));
    }
    out
}

/// The value of the Prometheus series `name` (exactly, labels included) in `text`.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

impl Running {
    /// The metrics page as text.
    ///
    /// # Errors
    ///
    /// Fails when the endpoint does not answer.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let head = "GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n";
        Ok(fetch(self.files.metrics, head).await?.1)
    }

    /// Asks the admin API to reload the policy; returns the status.
    ///
    /// # Errors
    ///
    /// Fails when the admin API does not answer.
    pub async fn reload(&self) -> anyhow::Result<u16> {
        let head = format!(
            "POST /v1/reload HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer {}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.files.token
        );
        Ok(fetch(self.files.admin, &head).await?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_replace_one_line_and_refuse_unknown_keys() {
        let text = "tarpit_at: 50\ntarpit:\n  max_held: 2000\n";
        let edited = edit_yaml(text, "  max_held", "12000").unwrap();
        assert_eq!(edited, "tarpit_at: 50\ntarpit:\n  max_held: 12000\n");
        assert!(edit_yaml(text, "max_held", "1").is_err());
    }

    #[test]
    fn metrics_are_found_by_exact_series() {
        let text =
            "# HELP x\nrapsheet_store_clients 42\nrapsheet_reloads_total{outcome=\"ok\"} 3\n";
        assert_eq!(metric(text, "rapsheet_store_clients"), Some(42.0));
        assert_eq!(
            metric(text, "rapsheet_reloads_total{outcome=\"ok\"}"),
            Some(3.0)
        );
        assert_eq!(metric(text, "rapsheet_store"), None);
    }
}
