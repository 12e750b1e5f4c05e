//! A large access log for timing `rapsheet replay`: combined format, a day of traffic from
//! tens of thousands of visitors (page views with their assets, redirects, stale links, bots
//! of search engines) with scanners mixed in. The addresses are from the ranges set aside for
//! documentation and benchmarks (198.18.0.0/15, 203.0.113.0/24, 2001:db8::/32): the file is
//! only text.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use crate::rng::Rng;
use crate::site;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The log's clock: one day, lines a few ms apart.
struct Clock {
    seconds: u64,
}

impl Clock {
    fn stamp(&self) -> String {
        let day = self.seconds / 86_400;
        let (hour, minute, second) = (
            self.seconds / 3600 % 24,
            self.seconds / 60 % 60,
            self.seconds % 60,
        );
        format!(
            "{:02}/{}/2026:{hour:02}:{minute:02}:{second:02} +0000",
            1 + day % 28,
            MONTHS[(day / 28 % 12) as usize]
        )
    }
}

fn client(rng: &mut Rng) -> (String, &'static str) {
    if rng.chance(8) {
        let host = rng.below(4096);
        return (
            format!(
                "2001:db8:{:x}:{:x}::{:x}",
                host / 64,
                host % 64,
                rng.below(65536)
            ),
            site::BROWSERS[(host % 6) as usize],
        );
    }
    let host = rng.below(120_000) as u32;
    let address = format!(
        "198.{}.{}.{}",
        18 + (host >> 16),
        (host >> 8) & 255,
        host & 255
    );
    (address, site::BROWSERS[(host % 6) as usize])
}

/// Who a line is from.
struct Visitor<'a> {
    ip: &'a str,
    agent: &'a str,
}

fn line(
    out: &mut impl Write,
    who: &Visitor,
    clock: &Clock,
    path: &str,
    status: u16,
    size: usize,
    referer: &str,
) -> std::io::Result<()> {
    let Visitor { ip, agent } = who;
    writeln!(
        out,
        "{ip} - - [{}] \"GET {path} HTTP/1.1\" {status} {size} \"{referer}\" \"{agent}\"",
        clock.stamp()
    )
}

/// A visit's lines; returns how many were written.
fn visit(out: &mut impl Write, rng: &mut Rng, clock: &Clock) -> std::io::Result<u64> {
    let (ip, agent) = client(rng);
    let who = Visitor { ip: &ip, agent };
    let page = *rng.pick(site::PAGES);
    let referer = rng.pick(site::ENTRY_REFERERS).unwrap_or("-");
    let status = if rng.chance(3) { 404 } else { 200 };
    line(out, &who, clock, page, status, 6100, referer)?;
    let page_url = format!("https://{}{page}", site::HOST);
    let mut written = 1;
    for (asset, size) in site::ASSETS
        .iter()
        .chain(&site::IMAGES[..3 + rng.below(4) as usize])
    {
        let status = if rng.chance(30) { 304 } else { 200 };
        line(out, &who, clock, asset, status, *size, &page_url)?;
        written += 1;
    }
    if rng.chance(5) {
        let (old, _) = rng.pick(site::REDIRECTS);
        line(out, &who, clock, old, 302, 0, &page_url)?;
        written += 1;
    }
    Ok(written)
}

/// A scanner's burst of lines.
fn scan(out: &mut impl Write, rng: &mut Rng, clock: &Clock) -> std::io::Result<u64> {
    let ip = format!("203.0.113.{}", rng.below(254) + 1);
    let paths = [
        "/.env",
        "/wp-login.php",
        "/.git/config",
        "/phpmyadmin/",
        "/admin/",
        "/backup.sql",
        "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/download?file=../../etc/passwd",
    ];
    let agent = if rng.chance(50) {
        "Mozilla/5.00 (Nikto/2.1.6)"
    } else {
        site::BROWSERS[0]
    };
    let who = Visitor { ip: &ip, agent };
    for path in paths {
        line(out, &who, clock, path, 404, 153, "-")?;
    }
    Ok(paths.len() as u64)
}

/// Writes `lines` lines (a few more, to finish the last visit) to `path`.
///
/// # Errors
///
/// Fails when the file cannot be written.
pub fn write(path: &Path, lines: u64, seed: u64) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng::new(seed);
    let mut clock = Clock { seconds: 0 };
    let mut written = 0;
    while written < lines {
        written += if rng.chance(2) {
            scan(&mut out, &mut rng, &clock)?
        } else {
            visit(&mut out, &mut rng, &clock)?
        };
        clock.seconds += rng.below(2);
    }
    out.flush()?;
    eprintln!("wrote {written} lines to {}", path.display());
    Ok(())
}
