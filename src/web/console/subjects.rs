//! The vault's people in the console: the list (ids and states only) with a search by e-mail
//! address, one person's page (states, who has looked at them, restrict, lift, erase), and
//! reading their records with a reason.
//!
//! Personal values are only shown on the response to the reason form: every such read goes to
//! the person's access log, so nothing decrypted is rendered on a plain GET.

use super::auth::CsrfForm;
use super::error::PageError;
use super::session::{MemberOf, SignedIn};
use super::{Shell, html, see_other};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::inventory::{self, Names};
use crate::services::subject_status::{self, AccessEntry, AuditEntry, SubjectStatus};
use crate::services::subjects::{self, HeldView, Reader, SubjectSummary, SubjectView};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

const PAGE_SIZE: u32 = 50;
/// Records shown per read; older ones are one more read (and one more log entry) away.
const RECORDS_PER_READ: u32 = 100;
/// Under-age refusals shown on the list: the recent ones; the audit log has them all.
const REFUSALS_SHOWN: u32 = 20;

/// `?page=N`, read leniently: anything that is not a positive number is the first page.
#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    page: String,
}

fn page_number(raw: &str) -> u32 {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|&n| n >= 1)
        .unwrap_or(1)
}

#[derive(Template)]
#[template(path = "console/subjects.html")]
struct ListPage {
    shell: Shell,
    subjects: Vec<SubjectSummary>,
    total: i64,
    page: u32,
    pages: u32,
    refused: Vec<AuditEntry>,
    /// The e-mail search: what was typed (shown again only on this response), why it was
    /// refused, and what it found when that was not exactly one person.
    email: String,
    email_error: Option<String>,
    searched: bool,
    matches: Vec<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewSubjects)
        .await?;
    let page = page_number(&query.page);
    render_list(&state, &who, &member, page, StatusCode::OK, |_| {}).await
}

async fn render_list(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
    page: u32,
    status: StatusCode,
    fill: impl FnOnce(&mut ListPage),
) -> Result<HttpResponse, PageError> {
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let scope = member.scope;
    let ((subjects, total), refused) = state
        .db
        .run(move |db| {
            let listed = subjects::list(db, &scope, PAGE_SIZE, offset)?;
            let refused = subject_status::recent_refusals(db, &scope, REFUSALS_SHOWN)?;
            Ok::<_, AppError>((listed, refused))
        })
        .await?;
    let per_page = i64::from(PAGE_SIZE);
    let pages = u32::try_from((total.max(1) + per_page - 1) / per_page).unwrap_or(u32::MAX);
    let mut view = ListPage {
        shell: Shell::in_workspace(who, member, "subjects"),
        subjects,
        total,
        page,
        pages,
        refused,
        email: String::new(),
        email_error: None,
        searched: false,
        matches: Vec::new(),
    };
    fill(&mut view);
    // A typed address is a personal value: it must not linger in a cache.
    Ok(no_store(html(status, &view)?))
}

#[derive(Deserialize, Default)]
pub struct FindForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// Finds a person by their exact e-mail address (a post, so the address stays out of URLs and
/// logs). One person found: their page; several: the list of them; none: a plain sentence.
pub async fn find(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<FindForm>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewSubjects)
        .await?;
    who.check_csrf(&form.csrf)?;
    let email = form.into_inner().email;
    let (scope, vault, caller, typed) = (
        member.scope,
        state.vault.clone(),
        who.caller.clone(),
        email.clone(),
    );
    let outcome = state
        .db
        .run(move |db| subject_status::lookup_by_email(db, &vault, &scope, &caller, &typed))
        .await;
    match outcome {
        Ok(found) if found.len() == 1 => Ok(see_other(&format!(
            "/console/w/{}/subjects/{}",
            member.workspace.slug, found[0]
        ))),
        Ok(found) => {
            render_list(&state, &who, &member, 1, StatusCode::OK, |p| {
                p.email = email;
                p.searched = true;
                p.matches = found;
            })
            .await
        }
        Err(AppError::Validation(errors)) => {
            let message = errors.for_field("email").map(|m| format!("E-mail: {m}."));
            render_list(
                &state,
                &who,
                &member,
                1,
                StatusCode::UNPROCESSABLE_ENTITY,
                |p| {
                    p.email = email;
                    p.email_error = message;
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "console/subject.html")]
pub(super) struct SubjectPage {
    shell: Shell,
    subject: SubjectStatus,
    log: Vec<AccessEntry>,
    can_read: bool,
    can_read_restricted: bool,
    can_manage: bool,
    notice: Option<String>,
    /// What was typed into the reason form, when it comes back with an error.
    reason: String,
    read_error: Option<String>,
    /// The consent history's reason form (`console::consent`), when it comes back with an error.
    pub(super) consent_reason: String,
    pub(super) consent_error: Option<String>,
    restrict_reason: String,
    restrict_error: Option<String>,
    erase_error: Option<String>,
    erasure: Option<crate::services::erasure::ErasureReport>,
    /// Per category, what retention will do to this person's records, and when.
    fates: Vec<crate::services::retention::SubjectFate>,
    /// The inventory's names, for the categories an erasure kept.
    names: Names,
    /// The breach letters this person was sent (for members who see incidents).
    letters: Vec<crate::services::incident_letters::LetterToPerson>,
}

/// The reader a typed reason makes, or, when the reason will not do, the subject's page again
/// with the error where `show` puts it (and what was typed): reading a person's records or
/// consent history starts here.
pub(super) async fn reader_or_page(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
    external_id: &str,
    typed: String,
    show: impl FnOnce(&mut SubjectPage, String, Option<String>),
) -> Result<Result<Reader, HttpResponse>, PageError> {
    match subjects::parse_reason(&typed) {
        Ok(reason) => Ok(Ok(Reader::new(
            &who.caller,
            member.roles.allows(Permission::ReadRestricted),
            reason,
        ))),
        Err(errors) => {
            let message = errors.for_field("reason").map(|m| format!("Reason: {m}."));
            let page = render_subject(
                state,
                who,
                member,
                external_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                |p| show(p, typed, message),
            )
            .await?;
            Ok(Err(page))
        }
    }
}

pub(super) async fn render_subject(
    state: &AppState,
    who: &SignedIn,
    member: &MemberOf,
    external_id: &str,
    status: StatusCode,
    fill: impl FnOnce(&mut SubjectPage),
) -> Result<HttpResponse, PageError> {
    let (scope, id) = (member.scope, external_id.to_owned());
    let vault = state.vault.clone();
    let sees_incidents = member.roles.allows(Permission::ViewIncidents);
    let (found, names, letters) = state
        .db
        .run(move |db| {
            let found = subject_status::overview(db, &vault, &scope, &id)?;
            let letters = if sees_incidents {
                crate::services::incident_letters::told(db, &scope, &id)?
            } else {
                Vec::new()
            };
            Ok::<_, AppError>((found, inventory::names(db, &scope)?, letters))
        })
        .await?;
    let role = member.roles;
    let mut page = SubjectPage {
        shell: Shell::in_workspace(who, member, "subjects"),
        subject: found.status,
        log: found.access_log,
        can_read: role.allows(Permission::ReadRecords),
        can_read_restricted: role.allows(Permission::ReadRestricted),
        can_manage: role.allows(Permission::ManageSubjects),
        notice: None,
        reason: String::new(),
        read_error: None,
        consent_reason: String::new(),
        consent_error: None,
        restrict_reason: String::new(),
        restrict_error: None,
        erase_error: None,
        erasure: None,
        fates: found.fates,
        names,
        letters,
    };
    fill(&mut page);
    html(status, &page)
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

pub async fn show(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let (slug, external_id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ViewSubjects)
        .await?;
    // Only known results become a notice: the query string is not echoed.
    let notice = match query.done.as_str() {
        "restricted" => Some("Processing is now restricted.".to_owned()),
        "lifted" => Some("The restriction was lifted.".to_owned()),
        _ => None,
    };
    render_subject(&state, &who, &member, &external_id, StatusCode::OK, |p| {
        p.notice = notice;
    })
    .await
}

/// A record as the page shows it: field values as text, in the order they were stored.
struct RecordRow {
    id: String,
    category: String,
    occurred_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    fields: Vec<(String, String)>,
    flagged_restricted: bool,
    held: Option<HeldView>,
}

fn field_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "console/subject_records.html")]
struct RecordsPage {
    shell: Shell,
    external_id: String,
    /// Why the read was refused (a restricted person, for anyone but the privacy officer).
    refused: Option<String>,
    subject: Option<SubjectView>,
    total: i64,
    records: Vec<RecordRow>,
    reason: String,
    page: u32,
    /// Set when older records exist: the next page's number.
    next_page: Option<u32>,
    /// The inventory's names, for each record's category.
    names: Names,
}

#[derive(Deserialize, Default)]
pub struct ReadForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    page: String,
}

/// Decrypted values must not linger in any cache, whatever the middleware does later.
pub(super) fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub async fn records(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<ReadForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, external_id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ReadRecords)
        .await?;
    who.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let page = page_number(&form.page);
    let reader = match reader_or_page(
        &state,
        &who,
        &member,
        &external_id,
        form.reason,
        |p, typed, m| {
            p.reason = typed;
            p.read_error = m;
        },
    )
    .await?
    {
        Ok(reader) => reader,
        Err(page) => return Ok(page),
    };
    let reason = reader.reason.clone();
    let offset = (page - 1).saturating_mul(RECORDS_PER_READ);
    let (scope, vault, id) = (member.scope, state.vault.clone(), external_id.clone());
    let outcome = state
        .db
        .run(move |db| {
            let found =
                subjects::read_records(db, &vault, &scope, &reader, &id, RECORDS_PER_READ, offset)?;
            Ok::<_, AppError>((found, inventory::names(db, &scope)?))
        })
        .await;
    let mut view = RecordsPage {
        shell: Shell::in_workspace(&who, &member, "subjects"),
        external_id,
        refused: None,
        subject: None,
        total: 0,
        records: Vec::new(),
        reason,
        page,
        next_page: None,
        names: Names::default(),
    };
    let status = match outcome {
        Ok((found, names)) => {
            view.names = names;
            let shown = i64::from(offset) + found.records.len() as i64;
            view.next_page = (shown < found.total).then_some(page + 1);
            view.total = found.total;
            view.subject = Some(found.subject);
            view.records = found
                .records
                .into_iter()
                .map(|r| RecordRow {
                    fields: r
                        .fields
                        .iter()
                        .map(|(k, v)| (k.clone(), field_text(v)))
                        .collect(),
                    id: r.id,
                    category: r.category,
                    occurred_at: r.occurred_at,
                    received_at: r.received_at,
                    flagged_restricted: r.flagged_restricted,
                    held: r.held,
                })
                .collect();
            StatusCode::OK
        }
        // The service's refusal of a restricted person: shown inside the console, not bare.
        Err(AppError::Forbidden(message)) => {
            view.refused = Some(message);
            StatusCode::FORBIDDEN
        }
        Err(e) => return Err(e.into()),
    };
    Ok(no_store(html(status, &view)?))
}

#[derive(Deserialize, Default)]
pub struct RestrictForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub async fn restrict(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<RestrictForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, external_id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ManageSubjects)
        .await?;
    who.check_csrf(&form.csrf)?;
    let reason = form.into_inner().reason;
    let (scope, caller, id, r) = (
        member.scope,
        who.caller.clone(),
        external_id.clone(),
        reason.clone(),
    );
    let vault = state.vault.clone();
    let outcome = state
        .db
        .run(move |db| subjects::set_restriction(db, &vault, &scope, &caller, &id, Some(&r)))
        .await;
    match outcome {
        Ok(()) => Ok(see_other(&subject_path(&slug, &external_id, "restricted"))),
        Err(AppError::Validation(errors)) => {
            let message = errors.for_field("reason").map(|m| format!("Reason: {m}."));
            render_subject(
                &state,
                &who,
                &member,
                &external_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                |p| {
                    p.restrict_reason = reason;
                    p.restrict_error = message;
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn unrestrict(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, external_id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ManageSubjects)
        .await?;
    who.check_csrf(&form.csrf)?;
    let (scope, caller, id) = (member.scope, who.caller.clone(), external_id.clone());
    let vault = state.vault.clone();
    state
        .db
        .run(move |db| subjects::set_restriction(db, &vault, &scope, &caller, &id, None))
        .await?;
    Ok(see_other(&subject_path(&slug, &external_id, "lifted")))
}

#[derive(Deserialize, Default)]
pub struct EraseForm {
    #[serde(default)]
    csrf: String,
    /// The external id, typed again: erasure cannot be undone.
    #[serde(default)]
    confirm: String,
}

/// Erases, then shows the report on this response (what was deleted, what holds keep): it is
/// not stored anywhere else in that detail, so it is rendered here rather than after a redirect.
pub async fn erase(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<EraseForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, external_id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ManageSubjects)
        .await?;
    who.check_csrf(&form.csrf)?;
    if form.confirm.trim() != external_id {
        let message = format!(
            "Nothing was erased: type the id {external_id} exactly to confirm the erasure."
        );
        return render_subject(
            &state,
            &who,
            &member,
            &external_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            |p| p.erase_error = Some(message),
        )
        .await;
    }
    let (scope, vault, caller, id) = (
        member.scope,
        state.vault.clone(),
        who.caller.clone(),
        external_id.clone(),
    );
    let today = Utc::now().date_naive();
    let report = state
        .db
        .run(move |db| {
            crate::services::erasure::erase_subject(db, &vault, &scope, &caller, &id, today)
        })
        .await?;
    render_subject(&state, &who, &member, &external_id, StatusCode::OK, |p| {
        p.notice = Some(format!("{external_id} was erased."));
        p.erasure = Some(report);
    })
    .await
}

/// External ids are letters, digits and `.`, `_`, `:`, `-`: safe in a path as they are.
fn subject_path(slug: &str, external_id: &str, done: &str) -> String {
    format!("/console/w/{slug}/subjects/{external_id}?done={done}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_are_read_leniently() {
        assert_eq!(page_number("3"), 3);
        assert_eq!(page_number(""), 1);
        assert_eq!(page_number("0"), 1);
        assert_eq!(page_number("-2"), 1);
        assert_eq!(page_number("x"), 1);
    }

    #[test]
    fn field_values_become_text() {
        assert_eq!(field_text(&serde_json::json!("a <b>")), "a <b>");
        assert_eq!(field_text(&serde_json::json!(42)), "42");
        assert_eq!(field_text(&serde_json::Value::Null), "—");
    }
}
