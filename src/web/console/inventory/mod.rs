//! A workspace's inventory in the console: an overview (counts and the inventory check), one
//! page per kind of item (`/inventory/{kind}`), and a form per item (`/inventory/{kind}/new`,
//! `/inventory/{kind}/{key}`, in `edit.rs`) that saves through the same use cases as the API.

pub mod choice;
pub mod edit;
pub mod fields;
pub mod form;
pub mod import;
pub mod lists;

use super::error::PageError;
use super::session::{MemberOf, SignedIn};
use super::{Shell, html, see_other};
use crate::domain::inventory::{Inventory, InventoryKind};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::inventory as service;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use lists::{OverviewPage, SectionPage};
use serde::Deserialize;

pub use edit::{create, edit_form, new_form, update};

const KINDS: [InventoryKind; 6] = [
    InventoryKind::Categories,
    InventoryKind::Purposes,
    InventoryKind::Systems,
    InventoryKind::Recipients,
    InventoryKind::RetentionRules,
    InventoryKind::LegalHolds,
];

/// The kind named by a path segment (`retention-rules`); anything else is no page.
fn kind_of(segment: &str) -> Result<InventoryKind, PageError> {
    KINDS
        .into_iter()
        .find(|k| k.segment() == segment)
        .ok_or_else(|| AppError::NotFound(format!("inventory section '{segment}'")).into())
}

/// Calls `$f::<T>(args)` with the item type of `$kind`.
macro_rules! by_kind {
    ($kind:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $kind {
            InventoryKind::Categories => $f::<DataCategory>($($arg),*).await,
            InventoryKind::Purposes => $f::<Purpose>($($arg),*).await,
            InventoryKind::Systems => $f::<System>($($arg),*).await,
            InventoryKind::Recipients => $f::<Recipient>($($arg),*).await,
            InventoryKind::RetentionRules => $f::<RetentionRule>($($arg),*).await,
            InventoryKind::LegalHolds => $f::<LegalHold>($($arg),*).await,
        }
    };
}
pub(crate) use by_kind;

async fn load(state: &AppState, member: &MemberOf) -> Result<Inventory, PageError> {
    let scope = member.scope;
    Ok(state.db.run(move |db| service::load(db, &scope)).await?)
}

fn overview_url(slug: &str) -> String {
    format!("/console/w/{slug}/inventory")
}

/// The page listing one kind of item, e.g. `/console/w/aulm/inventory/retention-rules`.
fn section_url(slug: &str, kind: InventoryKind) -> String {
    format!("/console/w/{slug}/inventory/{}", kind.segment())
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// Only known results become a notice: the query string is not echoed.
fn notice_of(query: &DoneQuery) -> Option<String> {
    match query.done.as_deref() {
        Some("saved") => Some("Saved.".to_owned()),
        Some("deleted") => Some("Deleted.".to_owned()),
        Some("imported") => Some("Imported.".to_owned()),
        _ => None,
    }
}

/// `/inventory`: how many items of each kind, and what the inventory check finds.
pub async fn overview(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewInventory)
        .await?;
    let inv = load(&state, &member).await?;
    let findings = crate::domain::inventory_check::check(&inv);
    html(
        StatusCode::OK,
        &OverviewPage {
            shell: Shell::in_workspace(&who, &member, "inventory"),
            tabs: lists::tabs(&inv),
            current: "",
            findings,
            can_edit: member.roles.allows(Permission::EditInventory),
            error: None,
            notice: notice_of(&query),
        },
    )
}

/// `/inventory/{kind}`: the items of one kind, by name.
pub async fn section(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let (slug, segment) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ViewInventory)
        .await?;
    let kind = kind_of(&segment)?;
    let notice = notice_of(&query);
    render_section(&state, &who, &member, kind, StatusCode::OK, None, notice).await
}

async fn render_section(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
    kind: InventoryKind,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Result<HttpResponse, PageError> {
    let inv = load(state, member).await?;
    html(
        status,
        &SectionPage {
            shell: Shell::in_workspace(who, member, "inventory"),
            tabs: lists::tabs(&inv),
            current: kind.segment(),
            heading: lists::kind_label(kind),
            inv,
            can_edit: member.roles.allows(Permission::EditInventory),
            error,
            notice,
        },
    )
}

pub async fn delete(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String, String)>,
    form: web::Form<super::auth::CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, segment, key) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::EditInventory)
        .await?;
    let kind = kind_of(&segment)?;
    who.check_csrf(&form.csrf)?;
    let (caller, scope) = (who.caller.clone(), member.scope);
    let outcome = state
        .db
        .run(move |db| service::delete(db, &caller, &scope, kind, &key))
        .await;
    match outcome {
        Ok(()) => Ok(see_other(&format!(
            "{}?done=deleted",
            section_url(&slug, kind)
        ))),
        Err(e @ AppError::Conflict(_)) => {
            let message = format!("Nothing was deleted: the {e}.");
            render_section(
                &state,
                &who,
                &member,
                kind,
                StatusCode::CONFLICT,
                Some(message),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Records of processing (GDPR Art. 30) as a CSV download.
pub async fn ropa_csv(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewInventory)
        .await?;
    let scope = member.scope;
    let inventory = state
        .db
        .run(move |db| crate::services::inventory::load(db, &scope))
        .await?;
    let records = crate::domain::ropa::build(&member.workspace, &inventory, chrono::Utc::now());
    let csv = crate::domain::ropa::to_csv(&records).map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"ropa-{}.csv\"",
                member.workspace.slug
            ),
        ))
        .body(csv))
}
