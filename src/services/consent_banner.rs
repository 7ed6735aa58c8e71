//! The consent banner's configuration (`/consent/{slug}/config.json`): built from the workspace,
//! its consent purposes and the policy versions in force, and kept by the read cache, so that a
//! page view on the operator's site costs one indexed read (the content version) and no build.

use super::read_cache::{Cached, ReadCache};
use crate::domain::consent_banner::{BannerConfig, BannerFacts};
use crate::error::AppError;
use crate::store::Db;
use std::sync::Arc;

/// The configuration as JSON, with its entity tag; `None` when no workspace has that slug.
/// `base_url` is where people reach this Lethe (the policy and decision links are built on it).
pub fn config_json(
    db: &Db,
    cache: &ReadCache,
    base_url: &str,
    slug: &str,
) -> Result<Option<Arc<Cached>>, AppError> {
    cache.consent_config(db, slug, |facts| {
        let config = BannerConfig::build(&BannerFacts {
            slug: &facts.workspace.slug,
            organisation: &facts.workspace.settings.legal_name,
            base_url,
            policy_version: facts.policy_version,
            consent_version: facts.consent_version,
            cookie_domain: facts.workspace.settings.consent_cookie_domain.as_deref(),
            inventory: &facts.inventory,
        });
        // The banner's version is a digest of everything it shows and asks under.
        let unversioned = serde_json::to_vec(&config).map_err(AppError::internal)?;
        let config = config.with_version(&crate::crypto::sha256_hex(&unversioned));
        serde_json::to_vec(&config).map_err(AppError::internal)
    })
}
