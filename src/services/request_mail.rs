//! E-mails to the person a data subject request is about, queued through the outbox in the
//! transaction of the step they tell about (verification, extension, completion, denial), so a
//! step and its e-mail commit together or not at all.
//!
//! Each e-mail carries a fresh status link: only token digests are stored, so an earlier link
//! cannot be written again; every link sent keeps working while the request exists.

use super::emails;
use super::outbox::{OutboxKey, Outgoing, queue};
use crate::domain::request::{DenialReason, RequestType};
use crate::error::AppError;
use crate::store::outbox::Kind;
use crate::store::request_links::{self, LinkPurpose};
use crate::store::{Transaction, WorkspaceScope, workspaces};
use chrono::{DateTime, Utc};

/// What an e-mail tells the person.
pub enum Notice<'a> {
    /// The privacy center's request: confirm the address through `link` within `hours`.
    Verify {
        link: &'a str,
        hours: i64,
    },
    Verified {
        due: DateTime<Utc>,
    },
    Extended {
        due: DateTime<Utc>,
        reason: &'a str,
    },
    /// Done; `answer` tells what was done (what a legal hold keeps, or that no data is held).
    Completed {
        answer: Option<&'a str>,
    },
    Denied {
        reason: DenialReason,
        text: Option<&'a str>,
    },
}

/// Where a request's e-mails go from: the transaction, the workspace's outbox key and the public
/// address links are built from (never a request's `Host`).
pub struct Letters<'a, 't> {
    pub tx: &'a Transaction<'t>,
    pub scope: &'a WorkspaceScope,
    pub outbox: &'a OutboxKey,
    pub base_url: &'a str,
}

/// A new status link of a request: the token goes into the e-mail, its digest into the store.
pub fn new_status_link(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    slug: &str,
    base_url: &str,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let token = crate::crypto::random_token(32);
    let digest = crate::crypto::sha256_hex(&token);
    request_links::insert(
        tx,
        scope,
        request_id,
        LinkPurpose::Status,
        &digest,
        None,
        now,
    )?;
    Ok(format!("{base_url}/p/{slug}/requests/status/{token}"))
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

impl Letters<'_, '_> {
    /// Queues `notice` to `to` about the request `request_id` of type `kind`.
    pub fn send(
        &self,
        request_id: &str,
        kind: RequestType,
        to: &str,
        notice: Notice<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let workspace = workspaces::get(self.tx, self.scope)?;
        let status = new_status_link(
            self.tx,
            self.scope,
            &workspace.slug,
            self.base_url,
            request_id,
            now,
        )?;
        let (name, code, description) = (
            workspace.settings.legal_name.as_str(),
            kind.as_str(),
            kind.description(),
        );
        let mail = match notice {
            Notice::Verify { link, hours } => emails::render(&emails::RequestVerify {
                name,
                kind: code,
                description,
                status: &status,
                hours,
                link,
            }),
            Notice::Verified { due } => emails::render(&emails::RequestVerified {
                name,
                kind: code,
                description,
                status: &status,
                due: day(due),
            }),
            Notice::Extended { due, reason } => emails::render(&emails::RequestExtended {
                name,
                kind: code,
                description,
                status: &status,
                due: day(due),
                reason,
            }),
            Notice::Completed { answer } => emails::render(&emails::RequestCompleted {
                name,
                kind: code,
                description,
                status: &status,
                answer,
            }),
            Notice::Denied { reason, text } => emails::render(&emails::RequestDenied {
                name,
                kind: code,
                description,
                status: &status,
                reason: reason.description(),
                text,
            }),
        }?;
        queue(
            self.tx,
            self.outbox,
            &Outgoing {
                kind: Kind::Email,
                recipient: to,
                endpoint_id: None,
                subscriber_id: None,
                subject: &mail.subject,
                body: &mail.body,
            },
            now,
        )?;
        Ok(())
    }
}
