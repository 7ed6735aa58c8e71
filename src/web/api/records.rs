//! `POST /api/v1/records`: batches of personal-data records from the operator's systems, as a
//! JSON object `{"records": [...]}` or as NDJSON (one record per line).

use super::ApiError;
use super::auth::ApiKey;
use crate::domain::apikey::Scope;
use crate::domain::record::{Receipt, RecordBatch, RecordInput, ndjson_records};
use crate::error::AppError;
use crate::services::records::Idempotency;
use crate::services::records::{Ingested, ingest};
use crate::web::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

fn idempotency(
    req: &HttpRequest,
    content_type: &str,
    body: &[u8],
) -> Result<Option<Idempotency>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()) && k.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError(AppError::BadRequest(
                "Idempotency-Key: give 1 to 255 visible ASCII characters, e.g. a UUID".into(),
            ))
        })?;
    let mut digest_input = content_type.as_bytes().to_vec();
    digest_input.push(b'\n');
    digest_input.extend_from_slice(body);
    Ok(Some(Idempotency {
        key: key.to_owned(),
        request_digest: crate::crypto::sha256_hex(&digest_input),
    }))
}

/// Stores a batch of records (scope `records:write`): all of them, or none with a 422 naming
/// every bad record and field. Send `Idempotency-Key` to make retries safe: a retried batch
/// gets its first receipt and stores nothing twice. As `application/x-ndjson` the body is the
/// records one JSON object a line, without an enclosing array (described here as that array).
#[utoipa::path(
    post, path = "/api/v1/records", tag = "vault", operation_id = "ingest_records",
    security(("api_key" = ["records:write"])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe: the same key and body return the first receipt. 1 to 255 visible ASCII characters, e.g. a UUID")),
    request_body(content(
        (RecordBatch = "application/json"),
        (Vec<RecordInput> = "application/x-ndjson", example = json!([{"category": "usage.message_log", "subject": "cus_1", "occurred_at": "2026-11-22T10:00:00Z", "fields": {}}])),
    )),
    responses(
        (status = 201, description = "Stored and durable", body = Receipt),
        (status = 200, description = "A retry: the receipt of the batch stored earlier with this Idempotency-Key", body = Receipt),
        (status = 400, description = "Malformed JSON or NDJSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks records:write", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor NDJSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad records, named by index and field; nothing was stored", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: ApiKey,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RecordsWrite)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let records = match content_type.as_str() {
        "application/json" => {
            let batch: RecordBatch = super::json_object(&body)?;
            batch.records
        }
        "application/x-ndjson" | "application/jsonl" | "application/ndjson" => {
            let text = std::str::from_utf8(&body)
                .map_err(|_| ApiError(AppError::BadRequest("the body is not UTF-8".into())))?;
            ndjson_records(text).map_err(|e| {
                ApiError(AppError::BadRequest(format!(
                    "the body is not valid NDJSON: {e}"
                )))
            })?
        }
        _ => {
            return Err(ApiError(AppError::UnsupportedMediaType(
                "send the batch as application/json ({\"records\": [...]}) or application/x-ndjson (one record per line)".into(),
            )));
        }
    };
    let idempotency = idempotency(&req, &content_type, &body)?;
    let outcome = ingest(
        &state.db,
        &state.vault,
        &state.writer,
        state.ip_countries.clone(),
        key.workspace,
        records,
        idempotency,
    )
    .await?;
    Ok(match outcome {
        Ingested::Stored(receipt) => HttpResponse::Created().json(receipt),
        Ingested::Replayed(receipt) => HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(receipt),
    })
}
