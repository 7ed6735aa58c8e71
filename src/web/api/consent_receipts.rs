//! `/api/v1/consent/receipts/verify`: checking a signed consent receipt against the key's
//! workspace's signing key.

use super::ApiError;
use super::auth::ApiKey;
use crate::domain::apikey::Scope;
use crate::domain::consent_receipt::SignedReceipt;
use crate::services::consent_receipts::{self, Verification};
use crate::web::AppState;
use actix_web::{HttpResponse, web};

type Problem = super::problem::Problem;

/// Checks a consent receipt a person holds, exactly as they hold it (scope `consent:read`).
/// The receipt is checked against this workspace's key only. 200 for every receipt of this
/// format: `valid: true` when this workspace's key signed it and nothing changed since, else
/// `valid: false` with a `reason` — `unknown_key` (another workspace's key, or a made-up key id)
/// or `bad_signature` (a field, or the signature, was changed). A body that is not a receipt is
/// 422. Nothing of the receipt is stored or logged. The same check can be made without Lethe:
/// see the privacy center's `/p/{workspace}/consent/public-key`.
#[utoipa::path(
    post, path = "/api/v1/consent/receipts/verify", tag = "consent", operation_id = "verify_consent_receipt",
    security(("api_key" = ["consent:read"])),
    request_body = SignedReceipt,
    responses(
        (status = 200, description = "The verdict: valid, or not and why", body = Verification),
        (status = 422, description = "Not a consent receipt of the format `lethe-consent-receipt/1` (the field is named)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify(
    state: web::Data<AppState>,
    key: ApiKey,
    body: super::JsonObject<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::ConsentRead)?;
    let (scope, vault) = (key.workspace, state.vault.clone());
    let receipt = body.into_inner();
    let verdict = state
        .db
        .run(move |_| consent_receipts::verify(&vault, &scope, &receipt))
        .await?;
    Ok(HttpResponse::Ok().json(verdict))
}
