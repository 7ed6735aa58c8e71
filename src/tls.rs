//! TLS material: the operator's PEM files, or a self-signed certificate generated on first start
//! into `<data-dir>/tls/` and reused (regenerated only when the configured names change).

use crate::config::{Config, TlsMode};
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
}

pub struct TlsMaterial {
    pub server_config: ServerConfig,
    /// SHA-256 of the leaf certificate, as colon-separated hex, for people to compare.
    pub fingerprint: String,
    pub cert_path: PathBuf,
}

/// None when TLS is off (behind a proxy).
pub fn load(config: &Config) -> Result<Option<TlsMaterial>, TlsError> {
    let (cert_path, key_path) = match &config.tls {
        TlsMode::Off => return Ok(None),
        TlsMode::Files { cert, key } => (cert.clone(), key.clone()),
        TlsMode::SelfSigned => ensure_self_signed(config)?,
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
    }))
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

fn ensure_self_signed(config: &Config) -> Result<(PathBuf, PathBuf), TlsError> {
    let dir = config.data_dir.join("tls");
    let (cert, key, names_file) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("names.txt"),
    );
    let names = certificate_names(config);
    let wanted = names.join("\n");
    let current = std::fs::read_to_string(&names_file).unwrap_or_default();
    if cert.exists() && key.exists() && current == wanted {
        return Ok((cert, key));
    }
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| TlsError::Write { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    let generated = rcgen::generate_simple_self_signed(names)?;
    write_private(&key, generated.signing_key.serialize_pem().as_bytes())
        .map_err(write_err(&key))?;
    std::fs::write(&cert, generated.cert.pem()).map_err(write_err(&cert))?;
    std::fs::write(&names_file, wanted).map_err(write_err(&names_file))?;
    tracing::info!(path = %cert.display(), "generated a self-signed TLS certificate");
    Ok((cert, key))
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
