//! Middleware that applies to every response: security headers, the body-size guard, and
//! request metrics.

use super::AppState;
use crate::error::AppError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use std::time::Instant;

/// No inline script or style anywhere: everything is served from `/static`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let is_static = req.path().starts_with("/static/");
    let mut res = next.call(req).await?.map_into_boxed_body();
    let h = res.headers_mut();
    let set = |h: &mut header::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=63072000");
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(
        h,
        header::HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    );
    set(
        h,
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if !is_static && !h.contains_key(header::CACHE_CONTROL) {
        // Console pages and API answers carry personal data: never cache them.
        set(h, header::CACHE_CONTROL, "no-store");
    }
    Ok(res)
}

/// Refuses a declared body over the limit before any handler reads it. Bodies without a length
/// (chunked) are capped by the extractors' own limits, set from the same option.
pub async fn body_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.max_body_bytes)
        .unwrap_or(crate::config::DEFAULT_MAX_BODY_BYTES);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        let error = AppError::PayloadTooLarge { limit };
        let response = if req.path().starts_with("/api/") {
            super::api::problem::response(&error)
        } else {
            super::console::error::page(&error)
        };
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Marks a connection whose TLS handshake chose `acme-tls/1`: an ACME CA's TLS-ALPN-01
/// validation, which only reads the certificate (RFC 8737 §3).
#[derive(Debug, Clone, Copy)]
pub struct AcmeValidationConnection;

/// `HttpServer::on_connect`: marks TLS-ALPN-01 validation connections, so that
/// [`refuse_acme_validation`] answers no request on them.
pub fn mark_acme_validation(conn: &dyn std::any::Any, data: &mut actix_web::dev::Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    if let Some(tls) = conn.downcast_ref::<Tls>()
        && tls.get_ref().1.alpn_protocol() == Some(crate::acme::resolver::ACME_TLS_ALPN)
    {
        data.insert(AcmeValidationConnection);
    }
}

/// No HTTP over a validation handshake: its certificate is the challenge one, not Lethe's.
pub async fn refuse_acme_validation(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.conn_data::<AcmeValidationConnection>().is_some() {
        let refused = actix_web::HttpResponse::build(StatusCode::MISDIRECTED_REQUEST)
            .insert_header((header::CONNECTION, "close"))
            .finish();
        return Ok(req.into_response(refused));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Every error the API answers is problem+json, also those actix-web's own extractors make before
/// a handler runs (a streamed body over the limit, a payload that cannot be read), which are plain
/// text. The statuses a problem can state faithfully are rewritten; a handler's problem is kept.
pub async fn api_errors_as_problems(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let is_api = req.path().starts_with("/api/");
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.max_body_bytes)
        .unwrap_or(crate::config::DEFAULT_MAX_BODY_BYTES);
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if !is_api || !(status.is_client_error() || status.is_server_error()) {
        return Ok(res);
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return Ok(res);
    }
    let cause = res
        .response()
        .error()
        .map(ToString::to_string)
        .unwrap_or_else(|| status.to_string());
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge { limit },
        StatusCode::BAD_REQUEST => {
            AppError::BadRequest(format!("the request could not be read: {cause}"))
        }
        StatusCode::NOT_FOUND => AppError::NotFound("no such API path".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType(cause),
        StatusCode::INTERNAL_SERVER_ERROR => AppError::internal(anyhow::anyhow!(cause)),
        _ => return Ok(res),
    };
    let response = super::api::problem::response(&error);
    Ok(res.into_response(response))
}

/// Counts requests and their latency by route pattern (not raw path, so ids do not explode the
/// label set), method and status.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let res = next.call(req).await?.map_into_boxed_body();
    if let Some(metrics) = metrics {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        metrics.observe(&method, &route, res.status().as_u16(), start.elapsed());
    }
    Ok(res)
}

/// Whether `origin` (an `Origin` header) is this server's origin: scheme, host and port alike
/// (RFC 6454), so `http://` pages on the same host cannot post to the HTTPS console. `null` and
/// anything unreadable are another origin.
fn same_origin(origin: &str, scheme: &str, host: &str) -> bool {
    let ours = url::Url::parse(&format!("{scheme}://{host}/"));
    let theirs = url::Url::parse(origin);
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => theirs.origin().is_tuple() && ours.origin() == theirs.origin(),
        _ => false,
    }
}

/// Cross-site form posts are refused even before the CSRF token is looked at. Browsers say where
/// a request comes from in `Sec-Fetch-Site`; older ones only in `Origin`, which under our
/// `no-referrer` policy may be `null` for same-origin posts, so it is the fallback only.
pub async fn same_origin_posts(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != actix_web::http::Method::GET && req.method() != actix_web::http::Method::HEAD
    {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let cross_site = match header("sec-fetch-site") {
            Some(site) => site != "same-origin" && site != "none",
            None => header("origin").is_some_and(|origin| {
                let info = req.connection_info();
                !same_origin(&origin, info.scheme(), info.host())
            }),
        };
        if cross_site {
            let error = AppError::Forbidden("This form was sent from another site.".into());
            return Ok(req.into_response(super::console::error::page(&error)));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn an_origin_is_its_scheme_host_and_port() {
        assert!(same_origin(
            "https://lethe.example",
            "https",
            "lethe.example"
        ));
        assert!(same_origin(
            "https://lethe.example:443",
            "https",
            "lethe.example"
        ));
        assert!(same_origin(
            "https://127.0.0.1:8443",
            "https",
            "127.0.0.1:8443"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:8443",
            "https",
            "127.0.0.1:8443"
        ));
        assert!(!same_origin(
            "http://lethe.example",
            "https",
            "lethe.example"
        ));
        assert!(!same_origin(
            "https://lethe.example:8443",
            "https",
            "lethe.example"
        ));
        assert!(!same_origin(
            "https://evil.example",
            "https",
            "lethe.example"
        ));
        assert!(!same_origin("null", "https", "lethe.example"));
        assert!(!same_origin("", "https", "lethe.example"));
    }
}
