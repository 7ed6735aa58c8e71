//! Importing a fideslang document in the console, in two steps: the document is pasted and
//! previewed (what would be created, replaced, left unchanged, left untouched; nothing written),
//! then confirmed. The confirmation carries the document back in a hidden field, with a
//! fingerprint of the inventory it was previewed against: if the inventory changed meanwhile,
//! the preview is shown again instead of importing.

use super::super::error::PageError;
use super::super::session::SignedIn;
use super::super::{Shell, html, see_other};
use super::overview_url;
use crate::domain::ValidationErrors;
use crate::domain::fideslang;
use crate::domain::import_plan::ImportPlan;
use crate::domain::inventory::Inventory;
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::inventory as service;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "console/inventory_import.html")]
struct ImportPage {
    shell: Shell,
    /// The document as pasted.
    document: String,
    /// What it would do, once it passed every check.
    plan: Option<Box<ImportPlan>>,
    /// The inventory the plan was made against (see [`fingerprint`]).
    seen: String,
    /// Why the document cannot be imported: (place, message).
    errors: Vec<(String, String)>,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    document: String,
    /// The fingerprint of the inventory the preview was made against.
    #[serde(default)]
    seen: String,
    #[serde(default)]
    csrf: String,
}

/// A digest of the inventory, to tell at confirmation whether it is still the one previewed.
fn fingerprint(inv: &Inventory) -> String {
    crate::crypto::sha256_hex(serde_json::to_vec(inv).unwrap_or_default())
}

enum Checked {
    /// The plan, and the fingerprint of the inventory it was made against.
    Plan(Box<ImportPlan>, String),
    Refused(ValidationErrors),
}

/// Reads the document and plans its import against the workspace's inventory now.
async fn check(
    state: &AppState,
    scope: crate::services::WorkspaceScope,
    document: &str,
) -> Result<Checked, PageError> {
    let doc = match fideslang::parse(document) {
        Err(malformed) => {
            return Ok(Checked::Refused(ValidationErrors::single(
                "document",
                malformed.to_string(),
            )));
        }
        Ok(Err(errors)) => return Ok(Checked::Refused(errors)),
        Ok(Ok(doc)) => doc,
    };
    let planned = state
        .db
        .run(move |db| {
            let existing = service::load(db, &scope)?;
            let seen = fingerprint(&existing);
            let incoming = fideslang::to_inventory(doc, &existing)?;
            Ok::<_, AppError>((service::preview_import(db, &scope, incoming)?, seen))
        })
        .await;
    match planned {
        Ok((plan, seen)) => Ok(Checked::Plan(Box::new(plan), seen)),
        Err(AppError::Validation(errors)) => Ok(Checked::Refused(errors)),
        Err(e) => Err(e.into()),
    }
}

fn page(
    who: &SignedIn,
    member: &super::MemberOf,
    document: String,
    checked: Option<Checked>,
) -> ImportPage {
    let (plan, seen, errors) = match checked {
        None => (None, String::new(), Vec::new()),
        Some(Checked::Plan(plan, seen)) => (Some(plan), seen, Vec::new()),
        Some(Checked::Refused(errors)) => (
            None,
            String::new(),
            errors.0.into_iter().map(|e| (e.field, e.message)).collect(),
        ),
    };
    ImportPage {
        shell: Shell::in_workspace(who, member, "inventory"),
        document,
        plan,
        seen,
        errors,
        notice: None,
    }
}

/// The form to paste a document into.
pub async fn form(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::EditInventory)
        .await?;
    html(StatusCode::OK, &page(&who, &member, String::new(), None))
}

/// What the document would do; nothing is written.
pub async fn preview(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<ImportForm>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::EditInventory)
        .await?;
    who.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let checked = check(&state, member.scope, &form.document).await?;
    let status = match checked {
        Checked::Plan(..) => StatusCode::OK,
        Checked::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    html(status, &page(&who, &member, form.document, Some(checked)))
}

/// Imports the previewed document, unless the inventory changed since the preview.
pub async fn confirm(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<ImportForm>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::EditInventory)
        .await?;
    who.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let checked = check(&state, member.scope, &form.document).await?;
    let (plan, seen) = match checked {
        Checked::Plan(plan, seen) => (plan, seen),
        refused @ Checked::Refused(_) => {
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page(&who, &member, form.document, Some(refused)),
            );
        }
    };
    if seen != form.seen {
        let mut again = page(
            &who,
            &member,
            form.document,
            Some(Checked::Plan(plan, seen)),
        );
        again.notice = Some(
            "The inventory changed since this document was previewed. Here is what it would do now; confirm again to import."
                .into(),
        );
        return html(StatusCode::CONFLICT, &again);
    }
    let (scope, caller) = (member.scope, who.caller.clone());
    let document = form.document.clone();
    let outcome = state
        .db
        .run(move |db| {
            let doc =
                fideslang::parse(&document).map_err(|e| AppError::BadRequest(e.to_string()))??;
            let existing = service::load(db, &scope)?;
            let incoming = fideslang::to_inventory(doc, &existing)?;
            service::import(db, &caller, &scope, incoming)
        })
        .await;
    match outcome {
        Ok(_) => Ok(see_other(&format!(
            "{}?done=imported",
            overview_url(member.workspace.slug.as_str())
        ))),
        Err(AppError::Validation(errors)) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(&who, &member, form.document, Some(Checked::Refused(errors))),
        ),
        Err(e) => Err(e.into()),
    }
}
