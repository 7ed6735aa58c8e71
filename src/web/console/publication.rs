//! Publishing a draft from the console: a review page (the check, the notice period, the diff
//! against the version in force, the text) with the publish form, and the publication itself.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, html, see_other};
use crate::domain::ValidationErrors;
use crate::domain::inventory_check::Finding;
use crate::domain::policy_diff::{Change, DiffLine};
use crate::domain::staff::{Permission, Role};
use crate::error::AppError;
use crate::services::publication::{self as service, PublishRequest, Review};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "console/policy_publish.html")]
struct ReviewPage {
    shell: Shell,
    version: i64,
    material: bool,
    summary: String,
    errors_found: Vec<Finding>,
    warnings: Vec<Finding>,
    in_force: Option<i64>,
    /// The diff against the version in force (the rows of `console/diff_rows.html`).
    lines: Vec<DiffLine>,
    preview_html: String,
    notice_days: u16,
    /// The first day (YYYY-MM-DD) a material draft may take effect without a reason.
    earliest: String,
    today: String,
    /// Owners may record why a material change cannot wait for the notice period.
    can_waive: bool,
    /// What was sent, when a publication was refused.
    form: PublishForm,
    errors: ValidationErrors,
}

#[derive(Deserialize, Default)]
pub struct PublishForm {
    /// A date (YYYY-MM-DD); today or empty means now.
    #[serde(default)]
    effective_on: String,
    /// The "publish despite the warnings" box.
    confirm_warnings: Option<String>,
    #[serde(default)]
    notice_waiver: String,
    #[serde(default)]
    csrf: String,
}

async fn review_page(
    state: &AppState,
    who: &SignedIn,
    slug: &str,
    version: i64,
    status: StatusCode,
    form: PublishForm,
    errors: ValidationErrors,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(state, slug, Permission::PublishPolicy)
        .await?;
    let scope = member.scope;
    let review: Review = state
        .db
        .run(move |db| service::review(db, &scope, version))
        .await?;
    if review.draft.published {
        return Ok(see_other(&format!("/console/w/{slug}/policy/{version}")));
    }
    let today = Utc::now().date_naive().to_string();
    let earliest = if review.draft.material {
        review.earliest_material_effect.date_naive().to_string()
    } else {
        today.clone()
    };
    let form = PublishForm {
        effective_on: if form.effective_on.is_empty() {
            earliest.clone()
        } else {
            form.effective_on
        },
        ..form
    };
    html(
        status,
        &ReviewPage {
            shell: Shell::in_workspace(who, &member, "policy"),
            version,
            material: review.draft.material,
            summary: review.draft.summary.clone(),
            errors_found: review.errors().cloned().collect(),
            warnings: review.warnings().cloned().collect(),
            in_force: review.in_force.as_ref().map(|v| v.version),
            lines: review.diff,
            preview_html: review.rendered_html,
            notice_days: review.notice_days,
            earliest,
            today,
            can_waive: member.roles.contains(Role::Owner),
            form,
            errors,
        },
    )
}

pub async fn review(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, PageError> {
    let (slug, version) = path.into_inner();
    review_page(
        &state,
        &who,
        &slug,
        version,
        StatusCode::OK,
        PublishForm::default(),
        ValidationErrors::default(),
    )
    .await
}

pub async fn publish(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, i64)>,
    form: web::Form<PublishForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, version) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::PublishPolicy)
        .await?;
    who.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let waiver = Some(form.notice_waiver.trim().to_owned()).filter(|w| !w.is_empty());
    if waiver.is_some() && !member.roles.contains(Role::Owner) {
        return Err(AppError::Forbidden(
            "only an owner can let a material change apply inside the notice period".into(),
        )
        .into());
    }
    let request = match effective_at(&form.effective_on) {
        Ok(effective_at) => PublishRequest {
            effective_at,
            confirm_warnings: form.confirm_warnings.is_some(),
            notice_waiver: waiver,
        },
        Err(errors) => {
            return review_page(
                &state,
                &who,
                &slug,
                version,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
            )
            .await;
        }
    };
    let (scope, caller) = (member.scope, who.caller.clone());
    let outcome = state
        .db
        .run(move |db| service::publish(db, &caller, &scope, version, &request))
        .await;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/console/w/{slug}/policy"))),
        Err(AppError::Validation(errors)) => {
            review_page(
                &state,
                &who,
                &slug,
                version,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Today (or nothing) means now; a later day means the start of that day, UTC.
fn effective_at(raw: &str) -> Result<Option<chrono::DateTime<Utc>>, ValidationErrors> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| ValidationErrors::single("effective_on", "use a date like 2026-12-01"))?;
    Ok((day > Utc::now().date_naive())
        .then(|| day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
        .flatten())
}
