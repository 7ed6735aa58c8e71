//! The HTTP surface: parse, authorize, call a service or the store, render. No SQL here.

pub mod api;
pub mod assets;
pub mod cached;
pub mod client_ip;
pub mod consent;
pub mod consent_decisions;
pub mod console;
pub mod feed;
pub mod health;
pub mod metrics;
pub mod middleware;
pub mod package;
pub mod public;
pub mod public_requests;
pub mod subscriptions;
pub mod throttle;
pub mod well_known;

use crate::config::Config;
use crate::store::Db;
use actix_web::web;
use std::sync::Arc;

/// Everything a handler may need; one `web::Data<AppState>` per app.
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// Where people reach this server, e.g. `https://127.0.0.1:8443` (no trailing slash).
    pub base_url: String,
    pub metrics: Arc<metrics::Metrics>,
    pub login_throttle: throttle::Throttle,
    /// Password reset requests per client network (/24 or /64): over it, a 429 page.
    pub reset_by_network: throttle::Throttle<crate::domain::network::IpRange>,
    /// Password reset requests per e-mail address: over it, the same answer and no mail, so
    /// nobody can flood a colleague's inbox.
    pub reset_by_email: throttle::Throttle<String>,
    /// Data subject requests from the privacy center per client network: over it, a 429 page.
    pub requests_by_network: throttle::Throttle<crate::domain::network::IpRange>,
    /// Consent decisions from the banner, per client network.
    pub consent_by_network: throttle::Throttle<crate::domain::network::IpRange>,
    /// Data subject requests per e-mail address: over it, the same answer and nothing stored or
    /// sent, so nobody can flood a stranger's inbox.
    pub requests_by_email: throttle::Throttle<String>,
    /// Failed logins per account and network: the growing delay before the next try.
    pub login_guard: Arc<crate::services::login_guard::LoginGuard>,
    /// The master key and the key store.
    pub vault: crate::vault::Vault,
    /// The group-commit writer of ingested records.
    pub writer: crate::store::writer::GroupWriter,
    /// IP ranges to countries, for `ip_country` fields (empty without `--ip-country-file`).
    pub ip_countries: Arc<crate::domain::ip_country::IpCountryTable>,
    /// Set at shutdown: runs started by hand stop between batches, like scheduled ones.
    pub stop: crate::jobs::scheduler::StopSignal,
    /// Kept copies of the inventory JSON and the privacy center's policy page.
    pub read_cache: Arc<crate::services::read_cache::ReadCache>,
    /// What consent decisions are checked against, kept per workspace between decisions.
    pub consent_rules: Arc<crate::services::consent_rules::ConsentRulesCache>,
    /// Signs consent receipts, those waiting together with one signature.
    pub receipt_signer: crate::services::receipt_signer::ReceiptSigner,
    /// Live API keys checked in the last second.
    pub api_keys: Arc<crate::services::apikey_cache::KeyCache>,
}

/// All routes. The API and console each add their own scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // The banner's decisions come first: the busiest route, matched before the dozens of
    // patterns after it (actix tries routes in order).
    cfg.configure(consent_decisions::routes)
        .configure(health::routes)
        .configure(assets::routes)
        .configure(api::routes)
        .configure(console::routes)
        .configure(public::routes)
        .configure(well_known::routes)
        .configure(consent::routes)
        .route(
            "/",
            web::get().to(|| async {
                actix_web::HttpResponse::SeeOther()
                    .insert_header(("Location", "/console/"))
                    .finish()
            }),
        );
}

/// Unknown routes: problem+json under /api, a page elsewhere.
pub async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    let error = crate::error::AppError::NotFound(format!("page at {}", req.path()));
    if req.path().starts_with("/api/") {
        api::problem::response(&error)
    } else {
        console::error::page(&error)
    }
}

/// The client address for throttling and (truncated) for the audit log.
pub use client_ip::client_ip;
