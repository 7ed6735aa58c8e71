//! Records as the operator's systems send them, checked batch-wide before anything is stored:
//! a batch is stored whole or not at all, so every problem of every record is reported at once.

use super::inventory::DataCategory;
use super::ip_country::IpCountryTable;
use super::subject::parse_external_id;
use super::{ValidationErrors, ingest};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Records per request; larger loads are sent as several batches.
pub const MAX_BATCH: usize = 1000;

/// One record as sent.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    /// Key of a data category of the workspace, e.g. `usage.message_log`.
    pub category: String,
    /// The subject's `external_id`; may be left out where the category allows it.
    #[serde(default)]
    pub subject: Option<String>,
    /// When it happened (RFC 3339). Read as text so that a bad one is named as this field.
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: String,
    /// Only the fields the category declares.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

/// `{"records": [...]}`; NDJSON bodies carry one record per line instead.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordBatch {
    #[schema(value_type = Vec<RecordInput>)]
    pub records: Vec<Value>,
}

/// A record that passed its category's rules, ready to be sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRecord {
    pub category: String,
    pub subject: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub fields: Map<String, Value>,
}

/// What a stored batch returns; a retry with the same `Idempotency-Key` gets it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    pub stored: usize,
    pub records: Vec<StoredRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredRef {
    pub id: String,
    /// The subject's processing was restricted when the record arrived.
    pub flagged_restricted: bool,
}

/// The lines of an NDJSON body, each one record; blank lines are skipped.
pub fn ndjson_records(body: &str) -> Result<Vec<Value>, String> {
    body.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Checks every record of a batch against its category. Field names in errors are
/// `records[i].category`, `records[i].fields.<name>`, and so on.
pub fn prepare_batch(
    records: Vec<Value>,
    categories: &[DataCategory],
    countries: &IpCountryTable,
    now: DateTime<Utc>,
) -> Result<Vec<PreparedRecord>, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if records.is_empty() {
        errors.add("records", "send at least one record");
    }
    if records.len() > MAX_BATCH {
        errors.add(
            "records",
            format!(
                "{} records in one batch; send at most {MAX_BATCH}",
                records.len()
            ),
        );
        return Err(errors);
    }
    let mut prepared = Vec::with_capacity(records.len());
    for (i, raw) in records.into_iter().enumerate() {
        let at = format!("records[{i}]");
        let input: RecordInput = match serde_json::from_value(raw) {
            Ok(r) => r,
            Err(e) => {
                errors.add(&at, e.to_string());
                continue;
            }
        };
        let Some(category) = categories.iter().find(|c| c.key == input.category) else {
            errors.add(
                &format!("{at}.category"),
                format!(
                    "'{}' is not a data category of this workspace",
                    truncate(&input.category)
                ),
            );
            continue;
        };
        let subject = match input.subject.as_deref().map(str::trim) {
            None | Some("") if category.subject_optional => None,
            None | Some("") => {
                errors.add(
                    &format!("{at}.subject"),
                    format!(
                        "is required: category '{}' does not allow records without a person",
                        category.key
                    ),
                );
                None
            }
            Some(s) => errors.check(&format!("{at}.subject"), parse_external_id(s)),
        };
        let occurred_at = match DateTime::parse_from_rfc3339(input.occurred_at.trim()) {
            Ok(t) => t.with_timezone(&Utc),
            Err(_) => {
                errors.add(
                    &format!("{at}.occurred_at"),
                    "is not a time: use RFC 3339, e.g. 2026-11-22T10:00:00Z",
                );
                continue;
            }
        };
        if occurred_at > now + Duration::hours(1) {
            errors.add(&format!("{at}.occurred_at"), "is in the future");
        } else if occurred_at < super::time::earliest() {
            errors.add(&format!("{at}.occurred_at"), "is before 1970");
        }
        match ingest::prepare_fields(category, &input.fields, countries) {
            Ok(fields) => prepared.push(PreparedRecord {
                category: category.key.clone(),
                subject,
                occurred_at,
                fields,
            }),
            Err(field_errors) => {
                for e in field_errors {
                    errors.add(&format!("{at}.fields.{}", e.field), e.message);
                }
            }
        }
    }
    errors.into_result().map(|()| prepared)
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::{FieldHandling, FieldSpec, Sensitivity};
    use serde_json::json;

    fn categories() -> Vec<DataCategory> {
        let field = |name: &str, handling, preview_chars| FieldSpec {
            name: name.into(),
            description: String::new(),
            handling,
            preview_chars,
        };
        vec![
            DataCategory {
                key: "usage.message_log".into(),
                name: "Message log".into(),
                description: String::new(),
                subject_kinds: vec![],
                source: String::new(),
                sensitivity: Sensitivity::Normal,
                fields: vec![
                    field("to", FieldHandling::Keep, None),
                    field("body", FieldHandling::Preview, Some(5)),
                ],
                subject_optional: false,
            },
            DataCategory {
                key: "usage.access_log".into(),
                name: "Access log".into(),
                description: String::new(),
                subject_kinds: vec![],
                source: String::new(),
                sensitivity: Sensitivity::Low,
                fields: vec![field("path", FieldHandling::Keep, None)],
                subject_optional: true,
            },
        ]
    }

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_good_batch_is_prepared_with_its_rules_applied() {
        let batch = vec![
            json!({"category": "usage.message_log", "subject": "u1", "occurred_at": "2026-11-22T10:00:00Z",
                   "fields": {"to": "+4915112345678", "body": "Hello there"}}),
            json!({"category": "usage.access_log", "occurred_at": "2026-11-22T10:00:00Z", "fields": {"path": "/"}}),
        ];
        let out = prepare_batch(batch, &categories(), &IpCountryTable::default(), now()).unwrap();
        assert_eq!(out[0].fields["body"], "Hello");
        assert_eq!(out[1].subject, None);
    }

    #[test]
    fn every_bad_record_and_field_is_named() {
        let batch = vec![
            json!({"category": "usage.message_log", "occurred_at": "2026-11-22T10:00:00Z", "fields": {"cc": 1}}),
            json!({"category": "nope", "subject": "u1", "occurred_at": "2026-11-22T10:00:00Z"}),
            json!({"category": "usage.message_log", "subject": "u1"}),
            json!({"category": "usage.message_log", "subject": "u1", "occurred_at": "2027-01-01T00:00:00Z"}),
            json!({"category": "usage.message_log", "subject": "u1", "occurred_at": "yesterday"}),
        ];
        let err =
            prepare_batch(batch, &categories(), &IpCountryTable::default(), now()).unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "records[0].subject",
                "records[0].fields.cc",
                "records[1].category",
                "records[2]",
                "records[3].occurred_at",
                "records[4].occurred_at"
            ]
        );
    }

    #[test]
    fn empty_and_oversized_batches_are_refused() {
        let none = prepare_batch(vec![], &categories(), &IpCountryTable::default(), now());
        assert!(none.is_err());
        let many = vec![json!({}); MAX_BATCH + 1];
        let err =
            prepare_batch(many, &categories(), &IpCountryTable::default(), now()).unwrap_err();
        assert_eq!(err.0.len(), 1, "one error, not one per record");
    }

    #[test]
    fn ndjson_lines_are_records_and_bad_lines_are_named() {
        let body = "{\"category\":\"a\"}\n\n{\"category\":\"b\"}\n";
        assert_eq!(ndjson_records(body).unwrap().len(), 2);
        assert!(
            ndjson_records("{}\n{nope")
                .unwrap_err()
                .starts_with("line 2")
        );
    }
}
