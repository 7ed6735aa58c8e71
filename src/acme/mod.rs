//! Certificates from an ACME CA (RFC 8555; Let's Encrypt by default) for `--acme-domain`:
//! obtained at start, kept in `<data-dir>/acme/`, renewed in the background and swapped into the
//! running listener without a restart. While the CA is unreachable the last good certificate
//! stays in service and the renewal is retried with a growing delay.
//!
//! `resolver` holds the served certificate (and the TLS-ALPN-01 answer), `order` speaks to the
//! CA, `files` keeps what must outlive a restart; when to renew is `domain::acme`.

mod client;
pub mod files;
mod order;
pub mod resolver;
pub mod settings;

use crate::domain::acme as rules;
use crate::domain::time::Clock;
use chrono::{DateTime, Utc};
pub use files::Validity;
use resolver::AcmeResolver;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use settings::{AcmeSettings, LETS_ENCRYPT_PRODUCTION};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// `message` is the error with its causes ("client error (Connect): invalid peer
    /// certificate: …"): the top one alone rarely says what to fix.
    #[error("the ACME CA at {directory}: {message}")]
    Ca { directory: String, message: String },
    #[error("the CA did not validate {domain}: {message}")]
    Refused { domain: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Stored { path: String, message: String },
    #[error("cannot make a key or certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

impl AcmeError {
    fn ca(directory: &str, error: &instant_acme::Error) -> AcmeError {
        let mut message = error.to_string();
        let mut cause = std::error::Error::source(error);
        while let Some(c) = cause {
            let text = c.to_string();
            // Some layers repeat their cause in their own words; say each thing once.
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            cause = c.source();
        }
        AcmeError::Ca {
            directory: directory.to_owned(),
            message,
        }
    }
}

/// HTTP-01 answers (token → key authorization) the plain-HTTP listener serves at
/// `/.well-known/acme-challenge/{token}`; disabled without that listener.
#[derive(Debug, Clone, Default)]
pub struct Http01Tokens {
    enabled: bool,
    tokens: Arc<RwLock<HashMap<String, String>>>,
}

impl Http01Tokens {
    pub fn new(enabled: bool) -> Self {
        Http01Tokens {
            enabled,
            tokens: Arc::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn get(&self, token: &str) -> Option<String> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    fn insert(&self, token: &str, key_authorization: &str) {
        self.tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    fn clear(&self) {
        self.tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// What a renewal check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The served certificate is good until this moment's renewal time.
    NotDue { renew_at: DateTime<Utc> },
    /// A new certificate is served from now on.
    Renewed(Validity),
}

/// How often the background task looks again when nothing is due: the check reads no network,
/// and an hour keeps a changed clock (or a suspended machine) from delaying a renewal long.
const CHECK_EVERY: Duration = Duration::from_secs(3600);

pub struct Acme {
    settings: AcmeSettings,
    dir: PathBuf,
    resolver: Arc<AcmeResolver>,
    http01: Http01Tokens,
    /// The CA's certificate being served; None while the temporary self-signed one is.
    served: Mutex<Option<Validity>>,
    /// One order at a time: the background task and a caller of `renew_if_due` may meet.
    ordering: tokio::sync::Mutex<()>,
}

impl Acme {
    /// Serves the stored certificate at once when there is one for the domain (whether or not
    /// the CA is reachable), else a temporary self-signed one until the first order completes.
    pub fn start(
        settings: AcmeSettings,
        data_dir: &Path,
        http01: Http01Tokens,
    ) -> Result<Arc<Acme>, AcmeError> {
        client::roots(settings.ca_root.as_deref())?;
        let dir = data_dir.join(files::DIR);
        let stored = match files::load(&dir) {
            Ok(found) => found.filter(|s| s.names.contains(&settings.domain)),
            Err(e) => {
                // A damaged file is replaced by the next order rather than stopping the server.
                tracing::warn!(error = %e, "the stored ACME certificate cannot be used");
                None
            }
        };
        let (current, served) = match stored {
            Some(s) => match resolver::certified_key(s.chain, &s.key) {
                Ok(key) => (key, Some(s.validity)),
                Err(e) => {
                    tracing::warn!(error = %e, "the stored ACME certificate and key do not match");
                    (resolver::temporary_certificate(&settings.domain)?, None)
                }
            },
            None => (resolver::temporary_certificate(&settings.domain)?, None),
        };
        match served {
            Some(v) => {
                tracing::info!(domain = %settings.domain, not_after = %v.not_after, "serving the stored ACME certificate")
            }
            None => {
                tracing::info!(domain = %settings.domain, "serving a temporary self-signed certificate until the ACME CA issues one")
            }
        }
        Ok(Arc::new(Acme {
            settings,
            dir,
            resolver: Arc::new(AcmeResolver::new(current)),
            http01,
            served: Mutex::new(served),
            ordering: tokio::sync::Mutex::new(()),
        }))
    }

    /// The listener's TLS configuration: certificates from the resolver, and `acme-tls/1`
    /// offered beside the HTTP protocols actix adds, for the TLS-ALPN-01 validation.
    pub fn server_config(&self) -> ServerConfig {
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(self.resolver.clone());
        config.alpn_protocols = vec![resolver::ACME_TLS_ALPN.to_vec()];
        config
    }

    pub fn settings(&self) -> &AcmeSettings {
        &self.settings
    }

    /// What the listener serves (tests set a challenge through it).
    pub fn resolver(&self) -> &AcmeResolver {
        &self.resolver
    }

    pub fn http01(&self) -> &Http01Tokens {
        &self.http01
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(files::CERT)
    }

    /// The leaf certificate served now.
    pub fn served_certificate(&self) -> Option<CertificateDer<'static>> {
        self.resolver.current().cert.first().cloned()
    }

    /// The served CA certificate's validity; None while the temporary one is served.
    pub fn served_validity(&self) -> Option<Validity> {
        *self.served.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Orders a new certificate if none from the CA is served or the served one is due at
    /// `now`, keeps it and serves it from the next handshake. On an error the served
    /// certificate stays.
    pub async fn renew_if_due(&self, now: DateTime<Utc>) -> Result<Renewal, AcmeError> {
        let _one_at_a_time = self.ordering.lock().await;
        if let Some(v) = self.served_validity() {
            let renew_at = rules::renew_at(v.not_before, v.not_after);
            if now < renew_at {
                return Ok(Renewal::NotDue { renew_at });
            }
        }
        let issued = order::obtain(&self.settings, &self.dir, &self.resolver, &self.http01).await?;
        let chain = CertificateDer::pem_slice_iter(issued.chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.refused(format!("the chain it sent is not PEM: {e}")))?;
        let leaf = chain
            .first()
            .ok_or_else(|| self.refused("it sent no certificate".into()))?;
        let (validity, _) = files::describe(leaf).map_err(|m| self.refused(m))?;
        let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())
            .map_err(|e| self.refused(e.to_string()))?;
        let certified = resolver::certified_key(chain, &key)?;
        files::save(&self.dir, &issued.chain_pem, &issued.key_pem)?;
        self.resolver.set_current(certified);
        *self.served.lock().unwrap_or_else(|e| e.into_inner()) = Some(validity);
        tracing::info!(domain = %self.settings.domain, not_after = %validity.not_after, "serving a new ACME certificate");
        Ok(Renewal::Renewed(validity))
    }

    fn refused(&self, message: String) -> AcmeError {
        AcmeError::Refused {
            domain: self.settings.domain.clone(),
            message,
        }
    }

    /// Checks now and then for the rest of the server's life: at start (the first certificate,
    /// or one that fell due while stopped), then hourly or at the renewal time. A failure keeps
    /// the served certificate and is retried after `domain::acme::retry_delay`.
    pub async fn run(self: Arc<Self>, clock: Arc<dyn Clock>) {
        let mut failures = 0u32;
        loop {
            let wait = match self.renew_if_due(clock.now()).await {
                Ok(Renewal::NotDue { renew_at }) => {
                    failures = 0;
                    (renew_at - clock.now())
                        .to_std()
                        .map_or(CHECK_EVERY, |until| until.min(CHECK_EVERY))
                }
                Ok(Renewal::Renewed(_)) => {
                    failures = 0;
                    CHECK_EVERY
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let retry = rules::retry_delay(failures);
                    let serving = if self.served_validity().is_some() {
                        "the last good certificate"
                    } else {
                        "the temporary self-signed certificate"
                    };
                    tracing::warn!(error = %e, retry_in_seconds = retry.as_secs(), "ACME renewal failed; still serving {serving}");
                    retry
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}
