//! The fields of the data category form: one field a row (name, handling, preview characters,
//! description), each row its own inputs.

use super::choice::Choice;
use crate::domain::ValidationErrors;
use crate::domain::inventory::{FieldHandling, FieldSpec};

/// One row of the fields table, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldRow {
    pub name: String,
    pub handling: String,
    pub preview: String,
    pub description: String,
}

impl FieldRow {
    /// Nothing typed: a spare row, skipped. The handling alone does not count (a select always
    /// posts a value).
    pub fn is_blank(&self) -> bool {
        self.name.trim().is_empty()
            && self.preview.trim().is_empty()
            && self.description.trim().is_empty()
    }
}

/// The rows a form posted: the four lists of inputs, side by side. Every row renders all four
/// inputs, so the lists line up; a missing value is empty. Blank rows are dropped, so rows are
/// numbered as they are shown again.
pub fn rows_from_columns(
    names: &[String],
    handlings: &[String],
    previews: &[String],
    descriptions: &[String],
) -> Vec<FieldRow> {
    let len = names
        .len()
        .max(handlings.len())
        .max(previews.len())
        .max(descriptions.len());
    let at = |v: &[String], i: usize| v.get(i).cloned().unwrap_or_default();
    (0..len)
        .map(|i| FieldRow {
            name: at(names, i),
            handling: at(handlings, i),
            preview: at(previews, i),
            description: at(descriptions, i),
        })
        .filter(|r| !r.is_blank())
        .collect()
}

/// The fields of the rows, and the errors found reading them, each on the field `fields-<row>`
/// (rows count from 1). The handling defaults to `keep`.
pub fn parse_field_rows(rows: &[FieldRow]) -> (Vec<FieldSpec>, ValidationErrors) {
    let (mut fields, mut errors) = (Vec::new(), ValidationErrors::default());
    for (i, row) in rows.iter().enumerate() {
        let at = format!("fields-{}", i + 1);
        let name = row.name.trim().to_owned();
        if name.is_empty() {
            errors.add(&at, "the field name is missing");
        }
        let handling_raw = row.handling.trim();
        let handling = if handling_raw.is_empty() {
            FieldHandling::Keep
        } else {
            match FieldHandling::parse(handling_raw) {
                Some(h) => h,
                None => {
                    errors.add(&at, format!("'{handling_raw}' is not a handling"));
                    FieldHandling::Keep
                }
            }
        };
        let preview_raw = row.preview.trim();
        let preview_chars = if preview_raw.is_empty() {
            None
        } else if let Ok(chars) = preview_raw.parse::<u16>() {
            Some(chars)
        } else {
            errors.add(
                &at,
                format!("'{preview_raw}' is not a number of characters (e.g. 40)"),
            );
            None
        };
        fields.push(FieldSpec {
            name,
            description: row.description.trim().to_owned(),
            handling,
            preview_chars,
        });
    }
    (fields, errors)
}

/// The fields as the form's rows show them.
pub fn field_rows(fields: &[FieldSpec]) -> Vec<FieldRow> {
    fields
        .iter()
        .map(|f| FieldRow {
            name: f.name.clone(),
            handling: f.handling.value(),
            preview: f.preview_chars.map(|n| n.to_string()).unwrap_or_default(),
            description: f.description.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn rows_line_up_and_blank_rows_are_dropped() {
        let rows = rows_from_columns(
            &strings(&["email", "", "note", ""]),
            &strings(&["keep", "keep", "preview", "keep"]),
            &strings(&["", "", "40", ""]),
            &strings(&["the address", "", "", ""]),
        );
        assert_eq!(rows.len(), 2);
        let (fields, errors) = parse_field_rows(&rows);
        assert!(errors.is_empty(), "{}", errors.summary());
        assert_eq!(fields[0].description, "the address");
        assert_eq!(fields[1].handling, FieldHandling::Preview);
        assert_eq!(fields[1].preview_chars, Some(40));
        assert_eq!(field_rows(&fields), rows);
    }

    #[test]
    fn bad_rows_name_their_row() {
        let rows = vec![
            FieldRow {
                name: "ok".into(),
                ..FieldRow::default()
            },
            FieldRow {
                name: "bad".into(),
                handling: "shred".into(),
                ..FieldRow::default()
            },
            FieldRow {
                description: "no name".into(),
                ..FieldRow::default()
            },
            FieldRow {
                name: "p".into(),
                handling: "preview".into(),
                preview: "many".into(),
                ..FieldRow::default()
            },
        ];
        let (_, errors) = parse_field_rows(&rows);
        assert!(errors.for_field("fields-1").is_none());
        assert!(
            errors
                .for_field("fields-2")
                .is_some_and(|m| m.contains("'shred'"))
        );
        assert!(
            errors
                .for_field("fields-3")
                .is_some_and(|m| m.contains("name is missing"))
        );
        assert!(
            errors
                .for_field("fields-4")
                .is_some_and(|m| m.contains("'many'"))
        );
    }
}
