//! `POST /consent/{slug}/decisions`: where the banner on the operator's site records a visitor's
//! decision. It needs no API key, so it takes only what a banner sends: a request from one of
//! the workspace's configured origins (CORS, answered per origin, preflight included), at most
//! `--consent-rate` decisions a minute per client network, and a body that is a decision and
//! nothing else (small, known fields only). `Sec-GPC: 1` counts as Global Privacy Control.

use crate::domain::consent::ConsentSource;
use crate::error::AppError;
use crate::services::consent::{self, Client, DecisionInput, ORIGIN_REFUSED, Place, Who};
use crate::services::{WorkspaceScope, workspaces};
use crate::web::AppState;
use crate::web::api::problem;
use crate::web::client_ip::client_ip;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A decision is a few hundred bytes; anything much larger is not one.
pub const MAX_DECISION_BYTES: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/consent/{slug}/decisions")
            .route(web::post().to(decide))
            .route(web::method(actix_web::http::Method::OPTIONS).to(preflight)),
    );
}

/// What the banner posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    visitor: String,
    choices: BTreeMap<String, bool>,
    #[serde(default)]
    policy_version: Option<i64>,
    #[serde(default)]
    consent_version: Option<i64>,
    #[serde(default)]
    banner_version: Option<String>,
    #[serde(default)]
    gpc: bool,
    /// `banner`, or `gpc` when GPC decided without the banner being shown.
    #[serde(default)]
    source: Option<String>,
}

fn problem(error: &AppError, cors: Option<&str>) -> HttpResponse {
    let mut res = problem::response(error);
    if let Some(origin) = cors {
        allow(&mut res, origin);
    }
    res
}

fn allow(res: &mut HttpResponse, origin: &str) {
    let h = res.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(header::VARY, header::HeaderValue::from_static("Origin"));
}

/// The request's `Origin` when the workspace `slug` lists it; otherwise the refusal to send.
async fn allowed_origin(
    state: &AppState,
    req: &HttpRequest,
    slug: String,
) -> Result<(WorkspaceScope, String), HttpResponse> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let found = state
        .db
        .run(move |db| workspaces::find_public(db, &slug))
        .await
        .map_err(|e| problem(&e, None))?;
    let Some((scope, workspace)) = found else {
        return Err(problem(&AppError::NotFound("workspace".into()), None));
    };
    match origin {
        Some(o) if workspace.settings.allows_consent_origin(&o) => Ok((scope, o)),
        Some(_) => Err(problem(&AppError::Forbidden(ORIGIN_REFUSED.into()), None)),
        None => Err(problem(
            &AppError::Forbidden(
                "consent decisions come from a page of one of the workspace's sites (an Origin header)".into(),
            ),
            None,
        )),
    }
}

async fn preflight(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    match allowed_origin(&state, &req, slug.into_inner()).await {
        Ok((_, origin)) => {
            let mut res = HttpResponse::NoContent().finish();
            allow(&mut res, &origin);
            let h = res.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                header::HeaderValue::from_static("POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                header::HeaderValue::from_static("content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                header::HeaderValue::from_static("86400"),
            );
            res
        }
        Err(refused) => refused,
    }
}

async fn decide(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    // The origin is checked against the workspace's list where the decision is read
    // (`consent::record`, `Place::Banner`), in the same snapshot: one read, not two.
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return problem(
            &AppError::Forbidden(
                "consent decisions come from a page of one of the workspace's sites (an Origin header)".into(),
            ),
            None,
        );
    };
    // Until the workspace has vouched for the origin, a refusal carries no CORS header: the
    // page cannot read it.
    let unvouched = |e: AppError| problem(&e, None);
    let ip = client_ip(&req);
    if let Some(ip) = ip
        && !state
            .consent_by_network
            .allow(crate::domain::network::IpRange::client_network(ip))
    {
        return unvouched(AppError::TooManyRequests(
            "too many consent decisions from this network; try again in a minute".into(),
        ));
    }
    if body.len() > MAX_DECISION_BYTES {
        return unvouched(AppError::PayloadTooLarge {
            limit: MAX_DECISION_BYTES,
        });
    }
    let decision: DecisionBody = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            return unvouched(AppError::BadRequest(format!(
                "the body is not a consent decision: {e}"
            )));
        }
    };
    let source = match decision.source.as_deref() {
        None | Some("banner") => ConsentSource::Banner,
        Some("gpc") => ConsentSource::Gpc,
        Some(other) => {
            return unvouched(AppError::BadRequest(format!(
                "source '{}' is not one a banner sends (banner or gpc)",
                other.chars().take(20).collect::<String>()
            )));
        }
    };
    let header_gpc = req
        .headers()
        .get("sec-gpc")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "1");
    // The versions the banner showed are the server's to know: they are read when the
    // decision is stored (`consent::record`); the banner's own are not trusted.
    let _ = (decision.policy_version, decision.consent_version);
    let input = DecisionInput {
        who: Who::Visitor(decision.visitor),
        choices: decision.choices,
        source,
        gpc: decision.gpc || header_gpc,
        banner_version: decision
            .banner_version
            .map(|v| v.chars().take(64).collect()),
        decided_at: None,
    };
    let client = Client {
        ip,
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let place = Place::Banner {
        slug: slug.into_inner(),
        origin: origin.clone(),
    };
    match consent::record(
        &state.vault,
        &state.writer,
        &state.consent_rules,
        &state.receipt_signer,
        place,
        input,
        client,
        &state.base_url,
        Utc::now(),
    )
    .await
    {
        Ok(recorded) => {
            let mut res = HttpResponse::Created().json(recorded);
            allow(&mut res, &origin);
            res
        }
        // No such workspace, or not this origin's: nothing vouched for the page.
        Err(e @ (AppError::NotFound(_) | AppError::Forbidden(_))) => unvouched(e),
        Err(e) => problem(&e, Some(&origin)),
    }
}
