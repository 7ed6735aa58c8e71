//! `/api/v1/inventory`: the whole inventory in one document, and each item by key
//! (`GET`, `PUT` to create or replace, `DELETE`). Scopes `inventory:read` / `inventory:write`.

use super::ApiError;
use super::auth::ApiKey;
use super::problem::Problem;
use crate::domain::apikey::Scope;
use crate::domain::inventory::{
    DataCategory, Inventory, InventoryKind, LegalHold, Purpose, Recipient, RetentionRule, System,
};
use crate::services::inventory::{self as service, InventoryItem};
use crate::web::AppState;
use actix_web::{HttpRequest, HttpResponse, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/inventory", web::get().to(whole))
        .route("/inventory/check", web::get().to(check))
        .route("/inventory/taxonomy", web::get().to(taxonomy));
    item_routes(
        cfg,
        "categories",
        get_category,
        put_category,
        delete_category,
    );
    item_routes(cfg, "purposes", get_purpose, put_purpose, delete_purpose);
    item_routes(cfg, "systems", get_system, put_system, delete_system);
    item_routes(
        cfg,
        "recipients",
        get_recipient,
        put_recipient,
        delete_recipient,
    );
    item_routes(
        cfg,
        "retention-rules",
        get_retention_rule,
        put_retention_rule,
        delete_retention_rule,
    );
    item_routes(
        cfg,
        "legal-holds",
        get_legal_hold,
        put_legal_hold,
        delete_legal_hold,
    );
}

fn item_routes<G, P, D, Gr, Pr, Dr, Ga, Pa, Da>(
    cfg: &mut web::ServiceConfig,
    segment: &str,
    get: G,
    put: P,
    delete: D,
) where
    G: actix_web::Handler<Ga, Output = Gr>,
    P: actix_web::Handler<Pa, Output = Pr>,
    D: actix_web::Handler<Da, Output = Dr>,
    Ga: actix_web::FromRequest + 'static,
    Pa: actix_web::FromRequest + 'static,
    Da: actix_web::FromRequest + 'static,
    Gr: actix_web::Responder + 'static,
    Pr: actix_web::Responder + 'static,
    Dr: actix_web::Responder + 'static,
{
    let path = format!("/inventory/{segment}/{{key}}");
    cfg.route(&path, web::get().to(get))
        .route(&path, web::put().to(put))
        .route(&path, web::delete().to(delete));
}

/// The whole inventory of the key's workspace.
#[utoipa::path(
    get, path = "/api/v1/inventory", tag = "inventory", operation_id = "get_inventory",
    security(("api_key" = ["inventory:read"])),
    responses(
        (status = 200, description = "Every item of the inventory", body = Inventory,
            headers(("ETag" = String, description = "Send it back in If-None-Match to get 304 while the inventory is unchanged"))),
        (status = 304, description = "Unchanged since the ETag sent in If-None-Match"),
        (status = 403, description = "The key lacks inventory:read", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn whole(
    state: web::Data<AppState>,
    key: ApiKey,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // The key's scope and workspace are checked before anything kept is looked at; the cache
    // is keyed by that workspace.
    key.require(Scope::InventoryRead)?;
    let scope = key.workspace;
    let cache = state.read_cache.clone();
    let cached = state
        .db
        .run(move |db| cache.inventory_json(db, &scope))
        .await?;
    Ok(crate::web::cached::respond(
        &req,
        cached,
        "application/json",
    ))
}

/// What would make the published policy false or empty: errors block publication, warnings
/// must be confirmed when publishing. Errors first.
#[utoipa::path(
    get, path = "/api/v1/inventory/check", tag = "inventory", operation_id = "check_inventory",
    security(("api_key" = ["inventory:read"])),
    responses(
        (status = 200, description = "The findings, errors first; empty when all is well", body = Vec<crate::domain::inventory_check::Finding>),
        (status = 403, description = "The key lacks inventory:read", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn check(state: web::Data<AppState>, key: ApiKey) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryRead)?;
    let scope = key.workspace;
    let findings = state.db.run(move |db| service::check(db, &scope)).await?;
    Ok(HttpResponse::Ok().json(findings))
}

/// The default taxonomy of data categories (fideslang keys) to start an inventory from.
#[utoipa::path(
    get, path = "/api/v1/inventory/taxonomy", tag = "inventory", operation_id = "get_taxonomy",
    security(("api_key" = ["inventory:read"])),
    responses((status = 200, description = "Suggested data categories", body = Vec<crate::domain::taxonomy::TaxonomyEntry>))
)]
pub async fn taxonomy(key: ApiKey) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryRead)?;
    Ok(HttpResponse::Ok().json(crate::domain::taxonomy::DEFAULT_TAXONOMY))
}

async fn get_item<T: InventoryItem>(
    state: web::Data<AppState>,
    key: ApiKey,
    item: String,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryRead)?;
    let scope = key.workspace;
    let found = state
        .db
        .run(move |db| service::get::<T>(db, &scope, &item))
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

async fn put_item<T: InventoryItem>(
    state: web::Data<AppState>,
    key: ApiKey,
    item_key: String,
    body: T,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryWrite)?;
    let (scope, caller) = (key.workspace, key.caller.clone());
    let (item, created) = state
        .db
        .run(move |db| service::put(db, &caller, &scope, &item_key, body))
        .await?;
    Ok(if created {
        HttpResponse::Created().json(item)
    } else {
        HttpResponse::Ok().json(item)
    })
}

async fn delete_item(
    state: web::Data<AppState>,
    key: ApiKey,
    kind: InventoryKind,
    item: String,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::InventoryWrite)?;
    let (scope, caller) = (key.workspace, key.caller.clone());
    state
        .db
        .run(move |db| service::delete(db, &caller, &scope, kind, &item))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One kind's three handlers with their OpenAPI descriptions.
macro_rules! item_handlers {
    ($ty:ident, $kind:expr, $what:literal, $path:literal,
     $get:ident = $get_id:literal, $put:ident = $put_id:literal, $delete:ident = $delete_id:literal) => {
        #[doc = concat!("One ", $what, " by key.")]
        #[utoipa::path(
            get, path = $path, tag = "inventory", operation_id = $get_id,
            security(("api_key" = ["inventory:read"])),
            params(("key" = String, Path, description = "The item's key")),
            responses(
                (status = 200, description = "The item", body = $ty),
                (status = 404, description = "No such item in this workspace", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $get(state: web::Data<AppState>, key: ApiKey, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
            get_item::<$ty>(state, key, path.into_inner()).await
        }

        #[doc = concat!("Creates (201) or replaces (200) a ", $what, "; the body's key must match the address.")]
        #[utoipa::path(
            put, path = $path, tag = "inventory", operation_id = $put_id,
            security(("api_key" = ["inventory:write"])),
            params(("key" = String, Path, description = "The item's key")),
            request_body = $ty,
            responses(
                (status = 200, description = "Replaced", body = $ty),
                (status = 201, description = "Created", body = $ty),
                (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid item, or it names a category that does not exist; nothing was changed", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $put(
            state: web::Data<AppState>,
            key: ApiKey,
            path: web::Path<String>,
            body: super::JsonObject<$ty>,
        ) -> Result<HttpResponse, ApiError> {
            put_item::<$ty>(state, key, path.into_inner(), body.into_inner()).await
        }

        #[doc = concat!("Deletes a ", $what, ".")]
        #[utoipa::path(
            delete, path = $path, tag = "inventory", operation_id = $delete_id,
            security(("api_key" = ["inventory:write"])),
            params(("key" = String, Path, description = "The item's key")),
            responses(
                (status = 204, description = "Deleted"),
                (status = 404, description = "No such item in this workspace", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Still referenced (a category used by a purpose, recipient, system, rule or hold)", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $delete(state: web::Data<AppState>, key: ApiKey, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
            delete_item(state, key, $kind, path.into_inner()).await
        }
    };
}

item_handlers!(
    DataCategory,
    InventoryKind::Categories,
    "data category",
    "/api/v1/inventory/categories/{key}",
    get_category = "get_category",
    put_category = "put_category",
    delete_category = "delete_category"
);
item_handlers!(
    Purpose,
    InventoryKind::Purposes,
    "purpose",
    "/api/v1/inventory/purposes/{key}",
    get_purpose = "get_purpose",
    put_purpose = "put_purpose",
    delete_purpose = "delete_purpose"
);
item_handlers!(
    System,
    InventoryKind::Systems,
    "system",
    "/api/v1/inventory/systems/{key}",
    get_system = "get_system",
    put_system = "put_system",
    delete_system = "delete_system"
);
item_handlers!(
    Recipient,
    InventoryKind::Recipients,
    "recipient",
    "/api/v1/inventory/recipients/{key}",
    get_recipient = "get_recipient",
    put_recipient = "put_recipient",
    delete_recipient = "delete_recipient"
);
item_handlers!(
    RetentionRule,
    InventoryKind::RetentionRules,
    "retention rule",
    "/api/v1/inventory/retention-rules/{key}",
    get_retention_rule = "get_retention_rule",
    put_retention_rule = "put_retention_rule",
    delete_retention_rule = "delete_retention_rule"
);
item_handlers!(
    LegalHold,
    InventoryKind::LegalHolds,
    "legal hold",
    "/api/v1/inventory/legal-holds/{key}",
    get_legal_hold = "get_legal_hold",
    put_legal_hold = "put_legal_hold",
    delete_legal_hold = "delete_legal_hold"
);
