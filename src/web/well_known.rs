//! `/.well-known/gpc.json`: the Global Privacy Control support resource (the GPC specification,
//! "GPC Support Resource"), a JSON object saying that this server intends to abide by GPC
//! requests. What a GPC signal governs is the consent work's; this states the commitment.

use actix_web::{HttpResponse, web};

/// When the statement of support was made. The specification asks for the date of the
/// statement, so that later changes to what GPC means do not change what was stated: move it
/// only when what Lethe does on a GPC signal changes, never to "today".
pub const GPC_STATEMENT_DATE: &str = "2026-11-27";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/gpc.json", web::get().to(gpc));
}

async fn gpc() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "gpc": true, "lastUpdate": GPC_STATEMENT_DATE }))
}

/// `/.well-known/acme-challenge/{token}` on the plain-HTTP listener: the ACME CA's HTTP-01
/// validation reads the key authorization of a pending order there (RFC 8555 §8.3). Unknown
/// tokens are 404, so nothing else is revealed.
pub async fn acme_challenge(
    tokens: web::Data<crate::acme::Http01Tokens>,
    token: web::Path<String>,
) -> HttpResponse {
    match tokens.get(&token) {
        Some(key_authorization) => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(key_authorization),
        None => HttpResponse::NotFound().finish(),
    }
}
