//! Inventory tables. Items are written by key (insert or replace) and read back as one
//! [`Inventory`]; category references are stored as ids in link tables.

use super::{StoreError, WorkspaceScope, ts};
use crate::domain::inventory::{
    DataCategory, Inventory, InventoryKind, LegalHold, Purpose, Recipient, RetentionRule, System,
};
use crate::domain::schedule::CronSchedule;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An enum stored as its serde name (`legitimate_interests`).
fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn from_text<T: DeserializeOwned>(s: String) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(s)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn from_json<T: DeserializeOwned>(s: String) -> rusqlite::Result<T> {
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn table(kind: InventoryKind) -> &'static str {
    match kind {
        InventoryKind::Categories => "data_categories",
        InventoryKind::Purposes => "purposes",
        InventoryKind::Systems => "systems",
        InventoryKind::Recipients => "recipients",
        InventoryKind::RetentionRules => "retention_rules",
        InventoryKind::LegalHolds => "legal_holds",
    }
}

/// Whether the inventory holds the item `key` of `kind`.
pub fn contains(
    conn: &Connection,
    scope: &WorkspaceScope,
    kind: InventoryKind,
    key: &str,
) -> Result<bool, StoreError> {
    Ok(id_of(conn, scope, kind, key)?.is_some())
}

fn id_of(
    conn: &Connection,
    scope: &WorkspaceScope,
    kind: InventoryKind,
    key: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT id FROM {} WHERE workspace_id = ?1 AND key = ?2",
                table(kind)
            ),
            params![scope.id(), key],
            |r| r.get(0),
        )
        .optional()?)
}

fn category_id(conn: &Connection, scope: &WorkspaceScope, key: &str) -> Result<i64, StoreError> {
    id_of(conn, scope, InventoryKind::Categories, key)?
        .ok_or_else(|| StoreError::NotFound(format!("data category '{key}'")))
}

/// Keys of the categories linked to each row of `owner_table`, by owner id.
fn linked_keys(
    conn: &Connection,
    scope: &WorkspaceScope,
    link: &str,
    owner_column: &str,
) -> Result<std::collections::HashMap<i64, Vec<String>>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT l.{owner_column}, c.key FROM {link} l JOIN data_categories c ON c.id = l.category_id \
         WHERE c.workspace_id = ?1 ORDER BY c.id"
    ))?;
    let mut out: std::collections::HashMap<i64, Vec<String>> = Default::default();
    let rows = stmt.query_map([scope.id()], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (owner, key) = row?;
        out.entry(owner).or_default().push(key);
    }
    Ok(out)
}

fn replace_links(
    conn: &Connection,
    scope: &WorkspaceScope,
    link: &str,
    owner_column: &str,
    owner_id: i64,
    keys: &[String],
) -> Result<(), StoreError> {
    conn.execute(
        &format!("DELETE FROM {link} WHERE {owner_column} = ?1"),
        [owner_id],
    )?;
    for key in keys {
        let category = category_id(conn, scope, key)?;
        conn.execute(
            &format!("INSERT INTO {link} ({owner_column}, category_id) VALUES (?1, ?2)"),
            params![owner_id, category],
        )?;
    }
    Ok(())
}

/// The data categories alone (what ingestion checks records against).
pub fn categories(
    conn: &Connection,
    scope: &WorkspaceScope,
) -> Result<Vec<DataCategory>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, name, description, subject_kinds, source, sensitivity, fields, subject_optional \
         FROM data_categories WHERE workspace_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([scope.id()], |r| {
        Ok(DataCategory {
            key: r.get(0)?,
            name: r.get(1)?,
            description: r.get(2)?,
            subject_kinds: from_json(r.get(3)?)?,
            source: r.get(4)?,
            sensitivity: from_text(r.get(5)?)?,
            fields: from_json(r.get(6)?)?,
            subject_optional: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn load(conn: &Connection, scope: &WorkspaceScope) -> Result<Inventory, StoreError> {
    let w = scope.id();
    let mut inv = Inventory {
        categories: categories(conn, scope)?,
        ..Inventory::default()
    };

    let mut links = linked_keys(conn, scope, "purpose_categories", "purpose_id")?;
    let mut stmt = conn.prepare(
        "SELECT id, key, name, description, legal_basis, balancing_note, consent_prompt, \
         cookies, local_storage, opt_out_of_sale FROM purposes WHERE workspace_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([w], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            Purpose {
                key: r.get(1)?,
                name: r.get(2)?,
                description: r.get(3)?,
                legal_basis: from_text(r.get(4)?)?,
                balancing_note: r.get(5)?,
                categories: Vec::new(),
                consent_prompt: r.get(6)?,
                cookies: from_json(r.get(7)?)?,
                local_storage: from_json(r.get(8)?)?,
                opt_out_of_sale: r.get(9)?,
            },
        ))
    })?;
    for row in rows {
        let (id, mut p) = row?;
        p.categories = links.remove(&id).unwrap_or_default();
        inv.purposes.push(p);
    }

    let mut links = linked_keys(conn, scope, "system_categories", "system_id")?;
    let mut stmt = conn.prepare(
        "SELECT id, key, name, description, location FROM systems WHERE workspace_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([w], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            System {
                key: r.get(1)?,
                name: r.get(2)?,
                description: r.get(3)?,
                location: r.get(4)?,
                categories: Vec::new(),
            },
        ))
    })?;
    for row in rows {
        let (id, mut s) = row?;
        s.categories = links.remove(&id).unwrap_or_default();
        inv.systems.push(s);
    }

    let mut links = linked_keys(conn, scope, "recipient_categories", "recipient_id")?;
    let mut stmt = conn.prepare(
        "SELECT id, key, name, role, purpose, country, safeguard, derogation FROM recipients \
         WHERE workspace_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([w], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            Recipient {
                key: r.get(1)?,
                name: r.get(2)?,
                role: from_text(r.get(3)?)?,
                purpose: r.get(4)?,
                country: r.get(5)?,
                safeguard: from_text(r.get(6)?)?,
                derogation: r.get(7)?,
                categories: Vec::new(),
            },
        ))
    })?;
    for row in rows {
        let (id, mut rec) = row?;
        rec.categories = links.remove(&id).unwrap_or_default();
        inv.recipients.push(rec);
    }

    let mut stmt = conn.prepare(&format!(
        "SELECT {RULE_COLUMNS} FROM retention_rules r \
         JOIN data_categories c ON c.id = r.category_id WHERE r.workspace_id = ?1 ORDER BY r.id"
    ))?;
    let rows = stmt.query_map([w], rule_row)?;
    inv.retention_rules = rows.collect::<Result<_, _>>()?;

    let mut stmt = conn.prepare(
        "SELECT h.key, c.key, h.reason, h.until FROM legal_holds h \
         LEFT JOIN data_categories c ON c.id = h.category_id WHERE h.workspace_id = ?1 ORDER BY h.id",
    )?;
    let rows = stmt.query_map([w], |r| {
        let until: Option<String> = r.get(3)?;
        Ok(LegalHold {
            key: r.get(0)?,
            category: r.get(1)?,
            reason: r.get(2)?,
            until: until.and_then(|d| d.parse().ok()),
        })
    })?;
    inv.legal_holds = rows.collect::<Result<_, _>>()?;
    Ok(inv)
}

const RULE_COLUMNS: &str = "r.key, c.key, r.trigger, r.days, r.action, r.note, r.schedule, \
     r.enabled, r.transforms, r.claim, r.workspace_id";

fn rule_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RetentionRule> {
    Ok(RetentionRule {
        key: r.get(0)?,
        category: r.get(1)?,
        trigger: from_text(r.get(2)?)?,
        days: r.get(3)?,
        action: from_text(r.get(4)?)?,
        note: r.get(5)?,
        schedule: CronSchedule::parse(&r.get::<_, String>(6)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
        })?,
        enabled: r.get(7)?,
        transforms: from_json(r.get(8)?)?,
        claim: r.get(9)?,
    })
}

/// Every workspace's retention rules, for the scheduler (which acts for every workspace).
pub fn all_retention_rules(
    conn: &Connection,
) -> Result<Vec<(WorkspaceScope, RetentionRule)>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {RULE_COLUMNS} FROM retention_rules r \
         JOIN data_categories c ON c.id = r.category_id ORDER BY r.workspace_id, r.id"
    ))?;
    let rows = stmt
        .query_map([], |r| Ok((WorkspaceScope::new(r.get(10)?), rule_row(r)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Inserts or replaces; true when the item is new. Referenced categories must exist (the
/// service checks first, so a missing one here is an internal error).
pub fn put_category(
    conn: &Connection,
    scope: &WorkspaceScope,
    c: &DataCategory,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let existed = id_of(conn, scope, InventoryKind::Categories, &c.key)?.is_some();
    conn.execute(
        "INSERT INTO data_categories (workspace_id, key, name, description, subject_kinds, source, sensitivity, fields, updated_at, subject_optional) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (workspace_id, key) DO UPDATE SET name = excluded.name, description = excluded.description, \
         subject_kinds = excluded.subject_kinds, source = excluded.source, sensitivity = excluded.sensitivity, \
         fields = excluded.fields, updated_at = excluded.updated_at, subject_optional = excluded.subject_optional",
        params![
            scope.id(),
            c.key,
            c.name,
            c.description,
            serde_json::to_string(&c.subject_kinds).unwrap_or_default(),
            c.source,
            enum_text(&c.sensitivity),
            serde_json::to_string(&c.fields).unwrap_or_default(),
            ts(now),
            c.subject_optional
        ],
    )?;
    Ok(!existed)
}

pub fn put_purpose(
    conn: &Connection,
    scope: &WorkspaceScope,
    p: &Purpose,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let existed = id_of(conn, scope, InventoryKind::Purposes, &p.key)?.is_some();
    let id: i64 = conn.query_row(
        "INSERT INTO purposes (workspace_id, key, name, description, legal_basis, balancing_note, consent_prompt, updated_at, \
         cookies, local_storage, opt_out_of_sale) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (workspace_id, key) DO UPDATE SET name = excluded.name, description = excluded.description, \
         legal_basis = excluded.legal_basis, balancing_note = excluded.balancing_note, \
         consent_prompt = excluded.consent_prompt, updated_at = excluded.updated_at, \
         cookies = excluded.cookies, local_storage = excluded.local_storage, \
         opt_out_of_sale = excluded.opt_out_of_sale \
         RETURNING id",
        params![
            scope.id(),
            p.key,
            p.name,
            p.description,
            enum_text(&p.legal_basis),
            p.balancing_note,
            p.consent_prompt,
            ts(now),
            serde_json::to_string(&p.cookies).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&p.local_storage).unwrap_or_else(|_| "[]".into()),
            p.opt_out_of_sale
        ],
        |r| r.get(0),
    )?;
    replace_links(
        conn,
        scope,
        "purpose_categories",
        "purpose_id",
        id,
        &p.categories,
    )?;
    Ok(!existed)
}

pub fn put_system(
    conn: &Connection,
    scope: &WorkspaceScope,
    s: &System,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let existed = id_of(conn, scope, InventoryKind::Systems, &s.key)?.is_some();
    let id: i64 = conn.query_row(
        "INSERT INTO systems (workspace_id, key, name, description, location, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (workspace_id, key) DO UPDATE SET name = excluded.name, description = excluded.description, \
         location = excluded.location, updated_at = excluded.updated_at RETURNING id",
        params![scope.id(), s.key, s.name, s.description, s.location, ts(now)],
        |r| r.get(0),
    )?;
    replace_links(
        conn,
        scope,
        "system_categories",
        "system_id",
        id,
        &s.categories,
    )?;
    Ok(!existed)
}

pub fn put_recipient(
    conn: &Connection,
    scope: &WorkspaceScope,
    r: &Recipient,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let existed = id_of(conn, scope, InventoryKind::Recipients, &r.key)?.is_some();
    let id: i64 = conn.query_row(
        "INSERT INTO recipients (workspace_id, key, name, role, purpose, country, safeguard, derogation, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (workspace_id, key) DO UPDATE SET name = excluded.name, role = excluded.role, \
         purpose = excluded.purpose, country = excluded.country, safeguard = excluded.safeguard, \
         derogation = excluded.derogation, updated_at = excluded.updated_at RETURNING id",
        params![scope.id(), r.key, r.name, enum_text(&r.role), r.purpose, r.country, enum_text(&r.safeguard), r.derogation, ts(now)],
        |row| row.get(0),
    )?;
    replace_links(
        conn,
        scope,
        "recipient_categories",
        "recipient_id",
        id,
        &r.categories,
    )?;
    Ok(!existed)
}

pub fn put_retention_rule(
    conn: &Connection,
    scope: &WorkspaceScope,
    r: &RetentionRule,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let existed = id_of(conn, scope, InventoryKind::RetentionRules, &r.key)?.is_some();
    let category = category_id(conn, scope, &r.category)?;
    conn.execute(
        "INSERT INTO retention_rules (workspace_id, key, category_id, trigger, days, action, note, \
         schedule, enabled, transforms, claim, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT (workspace_id, key) DO UPDATE SET category_id = excluded.category_id, trigger = excluded.trigger, \
         days = excluded.days, action = excluded.action, note = excluded.note, schedule = excluded.schedule, \
         enabled = excluded.enabled, transforms = excluded.transforms, claim = excluded.claim, \
         updated_at = excluded.updated_at",
        params![
            scope.id(),
            r.key,
            category,
            enum_text(&r.trigger),
            r.days,
            enum_text(&r.action),
            r.note,
            r.schedule.source(),
            r.enabled,
            serde_json::to_string(&r.transforms).unwrap_or_else(|_| "[]".into()),
            r.claim,
            ts(now)
        ],
    )?;
    Ok(!existed)
}

pub fn put_legal_hold(
    conn: &Connection,
    scope: &WorkspaceScope,
    h: &LegalHold,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let existed = id_of(conn, scope, InventoryKind::LegalHolds, &h.key)?.is_some();
    let category = h
        .category
        .as_deref()
        .map(|k| category_id(conn, scope, k))
        .transpose()?;
    conn.execute(
        "INSERT INTO legal_holds (workspace_id, key, category_id, reason, until, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (workspace_id, key) DO UPDATE SET category_id = excluded.category_id, reason = excluded.reason, \
         until = excluded.until, updated_at = excluded.updated_at",
        params![scope.id(), h.key, category, h.reason, h.until.map(|d| d.to_string()), ts(now)],
    )?;
    Ok(!existed)
}

/// Deletes one item. A category still referenced is refused by the RESTRICT foreign keys; the
/// service checks first so it can say by what.
pub fn delete(
    conn: &Connection,
    scope: &WorkspaceScope,
    kind: InventoryKind,
    key: &str,
) -> Result<(), StoreError> {
    let n = conn.execute(
        &format!(
            "DELETE FROM {} WHERE workspace_id = ?1 AND key = ?2",
            table(kind)
        ),
        params![scope.id(), key],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "{} '{key}'",
            kind.singular().replace('_', " ")
        )));
    }
    Ok(())
}

/// A consent purpose as a decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentPurpose {
    pub key: String,
    pub name: String,
    /// A sale, sharing or targeted advertising: Global Privacy Control refuses it.
    pub sold: bool,
}

/// The workspace's consent purposes (legal basis `consent`), by key: what a consent decision
/// may answer, and what Global Privacy Control refuses. One small read on the hot path of
/// consent decisions, rather than the whole inventory.
pub fn consent_purposes(
    conn: &Connection,
    scope: &WorkspaceScope,
) -> Result<Vec<ConsentPurpose>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, name, opt_out_of_sale FROM purposes WHERE workspace_id = ?1 \
         AND legal_basis = 'consent' ORDER BY key",
    )?;
    let rows = stmt
        .query_map([scope.id()], |r| {
            Ok(ConsentPurpose {
                key: r.get(0)?,
                name: r.get(1)?,
                sold: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
