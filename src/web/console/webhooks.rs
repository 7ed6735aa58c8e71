//! A workspace's webhook endpoints: list, add (for policy changes, or bound to one inventory
//! system, for its request tasks; the signing secret is shown once), delete, and the latest
//! deliveries. Everyone who sees the inventory sees the list; owners and privacy officers
//! manage it.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, html, see_other};
use crate::domain::ValidationErrors;
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::outbox as service;
use crate::services::outbox::Endpoint;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    shell: Shell,
    endpoints: Vec<Endpoint>,
    deliveries: Vec<service::Delivery>,
    can_manage: bool,
    /// The endpoint just created and its secret: shown on this one response only.
    created: Option<(Endpoint, String)>,
    errors: ValidationErrors,
    url: String,
    /// The inventory's systems (key, name) an endpoint can be bound to.
    systems: Vec<(String, String)>,
    /// The system chosen in the form ("" for policy changes).
    system: String,
}

async fn render(
    state: &AppState,
    who: &SignedIn,
    slug: &str,
    status: StatusCode,
    fill: impl FnOnce(&mut WebhooksPage),
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(state, slug, Permission::ViewInventory)
        .await?;
    let scope = member.scope;
    let vault = state.vault.clone();
    let (endpoints, deliveries, systems) = state
        .db
        .run(move |db| {
            Ok::<_, AppError>((
                service::list_endpoints(db, &scope)?,
                service::recent_webhook_deliveries(db, &vault, &scope, 20)?,
                crate::services::inventory::load(db, &scope)?.systems,
            ))
        })
        .await?;
    let mut page = WebhooksPage {
        shell: Shell::in_workspace(who, &member, "webhooks"),
        endpoints,
        deliveries,
        can_manage: member.roles.allows(Permission::PublishPolicy),
        created: None,
        errors: ValidationErrors::default(),
        url: String::new(),
        systems: systems.into_iter().map(|s| (s.key, s.name)).collect(),
        system: String::new(),
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

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    url: String,
    /// An inventory system's key, or empty for policy changes.
    #[serde(default)]
    system: String,
}

pub async fn create(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::PublishPolicy)
        .await?;
    who.check_csrf(&form.csrf)?;
    let CreateForm { url, system, .. } = form.into_inner();
    let chosen = system.clone();
    let (caller, scope, u, allow) = (
        who.caller.clone(),
        member.scope,
        url.clone(),
        state.config.webhook_allow_private,
    );
    let vault = state.vault.clone();
    match state
        .db
        .run(move |db| {
            let system = Some(system.as_str()).filter(|s| !s.is_empty());
            service::create_endpoint(db, &vault, &caller, &scope, &u, system, allow)
        })
        .await
    {
        Ok(created) => {
            render(&state, &who, &slug, StatusCode::OK, |p| {
                p.created = Some(created)
            })
            .await
        }
        Err(AppError::Validation(errors)) => {
            render(&state, &who, &slug, StatusCode::UNPROCESSABLE_ENTITY, |p| {
                p.errors = errors;
                p.url = url;
                p.system = chosen;
            })
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, i64)>,
    form: web::Form<super::auth::CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::PublishPolicy)
        .await?;
    who.check_csrf(&form.csrf)?;
    let (caller, scope) = (who.caller.clone(), member.scope);
    state
        .db
        .run(move |db| service::delete_endpoint(db, &caller, &scope, id))
        .await?;
    Ok(see_other(&format!("/console/w/{slug}/webhooks")))
}
