//! A workspace's outbox: the latest messages Lethe queued or sent, with every delivery attempt.
//! Without an SMTP server, this is where e-mail can be read.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, ok};
use crate::domain::staff::Permission;
use crate::error::AppError;
use crate::store::outbox::{self, Attempt, Message};
use crate::web::AppState;
use actix_web::{HttpResponse, web};
use askama::Template;

const SHOWN: i64 = 100;

pub struct Row {
    pub message: Message,
    pub attempts: Vec<Attempt>,
}

#[derive(Template)]
#[template(path = "console/outbox.html")]
struct OutboxPage {
    shell: Shell,
    rows: Vec<Row>,
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
    let (messages, attempts, subscribers) = state
        .db
        .run(move |db| {
            db.read(|c| {
                let messages = outbox::list(c, &scope, SHOWN)?;
                let oldest = messages.last().map_or(i64::MAX, |m| m.id);
                Ok::<_, AppError>((
                    messages,
                    outbox::attempts_since(c, &scope, oldest)?,
                    outbox::subscriber_counts(c, &scope)?,
                ))
            })
        })
        .await?;
    let rows = messages
        .into_iter()
        .map(|message| Row {
            attempts: attempts
                .iter()
                .filter(|a| a.message_id == message.id)
                .cloned()
                .collect(),
            message,
        })
        .collect();
    ok(&OutboxPage {
        shell: Shell::in_workspace(&who, &member, "outbox"),
        rows,
        smtp_configured: state.config.smtp_url.is_some(),
        subscribers,
    })
}
