//! A workspace's inventory in the console: one overview of every kind of item, and a form per
//! item (`/inventory/{kind}/new`, `/inventory/{kind}/{key}`) that saves through the same use
//! cases as the API.

pub mod choice;
pub mod fields;
pub mod form;
pub mod import;

use super::error::PageError;
use super::session::{MemberOf, SignedIn};
use super::{Shell, html, see_other};
use crate::domain::ValidationErrors;
use crate::domain::inventory::{
    DataCategory, FieldSpec, Inventory, InventoryKind, LegalHold, Purpose, Recipient,
    RetentionRule, System,
};
use crate::domain::inventory_check::{Finding, Severity};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::inventory as service;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use choice::{Choice, Options};
use form::{FormItem, Values};
use serde::Deserialize;

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

async fn load(state: &AppState, member: &MemberOf) -> Result<Inventory, PageError> {
    let scope = member.scope;
    Ok(state.db.run(move |db| service::load(db, &scope)).await?)
}

fn overview_url(slug: &str) -> String {
    format!("/console/w/{slug}/inventory")
}

// ---------------------------------------------------------------------------------------------
// The overview

#[derive(Template)]
#[template(path = "console/inventory.html")]
struct InventoryPage {
    shell: Shell,
    inv: Inventory,
    /// What the inventory check finds: errors block publication, warnings need a confirmation.
    findings: Vec<Finding>,
    can_edit: bool,
    /// Why the last change was refused (a category still in use).
    error: Option<String>,
    notice: Option<String>,
}

impl InventoryPage {
    fn field(&self, f: &FieldSpec) -> String {
        match f.preview_chars {
            Some(n) => format!("{} ({}, {n} characters)", f.name, f.handling.label()),
            None => format!("{} ({})", f.name, f.handling.label()),
        }
    }

    fn period(&self, r: &RetentionRule) -> String {
        match r.days {
            0 => format!("at once {}", r.trigger.label()),
            1 => format!("1 day {}", r.trigger.label()),
            n => format!("{n} days {}", r.trigger.label()),
        }
    }

    /// What an anonymize rule does, in words.
    fn transforms(&self, r: &RetentionRule) -> String {
        crate::domain::retention::transforms_text(&r.transforms)
    }

    /// The safeguard as the policy states it (derived from the country within the EEA).
    fn transfer(&self, r: &crate::domain::inventory::Recipient) -> String {
        crate::domain::transfer::safeguard_text(&r.country, r.safeguard, r.derogation.as_deref())
    }

    fn is_error(&self, f: &Finding) -> bool {
        f.severity == Severity::Error
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The name of a category, for the title of its key.
    fn category_name(&self, key: &str) -> String {
        self.inv
            .categories
            .iter()
            .find(|c| c.key == key)
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }
}

async fn render_overview(
    state: &AppState,
    who: &SignedIn,
    slug: &str,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(state, slug, Permission::ViewInventory)
        .await?;
    let inv = load(state, &member).await?;
    let findings = crate::domain::inventory_check::check(&inv);
    html(
        status,
        &InventoryPage {
            shell: Shell::in_workspace(who, &member, "inventory"),
            inv,
            findings,
            can_edit: member.roles.allows(Permission::EditInventory),
            error,
            notice,
        },
    )
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn overview(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = match query.done.as_deref() {
        Some("saved") => Some("Saved.".to_owned()),
        Some("deleted") => Some("Deleted.".to_owned()),
        Some("imported") => Some("Imported.".to_owned()),
        _ => None,
    };
    render_overview(&state, &who, &slug, StatusCode::OK, None, notice).await
}

// ---------------------------------------------------------------------------------------------
// The form of one item

#[derive(Template)]
#[template(path = "console/inventory_form.html")]
struct FormPage {
    shell: Shell,
    /// The path segment of the kind, e.g. `retention-rules`.
    kind: &'static str,
    /// "data category".
    what: &'static str,
    /// A new item (the key is typed) or an existing one (the key is its address).
    creating: bool,
    can_edit: bool,
    v: Values,
    /// (field, readable message).
    errors: Vec<(String, String)>,
    /// The workspace's categories: (key, name).
    categories: Vec<(String, String)>,
    opts: Options,
    /// Suggested keys for a new category (the default, fideslang-based taxonomy).
    taxonomy: &'static [crate::domain::taxonomy::TaxonomyEntry],
    /// For a legal hold: records of erased people it keeps (deleting the hold releases them).
    held_records: i64,
    /// For a retention rule: the schedule's next three runs.
    next_runs: Vec<chrono::DateTime<chrono::Utc>>,
}

impl FormPage {
    fn action(&self) -> String {
        let slug = self.shell.slug();
        if self.creating {
            format!("/console/w/{slug}/inventory/{}/new", self.kind)
        } else {
            format!("/console/w/{slug}/inventory/{}/{}", self.kind, self.v.key)
        }
    }

    fn errs(&self, field: &str) -> Vec<&str> {
        self.errors
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .collect()
    }

    fn invalid(&self, field: &str) -> bool {
        self.errors.iter().any(|(f, _)| f == field)
    }

    /// `aria-describedby` of an input: its help text and its error, if any.
    fn described_by(&self, field: &str, help: &str) -> String {
        let mut ids = Vec::new();
        if !help.is_empty() {
            ids.push(format!("{field}-help"));
        }
        if self.invalid(field) {
            ids.push(format!("{field}-error"));
        }
        ids.join(" ")
    }

    fn checked(&self, key: &str) -> bool {
        self.v.categories.iter().any(|c| c.trim() == key)
    }
}

/// The label each form shows for a field, to phrase its errors.
fn label_of(field: &str) -> &'static str {
    match field {
        "key" => "Key",
        "name" => "Name",
        "description" => "Description",
        "subject_kinds" => "Kinds of person",
        "source" => "Source",
        "sensitivity" => "Sensitivity",
        "fields" => "Fields",
        "legal_basis" => "Legal basis",
        "balancing_note" => "Balancing note",
        "categories" => "Data categories",
        "location" => "Location",
        "role" => "Role",
        "purpose" => "What they do with the data",
        "country" => "Country",
        "safeguard" => "Transfer safeguard",
        "category" => "Data category",
        "trigger" => "Counted from",
        "days" => "Days",
        "action" => "Then",
        "note" => "Note",
        "schedule" => "Schedule",
        "transforms" => "Transforms",
        "claim" => "Claim",
        "reason" => "Reason",
        "until" => "Until",
        _ => "",
    }
}

/// "Name is required", "Fields: line 3: …", "Key: 'A' is not a key: …".
fn phrase(field: &str, message: &str) -> String {
    let label = label_of(field);
    let reads_on = ["is ", "must ", "belongs ", "contains ", "appears "]
        .iter()
        .any(|p| message.starts_with(p));
    if label.is_empty() {
        message.to_owned()
    } else if reads_on {
        format!("{label} {message}")
    } else {
        format!("{label}: {message}")
    }
}

fn form_page<T: FormItem>(
    who: &SignedIn,
    member: &MemberOf,
    inv: &Inventory,
    creating: bool,
    v: Values,
    errors: ValidationErrors,
) -> FormPage {
    FormPage {
        shell: Shell::in_workspace(who, member, "inventory"),
        kind: T::KIND.segment(),
        what: T::WHAT,
        creating,
        can_edit: member.roles.allows(Permission::EditInventory),
        errors: errors
            .0
            .iter()
            .map(|e| (e.field.clone(), phrase(&e.field, &e.message)))
            .collect(),
        categories: inv
            .categories
            .iter()
            .map(|c| (c.key.clone(), c.name.clone()))
            .collect(),
        opts: Options::default(),
        taxonomy: crate::domain::taxonomy::DEFAULT_TAXONOMY,
        held_records: 0,
        next_runs: match T::KIND {
            InventoryKind::RetentionRules => {
                crate::domain::schedule::CronSchedule::parse(&v.schedule)
                    .map(|s| s.upcoming(chrono::Utc::now(), 3))
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        },
        v,
    }
}

pub async fn new_form(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, segment) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::EditInventory)
        .await?;
    let kind = kind_of(&segment)?;
    by_kind!(kind, show_new(&state, &who, &member))
}

async fn show_new<T: FormItem>(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
) -> Result<HttpResponse, PageError> {
    let inv = load(state, member).await?;
    let page = form_page::<T>(
        who,
        member,
        &inv,
        true,
        Values::blank(),
        ValidationErrors::default(),
    );
    html(StatusCode::OK, &page)
}

pub async fn edit_form(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, segment, key) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ViewInventory)
        .await?;
    let kind = kind_of(&segment)?;
    by_kind!(kind, show_existing(&state, &who, &member, &key))
}

async fn show_existing<T: FormItem>(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
    key: &str,
) -> Result<HttpResponse, PageError> {
    let inv = load(state, member).await?;
    let item =
        T::find(&inv, key).ok_or_else(|| AppError::NotFound(format!("{} '{key}'", T::WHAT)))?;
    let mut page = form_page::<T>(
        who,
        member,
        &inv,
        false,
        item.to_values(),
        ValidationErrors::default(),
    );
    if T::KIND == InventoryKind::LegalHolds {
        let (scope, hold) = (member.scope, key.to_owned());
        page.held_records = state
            .db
            .run(move |db| db.read(|c| crate::store::records::held_by(c, &scope, &hold)))
            .await?;
    }
    html(StatusCode::OK, &page)
}

fn csrf_of(pairs: &[(String, String)]) -> &str {
    pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// Creates an item from the "new" form; a key that is already taken is refused, so a new item
/// never silently replaces one.
pub async fn create(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (slug, segment) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::EditInventory)
        .await?;
    let kind = kind_of(&segment)?;
    who.check_csrf(csrf_of(&form))?;
    let values = Values::from_pairs(&form);
    by_kind!(kind, save(&state, &who, &member, values, true))
}

/// Saves the item at its address: the key comes from the path, not the form.
pub async fn update(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (slug, segment, key) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::EditInventory)
        .await?;
    let kind = kind_of(&segment)?;
    who.check_csrf(csrf_of(&form))?;
    let values = Values {
        key,
        ..Values::from_pairs(&form)
    };
    by_kind!(kind, save(&state, &who, &member, values, false))
}

async fn save<T: FormItem>(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
    values: Values,
    creating: bool,
) -> Result<HttpResponse, PageError> {
    let slug = member.workspace.slug.clone();
    let inv = load(state, member).await?;
    let (item, mut errors) = form::read::<T>(&values);
    let key = values.key.trim().to_owned();
    if creating && errors.for_field("key").is_none() {
        if key == "new" {
            errors.add(
                "key",
                "'new' is reserved in console addresses; choose another key",
            );
        } else if T::find(&inv, &key).is_some() {
            errors.add(
                "key",
                format!(
                    "is already used by another {}; choose another key, or edit that one",
                    T::WHAT
                ),
            );
        }
    }
    if errors.is_empty() {
        let (caller, scope) = (who.caller.clone(), member.scope);
        let put_key = key.clone();
        let outcome = state
            .db
            .run(move |db| service::put(db, &caller, &scope, &put_key, item))
            .await;
        match outcome {
            // A saved rule is shown on the retention page with its next three runs.
            Ok(_) if T::KIND == InventoryKind::RetentionRules => {
                return Ok(see_other(&format!(
                    "/console/w/{slug}/retention?saved={key}#rule-{key}"
                )));
            }
            Ok(_) => {
                return Ok(see_other(&format!(
                    "{}?done=saved#{}",
                    overview_url(&slug),
                    T::KIND.segment()
                )));
            }
            Err(AppError::Validation(v)) => errors = form::remap(v, &[]),
            Err(e) => return Err(e.into()),
        }
    }
    let page = form_page::<T>(who, member, &inv, creating, values, errors);
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
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
            "{}?done=deleted#{}",
            overview_url(&slug),
            kind.segment()
        ))),
        Err(e @ AppError::Conflict(_)) => {
            let message = format!("Nothing was deleted: the {e}.");
            render_overview(
                &state,
                &who,
                &slug,
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
