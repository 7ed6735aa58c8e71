//! The outbox: queued messages (e-mail, webhooks), their delivery attempts, webhook endpoints,
//! subscribers to policy changes and which policy versions were announced.
//!
//! Tenant functions take a [`WorkspaceScope`]. The sender works across workspaces (it claims
//! whatever is due), so its functions take message ids it was handed by [`claim_due`].

use super::{StoreError, WorkspaceScope, opt_time_at, time_at, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Email,
    Webhook,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Webhook => "webhook",
        }
    }

    fn parse(s: &str) -> Kind {
        if s == "webhook" {
            Kind::Webhook
        } else {
            Kind::Email
        }
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: i64,
    pub kind: Kind,
    /// E-mail subject, or the webhook's event name (not personal: the workspace's name, a
    /// version number).
    pub subject: String,
    /// Recipient and body, sealed (see `services::outbox`). None only for a message an older
    /// Lethe stored in the clear, until start-up seals it.
    pub sealed: Option<Vec<u8>>,
    /// The subscriber an e-mail goes to.
    pub subscriber_id: Option<i64>,
    /// queued, sent, failed or disabled.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

const MESSAGE_COLUMNS: &str = "id, kind, subject, sealed, subscriber_id, status, attempts, \
    next_attempt_at, created_at, sent_at, last_error";

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let kind: String = r.get(1)?;
    let next = time_at(r, 7)?;
    let created = time_at(r, 8)?;
    let sent = opt_time_at(r, 9)?;
    Ok(Message {
        id: r.get(0)?,
        kind: Kind::parse(&kind),
        subject: r.get(2)?,
        sealed: r.get(3)?,
        subscriber_id: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: next,
        created_at: created,
        sent_at: sent,
        last_error: r.get(10)?,
    })
}

/// A message to queue. Its recipient and body are not here: they are sealed by the caller's
/// `seal`, which gets the new row's id to bind into the seal.
pub struct NewMessage<'a> {
    pub kind: Kind,
    pub endpoint_id: Option<i64>,
    pub subscriber_id: Option<i64>,
    pub subject: &'a str,
}

/// Queues a message, due now. The seal binds the row id, which is only known once the row is
/// inserted: the row goes in without content and gets it by an update right after, in the
/// caller's transaction (no reader sees it without; the sender skips a row without anyway).
/// Nothing in the clear is written at any point.
pub fn enqueue<E: From<StoreError>>(
    conn: &Connection,
    scope: &WorkspaceScope,
    m: &NewMessage<'_>,
    now: DateTime<Utc>,
    seal: impl FnOnce(i64) -> Result<Vec<u8>, E>,
) -> Result<i64, E> {
    insert_message(conn, Some(scope.id()), m, now, seal)
}

/// Queues an instance message (staff mail, which belongs to no workspace), like [`enqueue`].
/// No workspace's list shows it (`workspace_id` is NULL).
pub fn enqueue_instance<E: From<StoreError>>(
    conn: &Connection,
    m: &NewMessage<'_>,
    now: DateTime<Utc>,
    seal: impl FnOnce(i64) -> Result<Vec<u8>, E>,
) -> Result<i64, E> {
    insert_message(conn, None, m, now, seal)
}

fn insert_message<E: From<StoreError>>(
    conn: &Connection,
    workspace_id: Option<i64>,
    m: &NewMessage<'_>,
    now: DateTime<Utc>,
    seal: impl FnOnce(i64) -> Result<Vec<u8>, E>,
) -> Result<i64, E> {
    conn.execute(
        "INSERT INTO outbox_messages (workspace_id, kind, endpoint_id, subscriber_id, subject, \
         status, attempts, next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?6)",
        params![
            workspace_id,
            m.kind.as_str(),
            m.endpoint_id,
            m.subscriber_id,
            m.subject,
            ts(now)
        ],
    )
    .map_err(StoreError::from)?;
    let id = conn.last_insert_rowid();
    let sealed = seal(id)?;
    conn.execute(
        "UPDATE outbox_messages SET sealed = ?2 WHERE id = ?1",
        params![id, sealed],
    )
    .map_err(StoreError::from)?;
    Ok(id)
}

/// The workspace's latest messages, newest first.
pub fn list(
    conn: &Connection,
    scope: &WorkspaceScope,
    limit: i64,
) -> Result<Vec<Message>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM outbox_messages WHERE workspace_id = ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![scope.id(), limit], message_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub message_id: i64,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub latency_ms: i64,
    /// Masked: never the recipient's address (see `services::outbox`).
    pub error: Option<String>,
    /// The message's subject (event name for a webhook).
    pub subject: String,
}

fn attempt_from_row(r: &Row<'_>) -> rusqlite::Result<Attempt> {
    let at = time_at(r, 1)?;
    let status: String = r.get(2)?;
    Ok(Attempt {
        message_id: r.get(0)?,
        at,
        ok: status == "ok",
        latency_ms: r.get(3)?,
        error: r.get(4)?,
        subject: r.get(5)?,
    })
}

/// Attempts on the workspace's messages with an id of at least `min_message_id`, oldest first.
pub fn attempts_since(
    conn: &Connection,
    scope: &WorkspaceScope,
    min_message_id: i64,
) -> Result<Vec<Attempt>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT a.message_id, a.at, a.status, a.latency_ms, a.error, m.subject \
         FROM delivery_attempts a JOIN outbox_messages m ON m.id = a.message_id \
         WHERE m.workspace_id = ?1 AND m.id >= ?2 ORDER BY a.id",
    )?;
    let rows = stmt.query_map(params![scope.id(), min_message_id], attempt_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A webhook delivery attempt with its message's sealed content (which holds the URL).
#[derive(Debug, Clone)]
pub struct WebhookAttempt {
    pub attempt: Attempt,
    pub sealed: Option<Vec<u8>>,
}

/// The latest webhook deliveries of the workspace, newest first.
pub fn recent_webhook_attempts(
    conn: &Connection,
    scope: &WorkspaceScope,
    limit: i64,
) -> Result<Vec<WebhookAttempt>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT a.message_id, a.at, a.status, a.latency_ms, a.error, m.subject, m.sealed \
         FROM delivery_attempts a JOIN outbox_messages m ON m.id = a.message_id \
         WHERE m.workspace_id = ?1 AND m.kind = 'webhook' ORDER BY a.id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![scope.id(), limit], |r| {
        Ok(WebhookAttempt {
            attempt: attempt_from_row(r)?,
            sealed: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A message handed to the sender, with what it needs to deliver it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    /// None for an instance message (staff mail), sealed under the instance's outbox key.
    pub workspace: Option<WorkspaceScope>,
    pub kind: Kind,
    pub subject: String,
    /// Recipient and body, sealed under the owner's outbox key.
    pub sealed: Vec<u8>,
    pub attempts: i64,
    pub endpoint_id: Option<i64>,
    /// The endpoint's signing secret, sealed (webhooks only).
    pub secret: Option<String>,
    /// The endpoint's workspace, bound into the sealed secret.
    pub endpoint_workspace: Option<i64>,
}

/// Claims up to `limit` due messages: their `next_attempt_at` moves to `lease_until`, so a
/// message whose sender dies mid-delivery is retried after the lease, and no other sender takes
/// it meanwhile. E-mail is claimed only when `with_email` (an SMTP server is configured).
pub fn claim_due(
    conn: &Connection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    with_email: bool,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    let kinds = if with_email {
        "('email', 'webhook')"
    } else {
        "('webhook')"
    };
    // A message not sealed yet (stored by an older Lethe) waits for the start-up step.
    let mut stmt = conn.prepare(&format!(
        "SELECT m.id, m.workspace_id, m.kind, m.subject, m.sealed, m.attempts, m.endpoint_id, \
         e.secret, e.workspace_id \
         FROM outbox_messages m LEFT JOIN webhook_endpoints e ON e.id = m.endpoint_id \
         WHERE m.status = 'queued' AND m.next_attempt_at <= ?1 AND m.kind IN {kinds} \
         AND m.sealed IS NOT NULL \
         ORDER BY m.next_attempt_at, m.id LIMIT ?2"
    ))?;
    let claimed: Vec<Claimed> = stmt
        .query_map(params![ts(now), limit], |r| {
            let kind: String = r.get(2)?;
            Ok(Claimed {
                id: r.get(0)?,
                workspace: r.get::<_, Option<i64>>(1)?.map(WorkspaceScope::new),
                kind: Kind::parse(&kind),
                subject: r.get(3)?,
                sealed: r.get(4)?,
                attempts: r.get(5)?,
                endpoint_id: r.get(6)?,
                secret: r.get(7)?,
                endpoint_workspace: r.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    for c in &claimed {
        conn.execute(
            "UPDATE outbox_messages SET next_attempt_at = ?2 WHERE id = ?1",
            params![c.id, ts(lease_until)],
        )?;
    }
    Ok(claimed)
}

/// Records an attempt; false (and nothing recorded) when the message is gone meanwhile (its
/// subscriber unsubscribed while it was on the wire).
pub fn record_attempt(
    conn: &Connection,
    message_id: i64,
    at: DateTime<Utc>,
    latency_ms: i64,
    error: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "INSERT INTO delivery_attempts (message_id, at, status, latency_ms, error) \
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM outbox_messages WHERE id = ?1)",
        params![
            message_id,
            ts(at),
            if error.is_none() { "ok" } else { "error" },
            latency_ms,
            error
        ],
    )? == 1)
}

pub fn mark_sent(conn: &Connection, message_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE outbox_messages SET status = 'sent', attempts = attempts + 1, sent_at = ?2, \
         last_error = NULL WHERE id = ?1",
        params![message_id, ts(now)],
    )?;
    Ok(())
}

/// One more failed attempt: retry at `retry_at`, or `failed` for good when it is None.
pub fn mark_failed_attempt(
    conn: &Connection,
    message_id: i64,
    retry_at: Option<DateTime<Utc>>,
    error: &str,
) -> Result<(), StoreError> {
    match retry_at {
        Some(at) => conn.execute(
            "UPDATE outbox_messages SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
            params![message_id, ts(at), error],
        )?,
        None => conn.execute(
            "UPDATE outbox_messages SET status = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
            params![message_id, error],
        )?,
    };
    Ok(())
}

/// A message that is not delivered because its endpoint is gone or disabled.
pub fn mark_disabled(conn: &Connection, message_id: i64, reason: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE outbox_messages SET status = 'disabled', last_error = ?2 WHERE id = ?1 AND status = 'queued'",
        params![message_id, reason],
    )?;
    Ok(())
}

// ---- webhook endpoints -------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub consecutive_failures: i64,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The inventory system it speaks for: it receives that system's request tasks.
    pub system: Option<String>,
}

fn endpoint_from_row(r: &Row<'_>) -> rusqlite::Result<Endpoint> {
    let events: String = r.get(2)?;
    let disabled = opt_time_at(r, 4)?;
    let created = time_at(r, 6)?;
    Ok(Endpoint {
        id: r.get(0)?,
        url: r.get(1)?,
        events: events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        consecutive_failures: r.get(3)?,
        disabled_at: disabled,
        created_by: r.get(5)?,
        created_at: created,
        system: r.get(7)?,
    })
}

const ENDPOINT_COLUMNS: &str =
    "id, url, events, consecutive_failures, disabled_at, created_by, created_at, system_key";

/// A webhook endpoint to register; the secret arrives sealed.
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub events: &'a [&'a str],
    /// The inventory system it speaks for, if any.
    pub system: Option<&'a str>,
    pub created_by: &'a str,
}

pub fn create_endpoint(
    conn: &Connection,
    scope: &WorkspaceScope,
    new: &NewEndpoint<'_>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO webhook_endpoints (workspace_id, url, secret, events, system_key, created_by, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            scope.id(),
            new.url,
            new.secret,
            new.events.join(","),
            new.system,
            new.created_by,
            ts(now)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn list_endpoints(
    conn: &Connection,
    scope: &WorkspaceScope,
) -> Result<Vec<Endpoint>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([scope.id()], endpoint_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get_endpoint(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: i64,
) -> Result<Endpoint, StoreError> {
    conn.query_row(
        &format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = ?1 AND id = ?2"
        ),
        params![scope.id(), id],
        endpoint_from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("webhook endpoint {id}")))
}

/// Deletes an endpoint; its queued messages are marked `disabled` and keep their history.
pub fn delete_endpoint(
    conn: &Connection,
    scope: &WorkspaceScope,
    id: i64,
) -> Result<(), StoreError> {
    get_endpoint(conn, scope, id)?;
    conn.execute(
        "UPDATE outbox_messages SET status = 'disabled', last_error = 'the endpoint was deleted' \
         WHERE workspace_id = ?1 AND endpoint_id = ?2 AND status = 'queued'",
        params![scope.id(), id],
    )?;
    conn.execute(
        "DELETE FROM webhook_endpoints WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), id],
    )?;
    Ok(())
}

/// Enabled endpoints of the workspace that subscribed to `event`.
pub fn endpoints_for_event(
    conn: &Connection,
    scope: &WorkspaceScope,
    event: &str,
) -> Result<Vec<Endpoint>, StoreError> {
    Ok(list_endpoints(conn, scope)?
        .into_iter()
        .filter(|e| e.disabled_at.is_none() && e.events.iter().any(|x| x == event))
        .collect())
}

/// Enabled endpoints bound to the system `system_key` that subscribed to `event`.
pub fn endpoints_for_system(
    conn: &Connection,
    scope: &WorkspaceScope,
    event: &str,
    system_key: &str,
) -> Result<Vec<Endpoint>, StoreError> {
    Ok(endpoints_for_event(conn, scope, event)?
        .into_iter()
        .filter(|e| e.system.as_deref() == Some(system_key))
        .collect())
}

pub fn endpoint_succeeded(conn: &Connection, endpoint_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = ?1",
        [endpoint_id],
    )?;
    Ok(())
}

/// Counts a failure; at `disable_after` failures in a row the endpoint is disabled and its queued
/// messages with it. Returns true when this failure disabled it.
pub fn endpoint_failed(
    conn: &Connection,
    endpoint_id: i64,
    disable_after: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    conn.execute(
        "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1 WHERE id = ?1",
        [endpoint_id],
    )?;
    let disabled = conn.execute(
        "UPDATE webhook_endpoints SET disabled_at = ?2 \
         WHERE id = ?1 AND disabled_at IS NULL AND consecutive_failures >= ?3",
        params![endpoint_id, ts(now), disable_after],
    )? == 1;
    if disabled {
        conn.execute(
            "UPDATE outbox_messages SET status = 'disabled', \
             last_error = 'the endpoint was disabled after repeated failures' \
             WHERE endpoint_id = ?1 AND status = 'queued'",
            [endpoint_id],
        )?;
    }
    Ok(disabled)
}

/// Whether the endpoint (of a claimed message) is still there and enabled.
pub fn endpoint_enabled(conn: &Connection, endpoint_id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT disabled_at IS NULL FROM webhook_endpoints WHERE id = ?1",
            [endpoint_id],
            |r| r.get::<_, bool>(0),
        )
        .optional()?
        .unwrap_or(false))
}

// ---- subscribers -------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribe {
    /// A new or still unconfirmed address: a confirmation should go out.
    Pending,
    /// Already confirmed: nothing to do.
    AlreadyConfirmed,
    /// A confirmation went out recently; no other one is sent (the form cannot flood an inbox).
    RecentlyAsked,
}

/// A subscription request: the address's blind index and the digests of its links' tokens.
pub struct NewSubscription<'a> {
    pub email_index: &'a [u8],
    pub confirm_digest: &'a str,
    pub unsubscribe_digest: &'a str,
}

/// Records a subscription request (or refreshes the confirmation of an unconfirmed one asked
/// for before `resend_after`). A new row's address is sealed by `seal_email`, which gets the
/// row's id (see [`enqueue`]). Returns the subscriber's id.
pub fn subscribe<E: From<StoreError>>(
    conn: &Connection,
    scope: &WorkspaceScope,
    new: &NewSubscription<'_>,
    seal_email: impl FnOnce(i64) -> Result<Vec<u8>, E>,
    now: DateTime<Utc>,
    resend_after: DateTime<Utc>,
) -> Result<(i64, Subscribe), E> {
    let existing: Option<(i64, Option<String>, DateTime<Utc>)> = conn
        .query_row(
            "SELECT id, confirmed_at, created_at FROM policy_subscribers \
             WHERE workspace_id = ?1 AND email_index = ?2",
            params![scope.id(), new.email_index],
            |r| Ok((r.get(0)?, r.get(1)?, time_at(r, 2)?)),
        )
        .optional()
        .map_err(StoreError::from)?;
    match existing {
        Some((id, Some(_), _)) => Ok((id, Subscribe::AlreadyConfirmed)),
        Some((id, None, asked)) if asked > resend_after => Ok((id, Subscribe::RecentlyAsked)),
        Some((id, None, _)) => {
            conn.execute(
                "UPDATE policy_subscribers SET confirm_digest = ?3, unsubscribe_digest = ?4, created_at = ?5 \
                 WHERE workspace_id = ?1 AND id = ?2",
                params![
                    scope.id(),
                    id,
                    new.confirm_digest,
                    new.unsubscribe_digest,
                    ts(now)
                ],
            )
            .map_err(StoreError::from)?;
            Ok((id, Subscribe::Pending))
        }
        None => {
            conn.execute(
                "INSERT INTO policy_subscribers (workspace_id, email_index, confirm_digest, \
                 unsubscribe_digest, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    scope.id(),
                    new.email_index,
                    new.confirm_digest,
                    new.unsubscribe_digest,
                    ts(now)
                ],
            )
            .map_err(StoreError::from)?;
            let id = conn.last_insert_rowid();
            let sealed = seal_email(id)?;
            conn.execute(
                "UPDATE policy_subscribers SET email_sealed = ?2 WHERE id = ?1",
                params![id, sealed],
            )
            .map_err(StoreError::from)?;
            Ok((id, Subscribe::Pending))
        }
    }
}

/// Confirms the subscription whose confirmation digest matches, if it was asked for after
/// `not_before`. The link works once. Returns the subscriber's id.
pub fn confirm(
    conn: &Connection,
    scope: &WorkspaceScope,
    confirm_digest: &str,
    not_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let found: Option<i64> = conn
        .query_row(
            "SELECT id FROM policy_subscribers WHERE workspace_id = ?1 AND confirm_digest = ?2 \
             AND confirmed_at IS NULL AND created_at >= ?3",
            params![scope.id(), confirm_digest, ts(not_before)],
            |r| r.get(0),
        )
        .optional()?;
    let Some(id) = found else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE policy_subscribers SET confirmed_at = ?2, confirm_digest = NULL WHERE id = ?1",
        params![id, ts(now)],
    )?;
    Ok(Some(id))
}

/// Removes the subscriber whose latest unsubscribe link this is. Their still-queued messages
/// go with them, in the same statement (trigger `policy_subscribers_purge_queued`, 0007); their
/// sent ones stay, unlinked, as delivery history. False for an unknown link.
pub fn unsubscribe(
    conn: &Connection,
    scope: &WorkspaceScope,
    unsubscribe_digest: &str,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM policy_subscribers WHERE workspace_id = ?1 AND unsubscribe_digest = ?2",
        params![scope.id(), unsubscribe_digest],
    )? > 0)
}

/// A subscriber as stored: the address is sealed (None only until start-up seals an address an
/// older Lethe stored in the clear).
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub id: i64,
    pub email_sealed: Option<Vec<u8>>,
}

/// Confirmed subscribers.
pub fn confirmed_subscribers(
    conn: &Connection,
    scope: &WorkspaceScope,
) -> Result<Vec<Subscriber>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, email_sealed FROM policy_subscribers \
         WHERE workspace_id = ?1 AND confirmed_at IS NOT NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([scope.id()], |r| {
        Ok(Subscriber {
            id: r.get(0)?,
            email_sealed: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn set_unsubscribe_digest(
    conn: &Connection,
    scope: &WorkspaceScope,
    subscriber_id: i64,
    digest: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE policy_subscribers SET unsubscribe_digest = ?3 WHERE workspace_id = ?1 AND id = ?2",
        params![scope.id(), subscriber_id, digest],
    )?;
    Ok(())
}

/// (confirmed, pending) subscriber counts.
pub fn subscriber_counts(
    conn: &Connection,
    scope: &WorkspaceScope,
) -> Result<(i64, i64), StoreError> {
    Ok(conn.query_row(
        "SELECT count(confirmed_at), count(*) - count(confirmed_at) FROM policy_subscribers WHERE workspace_id = ?1",
        [scope.id()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

// ---- announcements of policy versions ----------------------------------------------------------

/// Material versions not announced yet that are scheduled or in force at `now`: people are told
/// at publication, before the change applies. A version superseded before it was announced (from
/// before announcements went out at publication) is not announced any more.
pub fn due_announcements(
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<Vec<(WorkspaceScope, i64)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT p.workspace_id, p.version FROM policy_versions p \
         WHERE p.status = 'published' AND p.material = 1 \
         AND NOT EXISTS (SELECT 1 FROM policy_notifications n \
                         WHERE n.workspace_id = p.workspace_id AND n.version = p.version) \
         AND (p.effective_at > ?1 \
              OR p.version = (SELECT q.version FROM policy_versions q \
                              WHERE q.workspace_id = p.workspace_id AND q.status = 'published' \
                              AND q.effective_at <= ?1 ORDER BY q.effective_at DESC, q.version DESC LIMIT 1)) \
         ORDER BY p.workspace_id, p.version",
    )?;
    let rows = stmt.query_map([ts(now)], |r| {
        Ok((WorkspaceScope::new(r.get(0)?), r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records that `version` was announced; false if it already was (then nothing must be sent).
pub fn mark_announced(
    conn: &Connection,
    scope: &WorkspaceScope,
    version: i64,
    recipients: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "INSERT OR IGNORE INTO policy_notifications (workspace_id, version, notified_at, recipients) \
         VALUES (?1, ?2, ?3, ?4)",
        params![scope.id(), version, ts(now), recipients],
    )? == 1)
}

/// Endpoints whose signing secret is still stored in the clear (from before secrets were
/// sealed): id, workspace id, secret.
pub fn unsealed_secrets(conn: &Connection) -> Result<Vec<(i64, i64, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, workspace_id, secret FROM webhook_endpoints WHERE secret NOT LIKE 'sealed:%'",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn replace_secret(conn: &Connection, endpoint_id: i64, sealed: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhook_endpoints SET secret = ?2 WHERE id = ?1",
        params![endpoint_id, sealed],
    )?;
    Ok(())
}

// ---- values an older Lethe stored in the clear -------------------------------------------------
//
// Migration 0007 moved them into the `unsealed_*` staging tables; start-up seals them. These
// functions work across workspaces (start-up maintenance), like `unsealed_secrets`.

/// A message's recipient and body as an older Lethe stored them.
#[derive(Debug, Clone)]
pub struct UnsealedMessage {
    pub id: i64,
    pub workspace: WorkspaceScope,
    pub recipient: String,
    pub body: String,
}

pub fn unsealed_messages(conn: &Connection) -> Result<Vec<UnsealedMessage>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT m.id, m.workspace_id, u.recipient, u.body FROM unsealed_outbox_messages u \
         JOIN outbox_messages m ON m.id = u.message_id ORDER BY m.id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(UnsealedMessage {
                id: r.get(0)?,
                workspace: WorkspaceScope::new(r.get(1)?),
                recipient: r.get(2)?,
                body: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Stores a message's sealed content and deletes its plain copy.
pub fn store_sealed_message(
    conn: &Connection,
    message_id: i64,
    sealed: &[u8],
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE outbox_messages SET sealed = ?2 WHERE id = ?1",
        params![message_id, sealed],
    )?;
    conn.execute(
        "DELETE FROM unsealed_outbox_messages WHERE message_id = ?1",
        [message_id],
    )?;
    Ok(())
}

/// A subscriber's address as an older Lethe stored it.
#[derive(Debug, Clone)]
pub struct UnsealedSubscriber {
    pub id: i64,
    pub workspace: WorkspaceScope,
    pub email: String,
}

pub fn unsealed_subscribers(conn: &Connection) -> Result<Vec<UnsealedSubscriber>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT p.id, p.workspace_id, u.email FROM unsealed_policy_subscribers u \
         JOIN policy_subscribers p ON p.id = u.subscriber_id ORDER BY p.id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(UnsealedSubscriber {
                id: r.get(0)?,
                workspace: WorkspaceScope::new(r.get(1)?),
                email: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Stores a subscriber's blind index and sealed address and deletes the plain copy.
pub fn store_sealed_subscriber(
    conn: &Connection,
    subscriber_id: i64,
    email_index: &[u8],
    email_sealed: &[u8],
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE policy_subscribers SET email_index = ?2, email_sealed = ?3 WHERE id = ?1",
        params![subscriber_id, email_index, email_sealed],
    )?;
    conn.execute(
        "DELETE FROM unsealed_policy_subscribers WHERE subscriber_id = ?1",
        [subscriber_id],
    )?;
    Ok(())
}

/// Rewrites, with `mask`, every stored delivery error that holds an `@` (an older Lethe kept
/// SMTP replies that echo the recipient). Returns how many changed.
pub fn mask_stored_errors(
    conn: &Connection,
    mask: impl Fn(&str) -> String,
) -> Result<usize, StoreError> {
    let mut changed = 0;
    for (table, column) in [
        ("delivery_attempts", "error"),
        ("outbox_messages", "last_error"),
    ] {
        let found: Vec<(i64, String)> = conn
            .prepare(&format!(
                "SELECT id, {column} FROM {table} WHERE {column} LIKE '%@%'"
            ))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, text) in found {
            let masked = mask(&text);
            if masked != text {
                conn.execute(
                    &format!("UPDATE {table} SET {column} = ?2 WHERE id = ?1"),
                    params![id, masked],
                )?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// A policy version's announcement to subscribers: when, and to how many (never whom).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub version: i64,
    pub notified_at: DateTime<Utc>,
    pub recipients: i64,
}

/// Every announcement of the workspace's policy versions, by version.
pub fn announcements(
    conn: &Connection,
    scope: &WorkspaceScope,
) -> Result<Vec<Announcement>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT version, notified_at, recipients FROM policy_notifications \
         WHERE workspace_id = ?1 ORDER BY version",
    )?;
    let rows = stmt
        .query_map([scope.id()], |r| {
            Ok(Announcement {
                version: r.get(0)?,
                notified_at: time_at(r, 1)?,
                recipients: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
