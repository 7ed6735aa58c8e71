//! What ingestion does with one record's fields, following the handling its category declares.
//! The product promises that a full payment card number never reaches the disk, so every string
//! and number is searched for one whatever the handling, and messages never repeat its digits.

use super::FieldError;
use super::inventory::{DataCategory, FieldHandling, FieldSpec};
use super::ip_country::IpCountryTable;
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::ops::Range;

const MAX_STRING_BYTES: usize = 65_536;
/// How much of a refused value or field name a message repeats.
const ECHO_CHARS: usize = 60;

/// Applies the category's field rules to one record's fields. Returns the fields as they may be
/// stored, or every problem found (field names as the `field` of each error, no record index:
/// the caller prefixes it).
pub fn prepare_fields(
    category: &DataCategory,
    fields: &Map<String, Value>,
    countries: &IpCountryTable,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    let mut refuse = |name: &str, message: String| {
        errors.push(FieldError {
            // Declared names are at most 80 characters, so only undeclared ones are ever cut.
            field: echo(name, 120),
            message,
        })
    };
    for (name, value) in fields {
        if let Some(source) = derived_from(category, name) {
            refuse(
                name,
                format!("is derived from '{source}' and cannot be sent"),
            );
            continue;
        }
        let Some(spec) = category.fields.iter().find(|f| f.name == *name) else {
            refuse(name, undeclared(category, name));
            continue;
        };
        match prepare_value(spec, value, countries) {
            Ok((stored, country)) => {
                out.insert(name.clone(), stored);
                if let Some(country) = country {
                    out.insert(format!("{name}_country"), country);
                }
            }
            Err(message) => refuse(name, message),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The `ip_country` field whose derived sibling `name` would be.
fn derived_from<'a>(category: &'a DataCategory, name: &str) -> Option<&'a str> {
    let source = name.strip_suffix("_country")?;
    category
        .fields
        .iter()
        .find(|f| f.name == source && f.handling == FieldHandling::IpCountry)
        .map(|f| f.name.as_str())
}

fn undeclared(category: &DataCategory, name: &str) -> String {
    let declared: Vec<&str> = category.fields.iter().map(|f| f.name.as_str()).collect();
    if declared.is_empty() {
        format!(
            "'{}' is not a field of category '{}', which declares no fields",
            echo(name, ECHO_CHARS),
            category.key
        )
    } else {
        format!(
            "'{}' is not a field of category '{}'; its fields are: {}",
            echo(name, ECHO_CHARS),
            category.key,
            declared.join(", ")
        )
    }
}

/// The value to store, and for `ip_country` the value of the derived `<name>_country`.
fn prepare_value(
    spec: &FieldSpec,
    value: &Value,
    countries: &IpCountryTable,
) -> Result<(Value, Option<Value>), String> {
    let is_ip = spec.handling == FieldHandling::IpCountry;
    let text = match value {
        Value::Null => return Ok((Value::Null, is_ip.then_some(Value::Null))),
        Value::Bool(_) if is_ip => return Err("give the IP address as a string".into()),
        Value::Bool(_) => return Ok((value.clone(), None)),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.len() > MAX_STRING_BYTES => {
            return Err(format!("is longer than {MAX_STRING_BYTES} bytes"));
        }
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => {
            return Err("give a string, number, true/false or null".into());
        }
    };
    let cards = find_card_numbers(&text);
    match spec.handling {
        FieldHandling::MaskCard if cards.is_empty() => Ok((value.clone(), None)),
        FieldHandling::MaskCard => Ok((Value::String(mask_spans(&text, &cards)), None)),
        FieldHandling::Preview => {
            // A validated category always has a length; without one, nothing can be kept safely.
            let Some(n) = spec.preview_chars else {
                return Err("the category declares no preview length (preview_chars)".into());
            };
            let cut = text
                .char_indices()
                .nth(usize::from(n))
                .map_or(text.len(), |(i, _)| i);
            // A card cut by the preview would still leave most of its digits; one wholly after
            // the cut is dropped with the rest.
            if cards.iter().any(|c| c.start < cut) {
                return Err(format!(
                    "a payment card number was found in the first {n} characters, which the \
                     preview keeps; this field is not declared to mask card numbers"
                ));
            }
            if cut == text.len() {
                Ok((value.clone(), None))
            } else {
                Ok((Value::String(text[..cut].to_owned()), None))
            }
        }
        FieldHandling::Keep | FieldHandling::RefuseCard | FieldHandling::IpCountry
            if !cards.is_empty() =>
        {
            Err(
                "a payment card number was found; this field is not declared to mask card numbers"
                    .into(),
            )
        }
        FieldHandling::Keep | FieldHandling::RefuseCard => Ok((value.clone(), None)),
        FieldHandling::IpCountry => {
            let Value::String(raw) = value else {
                return Err("give the IP address as a string".into());
            };
            let ip: IpAddr = raw
                .trim()
                .parse()
                .map_err(|_| format!("'{}' is not an IP address", echo(raw, ECHO_CHARS)))?;
            // The country comes from the full address; only the network is kept.
            let country = countries.country(ip).map_or(Value::Null, Value::String);
            Ok((Value::String(network(ip)), Some(country)))
        }
    }
}

/// IPv4 truncated to its /24, IPv6 to its /48 (IPv4-mapped IPv6 counts as IPv4).
fn network(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(a) => {
            let [a, b, c, _] = a.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(a) => {
            let net = u128::from(a) & !((1u128 << 80) - 1);
            format!("{}/48", std::net::Ipv6Addr::from(net))
        }
    }
}

/// A piece of client input fit for a message: card numbers masked, at most `max` characters.
fn echo(raw: &str, max: usize) -> String {
    let masked = mask_spans(raw, &find_card_numbers(raw));
    let mut shown: String = masked.chars().take(max).collect();
    if shown.len() < masked.len() {
        shown.push('…');
    }
    shown
}

fn mask_spans(text: &str, spans: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        out.push_str(&text[at..span.start]);
        out.push_str(&mask_card(&text[span.clone()]));
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Finds payment card numbers in text: runs of 13–19 digits, optionally separated by single
/// spaces or dashes, that pass the Luhn check and start with a plausible card prefix (2–6).
/// A run right after '+' is a phone number in international format and is not a card.
/// Returns byte spans, from the first digit to the last.
///
/// Within a longer run of digit groups ("order 12 4111 1111 1111 1111"), a card may start and end
/// at any group boundary, so a number written next to another is still found.
pub fn find_card_numbers(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // "+49 151…": a phone number in international format, not a card. Without this, many
        // real phone numbers (which pass the Luhn check one time in ten) would be refused.
        let phone = i > 0 && bytes[i - 1] == b'+';
        // The groups of digits of one run, as byte ranges.
        let mut groups: Vec<Range<usize>> = Vec::new();
        loop {
            let start = i;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            groups.push(start..i);
            let separated = matches!(bytes.get(i), Some(b' ' | b'-'));
            if !(separated && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
                break;
            }
            i += 1;
        }
        if !phone {
            cards_in_run(bytes, &groups, &mut found);
        }
    }
    found
}

/// Takes, from each starting group left to right, the longest window of groups that is a card.
fn cards_in_run(bytes: &[u8], groups: &[Range<usize>], found: &mut Vec<Range<usize>>) {
    let mut first = 0;
    while first < groups.len() {
        let mut best = None;
        let mut count = 0;
        for (last, group) in groups.iter().enumerate().skip(first) {
            count += group.len();
            if count > 19 {
                break;
            }
            if count >= 13 && is_card(bytes, &groups[first..=last]) {
                best = Some(last);
            }
        }
        match best {
            Some(last) => {
                found.push(groups[first].start..groups[last].end);
                first = last + 1;
            }
            None => first += 1,
        }
    }
}

fn is_card(bytes: &[u8], groups: &[Range<usize>]) -> bool {
    let digits = || groups.iter().flat_map(|g| bytes[g.clone()].iter().copied());
    digits().next().is_some_and(|d| (b'2'..=b'6').contains(&d)) && luhn(digits())
}

/// The Luhn checksum over ASCII digits (most significant first).
fn luhn(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for d in digits.rev() {
        let mut v = u32::from(d - b'0');
        if count % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum = (sum + v) % 10;
        count += 1;
    }
    count >= 2 && sum == 0
}

/// Whether `digits` passes the Luhn check. Spaces and dashes are skipped; any other non-digit,
/// or fewer than two digits, fails.
pub fn luhn_valid(digits: &str) -> bool {
    let kept = digits.bytes().filter(|b| !matches!(b, b' ' | b'-'));
    kept.clone().all(|b| b.is_ascii_digit()) && luhn(kept)
}

/// "4111 1111 1111 1111" -> "**** **** **** 1111": every digit but the last four becomes '*',
/// separators stay.
pub fn mask_card(number: &str) -> String {
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    let hidden = digits.saturating_sub(4);
    let mut seen = 0;
    number
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen <= hidden { '*' } else { c }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(name: &str, handling: FieldHandling, preview_chars: Option<u16>) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            description: String::new(),
            handling,
            preview_chars,
        }
    }

    /// Built through serde so that fields added to the category later take their defaults.
    fn category(fields: Vec<FieldSpec>) -> DataCategory {
        serde_json::from_value(json!({
            "key": "usage.message_log",
            "name": "Message log",
            "sensitivity": "normal",
            "fields": fields,
        }))
        .unwrap()
    }

    fn standard() -> DataCategory {
        category(vec![
            spec("note", FieldHandling::Keep, None),
            spec("comment", FieldHandling::RefuseCard, None),
            spec("payment", FieldHandling::MaskCard, None),
            spec("preview", FieldHandling::Preview, Some(10)),
            spec("ip", FieldHandling::IpCountry, None),
        ])
    }

    fn countries() -> IpCountryTable {
        IpCountryTable::parse_csv("203.0.113.0,203.0.113.255,nz\n2001:db8::,2001:db8:ffff::,DE\n")
            .unwrap()
    }

    fn prepare(record: Value) -> Result<Map<String, Value>, Vec<FieldError>> {
        let Value::Object(fields) = record else {
            panic!("records are objects")
        };
        prepare_fields(&standard(), &fields, &countries())
    }

    fn refusal(record: Value) -> FieldError {
        let mut errors = prepare(record).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.remove(0)
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("4111 1111-1111 1111"));
        assert!(luhn_valid("378282246310005"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid("4111x111111111111"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("0"));
    }

    #[test]
    fn finds_cards_in_common_formats() {
        for (text, card) in [
            ("4111111111111111", "4111111111111111"),
            ("card 4111 1111 1111 1111.", "4111 1111 1111 1111"),
            ("x4111-1111-1111-1111y", "4111-1111-1111-1111"),
            ("amex 3782 822463 10005 ok", "3782 822463 10005"),
            ("6011111111111117", "6011111111111117"),
            ("order 12 4111 1111 1111 1111", "4111 1111 1111 1111"),
        ] {
            let spans = find_card_numbers(text);
            assert_eq!(spans.len(), 1, "{text}");
            assert_eq!(&text[spans[0].clone()], card);
        }
        for text in [
            "4111111111111112",        // fails Luhn
            "4111  1111 1111 1111",    // double space splits the run
            "1111111111111117",        // no card starts with 1
            "411111111111",            // too short
            "41111111111111111111111", // one run of 23 digits
            "2024-01-15 10:00, ref 1234",
            "+4915112345678", // a phone number that passes the Luhn check
            "call +49 1511 2345 678",
        ] {
            assert!(find_card_numbers(text).is_empty(), "{text}");
        }
        let two = "4111111111111111 and 5555 5555 5555 4444";
        assert_eq!(find_card_numbers(two).len(), 2);
    }

    #[test]
    fn masking() {
        assert_eq!(mask_card("4111 1111 1111 1111"), "**** **** **** 1111");
        assert_eq!(mask_card("4111-1111-1111-1111"), "****-****-****-1111");
        assert_eq!(mask_card("378282246310005"), "***********0005");
        assert_eq!(mask_card("123"), "123");
    }

    #[test]
    fn mask_card_fields_are_masked() {
        let out = prepare(json!({
            "payment": "paid with 4111 1111 1111 1111, thanks",
            "note": "no card here",
        }))
        .unwrap();
        assert_eq!(out["payment"], "paid with **** **** **** 1111, thanks");
        assert_eq!(out["note"], "no card here");
        let out = prepare(json!({ "payment": 4111111111111111u64 })).unwrap();
        assert_eq!(out["payment"], "************1111");
        let out = prepare(json!({ "payment": 42 })).unwrap();
        assert_eq!(out["payment"], 42);
    }

    #[test]
    fn cards_are_refused_elsewhere_without_echo() {
        for field in ["note", "comment", "ip"] {
            for card in [
                json!("4111111111111111"),
                json!("4111 1111 1111 1111"),
                json!("4111-1111-1111-1111"),
                json!("3782 822463 10005"),
                json!(4111111111111111u64),
                json!(4111111111111111.0),
            ] {
                let e = refusal(json!({ field: card }));
                assert_eq!(e.field, field);
                assert!(e.message.contains("payment card number"), "{}", e.message);
                assert!(!e.message.contains("1111"), "{}", e.message);
            }
        }
        // Not a card: fails the Luhn check.
        let out = prepare(json!({ "note": "4111111111111112" })).unwrap();
        assert_eq!(out["note"], "4111111111111112");
    }

    #[test]
    fn previews_cut_characters_not_bytes() {
        let out = prepare(json!({ "preview": "Grüße aus Köln, bis bald" })).unwrap();
        assert_eq!(out["preview"], "Grüße aus ");
        let out = prepare(json!({ "preview": "kurz" })).unwrap();
        assert_eq!(out["preview"], "kurz");
        let out = prepare(json!({ "preview": 123456789012345u64 })).unwrap();
        assert_eq!(out["preview"], "1234567890");
        let out = prepare(json!({ "preview": true })).unwrap();
        assert_eq!(out["preview"], true);
    }

    #[test]
    fn previews_refuse_cards_before_the_cut() {
        let e = refusal(json!({ "preview": "ab 4111 1111 1111 1111" }));
        assert!(e.message.contains("first 10 characters"), "{}", e.message);
        assert!(!e.message.contains("4111"));
        let e = refusal(json!({ "preview": "4111111111111111" }));
        assert_eq!(e.field, "preview");
        // Wholly after the cut: dropped with the rest.
        let out = prepare(json!({ "preview": "Lieferung: 4111 1111 1111 1111" })).unwrap();
        assert_eq!(out["preview"], "Lieferung:");
    }

    #[test]
    fn ip_addresses_become_networks_and_countries() {
        let out = prepare(json!({ "ip": "203.0.113.77" })).unwrap();
        assert_eq!(out["ip"], "203.0.113.0/24");
        assert_eq!(out["ip_country"], "NZ");
        let out = prepare(json!({ "ip": "2001:db8:1:2::5" })).unwrap();
        assert_eq!(out["ip"], "2001:db8:1::/48");
        assert_eq!(out["ip_country"], "DE");
        let out = prepare(json!({ "ip": "::ffff:203.0.113.9" })).unwrap();
        assert_eq!(out["ip"], "203.0.113.0/24");
        assert_eq!(out["ip_country"], "NZ");
        let out = prepare(json!({ "ip": " 198.51.100.200 " })).unwrap();
        assert_eq!(out["ip"], "198.51.100.0/24");
        assert_eq!(out["ip_country"], Value::Null);
        let out = prepare(json!({ "ip": null })).unwrap();
        assert_eq!(out["ip"], Value::Null);
        assert_eq!(out["ip_country"], Value::Null);
    }

    #[test]
    fn bad_ip_values_are_refused() {
        assert_eq!(
            refusal(json!({ "ip": "localhost" })).message,
            "'localhost' is not an IP address"
        );
        let long = "x".repeat(100);
        let e = refusal(json!({ "ip": long }));
        assert!(
            e.message.contains(&format!("'{}…'", "x".repeat(60))),
            "{}",
            e.message
        );
        assert!(refusal(json!({ "ip": 7 })).message.contains("as a string"));
        assert!(
            refusal(json!({ "ip": false }))
                .message
                .contains("as a string")
        );
        let e = refusal(json!({ "ip": "1.2.3.4", "ip_country": "US" }));
        assert_eq!(e.field, "ip_country");
        assert!(e.message.contains("derived from 'ip'"), "{}", e.message);
    }

    #[test]
    fn undeclared_fields_and_shapes_are_refused() {
        let e = refusal(json!({ "email": "a@b.c" }));
        assert_eq!(e.field, "email");
        assert!(e.message.contains("'email'"));
        assert!(
            e.message.contains("note, comment, payment, preview, ip"),
            "{}",
            e.message
        );
        let empty = category(vec![]);
        let Value::Object(fields) = json!({ "x": 1 }) else {
            unreachable!()
        };
        let errors = prepare_fields(&empty, &fields, &IpCountryTable::default()).unwrap_err();
        assert!(errors[0].message.contains("declares no fields"));
        // Error fields carry a long declared name whole.
        let long = "n".repeat(80);
        let wide = category(vec![spec(&long, FieldHandling::Keep, None)]);
        let Value::Object(fields) = json!({ long.clone(): [1] }) else {
            unreachable!()
        };
        let errors = prepare_fields(&wide, &fields, &IpCountryTable::default()).unwrap_err();
        assert_eq!(errors[0].field, long);
        // A card number as a field name is not repeated either.
        let e = refusal(json!({ "4111111111111111": 1 }));
        assert_eq!(e.field, "************1111");
        assert!(!e.message.contains("4111"));
        for shape in [json!([1]), json!({ "a": 1 })] {
            let e = refusal(json!({ "note": shape }));
            assert_eq!(e.message, "give a string, number, true/false or null");
        }
        let e = refusal(json!({ "note": "a".repeat(MAX_STRING_BYTES + 1) }));
        assert!(e.message.contains("65536 bytes"));
        assert!(prepare(json!({ "note": "a".repeat(MAX_STRING_BYTES) })).is_ok());
    }

    #[test]
    fn every_problem_is_reported_and_plain_values_kept() {
        let errors =
            prepare(json!({ "note": [1], "nope": 1, "comment": "4111111111111111" })).unwrap_err();
        assert_eq!(errors.len(), 3);
        let out = prepare(json!({ "note": null, "comment": 3.5, "payment": false })).unwrap();
        assert_eq!(out["note"], Value::Null);
        assert_eq!(out["comment"], 3.5);
        assert_eq!(out["payment"], false);
        assert_eq!(out.len(), 3);
    }
}
