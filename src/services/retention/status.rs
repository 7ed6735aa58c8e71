//! What the API, the console, the privacy center and `/metrics` show of retention: rules with
//! their next runs, runs, claims, and when a person's records fall due.

use crate::domain::inventory::{Inventory, RetentionRule, RetentionTrigger};
use crate::domain::retention::{self, RunCounts};
use crate::error::AppError;
pub use crate::store::claims::DailyClaim;
use crate::store::claims::{self as checks, ClaimCheck};
use crate::store::retention::{self as runs, RunRow};
use crate::store::{Db, WorkspaceScope, inventory, jobs};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A run as the API and the console show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    pub id: i64,
    pub rule: String,
    pub category: String,
    pub action: crate::domain::inventory::RetentionAction,
    pub dry_run: bool,
    /// `running`, `completed`, `failed` or `interrupted` (resumes at the next start).
    pub status: String,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Records collected (or of accounts closed) before this were due.
    pub cutoff: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: RunCounts,
    pub batches: u64,
    /// What went wrong first, if anything (never a personal value).
    pub error: Option<String>,
    /// A dry run's report.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

impl From<RunRow> for RunView {
    fn from(r: RunRow) -> Self {
        RunView {
            id: r.id,
            rule: r.rule_key,
            category: r.category,
            action: r.action,
            dry_run: r.dry_run,
            status: r.status,
            started_by: r.started_by,
            started_at: r.started_at,
            finished_at: r.finished_at,
            cutoff: r.cutoff,
            counts: r.counts,
            batches: r.batches,
            error: r.last_error,
            report: r.report,
        }
    }
}

pub fn list_runs(
    db: &Db,
    scope: &WorkspaceScope,
    rule: Option<&str>,
    limit: u32,
) -> Result<Vec<RunView>, AppError> {
    let rows = db.read(|c| runs::list_runs(c, scope, rule, limit.clamp(1, 500)))?;
    Ok(rows.into_iter().map(RunView::from).collect())
}

pub fn get_run(db: &Db, scope: &WorkspaceScope, id: i64) -> Result<RunView, AppError> {
    Ok(db.read(|c| runs::get_run(c, scope, id))?.into())
}

/// A rule with its schedule's next runs, its last run and its claim's latest check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleStatus {
    pub rule: RetentionRule,
    /// What the rule does, in words ("pseudonymized 30 days after collection").
    pub description: String,
    /// "anonymized" or "pseudonymized" for anonymize rules.
    pub outcome: Option<crate::domain::transform::Outcome>,
    pub claim: String,
    pub next_runs: Vec<DateTime<Utc>>,
    pub last_run: Option<RunView>,
    pub last_check: Option<ClaimView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClaimView {
    pub rule: String,
    pub claim: String,
    pub checked_at: DateTime<Utc>,
    pub passed: bool,
    /// Records that break the claim (past the rule by more than one run interval).
    pub violations: u64,
    /// Records past the rule not yet handled.
    pub backlog: u64,
    pub held: u64,
}

impl From<ClaimCheck> for ClaimView {
    fn from(c: ClaimCheck) -> Self {
        ClaimView {
            passed: c.passed(),
            rule: c.rule_key,
            claim: c.claim,
            checked_at: c.checked_at,
            violations: c.violations,
            backlog: c.backlog,
            held: c.held,
        }
    }
}

/// What the privacy center publishes: each rule's latest check, and each day's results of the
/// last `days` days (the worst check of the day per rule), newest first.
pub fn published_claims(
    db: &Db,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
    days: i64,
) -> Result<(Vec<ClaimView>, Vec<DailyClaim>), AppError> {
    let since = now - chrono::Duration::days(days);
    db.read(|c| {
        Ok((
            checks::latest_claim_checks(c, scope)?
                .into_iter()
                .map(ClaimView::from)
                .collect(),
            checks::daily_claims(c, scope, since)?,
        ))
    })
}

/// One rule's numbers for `/metrics`.
pub struct RuleMetrics {
    pub workspace: String,
    pub rule: String,
    pub last_success: Option<DateTime<Utc>>,
    /// From the latest claim check: records past the rule not yet handled, and those past it
    /// by more than a run interval.
    pub backlog: u64,
    pub violations: u64,
}

/// Each scheduled job's name and last success.
pub type JobSuccesses = Vec<(String, DateTime<Utc>)>;

/// Every rule of every workspace, and every scheduled job's last success, for `/metrics`.
pub fn metrics(db: &Db) -> Result<(Vec<RuleMetrics>, JobSuccesses), AppError> {
    db.read(|c| {
        let slugs: std::collections::HashMap<i64, String> = crate::store::workspaces::all(c)?
            .into_iter()
            .map(|(s, slug)| (s.id(), slug))
            .collect();
        let successes = runs::last_successes(c)?;
        let mut out: Vec<RuleMetrics> = Vec::new();
        for (scope, rule) in inventory::all_retention_rules(c)? {
            let Some(slug) = slugs.get(&scope.id()) else {
                continue;
            };
            out.push(RuleMetrics {
                workspace: slug.clone(),
                last_success: successes
                    .iter()
                    .find(|(w, r, _)| *w == scope.id() && *r == rule.key)
                    .map(|(_, _, t)| *t),
                rule: rule.key,
                backlog: 0,
                violations: 0,
            });
        }
        for (w, check) in checks::latest_claim_checks_all(c)? {
            let Some(slug) = slugs.get(&w) else { continue };
            if let Some(m) = out
                .iter_mut()
                .find(|m| m.workspace == *slug && m.rule == check.rule_key)
            {
                m.backlog = check.backlog;
                m.violations = check.violations;
            }
        }
        let jobs_done = jobs::all(c)?
            .into_values()
            .filter(|j| !j.name.starts_with("retention/"))
            .filter_map(|j| j.last_success_at.map(|t| (j.name, t)))
            .collect();
        Ok((out, jobs_done))
    })
}

/// The claims whose latest check found records past their rule: the dashboard's alarm.
pub fn broken_claims(db: &Db, scope: &WorkspaceScope) -> Result<Vec<ClaimView>, AppError> {
    let checks = db.read(|c| checks::latest_claim_checks(c, scope))?;
    Ok(checks
        .into_iter()
        .filter(|c| !c.passed())
        .map(ClaimView::from)
        .collect())
}

/// Every rule of the workspace with its status, as the retention page and the API show them.
pub fn rule_statuses(
    db: &Db,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<Vec<RuleStatus>, AppError> {
    let (inventory, checks, recent) = db.read(|c| {
        Ok::<_, AppError>((
            inventory::load(c, scope)?,
            checks::latest_claim_checks(c, scope)?,
            runs::list_runs(c, scope, None, 500)?,
        ))
    })?;
    let mut out = Vec::new();
    for rule in &inventory.retention_rules {
        let fields = category_fields(&inventory, &rule.category);
        out.push(RuleStatus {
            description: retention::describe(rule, &fields),
            outcome: retention::rule_outcome(rule, &fields),
            claim: rule.claim_text(),
            next_runs: if rule.enabled {
                rule.schedule.upcoming(now, 3)
            } else {
                Vec::new()
            },
            last_run: recent
                .iter()
                .find(|r| r.rule_key == rule.key && !r.dry_run)
                .cloned()
                .map(RunView::from),
            last_check: checks
                .iter()
                .find(|c| c.rule_key == rule.key)
                .cloned()
                .map(ClaimView::from),
            rule: rule.clone(),
        });
    }
    Ok(out)
}

fn category_fields(inventory: &Inventory, category: &str) -> Vec<String> {
    inventory
        .categories
        .iter()
        .find(|c| c.key == category)
        .map(|c| c.fields.iter().map(|f| f.name.clone()).collect())
        .unwrap_or_default()
}

/// When a person's records fall due, per category: what the subject page shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectFate {
    pub category: String,
    /// The category's name in the inventory.
    pub category_name: String,
    pub rule: String,
    /// "deleted", "anonymized" or "pseudonymized", and when.
    pub description: String,
    /// The first of their records to fall due, when it can be known (for rules counted from
    /// the account's closure: once it is closed).
    pub next_due: Option<DateTime<Utc>>,
    pub records: u64,
}

pub fn subject_fates(
    db: &Db,
    scope: &WorkspaceScope,
    subject_id: i64,
    closed_at: Option<DateTime<Utc>>,
) -> Result<Vec<SubjectFate>, AppError> {
    let (inventory, per_category) = db.read(|c| {
        Ok::<_, AppError>((
            inventory::load(c, scope)?,
            crate::store::records::categories_of_subject(c, scope, subject_id)?,
        ))
    })?;
    let mut out = Vec::new();
    for (category, records, oldest) in per_category {
        for rule in inventory
            .retention_rules
            .iter()
            .filter(|r| r.category == category)
        {
            let fields = category_fields(&inventory, &category);
            let next_due = match rule.trigger {
                RetentionTrigger::Collected => Some(retention::due_at(rule, oldest)),
                RetentionTrigger::AccountClosed => closed_at.map(|c| retention::due_at(rule, c)),
            };
            out.push(SubjectFate {
                category_name: inventory
                    .categories
                    .iter()
                    .find(|c| c.key == category)
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
                category: category.clone(),
                rule: rule.key.clone(),
                description: retention::describe(rule, &fields),
                next_due,
                records,
            });
        }
    }
    Ok(out)
}
