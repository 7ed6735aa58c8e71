//! The HTTPS client that speaks to the CA: Mozilla's roots compiled in (webpki-roots), so a
//! Lethe on a machine without a CA bundle still reaches Let's Encrypt, plus the `--acme-ca-root`
//! PEM when given (a private CA, or a test CA such as pebble).

use super::AcmeError;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, HttpClient};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;

pub fn http_client(ca_root: Option<&Path>) -> Result<Box<dyn HttpClient>, AcmeError> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots(ca_root)?)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client: Client<_, BodyWrapper<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    Ok(Box::new(client))
}

/// The roots the CA's HTTPS is checked against; a `--acme-ca-root` that holds no certificate is
/// an error (checked at start, so a typo stops the server rather than every renewal).
pub fn roots(ca_root: Option<&Path>) -> Result<rustls::RootCertStore, AcmeError> {
    let mut roots: rustls::RootCertStore = webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect();
    if let Some(path) = ca_root {
        let bad = |message: String| AcmeError::Stored {
            path: path.display().to_string(),
            message,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("holds no certificate".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_root_is_trusted_beside_the_compiled_in_roots() {
        let builtin = roots(None).unwrap().len();
        assert!(builtin > 100, "{builtin}");
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("root.pem");
        let made = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        std::fs::write(&pem, made.cert.pem()).unwrap();
        assert_eq!(roots(Some(&pem)).unwrap().len(), builtin + 1);

        std::fs::write(&pem, "no PEM here").unwrap();
        let e = roots(Some(&pem)).unwrap_err().to_string();
        assert!(
            e.contains("root.pem") && e.contains("no certificate"),
            "{e}"
        );
        assert!(roots(Some(&dir.path().join("missing.pem"))).is_err());
    }
}
