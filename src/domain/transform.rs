//! Anonymization transforms: what a retention rule with action `anonymize` does to each field of
//! a record. Each transform is a small pure function, usable alone; [`apply`] runs a rule's list
//! over one record and [`outcome`] says honestly whether the result is anonymous or only
//! pseudonymous. Values are personal data: no error or failure here ever carries one.

use super::ValidationErrors;
use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use utoipa::ToSchema;

/// The unit `coarsen_time` truncates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    Hour,
    Day,
    Month,
}

fn default_v4_prefix() -> u8 {
    24
}

fn default_v6_prefix() -> u8 {
    48
}

/// One step of anonymization. In JSON: `{"field": "body", "op": "truncate", "chars": 20}`;
/// unknown keys are refused so that a misspelt option cannot silently weaken a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// The value is removed (JSON null).
    Null { field: String },
    /// Only the first `chars` characters are kept.
    Truncate { field: String, chars: u32 },
    /// The first and last characters are kept, every other one becomes `*`.
    Mask {
        field: String,
        keep_first: u32,
        keep_last: u32,
    },
    /// An IP address becomes its network (host bits zeroed), e.g. `203.0.113.0/24`.
    IpNetwork {
        field: String,
        #[serde(default = "default_v4_prefix")]
        v4_prefix: u8,
        #[serde(default = "default_v6_prefix")]
        v6_prefix: u8,
    },
    /// A time becomes the start of its hour, day or month (UTC).
    CoarsenTime { field: String, unit: TimeUnit },
    /// The value becomes a keyed hash: records of one person stay linkable, the value is gone.
    Pseudonym { field: String },
    /// A number becomes the interval of `width` holding it, e.g. `[30, 40)`.
    Bucket { field: String, width: u64 },
    /// The record is detached from its person.
    // An empty struct variant, not a unit one: serde ignores extra keys of a unit variant, so
    // `{"op": "drop_subject", "field": "x"}` would be accepted and the misunderstanding hidden.
    DropSubject {},
}

impl Transform {
    /// The field a transform acts on; `None` for `drop_subject`, which acts on the record.
    pub fn field(&self) -> Option<&str> {
        match self {
            Transform::Null { field }
            | Transform::Truncate { field, .. }
            | Transform::Mask { field, .. }
            | Transform::IpNetwork { field, .. }
            | Transform::CoarsenTime { field, .. }
            | Transform::Pseudonym { field }
            | Transform::Bucket { field, .. } => Some(field),
            Transform::DropSubject {} => None,
        }
    }

    /// Whether the transform removes the value or generalizes it to a coarser one that keeps no
    /// part of it. A generalization that keeps the whole value (a /32 or /128 network, buckets of
    /// width 1) does not count: it would let a rule be called anonymizing while it is not.
    fn removes_or_generalizes(&self) -> bool {
        match self {
            Transform::Null { .. } | Transform::CoarsenTime { .. } => true,
            Transform::IpNetwork {
                v4_prefix,
                v6_prefix,
                ..
            } => *v4_prefix < 32 && *v6_prefix < 128,
            Transform::Bucket { width, .. } => *width >= 2,
            Transform::Truncate { .. }
            | Transform::Mask { .. }
            | Transform::Pseudonym { .. }
            | Transform::DropSubject {} => false,
        }
    }
}

/// The console writes transforms one a line, `field: op [arguments]` (`recipient: mask 3 3`,
/// `ip: ip_network 24 48`, `sent_at: coarsen_time day`) or `drop_subject`.
pub fn to_lines(transforms: &[Transform]) -> String {
    transforms
        .iter()
        .map(to_line)
        .collect::<Vec<_>>()
        .join("\n")
}

fn to_line(t: &Transform) -> String {
    let unit = |u: &TimeUnit| match u {
        TimeUnit::Hour => "hour",
        TimeUnit::Day => "day",
        TimeUnit::Month => "month",
    };
    match t {
        Transform::Null { field } => format!("{field}: null"),
        Transform::Truncate { field, chars } => format!("{field}: truncate {chars}"),
        Transform::Mask {
            field,
            keep_first,
            keep_last,
        } => format!("{field}: mask {keep_first} {keep_last}"),
        Transform::IpNetwork {
            field,
            v4_prefix,
            v6_prefix,
        } => format!("{field}: ip_network {v4_prefix} {v6_prefix}"),
        Transform::CoarsenTime { field, unit: u } => format!("{field}: coarsen_time {}", unit(u)),
        Transform::Pseudonym { field } => format!("{field}: pseudonym"),
        Transform::Bucket { field, width } => format!("{field}: bucket {width}"),
        Transform::DropSubject {} => "drop_subject".into(),
    }
}

/// Reads the console's lines; each problem is `(line number from 1, message)`.
pub fn parse_lines(text: &str) -> Result<Vec<Transform>, Vec<(usize, String)>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(t) => out.push(t),
            Err(e) => errors.push((i + 1, e)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn parse_line(line: &str) -> Result<Transform, String> {
    if line == "drop_subject" {
        return Ok(Transform::DropSubject {});
    }
    let Some((field, rest)) = line.split_once(':') else {
        return Err(format!(
            "write 'field: operation' (e.g. 'recipient: mask 3 3') or 'drop_subject', not '{line}'"
        ));
    };
    let field = field.trim().to_owned();
    let words: Vec<&str> = rest.split_whitespace().collect();
    let number = |i: usize, what: &str| -> Result<u64, String> {
        words
            .get(i)
            .ok_or_else(|| format!("{} needs {what}", words.first().unwrap_or(&"")))?
            .parse::<u64>()
            .map_err(|_| format!("{what} must be a whole number"))
    };
    let small = |n: u64, what: &str| -> Result<u32, String> {
        u32::try_from(n).map_err(|_| format!("{what} is too large"))
    };
    let prefix = |i: usize, default: u8, what: &str| -> Result<u8, String> {
        match words.get(i) {
            None => Ok(default),
            Some(w) => w
                .parse::<u8>()
                .map_err(|_| format!("{what} must be a number of bits")),
        }
    };
    let t = match words.first().copied() {
        Some("null") => Transform::Null { field },
        Some("truncate") => Transform::Truncate {
            field,
            chars: small(number(1, "a number of characters")?, "chars")?,
        },
        Some("mask") => Transform::Mask {
            field,
            keep_first: small(
                number(1, "how many first characters to keep")?,
                "keep_first",
            )?,
            keep_last: small(number(2, "how many last characters to keep")?, "keep_last")?,
        },
        Some("ip_network") => Transform::IpNetwork {
            field,
            v4_prefix: prefix(1, default_v4_prefix(), "the IPv4 prefix")?,
            v6_prefix: prefix(2, default_v6_prefix(), "the IPv6 prefix")?,
        },
        Some("coarsen_time") => Transform::CoarsenTime {
            field,
            unit: match words.get(1).copied() {
                Some("hour") => TimeUnit::Hour,
                Some("day") => TimeUnit::Day,
                Some("month") => TimeUnit::Month,
                _ => return Err("coarsen_time needs hour, day or month".into()),
            },
        },
        Some("pseudonym") => Transform::Pseudonym { field },
        Some("bucket") => Transform::Bucket {
            field,
            width: number(1, "a width")?,
        },
        Some(other) => {
            return Err(format!(
                "'{other}' is not a transform: use null, truncate, mask, ip_network, \
                 coarsen_time, pseudonym, bucket or drop_subject"
            ));
        }
        None => {
            return Err(format!(
                "say what happens to '{field}', e.g. '{field}: null'"
            ));
        }
    };
    let expected = match &t {
        Transform::Null { .. } | Transform::Pseudonym { .. } => 1,
        Transform::Truncate { .. } | Transform::Bucket { .. } | Transform::CoarsenTime { .. } => 2,
        Transform::Mask { .. } | Transform::IpNetwork { .. } => 3,
        Transform::DropSubject {} => 0,
    };
    if words.len() > expected {
        return Err(format!("too many words after '{}'", words[0]));
    }
    Ok(t)
}

/// Checks an anonymize rule's transforms against the fields of its category. Field paths are
/// `transforms` (the list as a whole), `transforms[i]` and `transforms[i].<key>`.
pub fn validate_transforms(
    transforms: &[Transform],
    category_fields: &[String],
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if transforms.is_empty() {
        errors.add(
            "transforms",
            "give at least one transform: an anonymize rule without one would change nothing",
        );
    }
    let mut seen_fields: Vec<(&str, usize)> = Vec::new();
    let mut drop_subject_at: Option<usize> = None;
    for (i, t) in transforms.iter().enumerate() {
        let at = |key: &str| format!("transforms[{i}].{key}");
        if let Some(field) = t.field() {
            if !category_fields.iter().any(|f| f == field) {
                let known = if category_fields.is_empty() {
                    "the category declares no fields".to_owned()
                } else {
                    format!("its fields are {}", category_fields.join(", "))
                };
                errors.add(
                    &at("field"),
                    format!("'{field}' is not a field of this category ({known})"),
                );
            } else if let Some((_, j)) = seen_fields.iter().find(|(f, _)| *f == field) {
                errors.add(
                    &at("field"),
                    format!(
                        "'{field}' already has a transform (transforms[{j}]); give one per field"
                    ),
                );
            } else {
                seen_fields.push((field, i));
            }
        }
        match t {
            Transform::DropSubject {} => match drop_subject_at {
                Some(j) => errors.add(
                    &format!("transforms[{i}]"),
                    format!("drop_subject appears twice (also transforms[{j}])"),
                ),
                None => drop_subject_at = Some(i),
            },
            Transform::Truncate { chars, .. } if !(1..=10_000).contains(chars) => {
                errors.add(&at("chars"), "give 1 to 10000 characters")
            }
            Transform::Mask {
                keep_first,
                keep_last,
                ..
            } => {
                if *keep_first > 64 {
                    errors.add(&at("keep_first"), "keep at most 64 characters");
                }
                if *keep_last > 64 {
                    errors.add(&at("keep_last"), "keep at most 64 characters");
                }
            }
            Transform::IpNetwork {
                v4_prefix,
                v6_prefix,
                ..
            } => {
                if *v4_prefix > 32 {
                    errors.add(&at("v4_prefix"), "give a prefix of 0 to 32 bits");
                }
                if *v6_prefix > 128 {
                    errors.add(&at("v6_prefix"), "give a prefix of 0 to 128 bits");
                }
            }
            Transform::Bucket { width: 0, .. } => {
                errors.add(&at("width"), "give a width of at least 1")
            }
            _ => {}
        }
    }
    errors.into_result()
}

/// Why a value could not be transformed. The message is a fixed text, so it can never carry the
/// value (personal data) into a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransformError(&'static str);

impl TransformError {
    pub fn message(self) -> &'static str {
        self.0
    }
}

/// The first `chars` characters of `s`. Counts Unicode scalar values, so a UTF-8 character is
/// never split (a combining accent may be separated from its letter).
pub fn truncate(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

/// Keeps the first `keep_first` and last `keep_last` characters and replaces every other one by
/// `*`, so the length (in characters) stays visible but not the content. When that would hide
/// nothing (the value is too short, or its middle is already all `*`), every character is masked:
/// the whole value is never revealed.
pub fn mask(s: &str, keep_first: usize, keep_last: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let hides_something = keep_first
        .checked_add(keep_last)
        .is_some_and(|kept| kept < n)
        && chars[keep_first..n - keep_last].iter().any(|c| *c != '*');
    if !hides_something {
        return "*".repeat(n);
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_first || i >= n - keep_last {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// The network of an IP address (or of a network in CIDR form, keeping the shorter of its prefix
/// and the requested one) with all host bits zeroed, as CIDR text: `203.0.113.0/24`,
/// `2001:db8:1::/48`. IPv4-mapped IPv6 addresses are treated as the IPv4 address they carry, so
/// that one person's address is generalized the same way however the socket reported it.
pub fn ip_network(ip: &str, v4_prefix: u8, v6_prefix: u8) -> Result<String, TransformError> {
    const NOT_AN_IP: TransformError = TransformError("is not an IP address or network");
    if v4_prefix > 32 || v6_prefix > 128 {
        return Err(TransformError("the requested prefix is out of range"));
    }
    let raw = ip.trim();
    let (addr, given) = match raw.split_once('/') {
        Some((a, p)) => {
            let p: u8 = p
                .parse()
                .map_err(|_| TransformError("has a network prefix that is not a number"))?;
            (a, Some(p))
        }
        None => (raw, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| NOT_AN_IP)?;
    let out_of_range = TransformError("has a network prefix longer than its address");
    let (addr, given) = match (addr, given) {
        (IpAddr::V4(_), Some(p)) if p > 32 => return Err(out_of_range),
        (IpAddr::V6(_), Some(p)) if p > 128 => return Err(out_of_range),
        (IpAddr::V6(a), given) => match (a.to_ipv4_mapped(), given) {
            (Some(v4), None) => (IpAddr::V4(v4), None),
            // A mapped network is IPv4 only when its prefix covers the ::ffff:0:0/96 part.
            (Some(v4), Some(p)) if p >= 96 => (IpAddr::V4(v4), Some(p - 96)),
            _ => (IpAddr::V6(a), given),
        },
        other => other,
    };
    Ok(match addr {
        IpAddr::V4(a) => {
            let prefix = given.map_or(v4_prefix, |p| p.min(v4_prefix));
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            format!("{}/{prefix}", Ipv4Addr::from(u32::from(a) & keep))
        }
        IpAddr::V6(a) => {
            let prefix = given.map_or(v6_prefix, |p| p.min(v6_prefix));
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            format!("{}/{prefix}", Ipv6Addr::from(u128::from(a) & keep))
        }
    })
}

/// The start of the hour, day or month (in UTC) holding a time given in RFC 3339 (any offset) or
/// as a plain `YYYY-MM-DD` date (read as midnight UTC), as RFC 3339 UTC with seconds:
/// `2026-11-27T07:00:00Z`. UTC first, so that the same instant always coarsens the same way.
pub fn coarsen_time(t: &str, unit: TimeUnit) -> Result<String, TransformError> {
    let raw = t.trim();
    let utc: DateTime<Utc> = match DateTime::parse_from_rfc3339(raw) {
        Ok(dt) => dt.with_timezone(&Utc),
        Err(_) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| TransformError("is not an RFC 3339 time or a YYYY-MM-DD date"))?
            .and_time(chrono::NaiveTime::MIN)
            .and_utc(),
    };
    // Converting an offset time to UTC can leave the four-digit years RFC 3339 can write.
    if !(0..=9999).contains(&utc.year()) {
        return Err(TransformError("is outside the years 0000 to 9999 in UTC"));
    }
    let day = utc.date_naive();
    let (date, hour) = match unit {
        TimeUnit::Hour => (Some(day), utc.hour()),
        TimeUnit::Day => (Some(day), 0),
        TimeUnit::Month => (day.with_day(1), 0),
    };
    let start = date
        .and_then(|d| d.and_hms_opt(hour, 0, 0))
        .ok_or(TransformError("cannot be coarsened"))?
        .and_utc();
    Ok(start.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// HMAC-SHA256 through the `hmac` crate, with the key brought to one SHA-256 block as RFC 2104
/// does (zero-padded, or hashed when longer), so the fixed-size constructor cannot fail.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() <= block.len() {
        block[..key.len()].copy_from_slice(key);
    } else {
        block[..32].copy_from_slice(&Sha256::digest(key));
    }
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new(&block.into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The first of `candidate(0)`, `candidate(1)`… that differs from `value`.
fn first_unlike(value: &str, mut candidate: impl FnMut(u32) -> String) -> String {
    let mut round = 0u32;
    loop {
        let c = candidate(round);
        if c != value {
            return c;
        }
        round = round.wrapping_add(1);
    }
}

/// A keyed hash of the value: `psn_` and 40 lower-case hex digits (the first 20 bytes of
/// HMAC-SHA256). The same key gives the same pseudonym, so one person's records stay linkable;
/// without the key it cannot be recomputed from a guessed value. It never equals its input: in
/// the (astronomically unlikely) case it would, the value is hashed again with a round counter.
pub fn pseudonym(key: &[u8], value: &str) -> String {
    first_unlike(value, |round| {
        let mac = if round == 0 {
            hmac_sha256(key, &[value.as_bytes()])
        } else {
            hmac_sha256(
                key,
                &[b"lethe-psn-retry\0", &round.to_be_bytes(), value.as_bytes()],
            )
        };
        format!("psn_{}", hex::encode(&mac[..20]))
    })
}

/// Largest magnitude bucketed: integer bounds are computed exactly in `i128`.
const BUCKET_LIMIT: f64 = 1e38;

/// The interval of `width` holding `x`, as half-open interval text `[lower, upper)` where
/// `lower = floor(x / width) * width` and `upper = lower + width`: `34` with width 10 gives
/// `[30, 40)`, `-5` gives `[-10, 0)`, `39.5` gives `[30, 40)`. One format for every value,
/// because "30-39" would misstate fractions (39.5) and read badly for negatives ("-10--1").
pub fn bucket(x: f64, width: u64) -> Result<String, TransformError> {
    if !x.is_finite() {
        return Err(TransformError("is not a finite number"));
    }
    if width == 0 {
        return Err(TransformError("the bucket width must be at least 1"));
    }
    if x.abs() >= BUCKET_LIMIT {
        return Err(TransformError("is too large to put in a bucket"));
    }
    // Exact: |x| < 1e38 < 2^127, and a float that large is already an integer.
    let floor = x.floor() as i128;
    let w = i128::from(width);
    let lower = floor.div_euclid(w) * w;
    Ok(format!("[{lower}, {})", lower + w))
}

/// A field that could not be transformed and was nulled instead. Carries the field's name and a
/// fixed reason, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransformFailure {
    pub field: String,
    pub reason: String,
}

/// What [`apply`] did beyond changing the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Applied {
    /// The rule detaches the record from its person; the caller does that in storage.
    pub drop_subject: bool,
    pub failures: Vec<TransformFailure>,
}

/// What a transform needs a value to be, for failure reasons.
#[derive(Clone, Copy)]
enum Wanted {
    Text,
    Number,
    TextOrNumber,
}

/// A fixed description of why a value's JSON type does not fit, for failure reasons.
fn wrong_type(value: &Value, wanted: Wanted) -> TransformError {
    use Wanted::{Number, Text, TextOrNumber};
    TransformError(match (value, wanted) {
        (Value::Bool(_), Text) => "is a boolean, not text",
        (Value::Bool(_), Number) => "is a boolean, not a number",
        (Value::Bool(_), TextOrNumber) => "is a boolean, not text or a number",
        (Value::Array(_), Text) => "is a list, not text",
        (Value::Array(_), Number) => "is a list, not a number",
        (Value::Array(_), TextOrNumber) => "is a list, not text or a number",
        (Value::Object(_), Text) => "is an object, not text",
        (Value::Object(_), Number) => "is an object, not a number",
        (Value::Object(_), TextOrNumber) => "is an object, not text or a number",
        (Value::Number(_), _) => "is a number, not text",
        (Value::String(_), _) => "is text that is not a number",
        (Value::Null, _) => "is null",
    })
}

/// Text, or a number written as text (for transforms that work on characters).
fn text_or_number(value: &Value) -> Result<String, TransformError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(wrong_type(other, Wanted::TextOrNumber)),
    }
}

fn text_only(value: &Value) -> Result<&str, TransformError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(other, Wanted::Text)),
    }
}

/// A number, or a number written as text (forms and CSV imports often send "34").
fn number(value: &Value) -> Result<f64, TransformError> {
    match value {
        Value::Number(n) => n
            .as_f64()
            .ok_or(TransformError("is a number that cannot be read")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| wrong_type(value, Wanted::Number)),
        other => Err(wrong_type(other, Wanted::Number)),
    }
}

/// The new value of one field under one field transform.
fn transform_value(t: &Transform, value: &Value, key: &[u8]) -> Result<Value, TransformError> {
    let to_usize = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    Ok(match t {
        Transform::Null { .. } | Transform::DropSubject {} => Value::Null,
        Transform::Truncate { chars, .. } => {
            Value::String(truncate(&text_or_number(value)?, to_usize(*chars)))
        }
        Transform::Mask {
            keep_first,
            keep_last,
            ..
        } => Value::String(mask(
            &text_or_number(value)?,
            to_usize(*keep_first),
            to_usize(*keep_last),
        )),
        Transform::IpNetwork {
            v4_prefix,
            v6_prefix,
            ..
        } => Value::String(ip_network(text_only(value)?, *v4_prefix, *v6_prefix)?),
        Transform::CoarsenTime { unit, .. } => {
            Value::String(coarsen_time(text_only(value)?, *unit)?)
        }
        Transform::Pseudonym { .. } => Value::String(pseudonym(key, &text_or_number(value)?)),
        Transform::Bucket { width, .. } => Value::String(bucket(number(value)?, *width)?),
    })
}

/// Applies a rule's transforms to one record's fields, in order. Absent and null fields are left
/// as they are. A value that cannot be transformed (wrong type, unreadable address or time) is
/// nulled and reported: privacy wins over keeping data the rule meant to change.
pub fn apply(
    transforms: &[Transform],
    fields: &mut Map<String, Value>,
    pseudonym_key: &[u8],
) -> Applied {
    let mut applied = Applied::default();
    for t in transforms {
        let Some(name) = t.field() else {
            applied.drop_subject = true;
            continue;
        };
        let Some(value) = fields.get_mut(name) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        *value = match transform_value(t, value, pseudonym_key) {
            Ok(v) => v,
            Err(e) => {
                applied.failures.push(TransformFailure {
                    field: name.to_owned(),
                    reason: e.message().to_owned(),
                });
                Value::Null
            }
        };
    }
    applied
}

/// The honest word for what a rule's transforms leave behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Detached from the person, every field removed or generalized.
    Anonymized,
    /// Something still links to the person or keeps part of a value.
    Pseudonymized,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Anonymized => "anonymized",
            Outcome::Pseudonymized => "pseudonymized",
        }
    }

    /// One sentence for the console.
    pub fn explain(self) -> &'static str {
        match self {
            Outcome::Anonymized => {
                "The record is detached from the person and every field is removed or generalized, so it is meant to no longer relate to an identifiable person and to fall outside the GDPR (Recital 26)."
            }
            Outcome::Pseudonymized => {
                "Something in the record still links to the person or keeps part of a value, so it is pseudonymized data, which is still personal data under GDPR Recital 26 and must be protected as such."
            }
        }
    }
}

/// [`Outcome::Anonymized`] only when the rule drops the subject and every field of the category
/// is nulled or generalized (`ip_network`, `coarsen_time`, `bucket`, none of them keeping the
/// whole value); anything else (`pseudonym`, `mask`, `truncate`, an untouched field, no
/// `drop_subject`) is [`Outcome::Pseudonymized`].
pub fn outcome(transforms: &[Transform], category_fields: &[String]) -> Outcome {
    let detached = transforms.contains(&Transform::DropSubject {});
    let all_covered = category_fields.iter().all(|f| {
        let on_field: Vec<&Transform> = transforms
            .iter()
            .filter(|t| t.field() == Some(f.as_str()))
            .collect();
        !on_field.is_empty() && on_field.iter().all(|t| t.removes_or_generalizes())
    });
    if detached && all_covered {
        Outcome::Anonymized
    } else {
        Outcome::Pseudonymized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_lines_round_trip_and_name_their_line() {
        let text = "preview: null\nbody: truncate 20\nrecipient: mask 3 3\nip: ip_network 24 48\n\
                    sent_at: coarsen_time day\nemail: pseudonym\nage: bucket 10\ndrop_subject";
        let parsed = parse_lines(text).unwrap();
        assert_eq!(parsed.len(), 8);
        assert_eq!(to_lines(&parsed), text);
        assert_eq!(
            parse_lines("ip: ip_network").unwrap()[0],
            Transform::IpNetwork {
                field: "ip".into(),
                v4_prefix: 24,
                v6_prefix: 48
            }
        );
        let errors = parse_lines("a: null\n\nb: shred\nc mask\nd: mask 3\ne: null 1").unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(errors[0].1.contains("'shred' is not a transform"));
    }
    use proptest::prelude::*;
    use serde_json::json;

    const KEY: &[u8] = b"period key for tests";

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn example_json() -> Value {
        json!([
            {"field": "preview",   "op": "null"},
            {"field": "body",      "op": "truncate", "chars": 20},
            {"field": "recipient", "op": "mask", "keep_first": 3, "keep_last": 3},
            {"field": "ip",        "op": "ip_network", "v4_prefix": 24, "v6_prefix": 48},
            {"field": "sent_at",   "op": "coarsen_time", "unit": "day"},
            {"field": "email",     "op": "pseudonym"},
            {"field": "age",       "op": "bucket", "width": 10},
            {"op": "drop_subject"}
        ])
    }

    fn example() -> Vec<Transform> {
        serde_json::from_value(example_json()).expect("the documented shape parses")
    }

    fn example_fields() -> Vec<String> {
        fields(&[
            "preview",
            "body",
            "recipient",
            "ip",
            "sent_at",
            "email",
            "age",
        ])
    }

    fn parse(v: Value) -> Result<Transform, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_json_round_trips() {
        let ts = example();
        assert_eq!(ts.len(), 8);
        assert_eq!(
            ts[2],
            Transform::Mask {
                field: "recipient".into(),
                keep_first: 3,
                keep_last: 3
            }
        );
        assert_eq!(ts[7], Transform::DropSubject {});
        assert_eq!(
            serde_json::to_value(&ts).expect("serializes"),
            example_json()
        );
    }

    #[test]
    fn ip_network_prefixes_default_to_24_and_48() {
        let t = parse(json!({"field": "ip", "op": "ip_network"})).expect("parses");
        assert_eq!(
            t,
            Transform::IpNetwork {
                field: "ip".into(),
                v4_prefix: 24,
                v6_prefix: 48
            }
        );
        let t = parse(json!({"field": "ip", "op": "ip_network", "v6_prefix": 56})).expect("parses");
        assert!(matches!(
            t,
            Transform::IpNetwork {
                v4_prefix: 24,
                v6_prefix: 56,
                ..
            }
        ));
    }

    #[test]
    fn unknown_keys_and_ops_are_refused_readably() {
        let e =
            parse(json!({"field": "body", "op": "truncate", "chars": 5, "char": 5})).unwrap_err();
        assert!(e.contains("unknown field `char`"), "{e}");
        let e = parse(json!({"op": "drop_subject", "field": "x"})).unwrap_err();
        assert!(e.contains("field"), "{e}");
        let e = parse(json!({"field": "body", "op": "shred"})).unwrap_err();
        assert!(e.contains("unknown variant `shred`"), "{e}");
        assert!(e.contains("pseudonym"), "lists the known ops: {e}");
        let e = parse(json!({"field": "body"})).unwrap_err();
        assert!(e.contains("op"), "{e}");
        let e = parse(json!({"field": "t", "op": "coarsen_time", "unit": "week"})).unwrap_err();
        assert!(e.contains("week"), "{e}");
        assert!(
            parse(json!({"op": "truncate", "chars": 5})).is_err(),
            "field is required"
        );
    }

    #[test]
    fn the_example_rule_is_valid() {
        assert_eq!(validate_transforms(&example(), &example_fields()), Ok(()));
    }

    #[test]
    fn validation_names_every_problem_by_path() {
        let ts = vec![
            Transform::Truncate {
                field: "body".into(),
                chars: 0,
            },
            Transform::Mask {
                field: "body".into(),
                keep_first: 65,
                keep_last: 64,
            },
            Transform::IpNetwork {
                field: "ip".into(),
                v4_prefix: 33,
                v6_prefix: 129,
            },
            Transform::Bucket {
                field: "age".into(),
                width: 0,
            },
            Transform::Null {
                field: "nickname".into(),
            },
            Transform::DropSubject {},
            Transform::DropSubject {},
            Transform::Truncate {
                field: "preview".into(),
                chars: 10_001,
            },
        ];
        let e = validate_transforms(&ts, &fields(&["body", "ip", "age", "preview"])).unwrap_err();
        assert_eq!(
            e.for_field("transforms[0].chars"),
            Some("give 1 to 10000 characters")
        );
        assert!(
            e.for_field("transforms[1].field")
                .is_some_and(|m| m.contains("already"))
        );
        assert!(e.for_field("transforms[1].keep_first").is_some());
        assert!(
            e.for_field("transforms[1].keep_last").is_none(),
            "64 is allowed"
        );
        assert!(e.for_field("transforms[2].v4_prefix").is_some());
        assert!(e.for_field("transforms[2].v6_prefix").is_some());
        assert!(e.for_field("transforms[3].width").is_some());
        assert!(
            e.for_field("transforms[4].field")
                .is_some_and(|m| m.contains("'nickname' is not a field") && m.contains("body, ip"))
        );
        assert!(e.for_field("transforms[5]").is_none());
        assert!(
            e.for_field("transforms[6]")
                .is_some_and(|m| m.contains("drop_subject"))
        );
        assert!(e.for_field("transforms[7].chars").is_some());
        assert_eq!(e.0.len(), 9, "{}", e.summary());
    }

    #[test]
    fn an_anonymize_rule_needs_a_transform() {
        let e = validate_transforms(&[], &fields(&["body"])).unwrap_err();
        assert!(
            e.for_field("transforms")
                .is_some_and(|m| m.contains("give at least one transform"))
        );
        assert_eq!(
            validate_transforms(&[Transform::DropSubject {}], &[]),
            Ok(())
        );
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("hello world", 5), "hello");
        assert_eq!(truncate("héllo wörld", 7), "héllo w");
        assert_eq!(truncate("日本語のテキスト", 3), "日本語");
        assert_eq!(truncate("👋🏽 hi", 1), "👋");
        assert_eq!(truncate("short", 20), "short");
        assert_eq!(truncate("", 3), "");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn mask_keeps_the_ends_and_the_length() {
        assert_eq!(mask("+4915112345678", 3, 3), "+49********678");
        assert_eq!(mask("+4915112345678", 3, 3).chars().count(), 14);
        assert_eq!(mask("ada@example.org", 1, 4), "a**********.org");
        assert_eq!(mask("Jürgen Weiß", 2, 1), "Jü********ß");
        assert_eq!(mask("secret", 0, 0), "******");
        assert_eq!(mask("", 3, 3), "");
    }

    #[test]
    fn mask_hides_everything_when_the_ends_would_reveal_the_value() {
        assert_eq!(mask("abcdef", 3, 3), "******");
        assert_eq!(mask("abcd", 3, 3), "****");
        assert_eq!(mask("äbc", 2, 0), "äb*", "one hidden character is enough");
        assert_eq!(mask("äb", 2, 0), "**");
        assert_eq!(
            mask("a*b", 1, 1),
            "***",
            "an already-masked middle hides nothing"
        );
        assert_eq!(mask("12", usize::MAX, usize::MAX), "**");
    }

    fn ipn(ip: &str) -> Result<String, TransformError> {
        ip_network(ip, 24, 48)
    }

    #[test]
    fn ip_network_zeroes_host_bits() {
        assert_eq!(ipn("203.0.113.77").as_deref(), Ok("203.0.113.0/24"));
        assert_eq!(
            ip_network("203.0.113.77", 16, 48).as_deref(),
            Ok("203.0.0.0/16")
        );
        assert_eq!(
            ip_network("203.0.113.77", 0, 48).as_deref(),
            Ok("0.0.0.0/0")
        );
        assert_eq!(
            ip_network("203.0.113.77", 32, 48).as_deref(),
            Ok("203.0.113.77/32")
        );
        assert_eq!(ipn(" 198.51.100.1 ").as_deref(), Ok("198.51.100.0/24"));
    }

    #[test]
    fn ip_network_handles_ipv6() {
        assert_eq!(
            ipn("2001:db8:1:2:3:4:5:6").as_deref(),
            Ok("2001:db8:1::/48")
        );
        assert_eq!(ipn("2001:DB8:1::1").as_deref(), Ok("2001:db8:1::/48"));
        assert_eq!(
            ip_network("2001:db8:abcd:12ff::1", 24, 56).as_deref(),
            Ok("2001:db8:abcd:1200::/56")
        );
        assert_eq!(ip_network("2001:db8::1", 24, 0).as_deref(), Ok("::/0"));
        assert_eq!(ip_network("::1", 24, 128).as_deref(), Ok("::1/128"));
    }

    #[test]
    fn ip_network_treats_mapped_addresses_as_ipv4() {
        assert_eq!(ipn("::ffff:203.0.113.77").as_deref(), Ok("203.0.113.0/24"));
        assert_eq!(ipn("::ffff:cb00:714d").as_deref(), Ok("203.0.113.0/24"));
        assert_eq!(
            ipn("::ffff:203.0.113.0/120").as_deref(),
            Ok("203.0.113.0/24")
        );
        assert_eq!(ipn("::ffff:203.0.113.0/104").as_deref(), Ok("203.0.0.0/8"));
    }

    #[test]
    fn ip_network_keeps_the_shorter_prefix_of_a_network() {
        assert_eq!(ipn("203.0.113.0/24").as_deref(), Ok("203.0.113.0/24"));
        assert_eq!(ipn("203.0.113.0/16").as_deref(), Ok("203.0.0.0/16"));
        assert_eq!(ipn("203.0.113.9/28").as_deref(), Ok("203.0.113.0/24"));
        assert_eq!(ipn("2001:db8:1::/64").as_deref(), Ok("2001:db8:1::/48"));
        assert_eq!(ipn("2001:db8::/32").as_deref(), Ok("2001:db8::/32"));
    }

    #[test]
    fn ip_network_errors_never_echo_the_value() {
        for bad in [
            "203.0.113.777",
            "not an address",
            "203.0.113.0/33",
            "2001:db8::/129",
            "203.0.113.0/x",
            "fe80::1%eth0",
            "",
        ] {
            let e = ipn(bad).expect_err(bad).to_string();
            assert!(bad.is_empty() || !e.contains(bad), "{e}");
        }
        assert!(ip_network("203.0.113.1", 33, 48).is_err());
    }

    #[test]
    fn coarsen_time_truncates_in_utc() {
        let t = "2026-11-27T07:42:13Z";
        assert_eq!(
            coarsen_time(t, TimeUnit::Hour).as_deref(),
            Ok("2026-11-27T07:00:00Z")
        );
        assert_eq!(
            coarsen_time(t, TimeUnit::Day).as_deref(),
            Ok("2026-11-27T00:00:00Z")
        );
        assert_eq!(
            coarsen_time(t, TimeUnit::Month).as_deref(),
            Ok("2026-11-01T00:00:00Z")
        );
        assert_eq!(
            coarsen_time("2026-11-27T07:42:13.123456+00:00", TimeUnit::Hour).as_deref(),
            Ok("2026-11-27T07:00:00Z")
        );
    }

    #[test]
    fn coarsen_time_converts_offsets_to_utc_first() {
        assert_eq!(
            coarsen_time("2026-11-27T08:42:13+01:00", TimeUnit::Hour).as_deref(),
            Ok("2026-11-27T07:00:00Z")
        );
        assert_eq!(
            coarsen_time("2026-11-27T01:30:00+05:30", TimeUnit::Day).as_deref(),
            Ok("2026-11-26T00:00:00Z")
        );
        assert_eq!(
            coarsen_time("2026-11-26T22:10:00-08:00", TimeUnit::Day).as_deref(),
            Ok("2026-11-27T00:00:00Z")
        );
    }

    #[test]
    fn coarsen_time_months_cross_the_year_end() {
        assert_eq!(
            coarsen_time("2027-01-01T00:30:00+01:00", TimeUnit::Month).as_deref(),
            Ok("2026-12-01T00:00:00Z")
        );
        assert_eq!(
            coarsen_time("2026-12-31T23:30:00-01:00", TimeUnit::Month).as_deref(),
            Ok("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn coarsen_time_reads_plain_dates() {
        assert_eq!(
            coarsen_time("2026-03-15", TimeUnit::Month).as_deref(),
            Ok("2026-03-01T00:00:00Z")
        );
        assert_eq!(
            coarsen_time("2026-03-15", TimeUnit::Hour).as_deref(),
            Ok("2026-03-15T00:00:00Z")
        );
    }

    #[test]
    fn coarsen_time_errors_never_echo_the_value() {
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-11-27T25:00:00Z",
            "27.11.2026",
            "9999-12-31T23:00:00-05:00",
        ] {
            let e = coarsen_time(bad, TimeUnit::Day).expect_err(bad).to_string();
            assert!(!e.contains(bad), "{e}");
        }
    }

    #[test]
    fn pseudonyms_are_keyed_and_stable() {
        let p = pseudonym(KEY, "ada@example.org");
        assert!(p.starts_with("psn_"));
        assert_eq!(p.len(), 4 + 40);
        assert!(
            p[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(p, pseudonym(KEY, "ada@example.org"));
        assert_ne!(p, pseudonym(b"another key", "ada@example.org"));
        assert_ne!(p, pseudonym(KEY, "bob@example.org"));
    }

    #[test]
    fn pseudonym_is_standard_hmac_sha256() {
        // RFC 4231 test case 2, and case 6 (a key longer than a block).
        assert_eq!(
            pseudonym(b"Jefe", "what do ya want for nothing?"),
            "psn_5bdcc146bf60754e6a042426089575c75a003f08"
        );
        let long_key = [0xaa_u8; 131];
        assert_eq!(
            pseudonym(
                &long_key,
                "Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "psn_60e431591ee0b67f0d8a26aacbf5b77f8e0bc621"
        );
        for key in [&b""[..], b"k", &[7u8; 64], &[7u8; 65]] {
            let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any length");
            mac.update(b"value");
            let want: [u8; 32] = mac.finalize().into_bytes().into();
            assert_eq!(hmac_sha256(key, &[b"value"]), want);
        }
    }

    #[test]
    fn a_pseudonym_equal_to_its_input_is_hashed_again() {
        let out = first_unlike("psn_same", |round| {
            if round == 0 {
                "psn_same".into()
            } else {
                format!("psn_{round}")
            }
        });
        assert_eq!(out, "psn_1");
    }

    #[test]
    fn buckets_are_half_open_intervals() {
        assert_eq!(bucket(34.0, 10).as_deref(), Ok("[30, 40)"));
        assert_eq!(bucket(30.0, 10).as_deref(), Ok("[30, 40)"));
        assert_eq!(bucket(39.5, 10).as_deref(), Ok("[30, 40)"));
        assert_eq!(bucket(40.0, 10).as_deref(), Ok("[40, 50)"));
        assert_eq!(bucket(0.0, 10).as_deref(), Ok("[0, 10)"));
        assert_eq!(bucket(7.0, 1).as_deref(), Ok("[7, 8)"));
        assert_eq!(bucket(1234.5, 1000).as_deref(), Ok("[1000, 2000)"));
    }

    #[test]
    fn negative_buckets() {
        assert_eq!(bucket(-5.0, 10).as_deref(), Ok("[-10, 0)"));
        assert_eq!(bucket(-10.0, 10).as_deref(), Ok("[-10, 0)"));
        assert_eq!(bucket(-10.5, 10).as_deref(), Ok("[-20, -10)"));
        assert_eq!(bucket(-0.0, 10).as_deref(), Ok("[0, 10)"));
        assert_eq!(bucket(-0.25, 1).as_deref(), Ok("[-1, 0)"));
    }

    #[test]
    fn bucket_refuses_what_has_no_interval() {
        assert!(bucket(f64::NAN, 10).is_err());
        assert!(bucket(f64::INFINITY, 10).is_err());
        assert!(bucket(f64::NEG_INFINITY, 10).is_err());
        assert!(bucket(5.0, 0).is_err());
        assert!(bucket(1e300, 10).is_err());
        assert_eq!(
            bucket(1e20, 10).as_deref(),
            Ok("[100000000000000000000, 100000000000000000010)")
        );
        assert_eq!(
            bucket(1.0, u64::MAX).as_deref(),
            Ok("[0, 18446744073709551615)")
        );
    }

    #[test]
    fn apply_transforms_a_record() {
        let mut record = json!({
            "preview": "Hi Bob, the code is 1234",
            "body": "Dear Bob, your parcel arrives tomorrow between 9 and 12.",
            "recipient": "+4915112345678",
            "ip": "203.0.113.77",
            "sent_at": "2026-11-27T08:42:13+01:00",
            "email": "bob@example.org",
            "age": 34,
            "untouched": "stays"
        });
        let map = record.as_object_mut().expect("an object");
        let applied = apply(&example(), map, KEY);
        assert_eq!(
            applied,
            Applied {
                drop_subject: true,
                failures: vec![]
            }
        );
        assert_eq!(
            record,
            json!({
                "preview": null,
                "body": "Dear Bob, your parce",
                "recipient": "+49********678",
                "ip": "203.0.113.0/24",
                "sent_at": "2026-11-27T00:00:00Z",
                "email": pseudonym(KEY, "bob@example.org"),
                "age": "[30, 40)",
                "untouched": "stays"
            })
        );
    }

    #[test]
    fn apply_leaves_absent_and_null_fields_alone() {
        let mut map = Map::new();
        map.insert("ip".into(), Value::Null);
        let applied = apply(&example(), &mut map, KEY);
        assert!(applied.failures.is_empty());
        assert_eq!(Value::Object(map), json!({"ip": null}));
    }

    #[test]
    fn apply_stringifies_numbers_and_reads_numeric_strings() {
        let ts = vec![
            Transform::Mask {
                field: "phone".into(),
                keep_first: 2,
                keep_last: 2,
            },
            Transform::Pseudonym {
                field: "customer".into(),
            },
            Transform::Truncate {
                field: "zip".into(),
                chars: 2,
            },
            Transform::Bucket {
                field: "age".into(),
                width: 10,
            },
            Transform::Bucket {
                field: "score".into(),
                width: 5,
            },
        ];
        let mut record = json!({"phone": 4915112345678_u64, "customer": 42, "zip": 10115, "age": " 34 ", "score": 12.5});
        let applied = apply(&ts, record.as_object_mut().expect("object"), KEY);
        assert!(applied.failures.is_empty(), "{:?}", applied.failures);
        assert!(!applied.drop_subject);
        assert_eq!(record["phone"], "49*********78");
        assert_eq!(record["customer"], pseudonym(KEY, "42"));
        assert_eq!(record["zip"], "10");
        assert_eq!(record["age"], "[30, 40)");
        assert_eq!(record["score"], "[10, 15)");
    }

    #[test]
    fn apply_nulls_what_it_cannot_transform_and_never_reports_the_value() {
        let ts = vec![
            Transform::IpNetwork {
                field: "ip".into(),
                v4_prefix: 24,
                v6_prefix: 48,
            },
            Transform::CoarsenTime {
                field: "at".into(),
                unit: TimeUnit::Day,
            },
            Transform::Bucket {
                field: "age".into(),
                width: 10,
            },
            Transform::Pseudonym {
                field: "flags".into(),
            },
            Transform::CoarsenTime {
                field: "epoch".into(),
                unit: TimeUnit::Day,
            },
            Transform::Mask {
                field: "tags".into(),
                keep_first: 1,
                keep_last: 1,
            },
        ];
        let mut record = json!({
            "ip": "secret-host.example",
            "at": "secret yesterday",
            "age": "secret thirty",
            "flags": true,
            "epoch": 1_790_000_000,
            "tags": ["secret"],
        });
        let applied = apply(&ts, record.as_object_mut().expect("object"), KEY);
        assert_eq!(
            record,
            json!({"ip": null, "at": null, "age": null, "flags": null, "epoch": null, "tags": null})
        );
        let names: Vec<&str> = applied.failures.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["ip", "at", "age", "flags", "epoch", "tags"]);
        for f in &applied.failures {
            assert!(
                !f.reason.contains("secret") && !f.reason.contains("1790"),
                "{f:?}"
            );
            assert!(!f.reason.is_empty());
        }
        assert_eq!(
            applied.failures[3].reason,
            "is a boolean, not text or a number"
        );
    }

    #[test]
    fn outcome_is_anonymized_only_when_detached_and_everything_generalized() {
        let fs = fields(&["ip", "sent_at", "age", "body"]);
        let generalized = vec![
            Transform::IpNetwork {
                field: "ip".into(),
                v4_prefix: 24,
                v6_prefix: 48,
            },
            Transform::CoarsenTime {
                field: "sent_at".into(),
                unit: TimeUnit::Month,
            },
            Transform::Bucket {
                field: "age".into(),
                width: 10,
            },
            Transform::Null {
                field: "body".into(),
            },
            Transform::DropSubject {},
        ];
        assert_eq!(outcome(&generalized, &fs), Outcome::Anonymized);

        let without_drop = &generalized[..4];
        assert_eq!(outcome(without_drop, &fs), Outcome::Pseudonymized);

        let untouched = [&generalized[..3], &generalized[4..]].concat();
        assert_eq!(outcome(&untouched, &fs), Outcome::Pseudonymized);

        for keeps_part in [
            Transform::Pseudonym {
                field: "body".into(),
            },
            Transform::Mask {
                field: "body".into(),
                keep_first: 0,
                keep_last: 0,
            },
            Transform::Truncate {
                field: "body".into(),
                chars: 1,
            },
        ] {
            let mut ts = generalized.clone();
            ts[3] = keeps_part;
            assert_eq!(outcome(&ts, &fs), Outcome::Pseudonymized, "{ts:?}");
        }
        for keeps_whole in [
            Transform::IpNetwork {
                field: "ip".into(),
                v4_prefix: 32,
                v6_prefix: 48,
            },
            Transform::IpNetwork {
                field: "ip".into(),
                v4_prefix: 24,
                v6_prefix: 128,
            },
            Transform::Bucket {
                field: "ip".into(),
                width: 1,
            },
        ] {
            let mut ts = generalized.clone();
            ts[0] = keeps_whole;
            assert_eq!(outcome(&ts, &fs), Outcome::Pseudonymized, "{ts:?}");
        }
        assert_eq!(
            outcome(&example(), &example_fields()),
            Outcome::Pseudonymized
        );
    }

    #[test]
    fn outcome_has_words_for_the_console() {
        assert_eq!(Outcome::Anonymized.label(), "anonymized");
        assert_eq!(Outcome::Pseudonymized.label(), "pseudonymized");
        assert!(
            Outcome::Pseudonymized
                .explain()
                .contains("still personal data")
        );
        assert!(Outcome::Anonymized.explain().ends_with('.'));
        assert_eq!(
            serde_json::to_value(Outcome::Pseudonymized).expect("serializes"),
            json!("pseudonymized")
        );
        assert_eq!(
            serde_json::to_value(Outcome::Anonymized).expect("serializes"),
            json!("anonymized")
        );
    }

    fn v4_mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
    }

    fn v6_mask(prefix: u8) -> u128 {
        u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
    }

    fn parse_cidr(out: &str) -> (IpAddr, u8) {
        let (a, p) = out.split_once('/').expect("CIDR text");
        (a.parse().expect("an address"), p.parse().expect("a prefix"))
    }

    fn at(secs: i64, offset_minutes: i32) -> String {
        let offset = chrono::FixedOffset::east_opt(offset_minutes * 60).expect("offset");
        DateTime::from_timestamp(secs, 0)
            .expect("in range")
            .with_timezone(&offset)
            .to_rfc3339()
    }

    fn instant(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t)
            .expect("RFC 3339")
            .with_timezone(&Utc)
    }

    proptest::proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn prop_no_ipv4_host_bits_survive(a in any::<u32>(), want in 0u8..=32, given in proptest::option::of(0u8..=32)) {
            let input = match given {
                Some(g) => format!("{}/{g}", Ipv4Addr::from(a)),
                None => Ipv4Addr::from(a).to_string(),
            };
            let out = ip_network(&input, want, 48).expect("valid input");
            let (addr, prefix) = parse_cidr(&out);
            prop_assert_eq!(prefix, given.map_or(want, |g| g.min(want)));
            prop_assert_eq!(addr, IpAddr::V4(Ipv4Addr::from(a & v4_mask(prefix))));
            let IpAddr::V4(v4) = addr else { unreachable!() };
            prop_assert_eq!(u32::from(v4) & !v4_mask(prefix), 0);
            let mapped = ip_network(&Ipv4Addr::from(a).to_ipv6_mapped().to_string(), want, 48).expect("valid");
            prop_assert_eq!(mapped, ip_network(&Ipv4Addr::from(a).to_string(), want, 48).expect("valid"));
        }

        #[test]
        fn prop_no_ipv6_host_bits_survive(a in any::<u128>(), want in 0u8..=128, given in proptest::option::of(0u8..=128)) {
            prop_assume!(Ipv6Addr::from(a).to_ipv4_mapped().is_none());
            let input = match given {
                Some(g) => format!("{}/{g}", Ipv6Addr::from(a)),
                None => Ipv6Addr::from(a).to_string(),
            };
            let out = ip_network(&input, 24, want).expect("valid input");
            let (addr, prefix) = parse_cidr(&out);
            prop_assert_eq!(prefix, given.map_or(want, |g| g.min(want)));
            prop_assert_eq!(addr, IpAddr::V6(Ipv6Addr::from(a & v6_mask(prefix))));
            let IpAddr::V6(v6) = addr else { unreachable!() };
            prop_assert_eq!(u128::from(v6) & !v6_mask(prefix), 0);
        }

        #[test]
        fn prop_pseudonym_never_returns_its_input(value in "(psn_[0-9a-f]{40})|(psn_.{0,44})|(.{0,40})", key in proptest::collection::vec(any::<u8>(), 0..80), other in proptest::collection::vec(any::<u8>(), 0..80)) {
            let p = pseudonym(&key, &value);
            prop_assert_ne!(&p, &value);
            prop_assert_eq!(&p, &pseudonym(&key, &value));
            prop_assert_ne!(&p, &pseudonym(&key, &p), "a pseudonym of a pseudonym is another one");
            if key != other {
                prop_assert_ne!(p, pseudonym(&other, &value));
            }
        }

        #[test]
        fn prop_mask_keeps_length_and_hides(s in "[a-cé😀*]{0,24}", keep_first in 0usize..8, keep_last in 0usize..8) {
            let out = mask(&s, keep_first, keep_last);
            let input: Vec<char> = s.chars().collect();
            let output: Vec<char> = out.chars().collect();
            prop_assert_eq!(output.len(), input.len());
            let revealed = output.iter().zip(&input).filter(|(o, i)| **o != '*' && o == i).count();
            prop_assert!(revealed <= keep_first + keep_last);
            prop_assert!(output.iter().zip(&input).all(|(o, i)| *o == '*' || o == i));
            if out == s {
                prop_assert!(input.iter().all(|c| *c == '*'));
            }
        }

        #[test]
        fn prop_truncate_is_a_short_prefix(s in "\\PC{0,40}", chars in 0usize..50) {
            let out = truncate(&s, chars);
            prop_assert!(s.starts_with(&out));
            prop_assert!(out.chars().count() <= chars);
            prop_assert_eq!(out.chars().count(), chars.min(s.chars().count()));
        }

        #[test]
        fn prop_coarsen_time_rounds_down_within_a_unit(secs in 0i64..253_402_214_400, offset in -1439i32..=1439, unit_i in 0usize..3) {
            let unit = [TimeUnit::Hour, TimeUnit::Day, TimeUnit::Month][unit_i];
            let t = at(secs, offset);
            let out = match coarsen_time(&t, unit) {
                Ok(out) => out,
                // Offsets near the ends of the calendar can leave four-digit years.
                Err(_) => { prop_assert!(!(0..=9999).contains(&instant(&t).year())); return Ok(()); }
            };
            let (t, o) = (instant(&t), instant(&out));
            prop_assert!(o <= t);
            let next = match unit {
                TimeUnit::Hour => o + chrono::TimeDelta::hours(1),
                TimeUnit::Day => o + chrono::TimeDelta::days(1),
                TimeUnit::Month => o.checked_add_months(chrono::Months::new(1)).expect("in range"),
            };
            prop_assert!(t < next);
            prop_assert!(out.ends_with('Z'));
            prop_assert_eq!(coarsen_time(&out, unit).expect("own output parses"), out);
        }

        #[test]
        fn prop_bucket_holds_its_value(x in -1e12f64..1e12, width in 1u64..1000) {
            let out = bucket(x, width).expect("finite");
            let inner = out.strip_prefix('[').and_then(|o| o.strip_suffix(')')).expect("[lower, upper)");
            let (lower, upper) = inner.split_once(", ").expect("two bounds");
            let (lower, upper): (i128, i128) = (lower.parse().expect("lower"), upper.parse().expect("upper"));
            prop_assert_eq!(upper - lower, i128::from(width));
            prop_assert!(lower as f64 <= x);
            prop_assert!(x < upper as f64);
            prop_assert_eq!(lower.rem_euclid(i128::from(width)), 0);
        }

        #[test]
        fn prop_apply_never_keeps_the_original(value in "\\PC{0,30}", n in any::<i64>(), keep_first in 0u32..5, keep_last in 0u32..5, op in 0usize..3) {
            for original in [Value::String(value.clone()), Value::from(n)] {
                let field = "f".to_owned();
                let t = match op {
                    0 => Transform::Null { field: field.clone() },
                    1 => Transform::Pseudonym { field: field.clone() },
                    _ => Transform::Mask { field: field.clone(), keep_first, keep_last },
                };
                let text = match &original { Value::String(s) => s.clone(), other => other.to_string() };
                let longer_than_kept = text.chars().count() > (keep_first + keep_last) as usize;
                let mut map = Map::new();
                map.insert(field.clone(), original.clone());
                let applied = apply(std::slice::from_ref(&t), &mut map, KEY);
                prop_assert!(applied.failures.is_empty());
                let after = &map[&field];
                if matches!(t, Transform::Mask { .. }) && !longer_than_kept {
                    continue;
                }
                prop_assert_ne!(after, &original);
                prop_assert_ne!(after, &Value::String(text));
            }
        }
    }
}
