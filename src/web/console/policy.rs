//! The workspace's privacy policy in the console: versions, drafts with a live preview,
//! publication with an effective date, deleting drafts, diffs, and the drift warning.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, html, ok, see_other};
use crate::domain::ValidationErrors;
use crate::domain::policy::DEFAULT_TEMPLATE;
use crate::domain::policy_diff::Change;
use crate::domain::policy_timeline::VersionState;
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::policies::PolicyVersion;
use crate::services::policies::{self as service, DraftInput, PolicyDiff};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "console/policy_list.html")]
struct ListPage {
    shell: Shell,
    versions: Vec<ListedVersion>,
    drift: Option<(i64, Vec<service::DriftChange>)>,
    can_edit: bool,
}

struct ListedVersion {
    version: PolicyVersion,
    state: VersionState,
    /// What its changes are read against by default.
    base: Option<i64>,
}

pub async fn list(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewInventory)
        .await?;
    let scope = member.scope;
    let (versions, drift) = state
        .db
        .run(move |db| {
            let versions = service::list(db, &scope)?;
            let timeline = service::timeline(&versions, Utc::now());
            let listed = versions
                .into_iter()
                .filter_map(|version| {
                    let state = timeline.state(version.version)?;
                    let base = timeline.default_base(version.version);
                    Some(ListedVersion {
                        version,
                        state,
                        base,
                    })
                })
                .collect::<Vec<_>>();
            Ok::<_, AppError>((listed, service::drift(db, &scope)?))
        })
        .await?;
    ok(&ListPage {
        can_edit: member.roles.allows(Permission::PublishPolicy),
        shell: Shell::in_workspace(&who, &member, "policy"),
        versions,
        drift,
    })
}

/// Starts a draft from the newest version's text (or the default template).
pub async fn new_draft(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<super::auth::CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::PublishPolicy)
        .await?;
    who.check_csrf(&form.csrf)?;
    let (scope, caller) = (member.scope, who.caller.clone());
    let draft = state
        .db
        .run(move |db| {
            let markdown = service::list(db, &scope)?
                .first()
                .map_or_else(|| DEFAULT_TEMPLATE.to_owned(), |v| v.markdown.clone());
            let input = DraftInput {
                markdown,
                material: false,
                summary: String::new(),
            };
            service::create_draft(db, &caller, &scope, &input)
        })
        .await?;
    Ok(see_other(&format!(
        "/console/w/{slug}/policy/{}",
        draft.version
    )))
}

#[derive(Template)]
#[template(path = "console/policy_version.html")]
struct VersionPage {
    shell: Shell,
    version: PolicyVersion,
    state: VersionState,
    /// The text as typed (a rejected edit comes back as it was sent).
    markdown: String,
    material: bool,
    summary: String,
    preview_html: String,
    errors: ValidationErrors,
    can_edit: bool,
}

async fn version_page(
    state: &AppState,
    who: &SignedIn,
    slug: &str,
    version: i64,
    status: StatusCode,
    fill: impl FnOnce(&mut VersionPage),
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(state, slug, Permission::ViewInventory)
        .await?;
    let scope = member.scope;
    let (v, version_state, preview) = state
        .db
        .run(move |db| {
            let (v, version_state) = service::get_with_state(db, &scope, version)?;
            // A draft whose template no longer renders (an item it names was deleted) still opens.
            let preview = service::rendered(db, &scope, &v)
                .map(|(_, html)| html)
                .unwrap_or_default();
            Ok::<_, AppError>((v, version_state, preview))
        })
        .await?;
    let mut page = VersionPage {
        shell: Shell::in_workspace(who, &member, "policy"),
        markdown: v.markdown.clone(),
        material: v.material,
        summary: v.summary.clone(),
        preview_html: preview,
        errors: ValidationErrors::default(),
        can_edit: member.roles.allows(Permission::PublishPolicy) && !v.published,
        state: version_state,
        version: v,
    };
    fill(&mut page);
    html(status, &page)
}

pub async fn show(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, PageError> {
    let (slug, version) = path.into_inner();
    version_page(&state, &who, &slug, version, StatusCode::OK, |_| {}).await
}

#[derive(Deserialize)]
pub struct DraftForm {
    markdown: String,
    material: Option<String>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    csrf: String,
}

pub async fn save(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, i64)>,
    form: web::Form<DraftForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, version) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::PublishPolicy)
        .await?;
    who.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let input = DraftInput {
        markdown: form.markdown.clone(),
        material: form.material.is_some(),
        summary: form.summary.clone(),
    };
    let (scope, caller) = (member.scope, who.caller.clone());
    let outcome = state
        .db
        .run(move |db| service::update_draft(db, &caller, &scope, version, &input))
        .await;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/console/w/{slug}/policy/{version}"))),
        Err(AppError::Validation(errors)) => {
            version_page(
                &state,
                &who,
                &slug,
                version,
                StatusCode::UNPROCESSABLE_ENTITY,
                |p| {
                    p.markdown = form.markdown;
                    p.material = form.material.is_some();
                    p.summary = form.summary;
                    p.errors = errors;
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes a draft (a published version stays: 409) and goes back to the list.
pub async fn delete(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, i64)>,
    form: web::Form<super::auth::CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, version) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::PublishPolicy)
        .await?;
    who.check_csrf(&form.csrf)?;
    let (scope, caller) = (member.scope, who.caller.clone());
    state
        .db
        .run(move |db| service::delete_draft(db, &caller, &scope, version))
        .await?;
    Ok(see_other(&format!("/console/w/{slug}/policy")))
}

#[derive(Template)]
#[template(path = "console/policy_diff.html")]
struct DiffPage {
    shell: Shell,
    diff: PolicyDiff,
    /// Every version, newest first, with its state: to pick another pair.
    versions: Vec<(i64, VersionState)>,
}

impl DiffPage {
    fn is_older(&self, version: &i64) -> bool {
        self.diff.older == Some(*version)
    }
}

#[derive(Deserialize)]
pub struct DiffQuery {
    /// Empty (the chooser's default) is no choice.
    #[serde(default, deserialize_with = "empty_is_none")]
    against: Option<i64>,
}

fn empty_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let raw = Option::<String>::deserialize(d)?.unwrap_or_default();
    match raw.trim() {
        "" => Ok(None),
        n => n.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

pub async fn diff(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, i64)>,
    query: web::Query<DiffQuery>,
) -> Result<HttpResponse, PageError> {
    let (slug, newer) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ViewInventory)
        .await?;
    let against = query.against;
    let scope = member.scope;
    let (diff, versions) = state
        .db
        .run(move |db| {
            let versions = service::list_with_states(db, &scope)?
                .into_iter()
                .map(|(v, s)| (v.version, s))
                .collect();
            Ok::<_, AppError>((service::diff(db, &scope, newer, against)?, versions))
        })
        .await?;
    ok(&DiffPage {
        shell: Shell::in_workspace(&who, &member, "policy"),
        diff,
        versions,
    })
}
