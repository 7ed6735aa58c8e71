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
