//! A strict reader of the Prometheus text exposition format (version 0.0.4), enough to say
//! that a scrape parses: valid names, quoted and escaped label values, numeric values, a
//! TYPE before each family's samples, and histograms whose buckets are cumulative and end
//! in `+Inf` equal to `_count`.

use std::collections::HashMap;

/// One sample line.
pub struct Sample {
    /// The series as rendered, `name{a="b"}`, for lookups.
    series: String,
    /// The sample's name, with `_bucket`, `_sum` or `_count` for histograms.
    name: String,
    labels: Labels,
    value: f64,
}

/// A parsed scrape.
pub struct Scrape {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Scrape {
    /// True when a family of this name was declared.
    pub fn has_family(&self, name: &str) -> bool {
        self.types.contains_key(name)
    }

    /// The value of a series written as the encoder writes it, `name{a="b",c="d"}`.
    pub fn value(&self, series: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|sample| sample.series == series)
            .map(|sample| sample.value)
    }

    /// Every sample's label values, with its series.
    pub fn samples(&self) -> impl Iterator<Item = (Vec<&str>, &str)> + '_ {
        self.samples.iter().map(|sample| {
            let values = sample.labels.iter().map(|(_, v)| v.as_str()).collect();
            (values, sample.series.as_str())
        })
    }
}

/// The metric names a source file declares: every string literal `"rapsheet_…"`.
pub fn declared_names(source: &str) -> Vec<String> {
    let mut names: Vec<String> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.starts_with("rapsheet_"))
        .filter(|literal| {
            literal
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Parses `text`, or says which line is wrong and why.
pub fn parse(text: &str) -> Result<Scrape, String> {
    let mut scrape = Scrape {
        types: HashMap::new(),
        samples: Vec::new(),
    };
    for (number, line) in text.lines().enumerate() {
        let fail = |why: &str| format!("line {}: {why}: {line}", number + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            read_comment(comment, &mut scrape.types).map_err(|why| fail(&why))?;
            continue;
        }
        let sample = read_sample(line).map_err(|why| fail(&why))?;
        if family_of(&sample.name, &scrape.types).is_none() {
            return Err(fail("sample before its TYPE"));
        }
        scrape.samples.push(sample);
    }
    check_histograms(&scrape)?;
    Ok(scrape)
}

fn read_comment(comment: &str, types: &mut HashMap<String, String>) -> Result<(), String> {
    let mut words = comment.trim_start().splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("HELP"), Some(name), _) => valid_name(name),
        (Some("TYPE"), Some(name), Some(kind)) => {
            valid_name(name)?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("unknown type {kind}"));
            }
            match types.insert(name.to_string(), kind.to_string()) {
                Some(_) => Err("TYPE declared twice".into()),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn read_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    valid_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = read_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        number => number.parse().map_err(|_| format!("bad value {number}"))?,
    };
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().map_err(|_| "bad timestamp")?;
    }
    let rendered: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let series = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", rendered.join(","))
    };
    Ok(Sample {
        series,
        name: name.to_string(),
        labels,
        value,
    })
}

/// Label names and values, in order.
type Labels = Vec<(String, String)>;

/// Reads `a="b",c="d"}` and returns the labels and what follows the brace.
fn read_labels(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after) = text
            .split_once("=\"")
            .ok_or("label without a quoted value")?;
        valid_name(name)?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((name.to_string(), value));
        text = &after[end + 1..];
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

fn valid_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad name {name:?}"))
    }
}

/// The declared family a sample belongs to.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|base| types.get(*base).is_some_and(|kind| kind == "histogram"))
}

/// Buckets are cumulative, carry `le`, and the `+Inf` bucket equals `_count`.
fn check_histograms(scrape: &Scrape) -> Result<(), String> {
    for (family, kind) in &scrape.types {
        if kind != "histogram" {
            continue;
        }
        let bucket_name = format!("{family}_bucket");
        let buckets: Vec<&Sample> = scrape
            .samples
            .iter()
            .filter(|s| s.name == bucket_name)
            .collect();
        let mut previous = 0.0;
        for bucket in &buckets {
            if !bucket.labels.iter().any(|(k, _)| k == "le") {
                return Err(format!("{family}: bucket without le"));
            }
            if bucket.value < previous {
                return Err(format!("{family}: buckets not cumulative"));
            }
            previous = bucket.value;
        }
        let last = buckets.last().ok_or(format!("{family}: no buckets"))?;
        let count = scrape.value(&format!("{family}_count"));
        if !last.labels.iter().any(|(k, v)| k == "le" && v == "+Inf") || count != Some(last.value) {
            return Err(format!("{family}: +Inf bucket does not match _count"));
        }
    }
    Ok(())
}
