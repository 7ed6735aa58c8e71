//! Publishing a policy version, and the review a publisher reads first. Publication refuses what
//! would make the policy false: errors of the inventory check, categories the vault holds that
//! the text does not state, and a material change that applies before people could be told.
//! Warnings are published only when the publisher confirms them.

use super::Caller;
use super::policies::render_now;
use crate::domain::ValidationErrors;
use crate::domain::inventory::Inventory;
use crate::domain::inventory_check::{self, Finding, Severity};
use crate::domain::policy_diff::{self, DiffLine};
use crate::domain::publication::{check_notice, earliest_material_effect};
use crate::error::AppError;
use crate::store::Connection;
use crate::store::policies::{PolicyVersion, Publication};
use crate::store::{Db, WorkspaceScope, audit, policies, records, workspaces};
use chrono::{DateTime, Duration, Utc};

/// What a publisher asks for.
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    /// Now when absent; a later moment schedules the version.
    pub effective_at: Option<DateTime<Utc>>,
    /// The publisher has read the warnings of the check and publishes anyway.
    pub confirm_warnings: bool,
    /// Why a material change takes effect inside the notice period. The web layer lets only
    /// owners send one.
    pub notice_waiver: Option<String>,
}

/// Everything a publisher sees before publishing a draft.
pub struct Review {
    pub draft: PolicyVersion,
    /// The check of the inventory and of the text against the vault, errors first.
    pub findings: Vec<Finding>,
    pub rendered_markdown: String,
    pub rendered_html: String,
    /// The version in force now, which the diff compares with.
    pub in_force: Option<PolicyVersion>,
    pub diff: Vec<DiffLine>,
    pub notice_days: u16,
    /// The earliest a material draft may take effect without a recorded reason (now, when no
    /// version is in force yet).
    pub earliest_material_effect: DateTime<Utc>,
}

impl Review {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }
}

/// The inventory check and the text checked against what the vault holds, errors first.
fn findings(
    conn: &Connection,
    scope: &WorkspaceScope,
    inventory: &Inventory,
    rendered_markdown: &str,
) -> Result<Vec<Finding>, AppError> {
    let held = records::categories_held(conn, scope)?;
    let mut out = inventory_check::check(inventory);
    out.extend(inventory_check::against_vault(
        inventory,
        &held,
        rendered_markdown,
    ));
    out.sort_by_key(|f| f.severity != Severity::Error);
    Ok(out)
}

pub fn review(db: &Db, scope: &WorkspaceScope, version: i64) -> Result<Review, AppError> {
    let now = Utc::now();
    db.read(|c| {
        let draft = policies::get(c, scope, version)?;
        let (md, html, inventory) = render_now(c, scope, &draft.markdown)?;
        let found = findings(c, scope, &inventory, &md)?;
        let in_force = policies::current(c, scope, now)?;
        let diff = match in_force
            .as_ref()
            .and_then(|v| v.rendered_markdown.as_deref())
        {
            Some(older) => policy_diff::diff(older, &md),
            None => Vec::new(),
        };
        let notice_days = workspaces::get(c, scope)?.settings.notice_days;
        let earliest = if in_force.is_some() {
            earliest_material_effect(now, notice_days)
        } else {
            now
        };
        Ok(Review {
            draft,
            findings: found,
            rendered_markdown: md,
            rendered_html: html,
            in_force,
            diff,
            notice_days,
            earliest_material_effect: earliest,
        })
    })
}

/// Publishes a draft: renders it against the inventory now and freezes the result. A future
/// `effective_at` schedules it; a past one is refused (a policy cannot start in the past).
pub fn publish(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    version: i64,
    request: &PublishRequest,
) -> Result<PolicyVersion, AppError> {
    let now = Utc::now();
    let effective_at = request.effective_at.unwrap_or(now);
    if effective_at < now - Duration::minutes(5) {
        return Err(ValidationErrors::single("effective_at", "must not be in the past").into());
    }
    // "Now" (or a moment ago, from a client's clock) means the moment of publication, so the new
    // version always takes effect after the one in force, even within the same second.
    let effective_at = effective_at.max(now);
    db.write(|tx| {
        let draft = policies::get(tx, scope, version)?;
        if draft.published {
            return Err(AppError::Conflict(format!(
                "version {version} is already published"
            )));
        }
        let (md, html, inventory) = render_now(tx, scope, &draft.markdown)?;
        let found = findings(tx, scope, &inventory, &md)?;
        refuse_unless_true(&found, request.confirm_warnings)?;
        let notice_days = workspaces::get(tx, scope)?.settings.notice_days;
        // The first version changes nothing people were told before: it needs no notice.
        let changes_a_policy = policies::current(tx, scope, now)?.is_some();
        let waiver = check_notice(
            draft.material && changes_a_policy,
            effective_at,
            now,
            notice_days,
            request.notice_waiver.as_deref(),
        )?;
        let snapshot = serde_json::to_string(&inventory).map_err(AppError::internal)?;
        let publication = Publication {
            rendered_markdown: &md,
            rendered_html: &html,
            inventory_snapshot: &snapshot,
            effective_at,
            notice_waiver: waiver.as_deref(),
        };
        policies::publish(tx, scope, version, &publication, now)?;
        let warnings: Vec<String> = found.iter().map(Finding::describe).collect();
        let event = caller
            .event("policy.publish", format!("policy:{version}"))
            .detail(serde_json::json!({
                "effective_at": effective_at,
                "material": draft.material,
                "warnings_confirmed": warnings,
                "notice_waived": waiver.is_some(),
            }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok(policies::get(tx, scope, version)?)
    })
}

/// Errors refuse publication; warnings refuse it unless confirmed. Each finding is one field
/// error, so the API lists them and the console shows them.
fn refuse_unless_true(found: &[Finding], confirmed: bool) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    for f in found {
        match f.severity {
            Severity::Error => errors.add("inventory", f.describe()),
            Severity::Warning if !confirmed => errors.add(
                "confirm_warnings",
                format!("confirm that you publish despite: {}", f.describe()),
            ),
            Severity::Warning => {}
        }
    }
    errors.into_result()
}
