//! What an evidence pack holds, read from the store in one snapshot, as the documents the pack
//! writes. Only counts, ids, dates, codes and categories: no person's address, name or record
//! (the request log leaves out even the matched subject's external id).

use crate::domain::anchor::StoredAnchor;
use crate::domain::consent_rates::Tally;
use crate::domain::evidence::{DeadlineOutcome, Period, deadline_outcome};
use crate::domain::inventory::{Inventory, RetentionRule};
use crate::domain::request::RequestState;
use crate::domain::retention::RunCounts;
use crate::domain::ropa::{self, Ropa};
use crate::domain::workspace::Workspace;
use crate::error::AppError;
use crate::services::incidents::{IncidentView, view, zone_of};
use crate::store::{
    Connection, WorkspaceScope, audit, claims, consent, incidents, inventory, outbox, policies,
    records, requests, retention, workspaces,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything the pack writes, as of one snapshot.
pub struct Gathered {
    pub workspace: Workspace,
    /// Which inventory the records of processing and the retention rules come from, in words.
    pub inventory_source: String,
    pub ropa: Ropa,
    pub policies: PolicyLog,
    pub retention: RetentionLog,
    pub requests: RequestLog,
    pub incidents: IncidentLog,
    pub consent: ConsentStats,
    pub access: AccessLog,
    pub audit: AuditHead,
}

#[derive(Serialize)]
pub struct PolicyLog {
    /// Published versions only (drafts are not policy); as of the period's end.
    pub versions: Vec<PolicyEntry>,
}

#[derive(Serialize)]
pub struct PolicyEntry {
    pub version: i64,
    pub material: bool,
    pub summary: String,
    pub published_at: Option<String>,
    pub effective_from: Option<String>,
    /// When the next version took effect; none for the version in force (or scheduled last).
    pub effective_until: Option<String>,
    /// Why a material change applies inside the notice period, as recorded.
    pub notice_waiver: Option<String>,
    /// When subscribers were told, and how many (never who).
    pub announced_at: Option<String>,
    pub announced_to: Option<i64>,
    /// SHA-256 of the published Markdown, to match against a copy.
    pub text_sha256: Option<String>,
    pub text: Option<String>,
}

#[derive(Serialize)]
pub struct RetentionLog {
    pub rules: Vec<RetentionRule>,
    pub runs: Vec<RunEntry>,
    /// Each rule's latest claim check, whatever its date.
    pub latest_claim_checks: Vec<ClaimEntry>,
    /// Each rule's checks per day in the period: the worst finding of the day.
    pub claim_history: Vec<DailyClaimEntry>,
}

#[derive(Serialize)]
pub struct RunEntry {
    pub id: i64,
    pub rule: String,
    pub category: String,
    pub action: String,
    pub dry_run: bool,
    pub status: String,
    pub started_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub cutoff: String,
    pub counts: RunCounts,
    pub last_error: Option<String>,
}

#[derive(Serialize)]
pub struct ClaimEntry {
    pub rule: String,
    pub claim: String,
    pub checked_at: String,
    pub passed: bool,
    pub violations: u64,
    pub held: u64,
    pub backlog: u64,
}

#[derive(Serialize)]
pub struct DailyClaimEntry {
    pub day: String,
    pub rule: String,
    pub claim: String,
    pub worst: u64,
    pub checks: u64,
}

#[derive(Serialize)]
pub struct RequestLog {
    pub received: usize,
    pub met: usize,
    pub missed: usize,
    pub open: usize,
    pub overdue: usize,
    pub requests: Vec<RequestEntry>,
}

#[derive(Serialize)]
pub struct RequestEntry {
    pub id: String,
    pub kind: String,
    pub law: String,
    pub received_at: String,
    pub due_at: String,
    pub extended_due_at: Option<String>,
    pub closed_at: Option<String>,
    /// The state it is in (completed, denied, expired, or open ones).
    pub outcome: String,
    pub denial_reason: Option<String>,
    pub deadline: DeadlineOutcome,
}

#[derive(Serialize)]
pub struct IncidentLog {
    pub time_zone: String,
    /// Detected in the period, the most recent first, each with its timeline and notice phases.
    pub incidents: Vec<IncidentView>,
}

#[derive(Serialize)]
pub struct ConsentStats {
    /// Per purpose over the period.
    pub totals: Vec<PurposeTotal>,
    /// Per purpose and day (UTC).
    pub daily: Vec<DayEntry>,
}

#[derive(Serialize, Default)]
pub struct PurposeTotal {
    pub purpose: String,
    pub granted: i64,
    pub refused: i64,
    pub refused_by_gpc: i64,
    /// As the console's consent page words them (`domain::consent_rates`): `67 %`, or a dash.
    pub grant_rate: String,
    pub gpc_share_of_refusals: String,
}

#[derive(Serialize)]
pub struct DayEntry {
    pub day: String,
    pub purpose: String,
    pub granted: i64,
    pub refused: i64,
    pub refused_by_gpc: i64,
}

#[derive(Serialize)]
pub struct AccessLog {
    /// Reads of people's data per month and reader (staff member or API key), and how many
    /// different people each read. The reasons given are sealed under each person's key, so
    /// they are not summarised here.
    pub months: Vec<AccessEntry>,
}

#[derive(Serialize)]
pub struct AccessEntry {
    pub month: String,
    pub reader: String,
    pub reads: i64,
    pub people: i64,
}

#[derive(Serialize)]
pub struct AuditHead {
    /// The audit chain's newest entry when the pack was made (the chain is the instance's; each
    /// entry is chained to the one before, whatever its workspace).
    pub head: Option<HeadEntry>,
    /// The latest checkpoint: entries up to it were pruned by the audit log's retention rule.
    pub checkpoint: Option<HeadEntry>,
    /// Heads kept outside the database (in `keys.db`); `lethe audit verify` checks the chain
    /// still holds each.
    pub anchors: Vec<HeadEntry>,
}

#[derive(Serialize)]
pub struct HeadEntry {
    pub seq: i64,
    pub hash: String,
    pub at: Option<String>,
}

fn t(at: DateTime<Utc>) -> String {
    crate::domain::time::format(at)
}

fn ot(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(t)
}

/// Reads everything but the anchors (they live in `keys.db`: [`anchors`]).
pub fn read(
    c: &Connection,
    scope: &WorkspaceScope,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<Gathered, AppError> {
    let workspace = workspaces::get(c, scope)?;
    let (inventory, inventory_source) = inventory_as_of(c, scope, period, now)?;
    Ok(Gathered {
        inventory_source,
        ropa: ropa::build(&workspace, &inventory, now),
        policies: policy_log(c, scope, period)?,
        retention: retention_log(c, scope, period, &inventory)?,
        requests: request_log(c, scope, period, now)?,
        incidents: incident_log(c, scope, period, now)?,
        consent: consent_stats(c, scope, period)?,
        access: AccessLog {
            months: records::access_summary(c, scope, period.start(), period.end())?
                .into_iter()
                .map(|a| AccessEntry {
                    month: a.month,
                    reader: a.actor,
                    reads: a.reads,
                    people: a.people,
                })
                .collect(),
        },
        audit: audit_head(c)?,
        workspace,
    })
}

/// The inventory as of the period's end: for a period that ended, the one published with the
/// policy version then in force (Lethe keeps no other history of the inventory); otherwise, or
/// when no version was in force then, the inventory now.
fn inventory_as_of(
    c: &Connection,
    scope: &WorkspaceScope,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<(Inventory, String), AppError> {
    let current = || -> Result<(Inventory, String), AppError> {
        Ok((
            inventory::load(c, scope)?,
            "the inventory when the pack was made".into(),
        ))
    };
    let Some(end) = period.end().filter(|e| *e <= now) else {
        return current();
    };
    let in_force = policies::list(c, scope)?
        .into_iter()
        .filter(|v| v.published && v.effective_at.is_some_and(|at| at < end))
        .max_by_key(|v| (v.effective_at, v.version));
    let Some(version) = in_force else {
        return current();
    };
    let Some(snapshot) = version.inventory_snapshot.as_deref() else {
        return current();
    };
    let published: Inventory = serde_json::from_str(snapshot).map_err(|e| {
        AppError::internal(anyhow::anyhow!(
            "policy version {}: its inventory snapshot does not read: {e}",
            version.version
        ))
    })?;
    Ok((
        published,
        format!(
            "the inventory published with policy version {}, in force at the period's end",
            version.version
        ),
    ))
}

fn policy_log(
    c: &Connection,
    scope: &WorkspaceScope,
    period: &Period,
) -> Result<PolicyLog, AppError> {
    let announced: BTreeMap<i64, outbox::Announcement> = outbox::announcements(c, scope)?
        .into_iter()
        .map(|a| (a.version, a))
        .collect();
    let mut published: Vec<_> = policies::list(c, scope)?
        .into_iter()
        .filter(|v| v.published)
        .filter(|v| {
            let end = period.end();
            v.published_at.is_some_and(|p| end.is_none_or(|e| p < e))
        })
        .collect();
    published.sort_by_key(|v| (v.effective_at, v.version));
    let mut versions = Vec::new();
    for (i, v) in published.iter().enumerate() {
        let until = published.get(i + 1).and_then(|next| next.effective_at);
        let a = announced.get(&v.version);
        versions.push(PolicyEntry {
            version: v.version,
            material: v.material,
            summary: v.summary.clone(),
            published_at: ot(v.published_at),
            effective_from: ot(v.effective_at),
            effective_until: ot(until),
            notice_waiver: v.notice_waiver.clone(),
            announced_at: a.map(|a| t(a.notified_at)),
            announced_to: a.map(|a| a.recipients),
            text_sha256: v
                .rendered_markdown
                .as_deref()
                .map(crate::crypto::sha256_hex),
            text: v.rendered_markdown.clone(),
        });
    }
    Ok(PolicyLog { versions })
}

fn retention_log(
    c: &Connection,
    scope: &WorkspaceScope,
    period: &Period,
    inventory: &Inventory,
) -> Result<RetentionLog, AppError> {
    let runs = retention::list_runs(c, scope, None, u32::MAX)?
        .into_iter()
        .filter(|r| period.contains(r.started_at))
        .map(|r| RunEntry {
            id: r.id,
            rule: r.rule_key,
            category: r.category,
            action: match r.action {
                crate::domain::inventory::RetentionAction::Delete => "delete".into(),
                crate::domain::inventory::RetentionAction::Anonymize => "anonymize".into(),
            },
            dry_run: r.dry_run,
            status: r.status,
            started_by: r.started_by,
            started_at: t(r.started_at),
            finished_at: ot(r.finished_at),
            cutoff: t(r.cutoff),
            counts: r.counts,
            last_error: r.last_error,
        })
        .collect();
    let latest = claims::latest_claim_checks(c, scope)?
        .into_iter()
        .map(|k| ClaimEntry {
            passed: k.passed(),
            rule: k.rule_key,
            claim: k.claim,
            checked_at: t(k.checked_at),
            violations: k.violations,
            held: k.held,
            backlog: k.backlog,
        })
        .collect();
    let since = period.start().unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let history = claims::daily_claims(c, scope, since)?
        .into_iter()
        .filter(|d| period.contains_day(&d.day))
        .map(|d| DailyClaimEntry {
            day: d.day,
            rule: d.rule_key,
            claim: d.claim,
            worst: d.worst,
            checks: d.checks,
        })
        .collect();
    Ok(RetentionLog {
        rules: inventory.retention_rules.clone(),
        runs,
        latest_claim_checks: latest,
        claim_history: history,
    })
}

/// Requests received in the period, in arrival order.
fn request_log(
    c: &Connection,
    scope: &WorkspaceScope,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<RequestLog, AppError> {
    const PAGE: u32 = 500;
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = requests::list_after(
            c,
            scope,
            &requests::RequestFilter::default(),
            after.as_deref(),
            PAGE,
        )?;
        after = page.last().map(|r| r.id.clone());
        for r in &page {
            if !period.contains(r.received_at) {
                continue;
            }
            let (closed_at, answered) = match r.state {
                RequestState::Completed => (r.completed_at.or(Some(r.updated_at)), true),
                // A denial's time is the request's last change: nothing moves a denied request.
                RequestState::Denied => (Some(r.updated_at), true),
                RequestState::Expired => (Some(r.updated_at), false),
                _ => (None, false),
            };
            let due = r.extended_due_at.unwrap_or(r.due_at);
            out.push(RequestEntry {
                id: r.id.clone(),
                kind: r.kind.as_str().into(),
                law: r.law.as_str().into(),
                received_at: t(r.received_at),
                due_at: t(r.due_at),
                extended_due_at: ot(r.extended_due_at),
                closed_at: ot(closed_at),
                outcome: r.state.as_str().into(),
                denial_reason: r.denial_reason.map(|d| d.as_str().into()),
                deadline: deadline_outcome(due, closed_at, answered, now),
            });
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    let count = |o: DeadlineOutcome| out.iter().filter(|r| r.deadline == o).count();
    Ok(RequestLog {
        received: out.len(),
        met: count(DeadlineOutcome::Met),
        missed: count(DeadlineOutcome::Missed),
        open: count(DeadlineOutcome::Open),
        overdue: count(DeadlineOutcome::Overdue),
        requests: out,
    })
}

fn incident_log(
    c: &Connection,
    scope: &WorkspaceScope,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<IncidentLog, AppError> {
    let zone = zone_of(c, scope)?;
    let mut out = Vec::new();
    for row in incidents::list(c, scope)? {
        if !period.contains(row.fields.detected_at) {
            continue;
        }
        let events = incidents::events(c, scope, &row.id)?;
        let phases = incidents::phases(c, scope, &row.id)?;
        out.push(view(&row, zone, now, Some((&events, &phases)))?);
    }
    Ok(IncidentLog {
        time_zone: zone.name().to_owned(),
        incidents: out,
    })
}

fn consent_stats(
    c: &Connection,
    scope: &WorkspaceScope,
    period: &Period,
) -> Result<ConsentStats, AppError> {
    let since = period.start().unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let daily: Vec<DayEntry> = consent::daily_rates(c, scope, since)?
        .into_iter()
        .filter(|d| period.contains_day(&d.day))
        .map(|d| DayEntry {
            day: d.day,
            purpose: d.purpose,
            granted: d.granted,
            refused: d.refused,
            refused_by_gpc: d.by_gpc,
        })
        .collect();
    let mut totals: BTreeMap<&str, PurposeTotal> = BTreeMap::new();
    for d in &daily {
        let e = totals.entry(&d.purpose).or_insert_with(|| PurposeTotal {
            purpose: d.purpose.clone(),
            ..PurposeTotal::default()
        });
        e.granted += d.granted;
        e.refused += d.refused;
        e.refused_by_gpc += d.refused_by_gpc;
    }
    for t in totals.values_mut() {
        let tally = Tally {
            granted: t.granted,
            refused: t.refused,
            by_gpc: t.refused_by_gpc,
        };
        t.grant_rate = tally.rate_text();
        t.gpc_share_of_refusals = tally.gpc_share_text();
    }
    Ok(ConsentStats {
        totals: totals.into_values().collect(),
        daily,
    })
}

fn audit_head(c: &Connection) -> Result<AuditHead, AppError> {
    Ok(AuditHead {
        head: audit::head(c)?.map(|h| HeadEntry {
            seq: h.seq,
            hash: h.hash,
            at: None,
        }),
        checkpoint: audit::latest_checkpoint(c)?.map(|k| HeadEntry {
            seq: k.seq,
            hash: k.hash,
            at: Some(t(k.at)),
        }),
        anchors: Vec::new(),
    })
}

/// The anchors as the pack lists them.
pub fn anchors(stored: Vec<StoredAnchor>) -> Vec<HeadEntry> {
    stored
        .into_iter()
        .map(|a| HeadEntry {
            seq: a.seq,
            hash: a.hash,
            at: Some(t(a.at)),
        })
        .collect()
}
