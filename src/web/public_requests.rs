//! The person's side of a data subject request on the privacy center: the form
//! (`/p/{slug}/requests/new`), the e-mailed verification link (a page with a button: mail
//! scanners that fetch links do not verify) and the status page. Forms carry the privacy center's
//! double-submit token; the form is throttled per client network and per address.

use crate::domain::network::IpRange;
use crate::domain::request::{DenialReason, EventKind, RequestState, RequestType};
use crate::error::AppError;
use crate::services::request_intake::{self as intake, FormInput, LinkState, PersonView};
use crate::services::request_package::{self, Answer, Proof};
use crate::services::subjects::Reader;
use crate::services::{Caller, WorkspaceScope};
use crate::web::AppState;
use crate::web::console::error::PageError;
use crate::web::console::session::{check_form_token, form_token, page_with_form_token};
use crate::web::public::{Frame, load};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/p/{slug}/requests/new", web::get().to(form))
        .route("/p/{slug}/requests/new", web::post().to(submit))
        .route(
            "/p/{slug}/requests/verify/{token}",
            web::get().to(verify_form),
        )
        .route("/p/{slug}/requests/verify/{token}", web::post().to(verify))
        .route("/p/{slug}/requests/status/{token}", web::get().to(status))
        .route(
            "/p/{slug}/requests/status/{token}/download",
            web::post().to(download),
        );
}

/// A type the form offers: code, plain meaning, whether it is chosen.
pub struct TypeChoice {
    pub code: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "public/request.html")]
struct RequestPage {
    frame: Frame,
    /// form, sent, confirm, verified, used, expired, unknown, status
    state: &'static str,
    csrf: String,
    types: Vec<TypeChoice>,
    /// The published purposes, key and name.
    purposes: Vec<(String, String)>,
    form: FormInput,
    /// Field errors: type, email, details, purpose.
    errors: Vec<(String, String)>,
    /// Any other refusal (too many requests).
    notice: Option<String>,
    token: String,
    status: Option<StatusView>,
}

impl RequestPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// The status page's words.
pub struct StatusView {
    pub kind: &'static str,
    pub description: &'static str,
    pub state: &'static str,
    pub received: String,
    pub due: String,
    pub open: bool,
    pub extension_reason: Option<String>,
    pub denial: Option<(&'static str, Option<String>)>,
    pub completed: Option<String>,
    pub steps: Vec<(String, &'static str, Option<String>)>,
    /// A completed access or export request: its package can be downloaded from the page.
    pub downloadable: bool,
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn state_words(s: RequestState) -> &'static str {
    match s {
        RequestState::Received => "waiting for you to confirm your e-mail address",
        RequestState::Verified => "confirmed, waiting to be worked on",
        RequestState::InProgress => "being worked on",
        RequestState::Completed => "done",
        RequestState::Denied => "refused",
        RequestState::Expired => "expired (never confirmed)",
    }
}

fn step_words(e: EventKind) -> &'static str {
    match e {
        EventKind::Received => "We received your request.",
        EventKind::Verified => "You confirmed your e-mail address.",
        EventKind::Started => "We started working on it.",
        EventKind::Extended => "We need more time.",
        EventKind::Completed => "We did what you asked.",
        EventKind::Denied => "We refused the request.",
        EventKind::Expired => "It expired, never confirmed.",
        EventKind::CarriedOut => "We did our part in our own records.",
        EventKind::TaskOpened => "We asked another of our systems that holds your data to act.",
        EventKind::TaskDone => "Another of our systems did its part.",
    }
}

fn status_view(v: PersonView) -> StatusView {
    StatusView {
        kind: v.kind.as_str(),
        description: v.description,
        state: state_words(v.state),
        received: day(v.received_at),
        due: day(v.due),
        open: v.state.is_open(),
        extension_reason: v.extension_reason,
        denial: v
            .denial
            .map(|(r, text): (DenialReason, _)| (r.description(), text)),
        completed: v.completed_at.map(day),
        downloadable: v.state == RequestState::Completed
            && matches!(v.kind, RequestType::Access | RequestType::Export),
        steps: v
            .steps
            .into_iter()
            .map(|(at, what, detail)| {
                (
                    at.format("%Y-%m-%d %H:%M").to_string(),
                    step_words(what),
                    detail,
                )
            })
            .collect(),
    }
}

async fn workspace(
    state: &AppState,
    slug: String,
) -> Result<(WorkspaceScope, Frame, Vec<(String, String)>), PageError> {
    let p = load(state, slug).await?;
    let scope = p.scope;
    let purposes = p
        .inventory
        .purposes
        .iter()
        .map(|x| (x.key.clone(), x.name.clone()))
        .collect();
    let frame = Frame {
        slug: p.workspace.slug,
        legal_name: p.workspace.settings.legal_name,
        section: "requests",
    };
    Ok((scope, frame, purposes))
}

fn page(
    status: StatusCode,
    req: &HttpRequest,
    frame: Frame,
    state: &'static str,
    fill: impl FnOnce(&mut RequestPage),
) -> Result<HttpResponse, PageError> {
    let csrf = form_token(req);
    let mut p = RequestPage {
        frame,
        state,
        csrf: csrf.clone(),
        types: Vec::new(),
        purposes: Vec::new(),
        form: FormInput::default(),
        errors: Vec::new(),
        notice: None,
        token: String::new(),
        status: None,
    };
    fill(&mut p);
    p.types = RequestType::ALL
        .iter()
        .map(|t| TypeChoice {
            code: t.as_str(),
            description: t.description(),
            checked: p.form.kind == t.as_str(),
        })
        .collect();
    page_with_form_token(status, csrf, &p)
}

fn caller(req: &HttpRequest) -> Caller {
    Caller {
        ip: crate::web::client_ip(req),
        ..Caller::system()
    }
}

async fn form(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (_, frame, purposes) = workspace(&state, slug.into_inner()).await?;
    page(StatusCode::OK, &req, frame, "form", |p| {
        p.purposes = purposes
    })
}

#[derive(Deserialize)]
struct RequestForm {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    csrf: String,
}

async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    form: web::Form<RequestForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let (scope, frame, purposes) = workspace(&state, slug.into_inner()).await?;
    let form = form.into_inner();
    // Only an objection names a purpose; the select sends its value whatever the type.
    let objection = form.kind == RequestType::Objection.as_str();
    let input = FormInput {
        kind: form.kind,
        email: form.email,
        details: form.details,
        purpose: if objection {
            form.purpose
        } else {
            String::new()
        },
    };
    let caller = caller(&req);
    if let Some(ip) = caller.ip
        && !state.requests_by_network.allow(IpRange::client_network(ip))
    {
        return page(StatusCode::TOO_MANY_REQUESTS, &req, frame, "form", |p| {
            p.purposes = purposes;
            p.form = input;
            p.notice = Some(
                "Too many requests from your network. Wait a few minutes and try again.".into(),
            );
        });
    }
    // Over the per-address limit nothing is stored or sent, and the answer does not say so.
    let address = input.email.trim().to_lowercase();
    if !state.requests_by_email.allow(address) {
        return page(StatusCode::OK, &req, frame, "sent", |_| {});
    }
    let (vault, base, kept) = (state.vault.clone(), state.base_url.clone(), input.clone());
    match state
        .db
        .run(move |db| intake::submit(db, &vault, &scope, &caller, input, &base, Utc::now()))
        .await
    {
        Ok(()) => page(StatusCode::OK, &req, frame, "sent", |_| {}),
        Err(AppError::Validation(errors)) => {
            page(StatusCode::UNPROCESSABLE_ENTITY, &req, frame, "form", |p| {
                p.purposes = purposes;
                p.form = kept;
                p.errors = errors.0.into_iter().map(|e| (e.field, e.message)).collect();
            })
        }
        Err(e) => Err(e.into()),
    }
}

fn dead_link(state: LinkState) -> (StatusCode, &'static str) {
    match state {
        LinkState::Used => (StatusCode::GONE, "used"),
        LinkState::Expired => (StatusCode::GONE, "expired"),
        LinkState::Unknown | LinkState::Live => (StatusCode::NOT_FOUND, "unknown"),
    }
}

async fn verify_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, token) = path.into_inner();
    let (scope, frame, _) = workspace(&state, slug).await?;
    let t = token.clone();
    let link = state
        .db
        .run(move |db| intake::check_verify_link(db, &scope, &t, Utc::now()))
        .await?;
    if link == LinkState::Live {
        page(StatusCode::OK, &req, frame, "confirm", |p| p.token = token)
    } else {
        let (code, words) = dead_link(link);
        page(code, &req, frame, words, |_| {})
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let (slug, token) = path.into_inner();
    let (scope, frame, _) = workspace(&state, slug).await?;
    let (vault, base, caller) = (state.vault.clone(), state.base_url.clone(), caller(&req));
    let link = state
        .db
        .run(move |db| intake::verify(db, &vault, &scope, &caller, &token, &base, Utc::now()))
        .await?;
    if link == LinkState::Live {
        page(StatusCode::OK, &req, frame, "verified", |_| {})
    } else {
        let (code, words) = dead_link(link);
        page(code, &req, frame, words, |_| {})
    }
}

async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, token) = path.into_inner();
    let (scope, frame, _) = workspace(&state, slug).await?;
    let (vault, caller, t) = (state.vault.clone(), caller(&req), token.clone());
    let view = state
        .db
        .run(move |db| intake::status(db, &vault, &scope, &caller, &t, Utc::now()))
        .await?;
    match view {
        Some(v) => page(StatusCode::OK, &req, frame, "status", |p| {
            p.status = Some(status_view(v));
            // The download form posts back to this link.
            p.token = token;
        }),
        None => page(StatusCode::NOT_FOUND, &req, frame, "unknown", |_| {}),
    }
}

#[derive(Deserialize)]
pub struct DownloadForm {
    csrf: String,
    email: String,
}

/// The person's package, from their status page: the status link and the address the request was
/// made with, typed again (a forwarded e-mail alone does not open someone's data). Throttled per
/// network like the form, so the address cannot be guessed at speed.
async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<DownloadForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let (slug, token) = path.into_inner();
    let (scope, frame, _) = workspace(&state, slug).await?;
    let caller = caller(&req);
    if let Some(ip) = caller.ip
        && !state.requests_by_network.allow(IpRange::client_network(ip))
    {
        return Err(AppError::TooManyRequests(
            "Too many attempts from your network. Wait a few minutes and try again.".into(),
        )
        .into());
    }
    let Some(id) = state
        .db
        .run(move |db| intake::request_of_status_link(db, &scope, &token))
        .await?
    else {
        return page(StatusCode::NOT_FOUND, &req, frame, "unknown", |_| {});
    };
    let (vault, email) = (state.vault.clone(), form.into_inner().email);
    let reader = Reader::new(&caller, true, format!("the person's own request {id}"));
    let answer = state
        .db
        .run(move |db| {
            request_package::open(
                db,
                &vault,
                &scope,
                &reader,
                &id,
                Proof::Email(&email),
                Utc::now(),
            )
        })
        .await?;
    match answer {
        Answer::Package(p) => Ok(crate::web::package::download(&state, *p)),
        Answer::NoData { .. } => page(StatusCode::OK, &req, frame, "no_data", |_| {}),
    }
}
