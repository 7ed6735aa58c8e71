//! TLS material: the operator's PEM files, or a self-signed certificate generated on first start
//! into `<data-dir>/tls/`, valid for a year and reused (regenerated when the configured names
//! change or it ends within 30 days).

use crate::config::{Config, TlsMode};
use chrono::{Datelike, Days, NaiveDate};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--tls-cert {path}: {message}")]
    Cert { path: String, message: String },
    #[error("--tls-key {path}: {message}")]
    Key { path: String, message: String },
    #[error("cannot write the self-signed certificate into {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("--acme-domain: {0}")]
    Acme(#[from] crate::acme::AcmeError),
}

pub struct TlsMaterial {
    pub server_config: ServerConfig,
    /// SHA-256 of the leaf certificate, as colon-separated hex, for people to compare.
    pub fingerprint: String,
    pub cert_path: PathBuf,
    /// The certificate's manager with `--acme-domain`; its renewal task starts with the server.
    pub acme: Option<std::sync::Arc<crate::acme::Acme>>,
}

/// None when TLS is off (behind a proxy).
pub fn load(config: &Config) -> Result<Option<TlsMaterial>, TlsError> {
    let (cert_path, key_path) = match &config.tls {
        TlsMode::Off => return Ok(None),
        TlsMode::Files { cert, key } => (cert.clone(), key.clone()),
        TlsMode::SelfSigned => ensure_self_signed(config)?,
        TlsMode::Acme(settings) => {
            let http01 = crate::acme::Http01Tokens::new(config.http_redirect_listen.is_some());
            let acme = crate::acme::Acme::start(settings.clone(), &config.data_dir, http01)?;
            return Ok(Some(TlsMaterial {
                server_config: acme.server_config(),
                fingerprint: acme
                    .served_certificate()
                    .map(|c| fingerprint(&c))
                    .unwrap_or_default(),
                cert_path: acme.cert_path(),
                acme: Some(acme),
            }));
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Cert {
            path: cert_path.display().to_string(),
            message: e.to_string(),
        })?;
    let Some(leaf) = certs.first() else {
        return Err(TlsError::Cert {
            path: cert_path.display().to_string(),
            message: "holds no certificate".into(),
        });
    };
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| TlsError::Key {
        path: key_path.display().to_string(),
        message: e.to_string(),
    })?;
    let server_config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Some(TlsMaterial {
        server_config,
        fingerprint,
        cert_path,
        acme: None,
    }))
}

/// The last moment the first certificate of a PEM file is valid (its notAfter), for
/// `lethe doctor`. The file is only read.
pub fn not_after(path: &Path) -> Result<chrono::DateTime<chrono::Utc>, TlsError> {
    let bad = |message: String| TlsError::Cert {
        path: path.display().to_string(),
        message,
    };
    let leaf = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("holds no certificate".into()))?
        .map_err(|e| bad(e.to_string()))?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| bad(e.to_string()))?;
    let seconds = cert.validity().not_after.timestamp();
    chrono::DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| bad(format!("its end ({seconds}) is out of range")))
}

pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The names the self-signed certificate covers: loopback, the listen address, configured hosts.
fn certificate_names(config: &Config) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let ip = config.listen.ip();
    if !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    names.extend(config.hostnames.iter().cloned());
    names.sort();
    names.dedup();
    names
}

/// How long a generated certificate is valid: about a year, as browsers expect of certificates
/// they are asked to trust by hand (the old one ran to 4096).
const VALID_DAYS: u64 = 365;
/// A certificate that ends within this many days is replaced at start.
const RENEW_DAYS: u64 = 30;

fn ensure_self_signed(config: &Config) -> Result<(PathBuf, PathBuf), TlsError> {
    ensure_self_signed_on(config, chrono::Utc::now().date_naive())
}

/// The self-signed certificate, reused unless the configured names changed or it ends within
/// [`RENEW_DAYS`] of `today`. Its last day is kept beside it in `not_after.txt`; a certificate
/// without one (an older Lethe's) is replaced.
fn ensure_self_signed_on(
    config: &Config,
    today: NaiveDate,
) -> Result<(PathBuf, PathBuf), TlsError> {
    let dir = config.data_dir.join("tls");
    let (cert, key, names_file, not_after_file) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("names.txt"),
        dir.join("not_after.txt"),
    );
    let names = certificate_names(config);
    let wanted = names.join("\n");
    let current = std::fs::read_to_string(&names_file).unwrap_or_default();
    let fresh = std::fs::read_to_string(&not_after_file)
        .ok()
        .and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
        .is_some_and(|not_after| today + Days::new(RENEW_DAYS) < not_after);
    if cert.exists() && key.exists() && current == wanted && fresh {
        return Ok((cert, key));
    }
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| TlsError::Write { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    // A day's leeway before today, for clients whose clocks are a little behind.
    let not_before = today - Days::new(1);
    let not_after = today + Days::new(VALID_DAYS);
    let mut params = rcgen::CertificateParams::new(names)?;
    let (y, m, d) = ymd(not_before);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = ymd(not_after);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    let signing_key = rcgen::KeyPair::generate()?;
    let generated = params.self_signed(&signing_key)?;
    write_private(&key, signing_key.serialize_pem().as_bytes()).map_err(write_err(&key))?;
    std::fs::write(&cert, generated.pem()).map_err(write_err(&cert))?;
    std::fs::write(&names_file, wanted).map_err(write_err(&names_file))?;
    std::fs::write(&not_after_file, not_after.format("%Y-%m-%d").to_string())
        .map_err(write_err(&not_after_file))?;
    tracing::info!(path = %cert.display(), %not_after, "generated a self-signed TLS certificate");
    Ok((cert, key))
}

/// Midnight UTC of `day`, as rcgen takes it.
fn ymd(day: NaiveDate) -> (i32, u8, u8) {
    // Month and day come from a valid date, so rcgen's own checks always pass.
    (
        day.year(),
        u8::try_from(day.month()).unwrap_or(1),
        u8::try_from(day.day()).unwrap_or(1),
    )
}

/// Writes a file only its owner can read (mode 0600 on Unix).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use rustls_pki_types::{ServerName, UnixTime};
    use std::sync::Arc;

    /// Whether a client that trusts the certificate accepts it for `localhost` on `day`.
    fn valid_on(cert_path: &Path, day: NaiveDate) -> bool {
        let cert = CertificateDer::from_pem_file(cert_path).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        let seconds = day.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp();
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(seconds).unwrap(),
        ));
        let name = ServerName::try_from("localhost").unwrap();
        verifier
            .verify_server_cert(&cert, &[], &name, &[], at)
            .is_ok()
    }

    #[test]
    fn the_certificate_lasts_a_year_and_is_renewed_a_month_before_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::with_data_dir(dir.path());
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let (cert, _) = ensure_self_signed_on(&config, today).unwrap();
        let first = std::fs::read(&cert).unwrap();
        assert!(valid_on(&cert, today));
        assert!(valid_on(&cert, today + Days::new(360)));
        assert!(!valid_on(&cert, today + Days::new(366)));
        assert!(!valid_on(&cert, today - Days::new(2)));

        // Reused while it has more than 30 days left.
        ensure_self_signed_on(&config, today + Days::new(300)).unwrap();
        assert_eq!(std::fs::read(&cert).unwrap(), first);
        // Renewed within 30 days of its end, for another year from then.
        let later = today + Days::new(340);
        ensure_self_signed_on(&config, later).unwrap();
        assert_ne!(std::fs::read(&cert).unwrap(), first);
        assert!(valid_on(&cert, later + Days::new(360)));

        // A certificate without its last day written down (an older Lethe's, valid until 4096)
        // is replaced.
        let renewed = std::fs::read(&cert).unwrap();
        std::fs::remove_file(dir.path().join("tls").join("not_after.txt")).unwrap();
        ensure_self_signed_on(&config, later).unwrap();
        assert_ne!(std::fs::read(&cert).unwrap(), renewed);
    }
}
