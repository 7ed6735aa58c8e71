//! A dry run: how many records a rule would delete, anonymize or leave to a legal hold, and a
//! few examples of before → after with personal values masked on screen. Nothing changes; the
//! dry run is kept in the run history with its report.

use super::runner::due_query;
use crate::domain::inventory::{RetentionAction, RetentionRule};
use crate::domain::retention::{
    self, Cursor, RunCounts, governing_hold, screen_after, screen_mask,
};
use crate::domain::transform::{self, Outcome};
use crate::error::AppError;
use crate::services::Caller;
use crate::store::retention::{self as runs, NewRun};
use crate::store::{Db, WorkspaceScope, audit, inventory};
use crate::vault::{self, Vault};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Examples shown per dry run.
const EXAMPLES: u32 = 3;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DryRunReport {
    pub run_id: i64,
    pub rule: String,
    pub category: String,
    pub action: RetentionAction,
    /// For anonymize rules: whether the result is anonymous or only pseudonymized.
    pub outcome: Option<Outcome>,
    pub cutoff: DateTime<Utc>,
    pub would_delete: u64,
    pub would_anonymize: u64,
    /// Records past the rule that a legal hold keeps.
    pub held: u64,
    /// The legal hold that keeps the whole category, if one does.
    pub held_by: Option<String>,
    pub examples: Vec<Example>,
}

/// One record before and after, values masked on screen.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Example {
    /// The start of the record's id.
    pub record: String,
    pub occurred_on: String,
    #[schema(value_type = Object)]
    pub before: Map<String, Value>,
    /// Null for a deletion.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Map<String, Value>>,
    pub detached_from_person: bool,
}

pub fn dry_run(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    rule: &RetentionRule,
    now: DateTime<Utc>,
) -> Result<DryRunReport, AppError> {
    let inventory = db.read(|c| inventory::load(c, scope))?;
    let cutoff = retention::cutoff(rule, now);
    let q = due_query(rule, cutoff);
    let (due, held_after_erasure, sample) = db.read(|c| {
        Ok::<_, AppError>((
            runs::count_due(c, scope, &q)?,
            runs::count_held_after_erasure(c, scope, &rule.category, cutoff)?,
            runs::due(c, scope, &q, &Cursor::default(), EXAMPLES)?
                .into_iter()
                .filter_map(|row| row.record.ok())
                .collect::<Vec<_>>(),
        ))
    })?;
    let fields: Vec<String> = inventory
        .categories
        .iter()
        .find(|c| c.key == rule.category)
        .map(|c| c.fields.iter().map(|f| f.name.clone()).collect())
        .unwrap_or_default();
    let hold = governing_hold(&inventory.legal_holds, &rule.category, now.date_naive());
    let (acting, held) = match hold {
        Some(_) => (0, due + held_after_erasure),
        None => (due, held_after_erasure),
    };
    let pseudonym_key = super::runner::pseudonym_key(vault, scope, rule)?;
    let ring = vault.key_ring(scope, &crate::store::records::key_ids(&sample))?;
    let mut examples = Vec::new();
    for r in &sample {
        let Some(key) = ring.record_key(&r.key_id, r.period_key_id.as_deref()) else {
            continue;
        };
        let Ok(plain) = key.open(&vault::record_aad(scope, &r.id), &r.sealed_fields) else {
            continue;
        };
        let plain = zeroize::Zeroizing::new(plain);
        let Ok(before) = serde_json::from_slice::<Map<String, Value>>(&plain) else {
            continue;
        };
        let (after, detached) = match rule.action {
            RetentionAction::Delete => (None, false),
            RetentionAction::Anonymize => {
                let mut after = before.clone();
                let key_bytes = pseudonym_key
                    .as_ref()
                    .map(|k| k.as_bytes().as_slice())
                    .unwrap_or_default();
                let applied = transform::apply(&rule.transforms, &mut after, key_bytes);
                let shown = after
                    .iter()
                    .map(|(k, v)| (k.clone(), screen_after(k, v, &rule.transforms)))
                    .collect();
                (Some(shown), applied.drop_subject || r.subject_id.is_none())
            }
        };
        examples.push(Example {
            // The end of the id: its start is a timestamp, the same for records stored together.
            record: r.id.chars().skip(24).collect(),
            occurred_on: r.occurred_at.date_naive().to_string(),
            before: before
                .iter()
                .map(|(k, v)| (k.clone(), screen_mask(v)))
                .collect(),
            after,
            detached_from_person: detached,
        });
    }
    let (would_delete, would_anonymize) = match rule.action {
        RetentionAction::Delete => (acting, 0),
        RetentionAction::Anonymize => (0, acting),
    };
    let mut report = DryRunReport {
        run_id: 0,
        rule: rule.key.clone(),
        category: rule.category.clone(),
        action: rule.action,
        outcome: retention::rule_outcome(rule, &fields),
        cutoff,
        would_delete,
        would_anonymize,
        held,
        held_by: hold.map(|h| h.key.clone()),
        examples,
    };
    let counts = RunCounts {
        scanned: due,
        changed: would_anonymize,
        deleted: would_delete,
        held,
        errors: 0,
    };
    report.run_id = db.write(|tx| {
        let id = runs::start_run(
            tx,
            scope,
            &NewRun {
                rule_key: &rule.key,
                category: &rule.category,
                action: rule.action,
                started_by: &caller.actor.label(),
                dry_run: true,
                cutoff,
                now,
            },
        )?;
        // The stored report keeps the counts only: examples are shown once, never stored.
        let stored = serde_json::json!({
            "would_delete": would_delete,
            "would_anonymize": would_anonymize,
            "held": held,
            "held_by": report.held_by,
            "outcome": report.outcome,
        });
        runs::end_run(
            tx,
            scope,
            id,
            &runs::RunEnd {
                status: "completed",
                counts: &counts,
                last_error: None,
                report: Some(&stored),
                now,
            },
        )?;
        let event = caller
            .event("retention.dry_run", format!("retention_rule:{}", rule.key))
            .detail(serde_json::json!({"run": id, "counts": counts}));
        audit::append(tx, Some(scope), &event, now)?;
        Ok::<_, AppError>(id)
    })?;
    Ok(report)
}
