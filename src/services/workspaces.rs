//! Workspaces and their members.

use super::Caller;
use crate::crypto;
use crate::domain::staff::{Role, Roles};
use crate::domain::workspace::{Slug, Workspace, WorkspaceSettings, WorkspaceSettingsInput};
use crate::domain::{Email, ValidationErrors};
use crate::error::AppError;
pub use crate::store::members::Member;
use crate::store::staff::TokenPurpose;
use crate::store::{Db, WorkspaceScope, audit, members, staff, workspaces};
use chrono::{Duration, Utc};

/// Creates a workspace with `owner_id` as its first owner.
pub fn create(
    db: &Db,
    caller: &Caller,
    owner_id: i64,
    slug: &str,
    input: &WorkspaceSettingsInput,
) -> Result<Workspace, AppError> {
    let mut errors = ValidationErrors::default();
    let slug = errors.check("slug", Slug::parse(slug));
    let settings = WorkspaceSettings::parse(input)
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    errors.clone().into_result()?;
    let (Some(slug), Some(settings)) = (slug, settings) else {
        return Err(errors.into());
    };
    let now = Utc::now();
    db.write(|tx| {
        let scope = workspaces::create(tx, &slug, &settings, now)?;
        members::add(tx, &scope, owner_id, Roles::one(Role::Owner), now)?;
        let event = caller
            .event("workspace.create", format!("workspace:{}", slug.as_str()))
            .detail(serde_json::to_value(&settings).unwrap_or_default());
        audit::append(tx, Some(&scope), &event, now)?;
        Ok(workspaces::get(tx, &scope)?)
    })
}

pub fn update(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    input: &WorkspaceSettingsInput,
) -> Result<Workspace, AppError> {
    update_from(db, caller, scope, |_| input.clone())
}

/// Updates the settings from what they are now: `edit` gets the stored settings and returns the
/// input to save, read and written in one transaction (a PATCH of some fields cannot undo a
/// change made between its read and its write).
pub fn update_from(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    edit: impl FnOnce(&WorkspaceSettings) -> WorkspaceSettingsInput,
) -> Result<Workspace, AppError> {
    let now = Utc::now();
    db.write(|tx| {
        let before = workspaces::get(tx, scope)?;
        let settings = WorkspaceSettings::parse(&edit(&before.settings))?;
        workspaces::update(tx, scope, &settings, now)?;
        let event = caller
            .event("workspace.update", format!("workspace:{}", before.slug))
            .detail(changes(&before.settings, &settings));
        audit::append(tx, Some(scope), &event, now)?;
        Ok(workspaces::get(tx, scope)?)
    })
}

/// The fields that changed, as {"field": [old, new]}.
fn changes(before: &WorkspaceSettings, after: &WorkspaceSettings) -> serde_json::Value {
    let (b, a) = (
        serde_json::to_value(before).unwrap_or_default(),
        serde_json::to_value(after).unwrap_or_default(),
    );
    let mut out = serde_json::Map::new();
    if let (Some(b), Some(a)) = (b.as_object(), a.as_object()) {
        for (k, new) in a {
            let old = b.get(k).cloned().unwrap_or_default();
            if &old != new {
                out.insert(k.clone(), serde_json::json!([old, new]));
            }
        }
    }
    serde_json::Value::Object(out)
}

/// Adds a member. Someone without an account gets one, with a one-time invitation link that is
/// returned (shown to the owner; sent by mail once the outbox exists).
pub fn add_member(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    email: &str,
    roles: &[String],
    base_url: &str,
) -> Result<Option<String>, AppError> {
    let mut errors = ValidationErrors::default();
    let email = errors.check("email", Email::parse(email));
    let roles = errors.check("role", Roles::parse(roles));
    errors.clone().into_result()?;
    let (Some(email), Some(roles)) = (email, roles) else {
        return Err(errors.into());
    };
    let now = Utc::now();
    db.write(|tx| {
        let (staff_id, link) = match staff::find_by_email(tx, email.as_str())? {
            Some(existing) => (existing.id, None),
            None => {
                let id = staff::create(tx, email.as_str(), None, false, now)?;
                let token = crypto::random_token(32);
                staff::create_token(
                    tx,
                    TokenPurpose::Invite,
                    Some(id),
                    &crypto::sha256_hex(&token),
                    now,
                    now + Duration::days(super::accounts::INVITE_LINK_DAYS),
                )?;
                (id, Some(format!("{base_url}/console/invite/{token}")))
            }
        };
        members::add(tx, scope, staff_id, roles, now)?;
        let event = caller
            .event("member.add", format!("staff:{staff_id}"))
            .detail(serde_json::json!({ "email": email.as_str(), "roles": roles.names(), "invited": link.is_some() }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok(link)
    })
}

/// Gives a member exactly `roles` (at least one). The workspace's last owner keeps the owner
/// role, whatever else they gain or lose.
pub fn set_roles(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    staff_id: i64,
    roles: &[String],
) -> Result<(), AppError> {
    let roles = Roles::parse(roles).map_err(|m| ValidationErrors::single("role", m))?;
    db.write(|tx| {
        let current = members::list(tx, scope)?
            .into_iter()
            .find(|m| m.staff_id == staff_id)
            .ok_or_else(|| AppError::NotFound("member".into()))?;
        if current.roles == roles {
            return Ok(());
        }
        if current.roles.contains(Role::Owner)
            && !roles.contains(Role::Owner)
            && members::count_owners(tx, scope)? <= 1
        {
            return Err(AppError::Conflict(
                "A workspace needs at least one owner: make someone else owner first.".into(),
            ));
        }
        members::set_roles(tx, scope, staff_id, roles)?;
        let event = caller
            .event("member.role_change", format!("staff:{staff_id}"))
            .detail(serde_json::json!({ "from": current.roles.names(), "to": roles.names() }));
        audit::append(tx, Some(scope), &event, Utc::now())?;
        Ok(())
    })
}

pub fn remove_member(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    staff_id: i64,
) -> Result<(), AppError> {
    db.write(|tx| {
        let current = members::list(tx, scope)?
            .into_iter()
            .find(|m| m.staff_id == staff_id)
            .ok_or_else(|| AppError::NotFound("member".into()))?;
        if current.roles.contains(Role::Owner) && members::count_owners(tx, scope)? <= 1 {
            return Err(AppError::Conflict(
                "The last owner of a workspace cannot be removed.".into(),
            ));
        }
        members::remove(tx, scope, staff_id)?;
        let event = caller
            .event("member.remove", format!("staff:{staff_id}"))
            .detail(serde_json::json!({ "email": current.email }));
        audit::append(tx, Some(scope), &event, Utc::now())?;
        Ok(())
    })
}

/// The workspace `scope` proves access to.
pub fn get(db: &Db, scope: &WorkspaceScope) -> Result<Workspace, AppError> {
    db.read(|c| Ok(workspaces::get(c, scope)?))
}

/// A workspace by slug, for public pages (which show published facts only) and the shell.
pub fn find_public(db: &Db, slug: &str) -> Result<Option<(WorkspaceScope, Workspace)>, AppError> {
    db.read(|c| Ok(workspaces::find_by_slug(c, slug)?))
}

/// The workspace `slug` with the member's roles, if `staff_id` is a member: the proof of access
/// the console's pages start from.
pub fn find_for_member(
    db: &Db,
    staff_id: i64,
    slug: &str,
) -> Result<Option<(WorkspaceScope, Workspace, Roles)>, AppError> {
    db.read(|c| Ok(workspaces::find_for_member(c, staff_id, slug)?))
}

/// Every workspace the person is a member of, with their roles, by slug.
pub fn list_for_member(
    db: &Db,
    staff_id: i64,
) -> Result<Vec<(WorkspaceScope, Workspace, Roles)>, AppError> {
    db.read(|c| Ok(workspaces::list_for_member(c, staff_id)?))
}

/// The workspace's members with their roles.
pub fn members(db: &Db, scope: &WorkspaceScope) -> Result<Vec<Member>, AppError> {
    db.read(|c| Ok(members::list(c, scope)?))
}
