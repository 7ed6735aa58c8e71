//! The `--acme-*` options of `lethe serve`, resolved (declared in `cli::ServeArgs`, read by
//! `Config::from_serve_args`, which makes them `TlsMode::Acme`).

use crate::cli::ServeArgs;
use crate::config::{ConfigError, bad, is_hostname};
use std::path::PathBuf;

pub const LETS_ENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// The resolved `--acme-*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// Lower case, no trailing dot.
    pub domain: String,
    pub email: Option<String>,
    pub directory: String,
    /// Trusted for the directory's own HTTPS, beside the roots compiled in.
    pub ca_root: Option<PathBuf>,
}

/// The ACME options: none without `--acme-domain`, and the others refused without it rather
/// than silently ignored.
pub fn from_serve_args(args: &ServeArgs) -> Result<Option<AcmeSettings>, ConfigError> {
    let Some(domain) = args.acme_domain.as_deref() else {
        let given = [
            ("--acme-email", args.acme_email.is_some()),
            ("--acme-directory", args.acme_directory.is_some()),
            ("--acme-ca-root", args.acme_ca_root.is_some()),
        ];
        return match given.iter().find(|(_, given)| *given) {
            Some((option, _)) => Err(bad(option, "needs --acme-domain")),
            None => Ok(None),
        };
    };
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    // ACME CAs issue for DNS names only; an address or a bare label has no certificate to get.
    if !is_hostname(&domain) || !domain.contains('.') || domain.parse::<std::net::IpAddr>().is_ok()
    {
        return Err(bad(
            "--acme-domain",
            format!("'{domain}' is not a DNS name such as privacy.example.com"),
        ));
    }
    let email = args.acme_email.as_deref().map(str::trim);
    if let Some(email) = email
        && (!email.contains('@') || email.chars().any(|c| c.is_whitespace() || c == ','))
    {
        return Err(bad(
            "--acme-email",
            format!("'{email}' is not an e-mail address"),
        ));
    }
    let directory = args
        .acme_directory
        .clone()
        .unwrap_or_else(|| LETS_ENCRYPT_PRODUCTION.to_owned());
    match url::Url::parse(&directory) {
        Ok(url) if url.scheme() == "https" => {}
        _ => {
            return Err(bad(
                "--acme-directory",
                format!("'{directory}' is not an https:// URL"),
            ));
        }
    }
    // Read now, so that a wrong file stops start-up with one line rather than every renewal.
    if let Some(path) = &args.acme_ca_root {
        super::client::roots(Some(path)).map_err(|e| bad("--acme-ca-root", e.to_string()))?;
    }
    Ok(Some(AcmeSettings {
        domain,
        email: email.map(str::to_owned),
        directory,
        ca_root: args.acme_ca_root.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, TlsMode};

    fn args() -> ServeArgs {
        ServeArgs::default()
    }

    #[test]
    fn acme_takes_a_dns_name_and_conflicts_with_other_certificates() {
        let mut a = args();
        a.acme_domain = Some("Privacy.Example.com".into());
        let c = Config::from_serve_args(a.clone()).unwrap();
        let TlsMode::Acme(settings) = c.tls else {
            panic!("not ACME: {:?}", c.tls);
        };
        assert_eq!(settings.domain, "privacy.example.com");
        assert_eq!(settings.directory, LETS_ENCRYPT_PRODUCTION);

        let mut b = a.clone();
        b.no_tls = Some(true);
        assert_eq!(
            Config::from_serve_args(b).unwrap_err().option,
            "--acme-domain"
        );
        let mut b = a.clone();
        b.tls_cert = Some("c.pem".into());
        b.tls_key = Some("k.pem".into());
        let e = Config::from_serve_args(b).unwrap_err();
        assert_eq!(e.option, "--acme-domain");
        assert!(e.message.contains("--tls-cert"), "{e}");
        let mut b = a.clone();
        b.acme_domain = Some("127.0.0.1".into());
        assert_eq!(
            Config::from_serve_args(b).unwrap_err().option,
            "--acme-domain"
        );
        let mut b = a.clone();
        b.acme_directory = Some("http://ca.example/dir".into());
        assert_eq!(
            Config::from_serve_args(b).unwrap_err().option,
            "--acme-directory"
        );
        let mut b = args();
        b.acme_email = Some("ops@example.com".into());
        assert_eq!(
            Config::from_serve_args(b).unwrap_err().option,
            "--acme-email"
        );
    }
}
