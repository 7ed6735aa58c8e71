//! `lethe doctor`'s checks for administrators, run when the page is opened: the same findings
//! as the command, on the configuration this server runs with.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, ok};
use crate::domain::doctor::Finding;
use crate::error::AppError;
use crate::services;
use crate::web::AppState;
use actix_web::{HttpResponse, web};
use askama::Template;

#[derive(Template)]
#[template(path = "console/doctor.html")]
struct DoctorPage {
    shell: Shell,
    findings: Vec<Finding>,
}

pub async fn show(state: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    // The findings name files and paths of the machine: the instance's, not a workspace's.
    if !who.account.is_admin {
        return Err(
            AppError::Forbidden("Only administrators see the health checks.".into()).into(),
        );
    }
    let config = state.config.clone();
    // A blocking thread: the checks read files and may wait up to 3 s for the SMTP server.
    let findings = state
        .db
        .run(move |_| Ok::<_, AppError>(services::doctor::run(&config, chrono::Utc::now())))
        .await?;
    ok(&DoctorPage {
        shell: Shell::new(&who, "doctor"),
        findings,
    })
}
