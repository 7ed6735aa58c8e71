//! A workspace's members: list, invite, change their roles, remove.

use super::error::PageError;
use super::session::SignedIn;
use super::{Shell, html, see_other};
use crate::domain::ValidationErrors;
use crate::domain::staff::{Permission, Role};
use crate::error::AppError;
use crate::services;
use crate::services::workspaces::Member;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

#[derive(Template)]
#[template(path = "console/members.html")]
struct MembersPage {
    shell: Shell,
    members: Vec<Member>,
    roles: [Role; 4],
    can_manage: bool,
    me: i64,
    invite_link: Option<String>,
    added: Option<String>,
    errors: ValidationErrors,
    error: Option<String>,
    email: String,
    /// The roles ticked in the add form (kept when it comes back with an error).
    add_roles: Vec<String>,
}

impl MembersPage {
    fn holds(m: &Member, r: &Role) -> bool {
        m.roles.contains(*r)
    }

    fn add_ticked(&self, r: &Role) -> bool {
        self.add_roles.iter().any(|t| t == r.as_str())
    }
}

async fn render(
    state: &AppState,
    who: &SignedIn,
    slug: &str,
    status: StatusCode,
    fill: impl FnOnce(&mut MembersPage),
) -> Result<HttpResponse, PageError> {
    let member = who.workspace(state, slug, Permission::ViewMembers).await?;
    let scope = member.scope;
    let list = state
        .db
        .run(move |db| services::workspaces::members(db, &scope))
        .await?;
    let mut page = MembersPage {
        shell: Shell::in_workspace(who, &member, "members"),
        members: list,
        roles: Role::ALL,
        can_manage: member.roles.allows(Permission::ManageMembers),
        me: who.account.id,
        invite_link: None,
        added: None,
        errors: ValidationErrors::default(),
        error: None,
        email: String::new(),
        add_roles: Vec::new(),
    };
    fill(&mut page);
    html(status, &page)
}

pub async fn list(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    render(&state, &who, &slug, StatusCode::OK, |_| {}).await
}

/// A members form: its fields as sent, where `role` comes once for each ticked checkbox (which
/// a struct cannot take from serde_urlencoded, so the pairs are read as they came).
pub struct RolesForm {
    email: String,
    roles: Vec<String>,
    csrf: String,
}

impl RolesForm {
    fn read(pairs: Vec<(String, String)>) -> RolesForm {
        let mut form = RolesForm {
            email: String::new(),
            roles: Vec::new(),
            csrf: String::new(),
        };
        for (name, value) in pairs {
            match name.as_str() {
                "role" => form.roles.push(value),
                "email" => form.email = value,
                "csrf" => form.csrf = value,
                _ => {}
            }
        }
        form
    }
}

pub async fn add(
    state: web::Data<AppState>,
    who: SignedIn,
    slug: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let member = who
        .workspace(&state, &slug, Permission::ManageMembers)
        .await?;
    let form = RolesForm::read(form.into_inner());
    who.check_csrf(&form.csrf)?;
    let (caller, scope, base) = (who.caller.clone(), member.scope, state.base_url.clone());
    let (email, roles) = (form.email.clone(), form.roles.clone());
    let outcome = state
        .db
        .run(move |db| services::workspaces::add_member(db, &caller, &scope, &email, &roles, &base))
        .await;
    match outcome {
        // The invitation link is shown here, once; only its digest is stored.
        Ok(link) => {
            render(&state, &who, &slug, StatusCode::OK, |p| {
                p.invite_link = link;
                p.added = Some(form.email.trim().to_lowercase());
            })
            .await
        }
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_))) => {
            let status = e.status();
            render(&state, &who, &slug, status, |p| {
                p.email = form.email;
                p.add_roles = form.roles;
                match e {
                    AppError::Validation(v) => p.errors = v,
                    other => p.error = Some(other.to_string()),
                }
            })
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Sets a member's roles to exactly those ticked in their form.
pub async fn set_roles(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, i64)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (slug, staff_id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ManageMembers)
        .await?;
    let form = RolesForm::read(form.into_inner());
    who.check_csrf(&form.csrf)?;
    let (caller, scope, roles) = (who.caller.clone(), member.scope, form.roles);
    let outcome = state
        .db
        .run(move |db| services::workspaces::set_roles(db, &caller, &scope, staff_id, &roles))
        .await;
    after_change(&state, &who, &slug, outcome).await
}

pub async fn remove(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(String, i64)>,
    form: web::Form<super::auth::CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let (slug, staff_id) = path.into_inner();
    let member = who
        .workspace(&state, &slug, Permission::ManageMembers)
        .await?;
    who.check_csrf(&form.csrf)?;
    let (caller, scope) = (who.caller.clone(), member.scope);
    let outcome = state
        .db
        .run(move |db| services::workspaces::remove_member(db, &caller, &scope, staff_id))
        .await;
    after_change(&state, &who, &slug, outcome).await
}

async fn after_change(
    state: &AppState,
    who: &SignedIn,
    slug: &str,
    outcome: Result<(), AppError>,
) -> Result<HttpResponse, PageError> {
    match outcome {
        Ok(()) => Ok(see_other(&format!("/console/w/{slug}/members"))),
        Err(e @ (AppError::Conflict(_) | AppError::Validation(_))) => {
            render(state, who, slug, e.status(), |p| {
                p.error = Some(e.to_string())
            })
            .await
        }
        Err(e) => Err(e.into()),
    }
}
