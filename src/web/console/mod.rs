//! The staff console under `/console`: server-rendered pages that work without JavaScript.

pub mod account;
pub mod audit;
pub mod auth;
pub mod consent;
pub mod doctor;
pub mod error;
pub mod incident_clock;
pub mod incident_form;
pub mod incident_letters;
pub mod incident_notice;
pub mod incident_timeline;
pub mod incidents;
pub mod inventory;
pub mod keys;
pub mod members;
pub mod outbox;
pub mod password_reset;
pub mod policy;
pub mod publication;
pub mod requests;
pub mod retention;
pub mod session;
pub mod subjects;
pub mod webhooks;
pub mod workspaces;

use crate::domain::staff::{Permission, Roles};
use crate::error::AppError;
use actix_web::{HttpRequest, HttpResponse, web};
use error::PageError;
use session::{MemberOf, SignedIn};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .wrap(actix_web::middleware::from_fn(
                crate::web::middleware::same_origin_posts,
            ))
            .route("/", web::get().to(workspaces::dashboard))
            .route("", web::get().to(|| async { see_other("/console/") }))
            .route("/login", web::get().to(auth::login_form))
            .route("/login", web::post().to(auth::login))
            .route(
                "/login/second-factor",
                web::get().to(auth::second_factor_form),
            )
            .route("/login/second-factor", web::post().to(auth::second_factor))
            .route("/login/forgot", web::get().to(password_reset::form))
            .route("/login/forgot", web::post().to(password_reset::request))
            .route("/reset/{token}", web::get().to(password_reset::link_form))
            .route(
                "/reset/{token}",
                web::post().to(password_reset::set_password),
            )
            .route("/logout", web::post().to(auth::logout))
            .route("/setup/{token}", web::get().to(auth::setup_form))
            .route("/setup/{token}", web::post().to(auth::setup))
            .route("/invite/{token}", web::get().to(auth::invite_form))
            .route("/invite/{token}", web::post().to(auth::invite))
            .route("/account", web::get().to(account::show))
            .route(
                "/account/password",
                web::post().to(account::change_password),
            )
            .route("/account/totp/begin", web::post().to(account::begin_totp))
            .route(
                "/account/totp/confirm",
                web::post().to(account::confirm_totp),
            )
            .route(
                "/account/totp/disable",
                web::post().to(account::disable_totp),
            )
            .route("/permissions", web::get().to(workspaces::permissions))
            .route("/audit", web::get().to(audit::instance))
            .route("/doctor", web::get().to(doctor::show))
            .route("/workspaces/new", web::get().to(workspaces::new_form))
            .route("/workspaces/new", web::post().to(workspaces::create))
            .route("/w/{slug}/", web::get().to(workspaces::overview))
            .route(
                "/w/{slug}/settings",
                web::get().to(workspaces::settings_form),
            )
            .route(
                "/w/{slug}/settings",
                web::post().to(workspaces::update_settings),
            )
            .route("/w/{slug}/members", web::get().to(members::list))
            .route("/w/{slug}/members", web::post().to(members::add))
            .route(
                "/w/{slug}/members/{staff_id}/role",
                web::post().to(members::set_roles),
            )
            .route(
                "/w/{slug}/members/{staff_id}/remove",
                web::post().to(members::remove),
            )
            .route("/w/{slug}/keys", web::get().to(keys::list))
            .route("/w/{slug}/keys", web::post().to(keys::create))
            .route("/w/{slug}/keys/{id}/revoke", web::post().to(keys::revoke))
            .route("/w/{slug}/webhooks", web::get().to(webhooks::list))
            .route("/w/{slug}/webhooks", web::post().to(webhooks::create))
            .route(
                "/w/{slug}/webhooks/{id}/delete",
                web::post().to(webhooks::delete),
            )
            .route("/w/{slug}/outbox", web::get().to(outbox::list))
            .route("/w/{slug}/audit", web::get().to(audit::workspace))
            .route("/w/{slug}/evidence.zip", web::get().to(audit::evidence))
            .route("/w/{slug}/policy", web::get().to(policy::list))
            .route("/w/{slug}/policy/new", web::post().to(policy::new_draft))
            .route("/w/{slug}/policy/{version}", web::get().to(policy::show))
            .route("/w/{slug}/policy/{version}", web::post().to(policy::save))
            .route(
                "/w/{slug}/policy/{version}/publish",
                web::get().to(publication::review),
            )
            .route(
                "/w/{slug}/policy/{version}/publish",
                web::post().to(publication::publish),
            )
            .route(
                "/w/{slug}/policy/{version}/diff",
                web::get().to(policy::diff),
            )
            .route(
                "/w/{slug}/policy/{version}/delete",
                web::post().to(policy::delete),
            )
            .route("/w/{slug}/subjects", web::get().to(subjects::list))
            // Before `subjects/{external_id}`, whose resource would answer a post here with 405.
            .route("/w/{slug}/subjects/find", web::post().to(subjects::find))
            .route(
                "/w/{slug}/subjects/{external_id}",
                web::get().to(subjects::show),
            )
            .route(
                "/w/{slug}/subjects/{external_id}/records",
                web::post().to(subjects::records),
            )
            .route(
                "/w/{slug}/subjects/{external_id}/consent",
                web::post().to(consent::history),
            )
            .route(
                "/w/{slug}/subjects/{external_id}/restrict",
                web::post().to(subjects::restrict),
            )
            .route(
                "/w/{slug}/subjects/{external_id}/unrestrict",
                web::post().to(subjects::unrestrict),
            )
            .route(
                "/w/{slug}/subjects/{external_id}/erase",
                web::post().to(subjects::erase),
            )
            .route("/w/{slug}/consent", web::get().to(consent::rates))
            .route("/w/{slug}/requests", web::get().to(requests::list))
            .route("/w/{slug}/requests/{id}", web::get().to(requests::show))
            .route(
                "/w/{slug}/requests/{id}/start",
                web::post().to(requests::start),
            )
            .route(
                "/w/{slug}/requests/{id}/complete",
                web::post().to(requests::complete),
            )
            .route(
                "/w/{slug}/requests/{id}/carry-out",
                web::post().to(requests::carry_out),
            )
            .route(
                "/w/{slug}/requests/{id}/tasks/{system}/done",
                web::post().to(requests::task_done),
            )
            .route(
                "/w/{slug}/incidents/{id}/letter",
                web::get().to(incident_letters::show),
            )
            .route(
                "/w/{slug}/incidents/{id}/letter",
                web::post().to(incident_letters::send),
            )
            .route(
                "/w/{slug}/requests/{id}/correct",
                web::post().to(requests::correct),
            )
            .route(
                "/w/{slug}/requests/{id}/deny",
                web::post().to(requests::deny),
            )
            .route(
                "/w/{slug}/requests/{id}/extend",
                web::post().to(requests::extend),
            )
            .route("/w/{slug}/incidents", web::get().to(incidents::list))
            // Before `incidents/{id}`, which would take these for an incident's id.
            .route(
                "/w/{slug}/incidents/new",
                web::get().to(incidents::new_form),
            )
            .route("/w/{slug}/incidents/new", web::post().to(incidents::create))
            .route(
                "/w/{slug}/incidents/register.csv",
                web::get().to(incidents::register_csv),
            )
            .route(
                "/w/{slug}/incidents/register.json",
                web::get().to(incidents::register_json),
            )
            .route("/w/{slug}/incidents/{id}", web::get().to(incidents::show))
            .route(
                "/w/{slug}/incidents/{id}/edit",
                web::get().to(incidents::edit_form),
            )
            .route(
                "/w/{slug}/incidents/{id}/edit",
                web::post().to(incidents::update),
            )
            .route(
                "/w/{slug}/incidents/{id}/recount",
                web::post().to(incidents::recount),
            )
            .route(
                "/w/{slug}/incidents/{id}/not-notified",
                web::post().to(incidents::not_notified),
            )
            .route(
                "/w/{slug}/incidents/{id}/close",
                web::post().to(incidents::close),
            )
            .route(
                "/w/{slug}/incidents/{id}/reopen",
                web::post().to(incidents::reopen),
            )
            .route(
                "/w/{slug}/incidents/{id}/notice",
                web::get().to(incident_notice::show),
            )
            .route(
                "/w/{slug}/incidents/{id}/notice",
                web::post().to(incident_notice::edit),
            )
            .route(
                "/w/{slug}/incidents/{id}/notice/phases",
                web::post().to(incident_notice::record_phase),
            )
            .route(
                "/w/{slug}/incidents/{id}/notice.html",
                web::get().to(incident_notice::print),
            )
            .route(
                "/w/{slug}/incidents/{id}/notice.json",
                web::get().to(incident_notice::json),
            )
            .route("/retention/lethe", web::get().to(retention::own_data))
            .route("/retention/lethe", web::post().to(retention::save_own_data))
            .route("/w/{slug}/retention", web::get().to(retention::show))
            .route("/w/{slug}/retention/run", web::post().to(retention::run))
            .route(
                "/w/{slug}/retention/dry-run",
                web::post().to(retention::dry_run),
            )
            .route(
                "/w/{slug}/retention/runs/{id}",
                web::get().to(retention::show_run),
            )
            .route("/w/{slug}/inventory", web::get().to(inventory::overview))
            .route(
                "/w/{slug}/inventory/ropa.csv",
                web::get().to(inventory::ropa_csv),
            )
            // Before `{kind}/{key}`, which would take `import/preview` for an item.
            .route(
                "/w/{slug}/inventory/import",
                web::get().to(inventory::import::form),
            )
            .route(
                "/w/{slug}/inventory/import",
                web::post().to(inventory::import::confirm),
            )
            .route(
                "/w/{slug}/inventory/import/preview",
                web::post().to(inventory::import::preview),
            )
            .route(
                "/w/{slug}/inventory/{kind}",
                web::get().to(inventory::section),
            )
            .route(
                "/w/{slug}/inventory/{kind}/new",
                web::get().to(inventory::new_form),
            )
            .route(
                "/w/{slug}/inventory/{kind}/new",
                web::post().to(inventory::create),
            )
            .route(
                "/w/{slug}/inventory/{kind}/{key}",
                web::get().to(inventory::edit_form),
            )
            .route(
                "/w/{slug}/inventory/{kind}/{key}",
                web::post().to(inventory::update),
            )
            .route(
                "/w/{slug}/inventory/{kind}/{key}/delete",
                web::post().to(inventory::delete),
            )
            .default_service(web::to(crate::web::not_found)),
    );
}

/// Form bodies: over the limit is 413, anything unparseable is 400, both as pages.
pub fn form_config(limit: usize) -> web::FormConfig {
    web::FormConfig::default()
        .limit(limit)
        .error_handler(move |err, _req: &HttpRequest| {
            let e = match err {
                actix_web::error::UrlencodedError::Overflow { .. } => {
                    AppError::PayloadTooLarge { limit }
                }
                other => AppError::BadRequest(format!("The form could not be read: {other}")),
            };
            PageError::App(e).into()
        })
}

/// A redirect to `to`; a target that cannot be a header value (it never should, see
/// `session::safe_next`) goes to the dashboard rather than failing the response.
pub fn see_other(to: &str) -> HttpResponse {
    let location = actix_web::http::header::HeaderValue::from_str(to)
        .unwrap_or_else(|_| actix_web::http::header::HeaderValue::from_static("/console/"));
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

pub fn html(
    status: actix_web::http::StatusCode,
    template: &impl askama::Template,
) -> Result<HttpResponse, PageError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(template.render()?))
}

pub fn ok(template: &impl askama::Template) -> Result<HttpResponse, PageError> {
    html(actix_web::http::StatusCode::OK, template)
}

/// The frame around every signed-in page: who is signed in, the CSRF token for the logout form,
/// and the current workspace's navigation.
pub struct Shell {
    pub email: String,
    pub is_admin: bool,
    pub csrf: String,
    pub section: &'static str,
    pub workspace: Option<WorkspaceNav>,
}

pub struct WorkspaceNav {
    pub slug: String,
    pub name: String,
    pub roles: Roles,
    pub can_view_members: bool,
    pub can_view_keys: bool,
    pub can_read_audit: bool,
    pub can_view_subjects: bool,
    pub can_view_requests: bool,
    pub can_view_incidents: bool,
}

impl Shell {
    pub fn new(who: &SignedIn, section: &'static str) -> Self {
        Shell {
            email: who.account.email.clone(),
            is_admin: who.account.is_admin,
            csrf: who.session.csrf_token.clone(),
            section,
            workspace: None,
        }
    }

    pub fn in_workspace(who: &SignedIn, member: &MemberOf, section: &'static str) -> Self {
        let roles = member.roles;
        Shell {
            workspace: Some(WorkspaceNav {
                slug: member.workspace.slug.clone(),
                name: member.workspace.settings.legal_name.clone(),
                roles,
                can_view_members: roles.allows(Permission::ViewMembers),
                can_view_keys: roles.allows(Permission::ViewApiKeys),
                can_read_audit: roles.allows(Permission::ReadAudit),
                can_view_subjects: roles.allows(Permission::ViewSubjects),
                can_view_requests: roles.allows(Permission::ViewRequests),
                can_view_incidents: roles.allows(Permission::ViewIncidents),
            }),
            ..Shell::new(who, section)
        }
    }

    /// The current workspace's slug, for form actions.
    pub fn slug(&self) -> &str {
        self.workspace
            .as_ref()
            .map(|w| w.slug.as_str())
            .unwrap_or_default()
    }

    /// `aria-current` for the nav link of `section`.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}
