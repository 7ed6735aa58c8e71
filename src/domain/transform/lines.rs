//! The console's way of writing transforms: one a line, `field: op [arguments]`.

use super::{TimeUnit, Transform, default_v4_prefix, default_v6_prefix};

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
