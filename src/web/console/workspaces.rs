//! The dashboard, workspace creation, a workspace's overview and settings, and the permission
//! matrix page.

use super::error::PageError;
use super::incident_clock::{Countdown, countdowns};
use super::session::SignedIn;
use super::{Shell, html, ok, see_other};
use crate::domain::ValidationErrors;
use crate::domain::staff::{Permission, Role, Roles};
use crate::domain::workspace::{Workspace, WorkspaceSettingsInput};
use crate::error::AppError;
use crate::services;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    shell: Shell,
    /// Each workspace with the viewer's roles, the number of unpublished inventory changes and
    /// the number of broken retention claims.
    workspaces: Vec<(Workspace, Roles, usize, usize)>,
    /// Per workspace, in the same order: open and overdue data subject requests, when the
    /// viewer may see requests.
    requests: Vec<Option<(i64, i64)>>,
    /// Per workspace, in the same order: the incidents still awaiting the authority's notice,
    /// most urgent first, when the viewer may see incidents.
    incidents: Vec<Option<Vec<Countdown>>>,
    /// The instance's last backup, for administrators and workspace owners.
    backup: Option<BackupLine>,
}

/// What the dashboard says about backups: one sentence, and whether it is a warning.
struct BackupLine {
    text: String,
    warn: bool,
}

fn backup_line(s: &services::backup::BackupStatus) -> BackupLine {
    use crate::domain::backup::BackupHealth;
    let last = |ago: &Option<String>| ago.clone().unwrap_or_default();
    let (text, warn) = match s.health {
        BackupHealth::Off => (
            "Scheduled backups are off: start Lethe with --backup-dir to make them.".to_owned(),
            false,
        ),
        BackupHealth::Never => (
            "Scheduled backups are on; none was made yet.".to_owned(),
            false,
        ),
        BackupHealth::Fine => (format!("Last backup: {}.", last(&s.ago)), false),
        BackupHealth::Late => (
            format!(
                "Last backup: {}, older than its schedule allows: check that Lethe's backup job runs.",
                last(&s.ago)
            ),
            true,
        ),
        BackupHealth::Failed => (
            format!(
                "The last backup, {}, failed{}. {}",
                last(&s.ago),
                s.last
                    .as_ref()
                    .and_then(|l| l.error.as_ref())
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default(),
                match &s.last_success_ago {
                    Some(a) => format!("The last good one is from {a}."),
                    None => "There is no good one yet.".to_owned(),
                }
            ),
            true,
        ),
    };
    BackupLine { text, warn }
}

impl DashboardPage {
    fn requests_at(&self, i: &usize) -> Option<(i64, i64)> {
        self.requests.get(*i).copied().flatten()
    }

    fn incidents_at(&self, i: &usize) -> Option<&Vec<Countdown>> {
        self.incidents.get(*i).and_then(Option::as_ref)
    }
}

pub async fn dashboard(
    state: web::Data<AppState>,
    who: SignedIn,
) -> Result<HttpResponse, PageError> {
    let id = who.account.id;
    let is_admin = who.account.is_admin;
    let schedule = state.config.backup.as_ref().map(|b| b.schedule.clone());
    let list = state
        .db
        .run(move |db| {
            let (mut out, mut requests, mut incidents) = (Vec::new(), Vec::new(), Vec::new());
            let now = chrono::Utc::now();
            for (scope, ws, role) in services::workspaces::list_for_member(db, id)? {
                requests.push(if role.allows(Permission::ViewRequests) {
                    Some(services::request_desk::counts(db, &scope, now)?)
                } else {
                    None
                });
                incidents.push(if role.allows(Permission::ViewIncidents) {
                    let waiting = services::incident_desk::awaiting_notice(db, &scope, now)?;
                    Some(countdowns(waiting, ws.settings.time_zone, now))
                } else {
                    None
                });
                // How many inventory changes the published policy does not reflect yet.
                let drift = services::policies::drift(db, &scope)?.map_or(0, |(_, d)| d.len());
                let broken = services::retention::broken_claims(db, &scope)?.len();
                out.push((ws, role, drift, broken));
            }
            // Backups are the instance's: shown to administrators and workspace owners.
            let owner = out
                .iter()
                .any(|(_, role, _, _)| role.allows(Permission::EditWorkspace));
            let backup = if is_admin || owner {
                Some(services::backup::status(db, schedule.as_ref(), now)?)
            } else {
                None
            };
            Ok::<_, AppError>((out, requests, incidents, backup))
        })
        .await?;
    ok(&DashboardPage {
        shell: Shell::new(&who, "dashboard"),
        workspaces: list.0,
        requests: list.1,
        incidents: list.2,
        backup: list.3.as_ref().map(backup_line),
    })
}

#[derive(Template)]
#[template(path = "console/permissions.html")]
struct PermissionsPage {
    shell: Shell,
    rows: Vec<(&'static str, Vec<bool>)>,
    roles: Vec<&'static str>,
}

fn describe(p: Permission) -> &'static str {
    match p {
        Permission::ViewWorkspace => "Open the workspace, see its overview and settings",
        Permission::EditWorkspace => {
            "Change settings (contact, DPO, minimum age, deadline, mandatory TOTP)"
        }
        Permission::ViewMembers => "See who is a member, with which roles",
        Permission::ManageMembers => "Invite members, change their roles, remove members",
        Permission::ViewApiKeys => "See API keys (never their secrets)",
        Permission::ManageApiKeys => "Create and revoke API keys",
        Permission::ReadAudit => "Read the audit log and download the evidence pack",
        Permission::ViewInventory => {
            "See the inventory (data categories, purposes, systems, recipients, retention rules, legal holds), retention runs and claims, consent rates per purpose, the outbox and webhook endpoints"
        }
        Permission::EditInventory => "Add, change and delete inventory items",
        Permission::PublishPolicy => {
            "Write and publish privacy policy versions; add and delete webhook endpoints"
        }
        Permission::ViewSubjects => {
            "List the people in the vault (their ids and states, no personal values) and refusals of under-age people"
        }
        Permission::ReadRecords => {
            "Open a person's records or consent history, giving a reason that goes to their access log"
        }
        Permission::ReadRestricted => {
            "Read the records and consent history of a person whose processing is restricted"
        }
        Permission::ManageSubjects => "Restrict processing, lift a restriction, erase a person",
        Permission::RunRetention => "Run retention rules by hand, and dry runs",
        Permission::ViewRequests => {
            "See data subject requests, their deadlines and timelines (the person's address and what they wrote only with the right to read records)"
        }
        Permission::HandleRequests => {
            "Start, complete, deny and extend data subject requests; receive their deadline warnings"
        }
        Permission::ViewIncidents => {
            "See the breach register: incidents, their 72-hour deadlines, affected people counted, timelines and notices"
        }
        Permission::HandleIncidents => {
            "Register and change incidents, decide whether to notify the authority, record notices as sent"
        }
    }
}

pub async fn permissions(who: SignedIn) -> Result<HttpResponse, PageError> {
    let rows = Permission::ALL
        .into_iter()
        .map(|p| {
            (
                describe(p),
                Role::ALL.into_iter().map(|r| r.allows(p)).collect(),
            )
        })
        .collect();
    ok(&PermissionsPage {
        shell: Shell::new(&who, "permissions"),
        rows,
        roles: Role::ALL.into_iter().map(Role::label).collect(),
    })
}

/// The settings form's fields, as typed (so a rejected form comes back as it was sent).
#[derive(Deserialize, Default)]
pub struct SettingsForm {
    #[serde(default)]
    slug: String,
    legal_name: String,
    contact_email: String,
    #[serde(default)]
    dpo_name: String,
    #[serde(default)]
    dpo_email: String,
    min_age: String,
    /// `gdpr` or `ccpa`; absent (an older form): GDPR.
    #[serde(default)]
    request_law: String,
    /// Absent (an older form): the default.
    #[serde(default)]
    notice_days: String,
    /// A checkbox: present ("on") when ticked.
    require_totp: Option<String>,
    /// A checkbox: present ("on") when ticked.
    review_requests: Option<String>,
    /// One origin a line.
    #[serde(default)]
    consent_origins: String,
    #[serde(default)]
    consent_cookie_domain: String,
    /// Absent (an older form): UTC.
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    csrf: String,
}

impl SettingsForm {
    fn input(&self) -> WorkspaceSettingsInput {
        WorkspaceSettingsInput {
            legal_name: self.legal_name.clone(),
            contact_email: self.contact_email.clone(),
            dpo_name: self.dpo_name.clone(),
            dpo_email: self.dpo_email.clone(),
            min_age: self.min_age.clone(),
            request_law: self.request_law.clone(),
            notice_days: self.notice_days.clone(),
            require_totp: self.require_totp.is_some(),
            review_requests: self.review_requests.is_some(),
            consent_origins: self
                .consent_origins
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            consent_cookie_domain: self.consent_cookie_domain.clone(),
            time_zone: self.time_zone.clone(),
        }
    }

    fn from_workspace(w: &Workspace) -> Self {
        let s = &w.settings;
        SettingsForm {
            slug: w.slug.clone(),
            legal_name: s.legal_name.clone(),
            contact_email: s.contact_email.to_string(),
            dpo_name: s.dpo_name.clone(),
            dpo_email: s
                .dpo_email
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            min_age: s.min_age.to_string(),
            request_law: s.request_law.as_str().to_owned(),
            notice_days: s.notice_days.to_string(),
            require_totp: s.require_totp.then(|| "on".to_owned()),
            review_requests: s.review_requests.then(|| "on".to_owned()),
            consent_origins: s.consent_origins.join("\n"),
            consent_cookie_domain: s.consent_cookie_domain.clone().unwrap_or_default(),
            time_zone: s.time_zone.name().to_owned(),
            csrf: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/workspace_form.html")]
struct WorkspaceFormPage {
    shell: Shell,
    creating: bool,
    can_edit: bool,
    form: SettingsForm,
    errors: ValidationErrors,
    saved: bool,
}

fn new_workspace_defaults() -> SettingsForm {
    SettingsForm {
        min_age: "16".into(),
        request_law: "gdpr".into(),
        notice_days: crate::domain::workspace::DEFAULT_NOTICE_DAYS.to_string(),
        time_zone: "UTC".into(),
        ..SettingsForm::default()
    }
}

pub async fn new_form(who: SignedIn) -> Result<HttpResponse, PageError> {
    require_admin(&who)?;
    ok(&WorkspaceFormPage {
        shell: Shell::new(&who, "new-workspace"),
        creating: true,
        can_edit: true,
        form: new_workspace_defaults(),
        errors: ValidationErrors::default(),
        saved: false,
    })
}

fn require_admin(who: &SignedIn) -> Result<(), PageError> {
    if who.account.is_admin {
        Ok(())
    } else {
        Err(
            AppError::Forbidden("Only administrators of this Lethe create workspaces.".into())
                .into(),
        )
    }
}

pub async fn create(
    state: web::Data<AppState>,
    who: SignedIn,
    form: web::Form<SettingsForm>,
) -> Result<HttpResponse, PageError> {
    require_admin(&who)?;
    who.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let (caller, owner, slug, input) = (
        who.caller.clone(),
        who.account.id,
        form.slug.clone(),
        form.input(),
    );
    let outcome = state
        .db
        .run(move |db| services::workspaces::create(db, &caller, owner, &slug, &input))
        .await;
    match outcome {
        Ok(ws) => Ok(see_other(&format!("/console/w/{}/", ws.slug))),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_))) => {
            let errors = match e {
                AppError::Validation(v) => v,
                other => ValidationErrors::single("slug", other.to_string()),
            };
            html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &WorkspaceFormPage {
                    shell: Shell::new(&who, "new-workspace"),
                    creating: true,
                    can_edit: true,
                    form,
                    errors,
                    saved: false,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    shell: Shell,
    workspace: Workspace,
    member_count: usize,
    active_keys: usize,
    /// The policy in force, if any.
    policy_version: Option<i64>,
    /// What changed in the inventory since the policy in force was published.
    drift: Vec<services::policies::DriftChange>,
    /// Retention claims the data breaks.
    broken_claims: Vec<crate::services::retention::ClaimView>,
    /// The incidents awaiting the authority's notice, most urgent first, when the viewer may
    /// see incidents.
    awaiting_notice: Option<Vec<Countdown>>,
}

pub async fn overview(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewWorkspace)
        .await?;
    let scope = member.scope;
    let (zone, now) = (member.workspace.settings.time_zone, chrono::Utc::now());
    let sees_incidents = member.roles.allows(Permission::ViewIncidents);
    let (member_count, active_keys, policy_version, drift, broken_claims, waiting) = state
        .db
        .run(move |db| {
            let m = services::workspaces::members(db, &scope)?.len();
            let k = services::apikeys::list(db, &scope)?
                .iter()
                .filter(|k| k.revoked_at.is_none())
                .count();
            let version = services::policies::current(db, &scope)?.map(|v| v.version);
            let drift = services::policies::drift(db, &scope)?
                .map(|(_, d)| d)
                .unwrap_or_default();
            let broken = services::retention::broken_claims(db, &scope)?;
            let waiting = if sees_incidents {
                Some(services::incident_desk::awaiting_notice(db, &scope, now)?)
            } else {
                None
            };
            Ok::<_, AppError>((m, k, version, drift, broken, waiting))
        })
        .await?;
    ok(&OverviewPage {
        shell: Shell::in_workspace(&who, &member, "overview"),
        workspace: member.workspace,
        member_count,
        active_keys,
        policy_version,
        drift,
        broken_claims,
        awaiting_notice: waiting.map(|w| countdowns(w, zone, now)),
    })
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn settings_form(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewWorkspace)
        .await?;
    ok(&WorkspaceFormPage {
        shell: Shell::in_workspace(&who, &member, "settings"),
        creating: false,
        can_edit: member.roles.allows(Permission::EditWorkspace),
        form: SettingsForm::from_workspace(&member.workspace),
        errors: ValidationErrors::default(),
        saved: query.saved.is_some(),
    })
}

pub async fn update_settings(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<SettingsForm>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::EditWorkspace)
        .await?;
    who.check_csrf(&form.csrf)?;
    let mut form = form.into_inner();
    let (caller, scope, input) = (who.caller.clone(), member.scope, form.input());
    let outcome = state
        .db
        .run(move |db| services::workspaces::update(db, &caller, &scope, &input))
        .await;
    match outcome {
        Ok(ws) => Ok(see_other(&format!(
            "/console/w/{}/settings?saved=1",
            ws.slug
        ))),
        Err(AppError::Validation(errors)) => {
            form.slug = member.workspace.slug.clone();
            html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &WorkspaceFormPage {
                    shell: Shell::in_workspace(&who, &member, "settings"),
                    creating: false,
                    can_edit: true,
                    form,
                    errors,
                    saved: false,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}
