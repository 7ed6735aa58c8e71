//! The consent banner on the operator's sites: `GET /consent.js` (the script, embedded from
//! `static/consent.js`) and `GET /consent/{slug}/config.json` (what it shows, from
//! `services::consent_banner`). Both are public and read from other origins: `<script src>` on
//! the operator's pages, then the script's `fetch` of the configuration (CORS `*`, no
//! credentials). Both carry an `ETag` and a public `Cache-Control`, so a repeat page view is
//! served from the browser's cache or answered 304.

use super::AppState;
use crate::error::AppError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

/// The configuration changes with the inventory and the policy: a browser keeps it for five
/// minutes, then asks again with its tag (a 304 while nothing changed).
const CONFIG_CACHE: &str = "public, max-age=300";
/// The script's address is fixed in the operator's pages (no version in it), so it is kept for
/// a day, then revalidated by its tag (in the background for a week): a new Lethe's script
/// reaches every visitor within a day.
const SCRIPT_CACHE: &str = "public, max-age=86400, stale-while-revalidate=604800";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/consent.js", web::get().to(script))
        .route("/consent/{slug}/config.json", web::get().to(config));
}

/// Headers that let any site read these responses: no credentials are sent or accepted.
fn public_cors(res: &mut HttpResponse, cache: &'static str) {
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
}

async fn script(req: HttpRequest) -> HttpResponse {
    let Some(file) = super::assets::get("consent.js") else {
        return super::console::error::page(&AppError::NotFound("consent.js".into()));
    };
    let digest: String = file.metadata.sha256_hash()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cached = crate::services::read_cache::Cached::from_static(
        file.data.into_owned(),
        format!("\"{digest}\""),
    );
    let mut res = super::cached::respond(
        &req,
        std::sync::Arc::new(cached),
        "application/javascript; charset=utf-8",
    );
    public_cors(&mut res, SCRIPT_CACHE);
    res
}

async fn config(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let cache = state.read_cache.clone();
    let base_url = state.base_url.clone();
    let slug = slug.into_inner();
    let found = state
        .db
        .run(move |db| crate::services::consent_banner::config_json(db, &cache, &base_url, &slug))
        .await;
    let mut res = match found {
        Ok(Some(cached)) => super::cached::respond(&req, cached, "application/json"),
        Ok(None) => {
            let mut res = super::api::problem::response(&AppError::NotFound(
                "workspace with this name".into(),
            ));
            // A missing workspace may be created any moment: never kept.
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            return res;
        }
        Err(e) => return super::api::problem::response(&e),
    };
    public_cors(&mut res, CONFIG_CACHE);
    res
}
