//! The form of one inventory item: `/inventory/{kind}/new` and `/inventory/{kind}/{key}`, saved
//! through the same use cases as the API. Lists are edited one value a row: the page renders the
//! values there are and two empty rows, and the handler keeps the rows that are not empty.

use super::choice::{Choice, Options};
use super::fields::FieldRow;
use super::form::{self, FormItem, Values};
use super::{by_kind, kind_of, load, section_url};
use crate::domain::ValidationErrors;
use crate::domain::inventory::{
    DataCategory, FieldHandling, Inventory, InventoryKind, LegalHold, Purpose, Recipient,
    RetentionRule, System,
};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::inventory as service;
use crate::web::AppState;
use crate::web::console::error::PageError;
use crate::web::console::session::{MemberOf, SignedIn};
use crate::web::console::{Shell, html, see_other};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
#[derive(Template)]
#[template(path = "console/inventory_form.html")]
struct FormPage {
    shell: Shell,
    /// The path segment of the kind, e.g. `retention-rules`.
    kind: &'static str,
    /// "data category".
    what: &'static str,
    /// "Data categories", for the way back to the list.
    kind_label: &'static str,
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

    /// The kinds of person as rows: the ones there are, then two empty ones.
    fn kind_rows(&self) -> Vec<&str> {
        spare(self.v.subject_kinds.iter().map(String::as_str), "")
    }

    /// The fields as rows, then two empty ones.
    fn field_rows(&self) -> Vec<FieldRow> {
        let blank = FieldRow {
            handling: FieldHandling::Keep.value(),
            ..FieldRow::default()
        };
        spare(self.v.fields.iter().cloned(), blank)
    }

    /// The transforms as rows, then two empty ones.
    fn transform_rows(&self) -> Vec<&str> {
        spare(self.v.transforms.iter().map(String::as_str), "")
    }

    /// The errors of row `row` (from 1) of the list `list`, e.g. `fields-3`.
    fn row_errs(&self, list: &str, row: &usize) -> Vec<&str> {
        self.errs(&format!("{list}-{row}"))
    }
}

/// How many empty rows a list offers after its values: more rows come with the next save.
const SPARE_ROWS: usize = 2;

fn spare<T: Clone>(values: impl Iterator<Item = T>, blank: T) -> Vec<T> {
    let mut rows: Vec<T> = values.collect();
    rows.extend(std::iter::repeat_n(blank, SPARE_ROWS));
    rows
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

/// "Name is required", "Fields, row 3: name: …", "Key: 'A' is not a key: …".
fn phrase(field: &str, message: &str) -> String {
    let row = field
        .rsplit_once('-')
        .and_then(|(list, n)| Some((label_of(list), n.parse::<usize>().ok()?)))
        .filter(|(label, _)| !label.is_empty());
    if let Some((label, n)) = row {
        return format!("{label}, row {n}: {message}");
    }
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
        kind_label: super::lists::kind_label(T::KIND),
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
            .run(move |db| service::records_held_by(db, &scope, &hold))
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
                    "{}?done=saved",
                    section_url(&slug, T::KIND)
                )));
            }
            Err(AppError::Validation(v)) => errors = form::remap(v),
            Err(e) => return Err(e.into()),
        }
    }
    let page = form_page::<T>(who, member, &inv, creating, values, errors);
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
