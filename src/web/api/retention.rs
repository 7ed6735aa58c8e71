//! `/api/v1/retention`: the rules' status (next runs, last run, claim), the run history, and
//! runs started by hand or dry (scopes `retention:read`, `retention:write`).

use super::ApiError;
use super::auth::ApiKey;
use crate::domain::apikey::Scope;
use crate::services::retention::{self, DryRunReport, RuleStatus, RunView};
use crate::web::AppState;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Every retention rule with its next three runs, its last run and its claim's latest check.
#[utoipa::path(
    get, path = "/api/v1/retention/rules", tag = "retention", operation_id = "list_retention_rules",
    security(("api_key" = ["retention:read"])),
    responses(
        (status = 200, description = "The rules and their status", body = Vec<RuleStatus>),
        (status = 403, description = "The key lacks retention:read", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rules(state: web::Data<AppState>, key: ApiKey) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RetentionRead)?;
    let scope = key.workspace;
    let statuses = state
        .db
        .run(move |db| retention::rule_statuses(db, &scope, chrono::Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(statuses))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// Only the runs of this rule.
    pub rule: Option<String>,
    /// Page size, 1 to 500 (default 50); a larger number is taken as 500.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295.0)]
    pub limit: Option<u32>,
}

/// The run history, newest first: every run (and dry run) with what it did.
#[utoipa::path(
    get, path = "/api/v1/retention/runs", tag = "retention", operation_id = "list_retention_runs",
    security(("api_key" = ["retention:read"])),
    params(RunsQuery),
    responses(
        (status = 200, description = "Runs, newest first", body = Vec<RunView>),
        (status = 400, description = "A query parameter that does not parse, or one this operation does not take (named)", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks retention:read", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn runs(
    state: web::Data<AppState>,
    key: ApiKey,
    query: super::ApiQuery<RunsQuery>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RetentionRead)?;
    let scope = key.workspace;
    let RunsQuery { rule, limit } = query.into_inner()?;
    let list = state
        .db
        .run(move |db| retention::list_runs(db, &scope, rule.as_deref(), limit.unwrap_or(50)))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One run.
#[utoipa::path(
    get, path = "/api/v1/retention/runs/{id}", tag = "retention", operation_id = "get_retention_run",
    security(("api_key" = ["retention:read"])),
    params(("id" = i64, Path, description = "The run's number")),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 404, description = "No such run in this workspace", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn run(
    state: web::Data<AppState>,
    key: ApiKey,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RetentionRead)?;
    let (scope, id) = (key.workspace, path.into_inner());
    let view = state
        .db
        .run(move |db| retention::get_run(db, &scope, id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRuns {
    /// One rule by key; every enabled rule when absent.
    #[serde(default)]
    pub rule: Option<String>,
    /// Count and show examples; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The runs just started; follow them at `GET /api/v1/retention/runs/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedRuns {
    pub runs: Vec<StartedRun>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StartedRun {
    pub id: i64,
    pub rule: String,
    /// Where to follow it.
    pub url: String,
}

/// Starts retention runs by hand. A dry run answers at once with what each rule would do; a real
/// run is accepted (202) and runs in the background, one rule after the other. Only one run at
/// a time per workspace: while another is in progress the answer is 409.
#[utoipa::path(
    post, path = "/api/v1/retention/runs", tag = "retention", operation_id = "start_retention_runs",
    security(("api_key" = ["retention:write"])),
    request_body(content = Option<StartRuns>, description = "Which rule, and whether dry; `{}` runs every enabled rule"),
    responses(
        (status = 200, description = "Dry run: what each rule would do", body = Vec<DryRunReport>),
        (status = 202, description = "Started; follow each run", body = StartedRuns),
        (status = 403, description = "The key lacks retention:write", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A run is already in progress in this workspace", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Nothing to run (no enabled rule)", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn start(
    state: web::Data<AppState>,
    key: ApiKey,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    key.require(Scope::RetentionWrite)?;
    let StartRuns { rule, dry_run } = super::optional_json(&body)?;
    let (scope, caller, vault) = (key.workspace, key.caller.clone(), state.vault.clone());
    if dry_run {
        let reports = state
            .db
            .run(move |db| {
                let now = chrono::Utc::now();
                retention::rules_to_run(db, &scope, rule.as_deref())?
                    .iter()
                    .map(|r| retention::dry_run(db, &vault, &scope, &caller, r, now))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        return Ok(HttpResponse::Ok().json(reports));
    }
    let (batch, stop) = (state.config.retention_batch_size, state.stop.clone());
    let live = state.writer.stats.clone();
    let started = state
        .db
        .run(move |db| {
            retention::start_in_background(
                db,
                &vault,
                &scope,
                &caller,
                rule.as_deref(),
                batch,
                Some(live),
                std::sync::Arc::new(move || stop.is_set()),
            )
        })
        .await?
        .into_iter()
        .map(|(rule, id)| StartedRun {
            id,
            rule,
            url: format!("/api/v1/retention/runs/{id}"),
        })
        .collect();
    Ok(HttpResponse::Accepted().json(StartedRuns { runs: started }))
}
