//! Tasks for the operator's other systems (issue 16, point 5). When Lethe carries out a request
//! for a person it knows, each inventory system holding a category the person has records in
//! gets a task (`domain::request_task`), opened in the same transaction as Lethe's own part:
//!
//! - a system with a webhook endpoint bound to it is sent a signed `request.task.created`
//!   webhook through the outbox, and reports back with
//!   `POST /api/v1/requests/{id}/tasks/{system}/complete`; for an access or export request it
//!   may attach the data it holds, which joins the person's package;
//! - any other system's task is manual: staff do it and tick it off in the console.
//!
//! The request completes, and the person is told, when its last task is done
//! (`request_fulfilment::complete_after_tasks`). A correction stays with staff, who complete it.
//!
//! At rest: attached data is sealed under the workspace's `requests` key, bound to the request
//! and the system (`task/{system}`), and forgotten once the package can no longer be downloaded.

use super::Caller;
use super::outbox::{OutboxKey, Outgoing, queue};
use super::request_fulfilment;
use super::requests::{Timeline, not_found, open};
use crate::domain::ValidationErrors;
use crate::domain::request::{EventKind, RequestState, RequestType};
use crate::domain::request_task::{self, TASK_CREATED, TaskChannel};
use crate::error::AppError;
use crate::store::outbox::{self as outbox_store, Kind};
use crate::store::request_tasks::{self, TaskRow};
use crate::store::requests::{self, RequestRow};
use crate::store::{Db, Transaction, WorkspaceScope, audit, inventory, records, workspaces};
use crate::vault::{self, SecretKey, Vault};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The most a system may attach to one task, as JSON text.
pub const MAX_ATTACHED_BYTES: usize = 512 * 1024;

/// A task as the API and the console show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskView {
    /// The system's key in the inventory.
    pub system: String,
    /// The system's name when the task was opened.
    pub name: String,
    pub channel: TaskChannel,
    pub done: bool,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    /// Who reported it done: the system's API key, or a member of staff.
    pub done_by: Option<String>,
    /// Whether the system attached the data it holds (access and export).
    pub data_attached: bool,
}

impl From<&TaskRow> for TaskView {
    fn from(t: &TaskRow) -> Self {
        TaskView {
            system: t.system_key.clone(),
            name: t.system_name.clone(),
            channel: t.channel,
            done: t.done_at.is_some(),
            created_at: t.created_at,
            done_at: t.done_at,
            done_by: t.done_by.clone(),
            data_attached: t.data_sealed.is_some(),
        }
    }
}

fn field(system: &str) -> String {
    format!("task/{system}")
}

/// Whether a request of this type takes the data a system holds.
pub fn takes_data(kind: RequestType) -> bool {
    matches!(kind, RequestType::Access | RequestType::Export)
}

/// What Lethe needs to open a request's tasks inside the transaction that carries it out.
pub(super) struct Opening<'a> {
    pub(super) scope: &'a WorkspaceScope,
    pub(super) key: &'a SecretKey,
    pub(super) outbox: &'a OutboxKey,
    pub(super) base_url: &'a str,
    pub(super) now: DateTime<Utc>,
}

impl Opening<'_> {
    /// Opens a task for every system that holds one of the categories the subject
    /// `subject_id` (`external_id`) has records in; returns how many it opened. Read before an
    /// erasure deletes the records.
    pub(super) fn open_tasks(
        &self,
        tx: &Transaction<'_>,
        timeline: &Timeline<'_, '_>,
        row: &RequestRow,
        subject_id: i64,
        external_id: &str,
    ) -> Result<usize, AppError> {
        let scope = self.scope;
        let categories: Vec<String> = records::categories_of_subject(tx, scope, subject_id)?
            .into_iter()
            .map(|(category, _, _)| category)
            .collect();
        if categories.is_empty() {
            return Ok(0);
        }
        let systems = inventory::load(tx, scope)?.systems;
        let reached = request_task::systems_reached(&systems, &categories);
        if reached.is_empty() {
            return Ok(0);
        }
        let slug = workspaces::get(tx, scope)?.slug;
        let mut opened = 0;
        for system in reached {
            let endpoints =
                outbox_store::endpoints_for_system(tx, scope, TASK_CREATED, &system.key)?;
            let channel = match endpoints.is_empty() {
                true => TaskChannel::Manual,
                false => TaskChannel::Webhook,
            };
            let now = self.now;
            if !request_tasks::insert(tx, scope, &row.id, &system.key, &system.name, channel, now)?
            {
                continue;
            }
            opened += 1;
            let detail = match channel {
                TaskChannel::Webhook => format!(
                    "{} ({}) is told by a signed webhook and reports back when it is done.",
                    system.name, system.key
                ),
                TaskChannel::Manual => format!(
                    "{} ({}) has no integration: a task for staff, to do and tick off.",
                    system.name, system.key
                ),
            };
            timeline.add(&row.id, EventKind::TaskOpened, Some(&detail), now)?;
            if endpoints.is_empty() {
                continue;
            }
            let payload = self
                .payload(row, &slug, &system.key, external_id)
                .to_string();
            for endpoint in &endpoints {
                queue(
                    tx,
                    self.outbox,
                    &Outgoing {
                        kind: Kind::Webhook,
                        recipient: &endpoint.url,
                        endpoint_id: Some(endpoint.id),
                        subscriber_id: None,
                        subject: TASK_CREATED,
                        body: &payload,
                    },
                    now,
                )?;
            }
        }
        Ok(opened)
    }

    /// The webhook's JSON: what to do, for whom (the operator's own id of the person), by
    /// when, and where to report back. A correction carries what the person asked to change.
    fn payload(&self, row: &RequestRow, slug: &str, system: &str, external_id: &str) -> Value {
        let details = match (row.kind, &row.details_sealed) {
            (RequestType::Correction, Some(sealed)) => {
                Some(open(self.key, self.scope, &row.id, "details", sealed))
            }
            _ => None,
        };
        json!({
            "event": TASK_CREATED,
            "workspace": slug,
            "system": system,
            "request": {
                "id": row.id,
                "type": row.kind.as_str(),
                "description": row.kind.description(),
                "law": row.law.as_str(),
                "due_at": row.extended_due_at.unwrap_or(row.due_at),
                "purpose": row.purpose_key,
                "details": details,
            },
            "subject": external_id,
            "accepts_data": takes_data(row.kind),
            "complete_url": format!(
                "{}/api/v1/requests/{}/tasks/{system}/complete",
                self.base_url, row.id
            ),
        })
    }
}

/// A request's tasks, for its views.
pub(super) fn views(tasks: &[TaskRow]) -> Vec<TaskView> {
    tasks.iter().map(TaskView::from).collect()
}

/// The data systems attached to request `id`, opened: (system key, system name, the data).
/// One that does not open is left out and logged; the package says nothing false either way.
pub(super) fn attached_data(
    tasks: &[TaskRow],
    key: &SecretKey,
    scope: &WorkspaceScope,
    id: &str,
) -> Vec<(String, String, Value)> {
    tasks
        .iter()
        .filter_map(|t| {
            let sealed = t.data_sealed.as_deref()?;
            let opened = key
                .open(&vault::request_aad(scope, id, &field(&t.system_key)), sealed)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            if opened.is_none() {
                tracing::warn!(request = %id, system = %t.system_key, "attached data cannot be opened");
            }
            Some((t.system_key.clone(), t.system_name.clone(), opened?))
        })
        .collect()
}

/// Reports the task of `system` on request `id` done (a system through the API, or staff
/// ticking off a manual task), with the data the system holds for an access or export request.
/// Refused: no such task (404), done already or the request not in progress (409), data on a
/// request that takes none or too much of it (422). When it was the last open task, the request
/// completes and the person is told, in the same transaction.
#[allow(
    clippy::too_many_arguments,
    reason = "the use case's inputs; grouping them would only rename the list"
)]
pub fn complete_task(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    id: &str,
    system: &str,
    data: Option<Value>,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<super::requests::RequestView, AppError> {
    let row = db
        .read(|c| requests::get(c, scope, id))?
        .ok_or_else(|| not_found(id))?;
    let key = vault.requests_key(scope)?;
    let sealed = match data {
        None | Some(Value::Null) => None,
        Some(_) if !takes_data(row.kind) => {
            return Err(ValidationErrors::single(
                "data",
                format!(
                    "only an access or export request takes the data a system holds; this is a request for {}",
                    row.kind.as_str()
                ),
            )
            .into());
        }
        Some(value) => {
            let text = value.to_string();
            if text.len() > MAX_ATTACHED_BYTES {
                return Err(ValidationErrors::single(
                    "data",
                    format!("at most {MAX_ATTACHED_BYTES} bytes of JSON per task"),
                )
                .into());
            }
            Some(key.seal(
                &vault::request_aad(scope, id, &field(system)),
                text.as_bytes(),
            )?)
        }
    };
    let outbox = OutboxKey::load(vault, scope)?;
    db.write(|tx| {
        let row = requests::get(tx, scope, id)?.ok_or_else(|| not_found(id))?;
        let tasks = request_tasks::for_request(tx, scope, id)?;
        let Some(task) = tasks.iter().find(|t| t.system_key == system) else {
            return Err(AppError::NotFound(format!(
                "a task for the system '{}' on this request",
                system.chars().take(60).collect::<String>()
            )));
        };
        if task.done_at.is_some() {
            return Err(AppError::Conflict(format!(
                "the task of '{}' was already reported done.",
                task.system_key
            )));
        }
        if row.state != RequestState::InProgress {
            return Err(AppError::Conflict(format!(
                "a request that is {} takes no more reports.",
                row.state.as_str().replace('_', " ")
            )));
        }
        let actor = caller.actor.label();
        if !request_tasks::mark_done(tx, scope, id, system, &actor, sealed.as_deref(), now)? {
            return Err(AppError::Conflict(
                "the request changed meanwhile; read it again.".into(),
            ));
        }
        let timeline = Timeline {
            tx,
            scope,
            key: &key,
            caller,
        };
        let detail = format!(
            "{} ({}) reported its task done{}.",
            task.system_name,
            task.system_key,
            if sealed.is_some() {
                ", with the data it holds"
            } else {
                ""
            }
        );
        timeline.add(id, EventKind::TaskDone, Some(&detail), now)?;
        let event = caller
            .event("request.task.completed", id)
            .detail(json!({"system": system, "data_attached": sealed.is_some()}));
        audit::append(tx, Some(scope), &event, now)?;
        request_fulfilment::complete_after_tasks(
            tx, scope, caller, &key, &outbox, base_url, now, id,
        )?;
        let row = requests::get(tx, scope, id)?.ok_or_else(|| not_found(id))?;
        let whole = super::requests::whole(tx, scope, id)?;
        Ok(super::requests::view(&row, &key, scope, now, Some(&whole)))
    })
}

/// Forgets the data systems attached to requests whose package can no longer be downloaded
/// (`PACKAGE_DAYS` after completion), `batch` tasks per short transaction (the `requests`
/// job). Returns how many tasks' data it forgot.
pub fn forget_expired_data(
    db: &Db,
    now: DateTime<Utc>,
    batch: u32,
    stop: &dyn Fn() -> bool,
) -> Result<usize, AppError> {
    let cutoff = now - chrono::Duration::days(super::request_package::PACKAGE_DAYS);
    let mut forgotten = 0;
    loop {
        let n = db.write(|tx| request_tasks::drop_attached_data(tx, cutoff, batch))?;
        forgotten += n;
        if n < batch as usize || stop() {
            return Ok(forgotten);
        }
    }
}
