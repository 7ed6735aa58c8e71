//! Serving a body kept by `services::read_cache`: with its entity tag, and `304 Not Modified`
//! to a client that already holds it.

use crate::services::read_cache::Cached;
use actix_web::http::header::{ETAG, IF_NONE_MATCH};
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::Arc;

/// The kept body, shared with the cache rather than copied for each response.
struct Shared(Arc<Cached>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0.body
    }
}

/// 200 with the body and its `ETag`, or 304 when `If-None-Match` names that tag.
pub fn respond(req: &HttpRequest, cached: Arc<Cached>, content_type: &str) -> HttpResponse {
    let etag = cached.etag.clone();
    if client_holds(req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((ETAG, etag))
        .body(web::Bytes::from_owner(Shared(cached)))
}

/// `If-None-Match` by weak comparison (RFC 9110 §13.1.2): `*`, or any listed tag with or
/// without `W/` equal to ours.
pub(crate) fn client_holds(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}
