//! A workspace's outbox: the latest messages Lethe queued or sent, with every delivery attempt.
//! Without an SMTP server, this is where e-mail can be read. Recipients and bodies are stored
//! sealed; the page opens them for the staff who may see the outbox.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, ok};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::services::outbox::{self as service, OpenedMessage};
use crate::web::AppState;
use actix_web::{HttpResponse, web};
use askama::Template;

const SHOWN: i64 = 100;

#[derive(Template)]
#[template(path = "console/outbox.html")]
struct OutboxPage {
    shell: Shell,
    rows: Vec<OpenedMessage>,
    smtp_configured: bool,
    subscribers: (i64, i64),
}

pub async fn list(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ViewInventory)
        .await?;
    let scope = member.scope;
    let vault = state.vault.clone();
    let (rows, subscribers) = state
        .db
        .run(move |db| {
            Ok::<_, AppError>((
                service::recent_messages(db, &vault, &scope, SHOWN)?,
                service::subscriber_counts(db, &scope)?,
            ))
        })
        .await?;
    ok(&OutboxPage {
        shell: Shell::in_workspace(&who, &member, "outbox"),
        rows,
        smtp_configured: state.config.smtp_url.is_some(),
        subscribers,
    })
}
