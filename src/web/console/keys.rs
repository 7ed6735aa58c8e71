//! A workspace's API keys: list, create (the secret is shown once), revoke.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, html, see_other};
use crate::domain::ValidationErrors;
use crate::domain::apikey::Scope;
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services;
use crate::services::apikeys::ApiKeyInfo;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    shell: Shell,
    keys: Vec<ApiKeyInfo>,
    scopes: [Scope; 14],
    can_manage: bool,
    /// The secret of a key just created: shown on this one response only.
    created: Option<(ApiKeyInfo, String)>,
    errors: ValidationErrors,
    name: String,
    checked: Vec<String>,
}

impl KeysPage {
    fn is_checked(&self, scope: &str) -> bool {
        self.checked.iter().any(|c| c == scope)
    }
}

async fn render(
    state: &AppState,
    who: &SignedIn,
    slug: &str,
    status: StatusCode,
    fill: impl FnOnce(&mut KeysPage),
) -> Result<HttpResponse, PageError> {
    let member = who.workspace(state, slug, Permission::ViewApiKeys).await?;
    let scope = member.scope;
    let keys = state
        .db
        .run(move |db| services::apikeys::list(db, &scope))
        .await?;
    let mut page = KeysPage {
        shell: Shell::in_workspace(who, &member, "keys"),
        keys,
        scopes: Scope::ALL,
        can_manage: member.roles.allows(Permission::ManageApiKeys),
        created: None,
        errors: ValidationErrors::default(),
        name: String::new(),
        checked: Vec::new(),
    };
    fill(&mut page);
    html(status, &page)
}

pub async fn list(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    render(&state, &who, &slug, StatusCode::OK, |_| {}).await
}

/// The form has one checkbox per scope, all named `scope`, so it is read as a list of pairs.
pub async fn create(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ManageApiKeys)
        .await?;
    let pairs = form.into_inner();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    who.check_csrf(&field("csrf"))?;
    let name = field("name");
    let checked: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let (caller, scope, n, s) = (
        who.caller.clone(),
        member.scope,
        name.clone(),
        checked.clone(),
    );
    let outcome = state
        .db
        .run(move |db| {
            services::apikeys::create(db, &caller, &scope, &n, s.iter().map(String::as_str))
        })
        .await;
    match outcome {
        Ok(created) => {
            render(&state, &who, &slug, StatusCode::OK, |p| {
                p.created = Some((created.info, created.secret));
            })
            .await
        }
        Err(AppError::Validation(errors)) => {
            render(&state, &who, &slug, StatusCode::UNPROCESSABLE_ENTITY, |p| {
                p.errors = errors;
                p.name = name;
                p.checked = checked;
            })
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<super::auth::CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ManageApiKeys)
        .await?;
    who.check_csrf(&form.csrf)?;
    let (caller, scope, keys) = (who.caller.clone(), member.scope, state.api_keys.clone());
    state
        .db
        .run(move |db| services::apikeys::revoke(db, &keys, &caller, &scope, &id))
        .await?;
    Ok(see_other(&format!("/console/w/{slug}/keys")))
}
