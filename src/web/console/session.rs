//! Who is signed in to the console, CSRF tokens, and access to a workspace.

use super::error::PageError;
use crate::domain::audit::Actor;
use crate::domain::staff::{Permission, Roles};
use crate::domain::workspace::Workspace;
use crate::error::AppError;
use crate::services::Caller;
use crate::services::WorkspaceScope;
use crate::services::accounts::{Session, StaffAccount, Stage};
use crate::web::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::pin::Pin;

/// `__Host-` cookies must be Secure, on path `/`, without a Domain: no other host or path can
/// set or shadow them.
pub const SESSION_COOKIE: &str = "__Host-lethe_session";
/// Double-submit token for forms shown before login (login, setup, invitation).
pub const ANON_CSRF_COOKIE: &str = "__Host-lethe_csrf";

pub fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish()
}

pub fn removal(name: &'static str) -> Cookie<'static> {
    let mut c = cookie(name, String::new());
    c.make_removal();
    c
}

/// The double-submit token of a form shown before login (or on a public page): the cookie's, or
/// a new one.
pub fn form_token(req: &HttpRequest) -> String {
    req.cookie(ANON_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 32)
        .unwrap_or_else(|| crate::crypto::random_token(32))
}

/// The token sent with the form must be the one in the cookie.
pub fn check_form_token(req: &HttpRequest, sent: &str) -> Result<(), PageError> {
    let cookie = req
        .cookie(ANON_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if cookie.len() >= 32 && crate::crypto::constant_time_eq(cookie.as_bytes(), sent.as_bytes()) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "This form has expired or did not come from this site. Reload the page and try again."
                .into(),
        )
        .into())
    }
}

/// A page with a form protected by `token`, which is (re)set as the cookie.
pub fn page_with_form_token(
    status: actix_web::http::StatusCode,
    token: String,
    template: &impl askama::Template,
) -> Result<actix_web::HttpResponse, PageError> {
    let mut res = super::html(status, template)?;
    res.add_cookie(&cookie(ANON_CSRF_COOKIE, token))
        .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    Ok(res)
}

/// A person past login (and past the second factor, if they have one).
pub struct SignedIn {
    pub account: StaffAccount,
    pub session: Session,
    pub caller: Caller,
}

impl SignedIn {
    /// The session's CSRF token must come back with every form.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if crate::crypto::constant_time_eq(sent.as_bytes(), self.session.csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "This form has expired or did not come from this console. Reload the page and try again.".into(),
            )
            .into())
        }
    }

    /// The workspace `slug` if this person is a member whose role allows `permission`. Not a
    /// member: 404, so slugs of other workspaces are not confirmed to exist.
    pub async fn workspace(
        &self,
        state: &AppState,
        slug: &str,
        permission: Permission,
    ) -> Result<MemberOf, PageError> {
        let (staff_id, slug) = (self.account.id, slug.to_owned());
        let found = state
            .db
            .run(move |db| crate::services::workspaces::find_for_member(db, staff_id, &slug))
            .await?;
        let (scope, workspace, roles) =
            found.ok_or_else(|| AppError::NotFound("workspace".into()))?;
        if workspace.settings.require_totp && !self.account.totp_enabled {
            return Err(PageError::Redirect(format!(
                "/console/account?required={}",
                workspace.slug
            )));
        }
        if !roles.allows(permission) {
            return Err(AppError::Forbidden(format!(
                "Your roles in this workspace ({}) do not allow this.",
                roles.label()
            ))
            .into());
        }
        Ok(MemberOf {
            scope,
            workspace,
            roles,
        })
    }
}

pub struct MemberOf {
    pub scope: WorkspaceScope,
    pub workspace: Workspace,
    /// What the member may do is the union of these roles' permissions.
    pub roles: Roles,
}

pub fn session_token(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned())
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = session_token(req);
        let ip = crate::web::client_ip(req);
        let login = format!(
            "/console/login?next={}",
            percent_encode_path(
                req.uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/console/")
            )
        );
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal(anyhow::anyhow!("no app state")))?;
            let Some(token) = token else {
                return Err(PageError::Redirect(login));
            };
            let (idle, absolute) = (state.config.session_idle, state.config.session_absolute);
            let found = state
                .db
                .run(move |db| {
                    crate::services::accounts::resolve_session(db, &token, idle, absolute)
                })
                .await?;
            match found {
                Some((session, account)) if session.stage == Stage::Full => {
                    let caller = Caller {
                        actor: Actor::Staff {
                            id: account.id,
                            email: account.email.clone(),
                        },
                        ip,
                    };
                    Ok(SignedIn {
                        account,
                        session,
                        caller,
                    })
                }
                Some(_) => Err(PageError::Redirect("/console/login/second-factor".into())),
                None => Err(PageError::Redirect(login)),
            }
        })
    }
}

/// Only local console paths survive as a `next` target, so the login form cannot redirect
/// off-site; and only printable ASCII, so the target is always a valid `Location` header (a
/// control character there was a 500). Anything else goes to the dashboard.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/console/".to_owned(),
    }
}

pub fn percent_encode_path(p: &str) -> String {
    p.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_targets_stay_local() {
        assert_eq!(safe_next(Some("/console/w/aulm/")), "/console/w/aulm/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/console/");
        assert_eq!(safe_next(Some("//evil.example/console/")), "/console/");
        assert_eq!(safe_next(None), "/console/");
        for unprintable in [
            "/console/\u{0}",
            "/console/a b",
            "/console/\r\n",
            "/console/é",
        ] {
            assert_eq!(safe_next(Some(unprintable)), "/console/", "{unprintable:?}");
        }
    }
}
