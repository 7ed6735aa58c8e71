//! Retention in the console: every rule with what it does, its next runs, its last run and its
//! claim; runs and dry runs started by hand; the run history and one run's page; and, for
//! instance administrators, the rules over Lethe's own data.

use super::error::PageError;
use super::inventory::choice::Choice;
use super::session::SignedIn;
use super::{Shell, html, ok, see_other};
use crate::domain::retention::{OwnData, OwnDataRule};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::inventory::{self, Names};
use crate::services::retention::{self, DryRunReport, RuleStatus, RunView};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

const HISTORY: u32 = 50;

#[derive(Template)]
#[template(path = "console/retention.html")]
struct RetentionPage {
    shell: Shell,
    rules: Vec<RuleStatus>,
    history: Vec<RunView>,
    own: Vec<OwnDataRule>,
    /// The inventory's names, for each rule's category and the history's rules.
    names: Names,
    can_run: bool,
    can_edit: bool,
    notice: Option<String>,
    error: Option<String>,
}

impl RetentionPage {
    fn broken(&self) -> Vec<&RuleStatus> {
        self.rules
            .iter()
            .filter(|r| r.last_check.as_ref().is_some_and(|c| !c.passed))
            .collect()
    }

    fn own_label(&self, t: &OwnData) -> &'static str {
        t.label()
    }

    fn transform_lines(&self, transforms: &[crate::domain::transform::Transform]) -> String {
        crate::domain::transform::to_lines(transforms).replace('\n', "; ")
    }
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    saved: Option<String>,
    started: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner();
    let notice = match (q.saved, q.started) {
        (Some(key), _) => Some(format!(
            "Rule '{key}' saved. Its next runs are listed below."
        )),
        (_, Some(n)) => Some(format!(
            "Started {n} run(s). They work in the background; reload to follow them."
        )),
        _ => None,
    };
    render(&state, &who, &slug, StatusCode::OK, notice, None).await
}

async fn render(
    state: &AppState,
    who: &SignedIn,
    slug: &str,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(state, slug, Permission::ViewInventory)
        .await?;
    let scope = member.scope;
    let (rules, history, own, names) = state
        .db
        .run(move |db| {
            Ok::<_, AppError>((
                retention::rule_statuses(db, &scope, chrono::Utc::now())?,
                retention::list_runs(db, &scope, None, HISTORY)?,
                retention::own_data_rules(db)?,
                inventory::names(db, &scope)?,
            ))
        })
        .await?;
    html(
        status,
        &RetentionPage {
            shell: Shell::in_workspace(who, &member, "retention"),
            rules,
            history,
            own,
            names,
            can_run: member.roles.allows(Permission::RunRetention),
            can_edit: member.roles.allows(Permission::EditInventory),
            notice,
            error,
        },
    )
}

#[derive(Deserialize)]
pub struct RunForm {
    csrf: String,
    /// One rule; every enabled rule when empty.
    #[serde(default)]
    rule: String,
}

/// Starts runs by hand; they go on in the background after the redirect.
pub async fn run(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<RunForm>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::RunRetention)
        .await?;
    who.check_csrf(&form.csrf)?;
    let (scope, caller, vault) = (member.scope, who.caller.clone(), state.vault.clone());
    let (batch, stop) = (state.config.retention_batch_size, state.stop.clone());
    let live = state.writer.stats.clone();
    let rule = Some(form.rule.trim().to_owned()).filter(|r| !r.is_empty());
    let started = state
        .db
        .run(move |db| {
            retention::start_in_background(
                db,
                &vault,
                &scope,
                &caller,
                rule.as_deref(),
                batch,
                Some(live),
                std::sync::Arc::new(move || stop.is_set()),
            )
        })
        .await;
    match started {
        Ok(runs) => Ok(see_other(&format!(
            "/console/w/{}/retention?started={}#history",
            member.workspace.slug,
            runs.len()
        ))),
        Err(AppError::Conflict(message)) => {
            render(
                &state,
                &who,
                &slug,
                StatusCode::CONFLICT,
                None,
                Some(message),
            )
            .await
        }
        Err(AppError::Validation(v)) => {
            let message = v.summary();
            render(
                &state,
                &who,
                &slug,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(message),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "console/retention_dry_run.html")]
struct DryRunPage {
    shell: Shell,
    reports: Vec<DryRunReport>,
    names: Names,
}

impl DryRunPage {
    fn json(&self, fields: &serde_json::Map<String, serde_json::Value>) -> String {
        serde_json::Value::Object(fields.clone()).to_string()
    }
}

/// What a rule (or every enabled rule) would do now; nothing changes.
pub async fn dry_run(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<RunForm>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::RunRetention)
        .await?;
    who.check_csrf(&form.csrf)?;
    let (scope, caller, vault) = (member.scope, who.caller.clone(), state.vault.clone());
    let rule = Some(form.rule.trim().to_owned()).filter(|r| !r.is_empty());
    let (reports, names) = state
        .db
        .run(move |db| {
            let now = chrono::Utc::now();
            let reports = retention::rules_to_run(db, &scope, rule.as_deref())?
                .iter()
                .map(|r| retention::dry_run(db, &vault, &scope, &caller, r, now))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, AppError>((reports, inventory::names(db, &scope)?))
        })
        .await?;
    // Masked, but drawn from personal data: not for any cache.
    Ok(super::subjects::no_store(ok(&DryRunPage {
        shell: Shell::in_workspace(&who, &member, "retention"),
        reports,
        names,
    })?))
}

#[derive(Template)]
#[template(path = "console/retention_run.html")]
struct RunPage {
    shell: Shell,
    run: RunView,
    names: Names,
}

pub async fn show_run(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ViewInventory)
        .await?;
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::NotFound(format!("retention run '{id}'")))?;
    let scope = member.scope;
    let (run, names) = state
        .db
        .run(move |db| {
            Ok::<_, AppError>((
                retention::get_run(db, &scope, id)?,
                inventory::names(db, &scope)?,
            ))
        })
        .await?;
    ok(&RunPage {
        shell: Shell::in_workspace(&who, &member, "retention"),
        run,
        names,
    })
}

#[derive(Template)]
#[template(path = "console/own_data.html")]
struct OwnDataPage {
    shell: Shell,
    rules: Vec<OwnDataRule>,
    saved: bool,
    error: Option<String>,
}

impl OwnDataPage {
    fn own_label(&self, t: &OwnData) -> &'static str {
        t.label()
    }
}

fn require_admin(who: &SignedIn) -> Result<(), PageError> {
    if who.account.is_admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Only instance administrators change how long Lethe keeps its own data.".into(),
        )
        .into())
    }
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// Lethe's own data under rules (instance-wide; administrators only).
pub async fn own_data(
    state: web::Data<AppState>,
    who: SignedIn,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    require_admin(&who)?;
    let rules = state.db.run(retention::own_data_rules).await?;
    ok(&OwnDataPage {
        shell: Shell::new(&who, "own-data"),
        rules,
        saved: query.saved.is_some(),
        error: None,
    })
}

/// The form: for each target `<target>_days` and a `<target>_enabled` box.
pub async fn save_own_data(
    state: web::Data<AppState>,
    who: SignedIn,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    require_admin(&who)?;
    let pairs = form.into_inner();
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    who.check_csrf(csrf)?;
    let field = |name: String| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v);
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for target in OwnData::ALL {
        let Some(days) = field(format!("{}_days", target.key())) else {
            continue;
        };
        match days.trim().parse::<u32>() {
            Ok(days) if days <= 36_500 => rules.push(OwnDataRule {
                target,
                days,
                enabled: field(format!("{}_enabled", target.key())).is_some(),
            }),
            _ => problems.push(format!(
                "{}: give a whole number of days from 0 to 36500",
                target.label()
            )),
        }
    }
    if !problems.is_empty() {
        let current = state.db.run(retention::own_data_rules).await?;
        let page = OwnDataPage {
            shell: Shell::new(&who, "own-data"),
            rules: current,
            saved: false,
            error: Some(problems.join("; ")),
        };
        return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let caller = who.caller.clone();
    state
        .db
        .run(move |db| {
            for rule in &rules {
                retention::set_own_data_rule(db, &caller, rule)?;
            }
            Ok::<_, AppError>(())
        })
        .await?;
    Ok(see_other("/console/retention/lethe?saved=1"))
}
