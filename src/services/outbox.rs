//! The outbox: everything Lethe sends is first a row in one durable queue, written in the same
//! transaction as the change that caused it; a sender job delivers it later, outside any
//! transaction, and records every attempt. Failed deliveries are retried with exponential backoff
//! and give up after a number of attempts; a webhook endpoint that keeps failing is disabled.
//!
//! Also here: e-mail subscriptions to policy changes (double opt-in) and the announcement of each
//! material policy version when it takes effect, exactly once.

use super::Caller;
use crate::config::Config;
use crate::domain::{Email, ValidationErrors};
use crate::error::AppError;
use crate::mail::Mailer;
use crate::store::outbox::{self, Claimed, Endpoint, Kind, NewMessage, Subscribe};
use crate::store::{Db, StoreError, WorkspaceScope, audit, policies, workspaces};
use crate::vault::Vault;
use crate::webhooks::WebhookClient;
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

/// The one event there is so far.
pub const POLICY_PUBLISHED: &str = "policy.published";
/// Messages claimed per batch, and batches per run (the rest waits for the next run).
const BATCH: i64 = 10;
const MAX_BATCHES: usize = 50;
/// A claimed message nobody finished (the sender died) is retried after this.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// At most one confirmation e-mail per address in this time.
const RESEND_AFTER: chrono::Duration = chrono::Duration::minutes(10);
/// How long a confirmation link works.
const CONFIRM_DAYS: i64 = 7;

/// The delay before retry number `failures` (1 after the first failure): base · 2^(failures-1),
/// at most an hour.
pub fn backoff(base: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

/// What the sender delivers with.
#[derive(Clone)]
pub struct Sender {
    pub mailer: Option<Mailer>,
    /// Opens the endpoints' sealed signing secrets.
    pub vault: Vault,
    pub webhooks: WebhookClient,
    pub retry_base: Duration,
    pub max_attempts: u32,
    pub disable_after: u32,
}

impl Sender {
    pub fn from_config(config: &Config, vault: Vault) -> Result<Self, String> {
        Ok(Sender {
            mailer: Mailer::from_config(config)?,
            vault,
            webhooks: WebhookClient::new(config.webhook_allow_private)?,
            retry_base: config.outbox_retry_base,
            max_attempts: config.outbox_max_attempts.max(1),
            disable_after: config.webhook_disable_after.max(1),
        })
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    pub sent: usize,
    pub failed_attempts: usize,
}

/// Claims due messages in small batches and delivers them. No transaction is open while a
/// message is on the wire.
pub async fn deliver_due(db: &Db, sender: &Sender) -> Result<RunSummary, AppError> {
    let mut summary = RunSummary::default();
    let with_email = sender.mailer.is_some();
    for _ in 0..MAX_BATCHES {
        let batch = db
            .run(move |db| {
                let now = Utc::now();
                db.write(|tx| {
                    Ok::<_, AppError>(outbox::claim_due(tx, now, now + LEASE, with_email, BATCH)?)
                })
            })
            .await?;
        if batch.is_empty() {
            break;
        }
        // The batch goes out concurrently (lettre pools SMTP connections), each message recording
        // its own attempt.
        let mut running = tokio::task::JoinSet::new();
        for message in batch {
            running.spawn(deliver_one(db.clone(), sender.clone(), message));
        }
        while let Some(done) = running.join_next().await {
            match done.map_err(|e| StoreError::Join(e.to_string()))? {
                Ok(true) => summary.sent += 1,
                Ok(false) => summary.failed_attempts += 1,
                Err(e) => {
                    // The claim's lease brings the message back later.
                    e.log();
                    summary.failed_attempts += 1;
                }
            }
        }
    }
    Ok(summary)
}

/// Delivers one claimed message and records the attempt. True when it was delivered.
async fn deliver_one(db: Db, sender: Sender, m: Claimed) -> Result<bool, AppError> {
    if let Some(endpoint_id) = m.endpoint_id {
        let enabled = db
            .run(move |db| {
                db.read(|c| Ok::<_, AppError>(outbox::endpoint_enabled(c, endpoint_id)?))
            })
            .await?;
        if !enabled {
            let id = m.id;
            db.run(move |db| {
                db.write(|tx| {
                    Ok::<_, AppError>(outbox::mark_disabled(tx, id, "the endpoint is disabled")?)
                })
            })
            .await?;
            return Ok(false);
        }
    }
    let started = Instant::now();
    let at = Utc::now();
    let outcome = match (m.kind, &sender.mailer) {
        (Kind::Email, Some(mailer)) => mailer.send(&m.recipient, &m.subject, &m.body).await,
        (Kind::Email, None) => Err("no SMTP server is configured".to_owned()),
        (Kind::Webhook, _) => match (&m.secret, m.endpoint_id, m.endpoint_workspace) {
            (Some(sealed), Some(_), Some(workspace)) => {
                match sender
                    .vault
                    .open_secret(&webhook_context(workspace), sealed)
                {
                    Ok(secret) => {
                        sender
                            .webhooks
                            .post(&m.recipient, &secret, &m.subject, &m.body)
                            .await
                    }
                    Err(e) => Err(format!("the signing secret could not be opened: {e}")),
                }
            }
            _ => Err("the endpoint was deleted".to_owned()),
        },
    };
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (retry_base, max_attempts, disable_after) =
        (sender.retry_base, sender.max_attempts, sender.disable_after);
    let delivered = outcome.is_ok();
    if let Err(e) = &outcome {
        tracing::warn!(message = m.id, kind = m.kind.as_str(), error = %e, "delivery failed");
    }
    db.run(move |db| {
        let now = Utc::now();
        db.write(|tx| {
            let error = outcome.as_ref().err().map(String::as_str);
            outbox::record_attempt(tx, m.id, at, latency_ms, error)?;
            match error {
                None => {
                    outbox::mark_sent(tx, m.id, now)?;
                    if let Some(endpoint) = m.endpoint_id {
                        outbox::endpoint_succeeded(tx, endpoint)?;
                    }
                }
                Some(error) => {
                    let failures = u32::try_from(m.attempts + 1).unwrap_or(u32::MAX);
                    let retry_at = (failures < max_attempts).then(|| {
                        now + chrono::Duration::from_std(backoff(retry_base, failures))
                            .unwrap_or(chrono::Duration::hours(1))
                    });
                    outbox::mark_failed_attempt(tx, m.id, retry_at, error)?;
                    if let Some(endpoint) = m.endpoint_id
                        && outbox::endpoint_failed(tx, endpoint, i64::from(disable_after), now)?
                    {
                        tracing::warn!(
                            endpoint,
                            "webhook endpoint disabled after repeated failures"
                        );
                    }
                }
            }
            Ok::<_, AppError>(())
        })
    })
    .await?;
    Ok(delivered)
}

// ---- webhook endpoints -------------------------------------------------------------------------

/// What a webhook secret is bound to when sealed.
pub(crate) fn webhook_context(workspace_id: i64) -> String {
    format!("webhook/{workspace_id}")
}

/// Registers an endpoint for `policy.published`; returns it with its signing secret, which is
/// shown to the person once.
pub fn create_endpoint(
    db: &Db,
    vault: &Vault,
    caller: &Caller,
    scope: &WorkspaceScope,
    url: &str,
    allow_private: bool,
) -> Result<(Endpoint, String), AppError> {
    let url = crate::webhooks::check_url(url, allow_private)
        .map_err(|e| ValidationErrors::single("url", e))?;
    let secret = format!("whsec_{}", crate::crypto::random_token(32));
    let sealed = vault.seal_secret(&webhook_context(scope.id()), &secret)?;
    let now = Utc::now();
    db.write(|tx| {
        let created_by = caller.actor.label();
        let id = outbox::create_endpoint(
            tx,
            scope,
            url.as_str(),
            &sealed,
            &[POLICY_PUBLISHED],
            &created_by,
            now,
        )?;
        let event = caller
            .event("webhook.create", format!("webhook:{id}"))
            .detail(serde_json::json!({ "url": url.as_str(), "events": [POLICY_PUBLISHED] }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok((outbox::get_endpoint(tx, scope, id)?, secret.clone()))
    })
}

pub fn delete_endpoint(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    id: i64,
) -> Result<(), AppError> {
    let now = Utc::now();
    db.write(|tx| {
        let endpoint = outbox::get_endpoint(tx, scope, id)?;
        outbox::delete_endpoint(tx, scope, id)?;
        let event = caller
            .event("webhook.delete", format!("webhook:{id}"))
            .detail(serde_json::json!({ "url": endpoint.url }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok(())
    })
}

// ---- subscribers -------------------------------------------------------------------------------

/// A subscription request from the privacy center: queues a confirmation e-mail with a one-time
/// link. An address that is already confirmed, or got a confirmation in the last ten minutes,
/// gets nothing (and the answer is the same, so the form does not tell who subscribed).
pub fn subscribe(
    db: &Db,
    scope: &WorkspaceScope,
    email: &str,
    base_url: &str,
) -> Result<(), AppError> {
    let email = Email::parse(email).map_err(|e| ValidationErrors::single("email", e))?;
    let confirm = crate::crypto::random_token(32);
    let unsubscribe = crate::crypto::random_token(32);
    let now = Utc::now();
    db.write(|tx| {
        let workspace = workspaces::get(tx, scope)?;
        let outcome = outbox::subscribe(
            tx,
            scope,
            email.as_str(),
            &crate::crypto::sha256_hex(&confirm),
            &crate::crypto::sha256_hex(&unsubscribe),
            now,
            now - RESEND_AFTER,
        )?;
        if outcome == Subscribe::Pending {
            let name = &workspace.settings.legal_name;
            let slug = &workspace.slug;
            let body = format!(
                "Someone, hopefully you, asked to be told by e-mail when {name} changes its privacy \
                 policy.\n\nTo confirm, open this link within {CONFIRM_DAYS} days:\n\
                 {base_url}/p/{slug}/subscribe/confirm/{confirm}\n\n\
                 If you did not ask for this, ignore this message: nothing will be sent to you.\n"
            );
            outbox::enqueue(
                tx,
                scope,
                &NewMessage {
                    kind: Kind::Email,
                    recipient: email.as_str(),
                    endpoint_id: None,
                    subject: &format!("Confirm: privacy policy updates from {name}"),
                    body: &body,
                },
                now,
            )?;
        }
        Ok(())
    })
}

/// Follows a confirmation link. False when it is unknown, used or expired.
pub fn confirm(db: &Db, scope: &WorkspaceScope, token: &str) -> Result<bool, AppError> {
    let now = Utc::now();
    let digest = crate::crypto::sha256_hex(token);
    db.write(|tx| {
        Ok(outbox::confirm(
            tx,
            scope,
            &digest,
            now - chrono::Duration::days(CONFIRM_DAYS),
            now,
        )?
        .is_some())
    })
}

/// Follows an unsubscribe link. False when it is unknown (or superseded by a newer e-mail's).
pub fn unsubscribe(db: &Db, scope: &WorkspaceScope, token: &str) -> Result<bool, AppError> {
    let digest = crate::crypto::sha256_hex(token);
    db.write(|tx| Ok(outbox::unsubscribe(tx, scope, &digest)?.is_some()))
}

// ---- announcements -----------------------------------------------------------------------------

/// Announces every material policy version that has taken effect and was not announced yet: one
/// e-mail per confirmed subscriber, one `policy.published` event per enabled endpoint. The
/// announcement row and the messages commit together, so each version is announced once.
pub fn announce_due(db: &Db, base_url: &str) -> Result<usize, AppError> {
    let now = Utc::now();
    let due = db.read(|c| outbox::due_announcements(c, now))?;
    let mut announced = 0;
    for (scope, version) in due {
        if db.write(|tx| announce(tx, &scope, version, base_url, now))? {
            announced += 1;
        }
    }
    Ok(announced)
}

fn announce(
    tx: &rusqlite::Transaction<'_>,
    scope: &WorkspaceScope,
    version: i64,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let workspace = workspaces::get(tx, scope)?;
    let v = policies::get(tx, scope, version)?;
    let subscribers = outbox::confirmed_subscribers(tx, scope)?;
    let endpoints = outbox::endpoints_for_event(tx, scope, POLICY_PUBLISHED)?;
    let recipients = i64::try_from(subscribers.len() + endpoints.len()).unwrap_or(i64::MAX);
    if !outbox::mark_announced(tx, scope, version, recipients, now)? {
        return Ok(false);
    }
    let name = &workspace.settings.legal_name;
    let slug = &workspace.slug;
    let link = format!("{base_url}/p/{slug}/privacy");
    let effective = v.effective_at.unwrap_or(now);
    let subject = format!("{name}: privacy policy version {version} is in effect");
    for (id, email) in &subscribers {
        // A fresh unsubscribe link in every message; the newest one works.
        let token = crate::crypto::random_token(32);
        outbox::set_unsubscribe_digest(tx, scope, *id, &crate::crypto::sha256_hex(&token))?;
        let body = format!(
            "{name} has changed its privacy policy. Version {version} is in effect since {} UTC.\n\n\
             What changes:\n{}\n\nRead the policy: {link}\n\n--\n\
             You receive this because you subscribed to changes of this privacy policy.\n\
             Unsubscribe: {base_url}/p/{slug}/unsubscribe/{token}\n",
            effective.format("%Y-%m-%d %H:%M"),
            v.summary,
        );
        outbox::enqueue(
            tx,
            scope,
            &NewMessage {
                kind: Kind::Email,
                recipient: email,
                endpoint_id: None,
                subject: &subject,
                body: &body,
            },
            now,
        )?;
    }
    let payload = serde_json::json!({
        "event": POLICY_PUBLISHED,
        "workspace": slug,
        "version": version,
        "effective_at": effective,
        "material": v.material,
        "summary": v.summary,
        "url": link,
    })
    .to_string();
    for endpoint in &endpoints {
        outbox::enqueue(
            tx,
            scope,
            &NewMessage {
                kind: Kind::Webhook,
                recipient: &endpoint.url,
                endpoint_id: Some(endpoint.id),
                subject: POLICY_PUBLISHED,
                body: &payload,
            },
            now,
        )?;
    }
    let event = Caller::system()
        .event("policy.announce", format!("policy:{version}"))
        .detail(serde_json::json!({
            "subscribers": subscribers.len(),
            "webhooks": endpoints.len(),
        }));
    audit::append(tx, Some(scope), &event, now)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_is_capped() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 1), Duration::from_secs(30));
        assert_eq!(backoff(base, 2), Duration::from_secs(60));
        assert_eq!(backoff(base, 4), Duration::from_secs(240));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }
}
