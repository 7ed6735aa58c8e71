//! The outbox: everything Lethe sends is first a row in one durable queue, written in the same
//! transaction as the change that caused it; a sender job delivers it later, outside any
//! transaction, and records every attempt. Failed deliveries are retried with exponential backoff
//! and give up after a number of attempts; a webhook endpoint that keeps failing is disabled.
//!
//! Also here: e-mail subscriptions to policy changes (double opt-in) and the announcement of each
//! material policy version when it takes effect, exactly once.
//!
//! What is personal here is sealed under its owner's outbox key ([`OutboxKey`], `sealing.rs`:
//! a workspace's, or the instance's for staff mail such as password resets): a
//! subscriber's address (found again by its keyed blind index), a message's recipient and body
//! (which hold working confirmation and unsubscribe links). Confirmation and unsubscribe tokens
//! are stored only as digests. Delivery errors are stored with addresses masked.

use super::{Caller, emails};
use crate::config::Config;
use crate::domain::outbox::mask_addresses;
use crate::domain::{Email, ValidationErrors};
use crate::error::AppError;
use crate::mail::Mailer;
pub use crate::store::outbox::Endpoint;
use crate::store::outbox::{self, Attempt, Claimed, Kind, Message, NewSubscription, Subscribe};
use crate::store::{Db, StoreError, WorkspaceScope, audit, policies, workspaces};
use crate::vault::Vault;
use crate::webhooks::WebhookClient;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

mod sealing;

pub use sealing::{Content, OutboxKey, Outgoing, Owner, queue};
use std::time::{Duration, Instant};

/// A policy version was published (or takes effect).
pub const POLICY_PUBLISHED: &str = "policy.published";
pub use crate::domain::request_task::TASK_CREATED;
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

/// A message as staff see it on the outbox page.
#[derive(Debug, Clone)]
pub struct OpenedMessage {
    pub message: Message,
    /// None when the message cannot be opened (see [`OutboxKey`]).
    pub content: Option<Content>,
    /// Its delivery attempts, oldest first.
    pub attempts: Vec<Attempt>,
}

/// The workspace's latest messages, newest first, opened, with their delivery attempts. For
/// staff who may see the outbox (the console's outbox page) and for tests.
pub fn recent_messages(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    limit: i64,
) -> Result<Vec<OpenedMessage>, AppError> {
    let (messages, mut attempts) = db.read(|c| {
        let messages = outbox::list(c, scope, limit)?;
        let oldest = messages.last().map_or(i64::MAX, |m| m.id);
        Ok::<_, AppError>((messages, outbox::attempts_since(c, scope, oldest)?))
    })?;
    // No key is made for a workspace that never queued anything.
    let key = match messages.is_empty() {
        true => None,
        false => Some(OutboxKey::load(vault, scope)?),
    };
    let mut by_message: HashMap<i64, Vec<Attempt>> = HashMap::new();
    for a in attempts.drain(..) {
        by_message.entry(a.message_id).or_default().push(a);
    }
    Ok(messages
        .into_iter()
        .map(|message| OpenedMessage {
            content: key.as_ref().and_then(|k| {
                message
                    .sealed
                    .as_deref()
                    .and_then(|sealed| k.open_content(message.id, sealed))
            }),
            attempts: by_message.remove(&message.id).unwrap_or_default(),
            message,
        })
        .collect())
}

/// A webhook delivery attempt with the URL it went to (None when it cannot be opened).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub attempt: Attempt,
    pub recipient: Option<String>,
}

/// The workspace's latest webhook deliveries, newest first.
pub fn recent_webhook_deliveries(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    limit: i64,
) -> Result<Vec<Delivery>, AppError> {
    let rows = db.read(|c| outbox::recent_webhook_attempts(c, scope, limit))?;
    let key = match rows.is_empty() {
        true => None,
        false => Some(OutboxKey::load(vault, scope)?),
    };
    Ok(rows
        .into_iter()
        .map(|row| Delivery {
            recipient: key
                .as_ref()
                .zip(row.sealed.as_deref())
                .and_then(|(k, sealed)| k.open_content(row.attempt.message_id, sealed))
                .map(|c| c.recipient),
            attempt: row.attempt,
        })
        .collect())
}

/// Seals what an older Lethe stored in the clear (migration 0007 staged it): subscribers'
/// addresses (with their blind index) and messages' recipients and bodies; and masks addresses
/// in stored delivery errors. Then truncates the write-ahead log, so the plain copies do not
/// linger in it. Runs at start, before anything is served; idempotent. Returns how many values
/// changed.
pub fn seal_stored_plaintext(db: &Db, vault: &Vault) -> Result<usize, AppError> {
    let changed = db.write(|tx| {
        let mut keys = HashMap::new();
        let mut changed = 0;
        for m in outbox::unsealed_messages(tx)? {
            let sealed = key_for(&mut keys, vault, &m.workspace)?.seal_content(
                m.id,
                &m.recipient,
                &m.body,
            )?;
            outbox::store_sealed_message(tx, m.id, &sealed)?;
            changed += 1;
        }
        for s in outbox::unsealed_subscribers(tx)? {
            let index = vault.email_index(&s.workspace, &s.email)?;
            let sealed = key_for(&mut keys, vault, &s.workspace)?.seal_address(s.id, &s.email)?;
            outbox::store_sealed_subscriber(tx, s.id, &index, &sealed)?;
            changed += 1;
        }
        changed += outbox::mask_stored_errors(tx, mask_addresses)?;
        Ok::<_, AppError>(changed)
    })?;
    if changed > 0 && !db.checkpoint_truncate()? {
        tracing::warn!(
            "the write-ahead log could not be truncated after sealing; it will be reused"
        );
    }
    Ok(changed)
}

/// The workspace's key from `keys`, loaded on first use.
fn key_for<'k>(
    keys: &'k mut HashMap<i64, OutboxKey>,
    vault: &Vault,
    scope: &WorkspaceScope,
) -> Result<&'k OutboxKey, AppError> {
    use std::collections::hash_map::Entry;
    Ok(match keys.entry(scope.id()) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(OutboxKey::load(vault, scope)?),
    })
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

/// The delivery error of a message whose sealed content cannot be opened.
const UNOPENABLE: &str =
    "the message could not be opened (its key is missing, or the stored bytes were altered)";

/// Delivers one claimed message and records the attempt. True when it was delivered.
async fn deliver_one(db: Db, sender: Sender, mut m: Claimed) -> Result<bool, AppError> {
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
    // Opening reads keys.db: off the async workers, like every SQLite call.
    let content = {
        let (vault, workspace, id) = (sender.vault.clone(), m.workspace, m.id);
        let sealed = std::mem::take(&mut m.sealed);
        db.run(move |_| {
            Ok::<_, AppError>(
                OutboxKey::load_for(&vault, workspace.as_ref())
                    .ok()
                    .and_then(|key| key.open_content(id, &sealed)),
            )
        })
        .await?
    };
    let outcome = match (content, m.kind, &sender.mailer) {
        (None, _, _) => Err(UNOPENABLE.to_owned()),
        (Some(c), Kind::Email, Some(mailer)) => {
            mailer.send(&c.recipient, &m.subject, &c.body).await
        }
        (Some(_), Kind::Email, None) => Err("no SMTP server is configured".to_owned()),
        (Some(c), Kind::Webhook, _) => match (&m.secret, m.endpoint_id, m.endpoint_workspace) {
            (Some(sealed), Some(_), Some(workspace)) => {
                match sender
                    .vault
                    .open_secret(&webhook_context(workspace), sealed)
                {
                    Ok(secret) => sender
                        .webhooks
                        .post(&c.recipient, &secret, &m.subject, &c.body)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(format!("the signing secret could not be opened: {e}")),
                }
            }
            _ => Err("the endpoint was deleted".to_owned()),
        },
    };
    // SMTP replies echo the recipient; errors are stored and shown, addresses are not.
    let outcome = outcome.map_err(|e| mask_addresses(&e));
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
            if !outbox::record_attempt(tx, m.id, at, latency_ms, error)? {
                // Deleted while it was on the wire (its subscriber left): nothing to update.
                return Ok::<_, AppError>(());
            }
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
            Ok(())
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

/// Registers an endpoint: for `policy.published`, or, bound to the inventory system `system`,
/// for that system's request tasks (`request.task.created`). Returns it with its signing
/// secret, which is shown to the person once.
pub fn create_endpoint(
    db: &Db,
    vault: &Vault,
    caller: &Caller,
    scope: &WorkspaceScope,
    url: &str,
    system: Option<&str>,
    allow_private: bool,
) -> Result<(Endpoint, String), AppError> {
    let url = crate::webhooks::check_url(url, allow_private)
        .map_err(|e| ValidationErrors::single("url", e))?;
    let events = match system {
        Some(_) => [TASK_CREATED],
        None => [POLICY_PUBLISHED],
    };
    let secret = format!("whsec_{}", crate::crypto::random_token(32));
    let sealed = vault.seal_secret(&webhook_context(scope.id()), &secret)?;
    let now = Utc::now();
    db.write(|tx| {
        if let Some(key) = system {
            let known = crate::store::inventory::load(tx, scope)?
                .systems
                .iter()
                .any(|s| s.key == key);
            if !known {
                return Err(ValidationErrors::single(
                    "system",
                    format!("'{key}' is not a system of the inventory"),
                )
                .into());
            }
        }
        let created_by = caller.actor.label();
        let new = outbox::NewEndpoint {
            url: url.as_str(),
            secret: &sealed,
            events: &events,
            system,
            created_by: &created_by,
        };
        let id = outbox::create_endpoint(tx, scope, &new, now)?;
        let event = caller
            .event("webhook.create", format!("webhook:{id}"))
            .detail(serde_json::json!({ "url": url.as_str(), "events": events, "system": system }));
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
/// gets nothing (and the answer is the same, so the form does not tell who subscribed). The
/// address is stored sealed, found again by its blind index.
pub fn subscribe(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    email: &str,
    base_url: &str,
) -> Result<(), AppError> {
    let email = Email::parse(email).map_err(|e| ValidationErrors::single("email", e))?;
    let index = vault.email_index(scope, email.as_str())?;
    let key = OutboxKey::load(vault, scope)?;
    let confirm = crate::crypto::random_token(32);
    let unsubscribe = crate::crypto::random_token(32);
    let now = Utc::now();
    db.write(|tx| {
        let workspace = workspaces::get(tx, scope)?;
        let (subscriber, outcome) = outbox::subscribe(
            tx,
            scope,
            &NewSubscription {
                email_index: &index,
                confirm_digest: &crate::crypto::sha256_hex(&confirm),
                unsubscribe_digest: &crate::crypto::sha256_hex(&unsubscribe),
            },
            |id| key.seal_address(id, email.as_str()),
            now,
            now - RESEND_AFTER,
        )?;
        if outcome == Subscribe::Pending {
            let link = format!(
                "{base_url}/p/{}/subscribe/confirm/{confirm}",
                workspace.slug
            );
            let mail = emails::render(&emails::SubscriptionConfirm {
                name: &workspace.settings.legal_name,
                days: CONFIRM_DAYS,
                link: &link,
            })?;
            queue(
                tx,
                &key,
                &Outgoing {
                    kind: Kind::Email,
                    recipient: email.as_str(),
                    endpoint_id: None,
                    subscriber_id: Some(subscriber),
                    subject: &mail.subject,
                    body: &mail.body,
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

/// Follows an unsubscribe link: the subscriber and their still-queued mail are deleted in one
/// transaction. False when the link is unknown (or superseded by a newer e-mail's).
pub fn unsubscribe(db: &Db, scope: &WorkspaceScope, token: &str) -> Result<bool, AppError> {
    let digest = crate::crypto::sha256_hex(token);
    db.write(|tx| Ok(outbox::unsubscribe(tx, scope, &digest)?))
}

// ---- announcements -----------------------------------------------------------------------------

/// Announces every material policy version that was published and not announced yet, before it
/// takes effect (the notice period): one e-mail per confirmed subscriber, one `policy.published`
/// event per enabled endpoint. The announcement row and the messages commit together, so each
/// version is announced once.
pub fn announce_due(db: &Db, vault: &Vault, base_url: &str) -> Result<usize, AppError> {
    let now = Utc::now();
    let due = db.read(|c| outbox::due_announcements(c, now))?;
    let mut announced = 0;
    for (scope, version) in due {
        let key = OutboxKey::load(vault, &scope)?;
        if db.write(|tx| announce(tx, &key, version, base_url, now))? {
            announced += 1;
        }
    }
    Ok(announced)
}

fn announce(
    tx: &crate::store::Transaction<'_>,
    key: &OutboxKey,
    version: i64,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let scope = key
        .scope()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("announcements need a workspace")))?;
    let workspace = workspaces::get(tx, scope)?;
    let v = policies::get(tx, scope, version)?;
    let mut subscribers = Vec::new();
    for s in outbox::confirmed_subscribers(tx, scope)? {
        match s
            .email_sealed
            .as_deref()
            .and_then(|b| key.open_address(s.id, b))
        {
            Some(email) => subscribers.push((s.id, email)),
            // One unreadable row must not hold back everyone else's notice.
            None => tracing::warn!(
                subscriber = s.id,
                "a subscriber's address could not be opened; no notice for them"
            ),
        }
    }
    let endpoints = outbox::endpoints_for_event(tx, scope, POLICY_PUBLISHED)?;
    let recipients = i64::try_from(subscribers.len() + endpoints.len()).unwrap_or(i64::MAX);
    if !outbox::mark_announced(tx, scope, version, recipients, now)? {
        return Ok(false);
    }
    let slug = &workspace.slug;
    let link = format!("{base_url}/p/{slug}/privacy");
    let effective = v.effective_at.unwrap_or(now);
    let version_link = format!("{link}/v/{version}");
    for (id, email) in &subscribers {
        // A fresh unsubscribe link in every message; the newest one works.
        let token = crate::crypto::random_token(32);
        outbox::set_unsubscribe_digest(tx, scope, *id, &crate::crypto::sha256_hex(&token))?;
        let unsubscribe = format!("{base_url}/p/{slug}/unsubscribe/{token}");
        let mail = emails::render(&emails::PolicyAnnouncement {
            name: &workspace.settings.legal_name,
            version,
            upcoming: effective > now,
            effective: effective.format("%Y-%m-%d %H:%M").to_string(),
            effective_day: effective.format("%Y-%m-%d").to_string(),
            waiver: v.notice_waiver.as_deref(),
            summary: &v.summary,
            link: &version_link,
            unsubscribe: &unsubscribe,
        })?;
        queue(
            tx,
            key,
            &Outgoing {
                kind: Kind::Email,
                recipient: email,
                endpoint_id: None,
                subscriber_id: Some(*id),
                subject: &mail.subject,
                body: &mail.body,
            },
            now,
        )?;
    }
    let payload = serde_json::json!({
        "event": POLICY_PUBLISHED,
        "workspace": slug,
        "version": version,
        "effective_at": effective,
        "in_effect": effective <= now,
        "notice_waiver": v.notice_waiver,
        "material": v.material,
        "summary": v.summary,
        "url": link,
    })
    .to_string();
    for endpoint in &endpoints {
        queue(
            tx,
            key,
            &Outgoing {
                kind: Kind::Webhook,
                recipient: &endpoint.url,
                endpoint_id: Some(endpoint.id),
                subscriber_id: None,
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

/// The workspace's webhook endpoints (their secrets are shown once, at creation).
pub fn list_endpoints(db: &Db, scope: &WorkspaceScope) -> Result<Vec<Endpoint>, AppError> {
    db.read(|c| Ok(outbox::list_endpoints(c, scope)?))
}

/// Subscribers to the workspace's policy notices: (confirmed, awaiting confirmation).
pub fn subscriber_counts(db: &Db, scope: &WorkspaceScope) -> Result<(i64, i64), AppError> {
    db.read(|c| Ok(outbox::subscriber_counts(c, scope)?))
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
