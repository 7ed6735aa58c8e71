//! The certificate the HTTPS listener serves, swappable while it runs: rustls asks the resolver
//! at every handshake, so a renewed certificate is served from the next connection on, without a
//! restart. It also answers the CA's TLS-ALPN-01 validation (RFC 8737).

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The ALPN protocol of the TLS-ALPN-01 challenge.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

#[derive(Debug)]
pub struct AcmeResolver {
    current: RwLock<Arc<CertifiedKey>>,
    /// Domain → the challenge certificate of an order under way.
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl AcmeResolver {
    pub fn new(current: Arc<CertifiedKey>) -> Self {
        AcmeResolver {
            current: RwLock::new(current),
            challenges: RwLock::new(HashMap::new()),
        }
    }

    /// Serves `key` from the next handshake on.
    pub fn set_current(&self, key: Arc<CertifiedKey>) {
        // A poisoned lock only means a panic elsewhere mid-write of a whole `Arc`: the value is
        // still one certificate or the other.
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_challenge(&self, domain: &str, key: Arc<CertifiedKey>) {
        self.challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_owned(), key);
    }

    pub fn clear_challenges(&self) {
        self.challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl ResolvesServerCert for AcmeResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut alpn = hello.alpn().into_iter().flatten();
        // The validator offers acme-tls/1 alone (RFC 8737 §3); such a hello gets the challenge
        // certificate of a pending order or no handshake at all, never the real certificate.
        let first = alpn.next();
        if first == Some(ACME_TLS_ALPN) && alpn.next().is_none() {
            let name = hello.server_name()?.to_ascii_lowercase();
            return self
                .challenges
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&name)
                .cloned();
        }
        Some(self.current())
    }
}

/// A certificate chain and its PKCS#8 or other PEM key as rustls serves them.
pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'_>,
) -> Result<Arc<CertifiedKey>, rustls::Error> {
    let signer = rustls::crypto::ring::sign::any_supported_type(key)?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match()?;
    Ok(Arc::new(certified))
}

/// The TLS-ALPN-01 certificate: self-signed for `domain`, carrying the SHA-256 digest of the
/// key authorization in the critical acmeIdentifier extension.
pub fn challenge_certificate(
    domain: &str,
    key_authorization_digest: &[u8],
) -> Result<Arc<CertifiedKey>, super::AcmeError> {
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()])?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(
        key_authorization_digest,
    )];
    self_signed(params)
}

/// A certificate for `domain` served until the CA's first one arrives, so that the listener can
/// answer the TLS-ALPN-01 validation (and browsers get a handshake, with a warning) meanwhile.
pub fn temporary_certificate(domain: &str) -> Result<Arc<CertifiedKey>, super::AcmeError> {
    self_signed(rcgen::CertificateParams::new(vec![domain.to_owned()])?)
}

fn self_signed(params: rcgen::CertificateParams) -> Result<Arc<CertifiedKey>, super::AcmeError> {
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signer = rustls::crypto::ring::sign::any_supported_type(&der)?;
    // Not `keys_match`: webpki refuses to parse the acmeIdentifier extension (critical and
    // unknown to it), and the pair was made together just above.
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signer,
    )))
}
