//! The workspace's privacy policy in the console: versions, drafts with a live preview,
//! publication with an effective date, diffs, and the drift warning.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, html, ok, see_other};
use crate::domain::ValidationErrors;
use crate::domain::policy::{DEFAULT_TEMPLATE, DiffLine};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::policies::{self as service, DraftInput};
use crate::store::policies::PolicyVersion;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use serde::Deserialize;

#[derive(Template)]
#[template(path = "console/policy_list.html")]
struct ListPage {
    shell: Shell,
    versions: Vec<PolicyVersion>,
    current: Option<i64>,
    drift: Option<(i64, Vec<String>)>,
    can_edit: bool,
}

impl ListPage {
    fn is_current(&self, version: &i64) -> bool {
        self.current == Some(*version)
    }
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
    let (versions, current, drift) = state
        .db
        .run(move |db| {
            Ok::<_, AppError>((
                service::list(db, &scope)?,
                service::current(db, &scope)?.map(|v| v.version),
                service::drift(db, &scope)?,
            ))
        })
        .await?;
    ok(&ListPage {
        can_edit: member.role.allows(Permission::PublishPolicy),
        shell: Shell::in_workspace(&who, &member, "policy"),
        versions,
        current,
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
    let (v, preview) = state
        .db
        .run(move |db| {
            let v = service::get(db, &scope, version)?;
            // A draft whose template no longer renders (an item it names was deleted) still opens.
            let preview = service::rendered(db, &scope, &v)
                .map(|(_, html)| html)
                .unwrap_or_default();
            Ok::<_, AppError>((v, preview))
        })
        .await?;
    let mut page = VersionPage {
        shell: Shell::in_workspace(who, &member, "policy"),
        markdown: v.markdown.clone(),
        material: v.material,
        summary: v.summary.clone(),
        preview_html: preview,
        errors: ValidationErrors::default(),
        can_edit: member.role.allows(Permission::PublishPolicy) && !v.published,
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

#[derive(Template)]
#[template(path = "console/policy_diff.html")]
struct DiffPage {
    shell: Shell,
    older: i64,
    newer: i64,
    lines: Vec<DiffLine>,
}

#[derive(Deserialize)]
pub struct DiffQuery {
    against: Option<i64>,
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
    let older = query.against.unwrap_or(newer - 1);
    let scope = member.scope;
    let lines = state
        .db
        .run(move |db| service::diff(db, &scope, older, newer))
        .await?;
    ok(&DiffPage {
        shell: Shell::in_workspace(&who, &member, "policy"),
        older,
        newer,
        lines,
    })
}
