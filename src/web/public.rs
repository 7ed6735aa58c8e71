//! The public privacy center, `/p/{workspace}/…`: what a business's customers read. Server
//! rendered, no JavaScript, print-friendly. It shows only what was published.

use crate::domain::inventory::{Inventory, RecipientRole};
use crate::domain::policy;
use crate::domain::policy_timeline::VersionState;
use crate::domain::workspace::Workspace;
use crate::error::AppError;
use crate::services::consent_receipts::{self, PublicKeyView};
use crate::services::policies as service;
use crate::services::policies::PolicyVersion;
use crate::services::retention::DailyClaim;
use crate::services::workspaces;
use crate::web::AppState;
use crate::web::console::error::PageError;
use crate::web::console::ok;
use crate::web::subscriptions;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/p/{slug}/", web::get().to(overview))
        .route(
            "/p/{slug}",
            web::get().to(|slug: web::Path<String>| async move {
                crate::web::console::see_other(&format!("/p/{slug}/"))
            }),
        )
        .route("/p/{slug}/privacy", web::get().to(current_policy))
        .route("/p/{slug}/privacy/history", web::get().to(history))
        .route("/p/{slug}/privacy/v/{version}", web::get().to(one_version))
        .route("/p/{slug}/subprocessors", web::get().to(subprocessors))
        .route("/p/{slug}/retention", web::get().to(retention))
        .route("/p/{slug}/transparency", web::get().to(transparency))
        .route("/p/{slug}/feed.atom", web::get().to(super::feed::feed))
        .route(
            "/p/{slug}/consent/public-key",
            web::get().to(consent_public_key),
        )
        .configure(super::public_requests::routes)
        .route("/p/{slug}/subscribe", web::get().to(subscriptions::form))
        .route(
            "/p/{slug}/subscribe",
            web::post().to(subscriptions::subscribe),
        )
        .route(
            "/p/{slug}/subscribe/confirm/{token}",
            web::get().to(subscriptions::confirm),
        )
        .route(
            "/p/{slug}/unsubscribe/{token}",
            web::get().to(subscriptions::unsubscribe_form),
        )
        .route(
            "/p/{slug}/unsubscribe/{token}",
            web::post().to(subscriptions::unsubscribe),
        );
}

/// Everything a public page needs, loaded in one go.
pub(super) struct Published {
    pub(super) scope: crate::services::WorkspaceScope,
    pub(super) workspace: Workspace,
    /// Published versions, newest first, including scheduled ones.
    versions: Vec<PolicyVersion>,
    current: Option<PolicyVersion>,
    /// The inventory the version in force was rendered from.
    pub(super) inventory: Inventory,
}

pub(super) async fn load(state: &AppState, slug: String) -> Result<Published, PageError> {
    Ok(state
        .db
        .run(move |db| {
            let (scope, workspace) = workspaces::find_public(db, &slug)?
                .ok_or_else(|| AppError::NotFound("privacy center".into()))?;
            let versions: Vec<PolicyVersion> = service::list(db, &scope)?
                .into_iter()
                .filter(|v| v.published)
                .collect();
            let current = service::current(db, &scope)?;
            let inventory = current
                .as_ref()
                .and_then(|v| v.inventory_snapshot.as_deref())
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            Ok::<_, AppError>(Published {
                scope,
                workspace,
                versions,
                current,
                inventory,
            })
        })
        .await?)
}

/// The frame of every public page.
pub struct Frame {
    pub slug: String,
    pub legal_name: String,
    pub section: &'static str,
}

impl Frame {
    fn new(p: &Published, section: &'static str) -> Self {
        Frame {
            slug: p.workspace.slug.clone(),
            legal_name: p.workspace.settings.legal_name.clone(),
            section,
        }
    }

    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

#[derive(Template)]
#[template(path = "public/overview.html")]
struct OverviewPage {
    frame: Frame,
    workspace: Workspace,
    categories: Vec<(String, String)>,
    rights_html: String,
    has_policy: bool,
    /// The key consent receipts are signed with.
    receipt_key: PublicKeyView,
}

async fn overview(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let p = load(&state, slug.into_inner()).await?;
    let rights_html = policy::to_safe_html(&policy::rights(&p.workspace, &p.inventory));
    let (vault, scope) = (state.vault.clone(), p.scope);
    let receipt_key = state
        .db
        .run(move |_| consent_receipts::public_key(&vault, &scope))
        .await?;
    ok(&OverviewPage {
        frame: Frame::new(&p, "overview"),
        categories: p
            .inventory
            .categories
            .iter()
            .map(|c| (c.name.clone(), c.description.clone()))
            .collect(),
        rights_html,
        has_policy: p.current.is_some(),
        workspace: p.workspace,
        receipt_key,
    })
}

/// The public key this workspace's consent receipts are signed with, as JSON (raw base64url, PEM
/// and JWK), for anyone to check a receipt without Lethe. The key never changes while the
/// workspace exists, so it may be cached (a day; its id is the entity tag).
async fn consent_public_key(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let (vault, slug) = (state.vault.clone(), slug.into_inner());
    let key = state
        .db
        .run(move |db| {
            let (scope, _) = workspaces::find_public(db, &slug)?
                .ok_or_else(|| AppError::NotFound("privacy center".into()))?;
            consent_receipts::public_key(&vault, &scope)
        })
        .await?;
    let etag = format!("\"{}\"", key.key_id);
    let cache = (header::CACHE_CONTROL, "public, max-age=86400");
    if crate::web::cached::client_holds(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header(cache)
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .insert_header(cache)
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(key))
}

#[derive(Template)]
#[template(path = "public/policy.html")]
struct PolicyPage {
    frame: Frame,
    version: Option<PolicyVersion>,
    /// Sanitized HTML (ammonia) of the frozen text.
    html: String,
    scheduled: Option<PolicyVersion>,
    is_current: bool,
}

impl PolicyPage {
    /// `text` ending in one full stop: a summary typed as a sentence ("A new partner.") must
    /// not gain a second one from the sentence around it.
    fn sentence(&self, text: &str) -> String {
        let text = text.trim_end();
        if text.ends_with(['.', '!', '?', '…']) {
            text.to_owned()
        } else {
            format!("{text}.")
        }
    }
}

/// The policy in force, the page most read: kept by `services::read_cache` until the
/// workspace's content changes or a scheduled version comes into force.
async fn current_policy(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let cache = state.read_cache.clone();
    let slug = slug.into_inner();
    let cached = state
        .db
        .run(move |db| {
            cache.policy_page(db, &slug, |facts| {
                let page = PolicyPage {
                    frame: Frame {
                        slug: facts.workspace.slug.clone(),
                        legal_name: facts.workspace.settings.legal_name.clone(),
                        section: "privacy",
                    },
                    html: facts
                        .current
                        .as_ref()
                        .and_then(|v| v.rendered_html.clone())
                        .unwrap_or_default(),
                    scheduled: facts.scheduled.clone(),
                    version: facts.current.clone(),
                    is_current: true,
                };
                page.render().map_err(AppError::internal)
            })
        })
        .await?
        .ok_or_else(|| AppError::NotFound("privacy center".into()))?;
    Ok(crate::web::cached::respond(
        &req,
        cached,
        "text/html; charset=utf-8",
    ))
}

async fn one_version(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, version) = path.into_inner();
    let p = load(&state, slug).await?;
    let wanted: i64 = version
        .parse()
        .map_err(|_| AppError::NotFound("policy version".into()))?;
    let v = p
        .versions
        .iter()
        .find(|v| v.version == wanted)
        .cloned()
        .ok_or_else(|| AppError::NotFound(format!("published policy version {wanted}")))?;
    ok(&PolicyPage {
        frame: Frame::new(&p, "history"),
        html: v.rendered_html.clone().unwrap_or_default(),
        is_current: p.current.as_ref().is_some_and(|c| c.version == v.version),
        version: Some(v),
        scheduled: None,
    })
}

#[derive(Template)]
#[template(path = "public/history.html")]
struct HistoryPage {
    frame: Frame,
    /// Published versions, newest first: scheduled, in force or superseded.
    versions: Vec<(PolicyVersion, VersionState)>,
}

async fn history(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let p = load(&state, slug.into_inner()).await?;
    let timeline = service::timeline(&p.versions, Utc::now());
    ok(&HistoryPage {
        frame: Frame::new(&p, "history"),
        versions: p
            .versions
            .iter()
            .filter_map(|v| timeline.state(v.version).map(|s| (v.clone(), s)))
            .collect(),
    })
}

pub struct RecipientRow {
    pub name: String,
    pub purpose: String,
    pub country: String,
    pub safeguard: String,
    pub data: String,
}

#[derive(Template)]
#[template(path = "public/subprocessors.html")]
struct SubprocessorsPage {
    frame: Frame,
    processors: Vec<RecipientRow>,
    others: Vec<RecipientRow>,
    effective: Option<chrono::DateTime<Utc>>,
}

async fn subprocessors(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let p = load(&state, slug.into_inner()).await?;
    let inv = &p.inventory;
    let row = |r: &crate::domain::inventory::Recipient| RecipientRow {
        name: r.name.clone(),
        purpose: r.purpose.clone(),
        country: r.country.clone(),
        safeguard: crate::domain::transfer::safeguard_text(
            &r.country,
            r.safeguard,
            r.derogation.as_deref(),
        ),
        data: r
            .categories
            .iter()
            .map(|k| {
                inv.categories
                    .iter()
                    .find(|c| &c.key == k)
                    .map_or(k.clone(), |c| c.name.clone())
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    ok(&SubprocessorsPage {
        frame: Frame::new(&p, "subprocessors"),
        processors: inv
            .recipients
            .iter()
            .filter(|r| r.role == RecipientRole::Processor)
            .map(row)
            .collect(),
        others: inv
            .recipients
            .iter()
            .filter(|r| r.role != RecipientRole::Processor)
            .map(row)
            .collect(),
        effective: p.current.as_ref().and_then(|v| v.effective_at),
    })
}

/// Days of claim results the privacy center lists.
const CLAIM_DAYS: i64 = 30;

#[derive(Template)]
#[template(path = "public/retention.html")]
struct RetentionPage {
    frame: Frame,
    latest: Vec<crate::services::retention::ClaimView>,
    /// (day, rules checked, the broken ones of that day).
    days: Vec<(String, usize, Vec<DailyClaim>)>,
}

impl RetentionPage {
    fn broken(&self) -> usize {
        self.latest.iter().filter(|c| !c.passed).count()
    }
}

/// How long data is kept, checked: every retention rule's claim counted against the data, with
/// a dated list of results. Public, like the policy it backs.
async fn retention(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let p = load(&state, slug.into_inner()).await?;
    let name = p.workspace.slug.clone();
    let (latest, daily) = state
        .db
        .run(move |db| {
            let (scope, _) = workspaces::find_public(db, &name)?
                .ok_or_else(|| AppError::NotFound("privacy center".into()))?;
            crate::services::retention::published_claims(db, &scope, Utc::now(), CLAIM_DAYS)
        })
        .await?;
    let mut days: Vec<(String, usize, Vec<DailyClaim>)> = Vec::new();
    for d in daily {
        if days.last().is_none_or(|(day, _, _)| *day != d.day) {
            days.push((d.day.clone(), 0, Vec::new()));
        }
        if let Some((_, checked, broken)) = days.last_mut() {
            *checked += 1;
            if d.worst > 0 {
                broken.push(d);
            }
        }
    }
    ok(&RetentionPage {
        frame: Frame::new(&p, "retention"),
        latest,
        days,
    })
}

#[derive(Template)]
#[template(path = "public/transparency.html")]
struct TransparencyPage {
    frame: Frame,
    heads: Vec<crate::domain::anchor::DailyHead>,
}

/// The audit chain's head at the end of each recent day, for anyone to save and hold Lethe to
/// (`lethe audit verify --expect`). The chain is the instance's: see ARCHITECTURE.md for what
/// the numbers tell about other workspaces.
async fn transparency(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let p = load(&state, slug.into_inner()).await?;
    let vault = state.vault.clone();
    let today = Utc::now().date_naive();
    let heads = state
        .db
        .run(move |_| crate::services::anchors::published_heads(vault.key_store(), today))
        .await?;
    ok(&TransparencyPage {
        frame: Frame::new(&p, "transparency"),
        heads,
    })
}
