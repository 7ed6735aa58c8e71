//! Liveness, readiness, metrics and the well-known files.

use super::AppState;
use crate::services::instance;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/.well-known/security.txt", web::get().to(security_txt));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers and its schema is the one this binary expects.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = state
        .db
        .run(|db| Ok::<_, crate::error::AppError>(instance::is_ready(db)))
        .await
        .unwrap_or(false);
    if ready {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
    }
}

/// `/metrics` answers only with the operator's token: it counts sessions and runs, which is no
/// one else's business, and it shares the listener of the public pages.
fn metrics_refusal(state: &AppState, req: &HttpRequest) -> Option<HttpResponse> {
    let Some(token) = &state.config.metrics_token else {
        return Some(
            HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body(
                    "Metrics are off: start Lethe with --metrics-token (or LETHE_METRICS_TOKEN).\n",
                ),
        );
    };
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if crate::crypto::constant_time_eq(sent.trim().as_bytes(), token.expose().trim().as_bytes()) {
        None
    } else {
        Some(
            HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"lethe-metrics\""))
                .content_type("text/plain; charset=utf-8")
                .body("Send the metrics token: Authorization: Bearer <token>.\n"),
        )
    }
}

async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refused) = metrics_refusal(&state, &req) {
        return refused;
    }
    let (ws, sess) = state
        .db
        .run(instance::gauges)
        .await
        .map_or((-1, -1), |g| (g.workspaces, g.console_sessions));
    let mut body = state.metrics.render(&[
        ("lethe_workspaces", "Workspaces on this instance.", ws),
        (
            "lethe_console_sessions",
            "Logged-in console sessions.",
            sess,
        ),
    ]);
    // (Batches + decisions) per commit is the grouping the group-commit writer achieves.
    let stats = &state.writer.stats;
    for (name, help, value) in [
        (
            "lethe_record_writer_commits_total",
            "Transactions committed by the record writer.",
            &stats.commits,
        ),
        (
            "lethe_record_writer_batches_total",
            "Ingested batches written (each in one of those commits).",
            &stats.batches,
        ),
        (
            "lethe_record_writer_records_total",
            "Records the writer handled.",
            &stats.records,
        ),
        (
            "lethe_record_writer_decisions_total",
            "Consent decisions written (each in one of those commits).",
            &stats.decisions,
        ),
        // Receipts per signature is the grouping the receipt signer achieves.
        (
            "lethe_receipt_signatures_total",
            "Ed25519 signatures made over consent receipts.",
            &state.receipt_signer.stats.signatures,
        ),
        (
            "lethe_receipts_signed_total",
            "Consent receipts those signatures cover.",
            &state.receipt_signer.stats.receipts,
        ),
    ] {
        let value = value.load(std::sync::atomic::Ordering::Relaxed);
        body.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    }
    if let Ok((rules, jobs)) = state.db.run(crate::services::retention::metrics).await {
        body.push_str(&retention_metrics(&rules, &jobs));
    }
    let now = chrono::Utc::now();
    if let Ok(counts) = state
        .db
        .run(move |db| crate::services::requests::metrics(db, now))
        .await
    {
        body.push_str(&request_metrics(&counts));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// Per workspace: data subject requests still open, and those of them past their deadline in
/// force (an extended one counts from its extension).
fn request_metrics(counts: &[crate::services::requests::RequestCounts]) -> String {
    use std::fmt::Write;
    let label = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::new();
    for (name, help, value) in [
        (
            "lethe_requests_open",
            "Data subject requests not yet completed, denied or expired.",
            (|c: &crate::services::requests::RequestCounts| c.open) as fn(&_) -> i64,
        ),
        (
            "lethe_requests_overdue",
            "Open data subject requests past their deadline in force.",
            |c: &crate::services::requests::RequestCounts| c.overdue,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for c in counts {
            let _ = writeln!(
                out,
                "{name}{{workspace=\"{}\"}} {}",
                label(&c.workspace),
                value(c)
            );
        }
    }
    out
}

/// Per rule: when it last completed a run, its backlog and its claim's violations (from the
/// latest check); per job: when it last succeeded.
fn retention_metrics(
    rules: &[crate::services::retention::RuleMetrics],
    jobs: &[(String, chrono::DateTime<chrono::Utc>)],
) -> String {
    use std::fmt::Write;
    let label = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::new();
    out.push_str(
        "# HELP lethe_retention_last_success_timestamp_seconds When each rule last completed a run.\n\
         # TYPE lethe_retention_last_success_timestamp_seconds gauge\n",
    );
    for r in rules {
        if let Some(t) = r.last_success {
            let _ = writeln!(
                out,
                "lethe_retention_last_success_timestamp_seconds{{workspace=\"{}\",rule=\"{}\"}} {}",
                label(&r.workspace),
                label(&r.rule),
                t.timestamp()
            );
        }
    }
    for (name, help, value) in [
        (
            "lethe_retention_backlog_records",
            "Records past their rule and not yet deleted or anonymized, at the last claim check.",
            (|r: &crate::services::retention::RuleMetrics| r.backlog) as fn(&_) -> u64,
        ),
        (
            "lethe_retention_claim_violations",
            "Records that break the rule's claim (past it by more than one run interval).",
            |r: &crate::services::retention::RuleMetrics| r.violations,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for r in rules {
            let _ = writeln!(
                out,
                "{name}{{workspace=\"{}\",rule=\"{}\"}} {}",
                label(&r.workspace),
                label(&r.rule),
                value(r)
            );
        }
    }
    out.push_str(
        "# HELP lethe_job_last_success_timestamp_seconds When each scheduled job last succeeded.\n\
         # TYPE lethe_job_last_success_timestamp_seconds gauge\n",
    );
    for (name, t) in jobs {
        let _ = writeln!(
            out,
            "lethe_job_last_success_timestamp_seconds{{job=\"{}\"}} {}",
            label(name),
            t.timestamp()
        );
    }
    out
}

/// RFC 9116. The contact is the first administrator's address: the person who runs this Lethe.
async fn security_txt(state: web::Data<AppState>) -> HttpResponse {
    let admin = state
        .db
        .run(instance::security_contact)
        .await
        .ok()
        .flatten();
    let base = &state.base_url;
    let contact = admin.map_or_else(|| format!("{base}/console/"), |e| format!("mailto:{e}"));
    let expires = (chrono::Utc::now() + chrono::Duration::days(180)).format("%Y-%m-%dT00:00:00Z");
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "Contact: {contact}\nExpires: {expires}\nPreferred-Languages: en\n\
             Canonical: {base}/.well-known/security.txt\n"
        ))
}
