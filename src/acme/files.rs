//! What ACME keeps in `<data-dir>/acme/`: `account.json` (the account key and URL, for the
//! directory it was made with), `cert.pem` (the chain) and `key.pem`. Private files are 0600 and
//! replaced by renaming a complete new file over the old, so a crash leaves one or the other.

use super::AcmeError;
use chrono::{DateTime, Utc};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

pub const DIR: &str = "acme";
pub const CERT: &str = "cert.pem";
const KEY: &str = "key.pem";
const ACCOUNT: &str = "account.json";

/// The certificate ACME keeps in a data directory (also read by `lethe doctor`).
pub fn cert_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR).join(CERT)
}

/// Whether serve got (or is getting) its certificate by ACME in this data directory: an
/// account or a certificate is kept there. For `lethe doctor`, which runs without serve's flags.
pub fn in_use(data_dir: &Path) -> bool {
    let dir = data_dir.join(DIR);
    dir.join(CERT).is_file() || dir.join(ACCOUNT).is_file()
}

/// A stored certificate: its chain, its key, when it is valid and which names it covers.
pub struct Stored {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub validity: Validity,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AcmeError + '_ {
    move |source| AcmeError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn stored(path: &Path, message: impl Into<String>) -> AcmeError {
    AcmeError::Stored {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// The stored certificate and key, or None when there is none yet.
pub fn load(dir: &Path) -> Result<Option<Stored>, AcmeError> {
    let (cert_path, key_path) = (dir.join(CERT), dir.join(KEY));
    if !cert_path.is_file() || !key_path.is_file() {
        return Ok(None);
    }
    let pem = std::fs::read(&cert_path).map_err(io(&cert_path))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| stored(&cert_path, e.to_string()))?;
    let key =
        PrivateKeyDer::from_pem_file(&key_path).map_err(|e| stored(&key_path, e.to_string()))?;
    let leaf = chain
        .first()
        .ok_or_else(|| stored(&cert_path, "holds no certificate"))?;
    let (validity, names) = describe(leaf).map_err(|m| stored(&cert_path, m))?;
    Ok(Some(Stored {
        chain,
        key,
        validity,
        names,
    }))
}

/// The validity of the first certificate of a PEM file (for `lethe doctor`; only read).
pub fn read_validity(path: &Path) -> Result<Validity, AcmeError> {
    let pem = std::fs::read(path).map_err(io(path))?;
    let leaf = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| stored(path, "holds no certificate"))?
        .map_err(|e| stored(path, e.to_string()))?;
    describe(&leaf).map(|(v, _)| v).map_err(|m| stored(path, m))
}

/// A certificate's validity and DNS names.
pub fn describe(leaf: &CertificateDer<'_>) -> Result<(Validity, Vec<String>), String> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| e.to_string())?;
    let at = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| format!("instant {seconds} out of range"))
    };
    let validity = Validity {
        not_before: at(cert.validity().not_before.timestamp())?,
        not_after: at(cert.validity().not_after.timestamp())?,
    };
    let names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok((validity, names))
}

/// Keeps a new certificate and its key: the key first, so that a crash between the two renames
/// leaves a key the old certificate does not match, which the next start treats as "none yet"
/// (the load check) rather than serving a mismatched pair.
pub fn save(dir: &Path, chain_pem: &str, key_pem: &str) -> Result<(), AcmeError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    replace(&dir.join(KEY), key_pem.as_bytes())?;
    replace(&dir.join(CERT), chain_pem.as_bytes())
}

fn replace(path: &Path, contents: &[u8]) -> Result<(), AcmeError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    crate::tls::write_private(&tmp, contents).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AccountFile {
    /// Accounts belong to one CA: a changed --acme-directory makes a new one.
    directory: String,
    credentials: instant_acme::AccountCredentials,
}

/// The account kept for `directory`, if any.
pub fn load_account(
    dir: &Path,
    directory: &str,
) -> Result<Option<instant_acme::AccountCredentials>, AcmeError> {
    let path = dir.join(ACCOUNT);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read(&path).map_err(io(&path))?;
    let file: AccountFile =
        serde_json::from_slice(&text).map_err(|e| stored(&path, e.to_string()))?;
    Ok((file.directory == directory).then_some(file.credentials))
}

pub fn save_account(
    dir: &Path,
    directory: &str,
    credentials: instant_acme::AccountCredentials,
) -> Result<(), AcmeError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let file = AccountFile {
        directory: directory.to_owned(),
        credentials,
    };
    let path = dir.join(ACCOUNT);
    let json = serde_json::to_vec_pretty(&file).map_err(|e| stored(&path, e.to_string()))?;
    replace(&path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    // An account as instant-acme serializes it (its own test fixture's key).
    const CREDENTIALS: &str = r#"{"id":"id","key_pkcs8":"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJVWC_QzOTCS5vtsJp2IG-UDc8cdDfeoKtxSZxaznM-mhRANCAAQenCPoGgPFTdPJ7VLLKt56RxPlYT1wNXnHc54PEyBg3LxKaH0-sJkX0mL8LyPEdsfL_Oz4TxHkWLJGrXVtNhfH","directory":"https://ca.example/dir"}"#;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_saved_certificate_loads_with_its_names_and_validity_and_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let made = rcgen::generate_simple_self_signed(vec!["privacy.example.com".into()]).unwrap();
        save(
            dir.path(),
            &made.cert.pem(),
            &made.signing_key.serialize_pem(),
        )
        .unwrap();
        let stored = load(dir.path()).unwrap().unwrap();
        assert_eq!(stored.names, ["privacy.example.com"]);
        assert!(stored.validity.not_before < stored.validity.not_after);
        assert_eq!(
            read_validity(&dir.path().join(CERT)).unwrap(),
            stored.validity
        );
        assert_eq!(mode(&dir.path().join(CERT)), 0o600);
        assert_eq!(mode(&dir.path().join(KEY)), 0o600);
        assert!(!dir.path().join("cert.pem.new").exists());

        std::fs::write(dir.path().join(CERT), "not a certificate").unwrap();
        assert!(load(dir.path()).is_err());
    }

    #[test]
    fn an_account_is_kept_for_the_directory_it_was_made_with() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            load_account(dir.path(), "https://ca.example/dir")
                .unwrap()
                .is_none()
        );
        let credentials = serde_json::from_str(CREDENTIALS).unwrap();
        save_account(dir.path(), "https://ca.example/dir", credentials).unwrap();
        assert_eq!(mode(&dir.path().join(ACCOUNT)), 0o600);
        assert!(
            load_account(dir.path(), "https://ca.example/dir")
                .unwrap()
                .is_some()
        );
        assert!(
            load_account(dir.path(), "https://other.example/dir")
                .unwrap()
                .is_none()
        );
    }
}
