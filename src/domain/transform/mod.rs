//! Anonymization transforms: what a retention rule with action `anonymize` does to each field of
//! a record. Each transform is a small pure function, usable alone; [`apply`] runs a rule's list
//! over one record and [`outcome`] says honestly whether the result is anonymous or only
//! pseudonymous. Values are personal data: no error or failure here ever carries one.

mod lines;

pub use lines::{parse_lines, to_lines};

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
mod tests;
