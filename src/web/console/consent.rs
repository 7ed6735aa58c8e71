//! Consent in the console (issue 17): the rates per consent purpose over time (a server-drawn
//! SVG line chart, no JavaScript, and the same numbers as a table), the share of refusals Global
//! Privacy Control made, and one person's consent history, read with a reason and logged like
//! their records.

use super::error::PageError;
use super::session::SignedIn;
use super::subjects::{no_store, reader_or_page};
use super::{Shell, html, ok};
use crate::domain::consent::ConsentSource;
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::consent::{self, ConsentHistory};
use crate::services::consent_dashboard::{self, Chart, DAY_CHOICES, Rates};
use crate::services::inventory::{self, Names};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

/// Decisions shown per read of a person's history; older ones are said to exist.
const HISTORY_PER_READ: u32 = 200;

#[derive(Deserialize, Default)]
pub struct DaysQuery {
    #[serde(default)]
    days: String,
}

#[derive(Template)]
#[template(path = "console/consent.html")]
struct RatesPage {
    shell: Shell,
    rates: Rates,
    chart: Option<Chart>,
    choices: [u32; 3],
}

/// `GET /console/w/{slug}/consent`: counts only, no person, so everyone who sees the inventory
/// sees it, and nothing is logged.
pub async fn rates(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    query: web::Query<DaysQuery>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewInventory)
        .await?;
    let days = consent_dashboard::parse_days(&query.days);
    let scope = member.scope;
    let now = Utc::now();
    let rates = state
        .db
        .run(move |db| consent_dashboard::rates(db, &scope, now, days))
        .await?;
    let chart = consent_dashboard::chart(&rates);
    ok(&RatesPage {
        shell: Shell::in_workspace(&who, &member, "consent"),
        rates,
        chart,
        choices: DAY_CHOICES,
    })
}

#[derive(Template)]
#[template(path = "console/subject_consent.html")]
struct HistoryPage {
    shell: Shell,
    external_id: String,
    /// Why the read was refused (a restricted person, for anyone but the privacy officer).
    refused: Option<String>,
    history: Option<ConsentHistory>,
    reason: String,
    /// The inventory's names, for each purpose.
    names: Names,
}

#[derive(Deserialize, Default)]
pub struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/w/{slug}/subjects/{external_id}/consent`: the person's decisions and their
/// consent now, with the reader's reason in their access log.
pub async fn history(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, external_id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ReadRecords)
        .await?;
    who.check_csrf(&form.csrf)?;
    let typed = form.into_inner().reason;
    let reader = match reader_or_page(&state, &who, &member, &external_id, typed, |p, typed, m| {
        p.consent_reason = typed;
        p.consent_error = m;
    })
    .await?
    {
        Ok(reader) => reader,
        Err(page) => return Ok(page),
    };
    let reason = reader.reason.clone();
    let (scope, vault, id) = (member.scope, state.vault.clone(), external_id.clone());
    let now = Utc::now();
    let outcome = state
        .db
        .run(move |db| {
            let history =
                consent::read_history(db, &vault, &scope, &reader, &id, HISTORY_PER_READ, now)?;
            Ok::<_, AppError>((history, inventory::names(db, &scope)?))
        })
        .await;
    let mut view = HistoryPage {
        shell: Shell::in_workspace(&who, &member, "subjects"),
        external_id,
        refused: None,
        history: None,
        reason,
        names: Names::default(),
    };
    let status = match outcome {
        Ok((history, names)) => {
            view.history = Some(history);
            view.names = names;
            StatusCode::OK
        }
        // The service's refusal of a restricted person: shown inside the console, not bare.
        Err(AppError::Forbidden(message)) => {
            view.refused = Some(message);
            StatusCode::FORBIDDEN
        }
        Err(e) => return Err(e.into()),
    };
    Ok(no_store(html(status, &view)?))
}

impl HistoryPage {
    /// A purpose's current state in words.
    fn state(&self, state: &str) -> &'static str {
        state_text(state)
    }

    /// Where a decision came from, in words.
    fn source(&self, source: &ConsentSource) -> &'static str {
        match source {
            ConsentSource::Banner => "banner",
            ConsentSource::Api => "the operator's systems (API)",
            ConsentSource::Import => "import",
            ConsentSource::Gpc => "Global Privacy Control",
        }
    }
}

fn state_text(state: &str) -> &'static str {
    match state {
        "granted" => "granted",
        "refused" => "refused",
        "gpc" => "refused by Global Privacy Control",
        "not_asked" => "not asked yet",
        "restricted" => "refused: processing is restricted",
        "withdrawn" => "refused: consent withdrawn by request",
        "objected" => "refused: the person objected by request",
        "needs_renewal" => "needs renewal (given under an older material version)",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_the_service_gives_has_words() {
        for s in [
            "granted",
            "refused",
            "gpc",
            "not_asked",
            "restricted",
            "withdrawn",
            "objected",
            "needs_renewal",
        ] {
            assert_ne!(state_text(s), "unknown", "{s}");
        }
    }
}
