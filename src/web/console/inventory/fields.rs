//! The fields box of the data category form: one field a line.

use super::choice::Choice;
use crate::domain::ValidationErrors;
use crate::domain::inventory::{FieldHandling, FieldSpec};

/// `name | handling | preview chars | description`, one field a line. Blank lines are skipped;
/// handling defaults to `keep`, and is read leniently (`Mask card`, `mask-card`); a third column
/// that is not a number is taken as the description when there is no fourth.
pub fn parse_field_lines(raw: &str) -> (Vec<FieldSpec>, Vec<usize>, ValidationErrors) {
    let (mut fields, mut lines, mut errors) = (Vec::new(), Vec::new(), ValidationErrors::default());
    for (i, line) in raw.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.splitn(4, '|').map(str::trim).collect();
        let name = parts[0].to_owned();
        if name.is_empty() {
            errors.add(
                "fields",
                format!("line {n}: the field name (before the first '|') is missing"),
            );
            continue;
        }
        let handling_raw = parts.get(1).copied().unwrap_or_default();
        let handling = if handling_raw.is_empty() {
            FieldHandling::Keep
        } else {
            let normal = handling_raw.to_ascii_lowercase().replace([' ', '-'], "_");
            match FieldHandling::parse(&normal) {
                Some(h) => h,
                None => {
                    errors.add(
                        "fields",
                        format!(
                            "line {n}: '{handling_raw}' is not a handling; use keep, preview, refuse_card, mask_card or ip_country"
                        ),
                    );
                    continue;
                }
            }
        };
        let third = parts.get(2).copied().unwrap_or_default();
        let mut description = parts.get(3).copied().unwrap_or_default().to_owned();
        let preview_chars = if third.is_empty() {
            None
        } else if let Ok(chars) = third.parse::<u16>() {
            Some(chars)
        } else if handling != FieldHandling::Preview && parts.len() == 3 {
            description = third.to_owned();
            None
        } else {
            errors.add(
                "fields",
                format!(
                    "line {n}: '{third}' is not a number of characters (the third column, e.g. 40)"
                ),
            );
            continue;
        };
        fields.push(FieldSpec {
            name,
            description,
            handling,
            preview_chars,
        });
        lines.push(n);
    }
    (fields, lines, errors)
}

/// The fields as the text area shows them.
pub fn field_lines_text(fields: &[FieldSpec]) -> String {
    fields
        .iter()
        .map(|f| {
            let mut cols = vec![
                f.name.clone(),
                f.handling.value(),
                f.preview_chars.map(|n| n.to_string()).unwrap_or_default(),
                f.description.clone(),
            ];
            while cols.len() > 1 && cols.last().is_some_and(|c| c.is_empty()) {
                cols.pop();
            }
            let mut line = cols.remove(0);
            for c in cols {
                line.push_str(" |");
                if !c.is_empty() {
                    line.push(' ');
                    line.push_str(&c);
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_lines_are_read_leniently() {
        let (fields, lines, errors) = parse_field_lines(
            "email\n\n preview | Preview | 40 | first characters \nnumber | Mask card\nip | ip-country | the address",
        );
        assert!(errors.is_empty(), "{}", errors.summary());
        assert_eq!(lines, vec![1, 3, 4, 5]);
        assert_eq!(fields[0].handling, FieldHandling::Keep);
        assert_eq!(fields[1].preview_chars, Some(40));
        assert_eq!(fields[1].description, "first characters");
        assert_eq!(fields[2].handling, FieldHandling::MaskCard);
        assert_eq!(fields[3].handling, FieldHandling::IpCountry);
        assert_eq!(fields[3].description, "the address");
        let text = field_lines_text(&fields);
        assert_eq!(parse_field_lines(&text).0, fields);
    }

    #[test]
    fn bad_field_lines_name_their_line() {
        let (fields, _, errors) =
            parse_field_lines("ok\nbad | shred\n | keep\np | preview | many | x");
        assert_eq!(fields.len(), 1);
        let all = errors.summary();
        assert!(all.contains("line 2: 'shred' is not a handling"), "{all}");
        assert!(all.contains("line 3: the field name"), "{all}");
        assert!(all.contains("line 4: 'many' is not a number"), "{all}");
    }
}
