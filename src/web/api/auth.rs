//! API authentication: the bearer key becomes a workspace scope and a set of scopes.

use super::ApiError;
use crate::domain::apikey::Scope;
use crate::error::AppError;
use crate::services::Caller;
use crate::services::WorkspaceScope;
use crate::services::apikeys::{self, ApiKeyInfo};
use crate::web::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

/// An authenticated API caller.
pub struct ApiKey {
    pub workspace: WorkspaceScope,
    pub key: ApiKeyInfo,
    pub caller: Caller,
}

impl ApiKey {
    /// 403 unless the key carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.key.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(
                AppError::Forbidden(format!("this API key lacks the scope '{}'", scope.as_str()))
                    .into(),
            )
        }
    }
}

impl FromRequest for ApiKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let ip = crate::web::client_ip(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal(anyhow::anyhow!("no app state")))?;
            let presented = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    AppError::Unauthorized(
                        "send an API key as 'Authorization: Bearer <key>'".into(),
                    )
                })?
                .to_owned();
            // A key checked in the last second needs no database read (see KeyCache).
            let found = match state.api_keys.get(&presented, Instant::now()) {
                Some(found) => Some(found),
                None => {
                    let keys = state.api_keys.clone();
                    state
                        .db
                        .run(move |db| apikeys::authenticate(db, &keys, &presented))
                        .await?
                }
            };
            let (workspace, key) = found.ok_or_else(|| {
                AppError::Unauthorized("this API key is not valid, or has been revoked".into())
            })?;
            let caller = Caller {
                actor: crate::domain::audit::Actor::ApiKey {
                    id: key.id.clone(),
                    name: key.name.clone(),
                },
                ip,
            };
            Ok(ApiKey {
                workspace,
                key,
                caller,
            })
        })
    }
}
