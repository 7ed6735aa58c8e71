//! Claims checked against reality: each rule's promise ("no message preview older than 30
//! days") is counted against the stored records after every run and on its own schedule. A
//! record past its rule by more than one run interval (the rule's schedule cannot act sooner)
//! breaks the claim; the result is kept, dated, and shown on the dashboard and the privacy
//! center.

use super::runner::due_query;
use crate::domain::inventory::{Inventory, RetentionRule};
use crate::domain::retention::{self, governing_hold};
use crate::error::AppError;
use crate::store::claims::{self, ClaimCheck};
use crate::store::retention as runs;
use crate::store::{Db, WorkspaceScope, inventory, workspaces};
use crate::vault::Vault;
use chrono::{DateTime, Duration, Utc};

/// Counts one rule's claim against the data and records the result.
pub(super) fn check_rule(
    db: &Db,
    scope: &WorkspaceScope,
    inventory: &Inventory,
    rule: &RetentionRule,
    now: DateTime<Utc>,
) -> Result<ClaimCheck, AppError> {
    let cutoff = retention::cutoff(rule, now);
    let grace = rule
        .schedule
        .interval_after(now)
        .unwrap_or(Duration::days(1));
    let held_by_rule = governing_hold(&inventory.legal_holds, &rule.category, now.date_naive());
    let check = db.read(|c| {
        let backlog = runs::count_due(c, scope, &due_query(rule, cutoff))?;
        let late = runs::count_due(c, scope, &due_query(rule, cutoff - grace))?;
        let after_erasure = runs::count_held_after_erasure(c, scope, &rule.category, cutoff)?;
        Ok::<_, AppError>(match held_by_rule {
            // What a hold keeps does not break the claim; the page says it is held.
            Some(_) => ClaimCheck {
                rule_key: rule.key.clone(),
                claim: rule.claim_text(),
                checked_at: now,
                violations: 0,
                held: backlog + after_erasure,
                backlog: 0,
            },
            None => ClaimCheck {
                rule_key: rule.key.clone(),
                claim: rule.claim_text(),
                checked_at: now,
                violations: late,
                held: after_erasure,
                backlog,
            },
        })
    })?;
    db.write(|tx| claims::record_claim_check(tx, scope, &check))?;
    Ok(check)
}

/// Checks every rule of a workspace; returns the checks.
pub fn check_claims(
    db: &Db,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<Vec<ClaimCheck>, AppError> {
    let inventory = db.read(|c| inventory::load(c, scope))?;
    inventory
        .retention_rules
        .iter()
        .map(|rule| check_rule(db, scope, &inventory, rule, now))
        .collect()
}

/// The claims job: every rule of every workspace. Returns how many claims are broken.
pub fn check_all_claims(db: &Db, _vault: &Vault, now: DateTime<Utc>) -> Result<usize, AppError> {
    let mut broken = 0;
    for scope in db.read(workspaces::all_scopes)? {
        broken += check_claims(db, &scope, now)?
            .iter()
            .filter(|c| !c.passed())
            .count();
    }
    Ok(broken)
}
