//! Policy versions: drafts rendered live from the inventory (publication is in `publication`),
//! drift between the policy in force and the inventory now, each version's state, and diffs
//! between versions as a reader sees them.

use super::Caller;
use crate::domain::ValidationErrors;
use crate::domain::inventory::Inventory;
use crate::domain::policy::{self, PolicyFacts};
pub use crate::domain::policy::{DriftChange, DriftKind};
use crate::domain::policy_diff::{self, DiffLine};
use crate::domain::policy_timeline::{Dated, Timeline, VersionState};
use crate::domain::text;
use crate::error::AppError;
use crate::store::Connection;
use crate::store::policies::NewDraft;
pub use crate::store::policies::PolicyVersion;
use crate::store::{Db, WorkspaceScope, audit, inventory, policies, workspaces};
use chrono::{DateTime, Utc};

const MAX_MARKDOWN_BYTES: usize = 200 * 1024;

/// What a draft is made of, as typed (any line ends: they are stored as LF).
pub struct DraftInput {
    pub markdown: String,
    pub material: bool,
    pub summary: String,
}

/// The rendered Markdown and HTML of a template against this workspace's facts now.
pub(super) fn render_now(
    conn: &Connection,
    scope: &WorkspaceScope,
    markdown: &str,
) -> Result<(String, String, Inventory), AppError> {
    let workspace = workspaces::get(conn, scope)?;
    let inventory = inventory::load(conn, scope)?;
    let facts = PolicyFacts {
        workspace: &workspace,
        inventory: &inventory,
    };
    let md = policy::render_markdown(markdown, &facts)
        .map_err(|e| ValidationErrors::single("markdown", e.to_string()))?;
    let html = policy::to_safe_html(&md);
    Ok((md, html, inventory))
}

/// The draft's Markdown with LF line ends, and its summary, both checked.
fn check(input: &DraftInput) -> Result<(String, String), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if input.markdown.trim().is_empty() {
        errors.add("markdown", "is required");
    }
    if input.markdown.len() > MAX_MARKDOWN_BYTES {
        errors.add(
            "markdown",
            format!("is longer than {MAX_MARKDOWN_BYTES} bytes"),
        );
    }
    let summary = errors.check("summary", text(&input.summary, 500, true));
    if input.material && summary.as_deref().is_some_and(str::is_empty) {
        errors.add(
            "summary",
            "is required for a material change: say what changes for people",
        );
    }
    errors.into_result()?;
    Ok((
        policy_diff::normalize_line_ends(&input.markdown),
        summary.unwrap_or_default(),
    ))
}

pub fn create_draft(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    input: &DraftInput,
) -> Result<PolicyVersion, AppError> {
    let (markdown, summary) = check(input)?;
    let now = Utc::now();
    db.write(|tx| {
        render_now(tx, scope, &markdown)?;
        let created_by = caller.actor.label();
        let draft = NewDraft {
            markdown: &markdown,
            material: input.material,
            summary: &summary,
            created_by: &created_by,
        };
        let version = policies::create_draft(tx, scope, &draft, now)?;
        let event = caller
            .event("policy.draft_create", format!("policy:{version}"))
            .detail(serde_json::json!({ "material": input.material, "summary": summary }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok(policies::get(tx, scope, version)?)
    })
}

pub fn update_draft(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    version: i64,
    input: &DraftInput,
) -> Result<PolicyVersion, AppError> {
    let (markdown, summary) = check(input)?;
    let now = Utc::now();
    db.write(|tx| {
        policies::get(tx, scope, version)?;
        render_now(tx, scope, &markdown)?;
        let created_by = caller.actor.label();
        let draft = NewDraft {
            markdown: &markdown,
            material: input.material,
            summary: &summary,
            created_by: &created_by,
        };
        policies::update_draft(tx, scope, version, &draft)?;
        audit::append(
            tx,
            Some(scope),
            &caller.event("policy.draft_update", format!("policy:{version}")),
            now,
        )?;
        Ok(policies::get(tx, scope, version)?)
    })
}

/// Deletes a draft. A published version stays for good (409).
pub fn delete_draft(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    version: i64,
) -> Result<(), AppError> {
    let now = Utc::now();
    db.write(|tx| {
        policies::delete_draft(tx, scope, version)?;
        audit::append(
            tx,
            Some(scope),
            &caller.event("policy.draft_delete", format!("policy:{version}")),
            now,
        )?;
        Ok(())
    })
}

pub fn list(db: &Db, scope: &WorkspaceScope) -> Result<Vec<PolicyVersion>, AppError> {
    Ok(db.read(|c| policies::list(c, scope))?)
}

pub fn get(db: &Db, scope: &WorkspaceScope, version: i64) -> Result<PolicyVersion, AppError> {
    Ok(db.read(|c| policies::get(c, scope, version))?)
}

pub fn current(db: &Db, scope: &WorkspaceScope) -> Result<Option<PolicyVersion>, AppError> {
    Ok(db.read(|c| policies::current(c, scope, Utc::now()))?)
}

/// The rendered Markdown and HTML of a version: frozen for a published one, live for a draft.
pub fn rendered(
    db: &Db,
    scope: &WorkspaceScope,
    v: &PolicyVersion,
) -> Result<(String, String), AppError> {
    match (&v.rendered_markdown, &v.rendered_html) {
        (Some(md), Some(html)) => Ok((md.clone(), html.clone())),
        _ => db.read(|c| render_now(c, scope, &v.markdown).map(|(md, html, _)| (md, html))),
    }
}

/// What changed in the inventory since the policy in force was published; empty when none is
/// published or nothing changed.
pub fn drift(db: &Db, scope: &WorkspaceScope) -> Result<Option<(i64, Vec<DriftChange>)>, AppError> {
    let Some(current) = current(db, scope)? else {
        return Ok(None);
    };
    let published: Inventory = current
        .inventory_snapshot
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let now = db.read(|c| inventory::load(c, scope))?;
    let changes = policy::drift(&published, &now);
    Ok((!changes.is_empty()).then_some((current.version, changes)))
}

/// The versions as they stand at `now`.
pub fn timeline(versions: &[PolicyVersion], now: DateTime<Utc>) -> Timeline {
    Timeline::new(
        versions.iter().map(|v| Dated {
            version: v.version,
            effective_at: v.effective_at.filter(|_| v.published),
        }),
        now,
    )
}

/// Every version, newest first, with its state now.
pub fn list_with_states(
    db: &Db,
    scope: &WorkspaceScope,
) -> Result<Vec<(PolicyVersion, VersionState)>, AppError> {
    let versions = list(db, scope)?;
    let timeline = timeline(&versions, Utc::now());
    Ok(versions
        .into_iter()
        .filter_map(|v| timeline.state(v.version).map(|s| (v, s)))
        .collect())
}

/// One version with its state now.
pub fn get_with_state(
    db: &Db,
    scope: &WorkspaceScope,
    version: i64,
) -> Result<(PolicyVersion, VersionState), AppError> {
    list_with_states(db, scope)?
        .into_iter()
        .find(|(v, _)| v.version == version)
        .ok_or_else(|| AppError::NotFound(format!("policy version {version}")))
}

/// What changed from `older` to `newer`; `older` is `None` when there was nothing before.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PolicyDiff {
    pub older: Option<i64>,
    pub newer: i64,
    pub lines: Vec<DiffLine>,
}

/// The diff of two versions' text as a reader sees it. Without `against`, `newer` is compared
/// with the version in force (or, for the version in force, with the one it replaced); with
/// nothing to compare with, every line is added.
pub fn diff(
    db: &Db,
    scope: &WorkspaceScope,
    newer: i64,
    against: Option<i64>,
) -> Result<PolicyDiff, AppError> {
    let versions = list(db, scope)?;
    let find = |version: i64| {
        versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(|| AppError::NotFound(format!("policy version {version}")))
    };
    let b = find(newer)?;
    let older = match against {
        Some(v) => Some(v),
        None => timeline(&versions, Utc::now()).default_base(newer),
    };
    let a_md = match older {
        Some(v) => rendered(db, scope, find(v)?)?.0,
        None => String::new(),
    };
    let (b_md, _) = rendered(db, scope, b)?;
    Ok(PolicyDiff {
        older,
        newer,
        lines: policy_diff::diff(&a_md, &b_md),
    })
}
