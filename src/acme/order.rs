//! One RFC 8555 order for the configured domain, with instant-acme: the account (kept, or made
//! once), the challenge (TLS-ALPN-01 on the HTTPS listener, or HTTP-01 on the redirect
//! listener), the CSR and the chain.

use super::{AcmeError, AcmeSettings, Http01Tokens, files, resolver};
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use std::path::Path;
use std::time::Duration;

/// A new certificate chain and its key, both PEM.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

/// How the CA's answers are waited for: quick first polls, at most two minutes in all.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(120));

pub async fn obtain(
    settings: &AcmeSettings,
    dir: &Path,
    resolver: &resolver::AcmeResolver,
    http01: &Http01Tokens,
) -> Result<Issued, AcmeError> {
    let result = order(settings, dir, resolver, http01).await;
    // Challenge answers are for this order only.
    resolver.clear_challenges();
    http01.clear();
    result
}

async fn order(
    settings: &AcmeSettings,
    dir: &Path,
    resolver: &resolver::AcmeResolver,
    http01: &Http01Tokens,
) -> Result<Issued, AcmeError> {
    let ca = |e: instant_acme::Error| AcmeError::ca(&settings.directory, &e);
    let account = account(settings, dir).await?;
    let identifiers = [Identifier::Dns(settings.domain.clone())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(ca)?;
    // HTTP-01 when the plain-HTTP listener runs (port 80 is what most set-ups forward), else
    // TLS-ALPN-01 on the HTTPS listener itself.
    let preferred: &[ChallengeType] = if http01.enabled() {
        &[ChallengeType::Http01, ChallengeType::TlsAlpn01]
    } else {
        &[ChallengeType::TlsAlpn01]
    };
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization.map_err(ca)?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            // Validated by an earlier order of this account, and still good.
            AuthorizationStatus::Valid => continue,
            status => {
                return Err(AcmeError::Refused {
                    domain: settings.domain.clone(),
                    message: format!("the authorization is {status:?}"),
                });
            }
        }
        let offered = preferred
            .iter()
            .find(|kind| authorization.challenges.iter().any(|c| &c.r#type == *kind))
            .cloned()
            .ok_or_else(|| AcmeError::Refused {
                domain: settings.domain.clone(),
                message: format!("the CA offers none of the challenges {preferred:?}"),
            })?;
        let mut challenge =
            authorization
                .challenge(offered.clone())
                .ok_or_else(|| AcmeError::Refused {
                    domain: settings.domain.clone(),
                    message: format!("no {offered:?} challenge"),
                })?;
        let key_authorization = challenge.key_authorization();
        if offered == ChallengeType::Http01 {
            http01.insert(&challenge.token, key_authorization.as_str());
        } else {
            let cert = resolver::challenge_certificate(
                &settings.domain,
                key_authorization.digest().as_ref(),
            )?;
            resolver.set_challenge(&settings.domain, cert);
        }
        tracing::info!(domain = %settings.domain, challenge = ?offered, "answering the ACME challenge");
        challenge.set_ready().await.map_err(ca)?;
    }
    // An order the CA found invalid comes back as an error carrying its words about the
    // challenge: said as the domain's refusal.
    let status = order
        .poll_ready(&POLL)
        .await
        .map_err(|e| AcmeError::Refused {
            domain: settings.domain.clone(),
            message: e.to_string(),
        })?;
    if status != OrderStatus::Ready {
        let why = challenge_errors(&mut order).await;
        return Err(AcmeError::Refused {
            domain: settings.domain.clone(),
            message: format!("the order is {status:?} after the challenge{why}"),
        });
    }
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(vec![settings.domain.clone()])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key)?;
    order.finalize_csr(csr.der()).await.map_err(ca)?;
    let chain_pem = order.poll_certificate(&POLL).await.map_err(ca)?;
    Ok(Issued {
        chain_pem,
        key_pem: key.serialize_pem(),
    })
}

/// What the CA said about the failed challenges (the operator's clue: a DNS name pointing
/// elsewhere, a port not reachable), as ": …", or nothing when it cannot be read.
async fn challenge_errors(order: &mut instant_acme::Order) -> String {
    let mut said = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        if let Ok(state) = authorization.refresh().await {
            said.extend(
                state
                    .challenges
                    .iter()
                    .filter_map(|c| c.error.as_ref().map(|e| e.to_string())),
            );
        }
    }
    if said.is_empty() {
        String::new()
    } else {
        format!(": {}", said.join("; "))
    }
}

/// The account kept for this directory, or a new one (kept at once, so that a failed order
/// does not make another account next time).
async fn account(settings: &AcmeSettings, dir: &Path) -> Result<Account, AcmeError> {
    let ca = |e: instant_acme::Error| AcmeError::ca(&settings.directory, &e);
    let builder =
        || super::client::http_client(settings.ca_root.as_deref()).map(Account::builder_with_http);
    if let Some(credentials) = files::load_account(dir, &settings.directory)? {
        return builder()?.from_credentials(credentials).await.map_err(ca);
    }
    let contact = settings
        .email
        .as_ref()
        .map(|email| format!("mailto:{email}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await
        .map_err(ca)?;
    files::save_account(dir, &settings.directory, credentials)?;
    tracing::info!(directory = %settings.directory, "created an ACME account");
    Ok(account)
}
