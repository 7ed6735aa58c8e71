//! `--acme-domain` against a real ACME CA: Debian's pebble (and pebble-challtestsrv as its DNS,
//! answering 127.0.0.1 for every name). Pebble validates the challenges by connecting to Lethe's
//! own listeners, issues from a root made at its start, and serves its directory over HTTPS with
//! a certificate made here (trusted through `--acme-ca-root`).

use crate::helpers::{lethe, serve};
use chrono::{Duration, Utc};
use lethe::acme::{AcmeSettings, Renewal};
use lethe::config::{Config, TlsMode};
use lethe::startup::Application;
use serde_json::Value;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

const DOMAIN: &str = "privacy.lethe.test";

/// A port free now (the OS hands it out, the listener closes); pebble must be told the ports
/// Lethe will listen on before Lethe starts.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The pebble binaries, or a failure that says how to get them.
fn require_pebble() {
    for binary in ["pebble", "pebble-challtestsrv"] {
        let found = Command::new(binary)
            .arg("-h")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(
            found,
            "{binary} is not on PATH: run scripts/test, or `apt-get install pebble`"
        );
    }
}

/// A running pebble and its DNS; both are killed when it is dropped.
struct Pebble {
    children: Vec<Child>,
    _dir: tempfile::TempDir,
    directory: String,
    management: String,
    /// The certificate of pebble's own HTTPS listeners (not its issuing root).
    https_root: PathBuf,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Pebble {
    /// Pebble validating TLS-ALPN-01 on `tls_port` and HTTP-01 on `http_port` of 127.0.0.1.
    fn start(tls_port: u16, http_port: u16) -> Pebble {
        require_pebble();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let own = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, own.cert.pem()).unwrap();
        std::fs::write(&key, own.signing_key.serialize_pem()).unwrap();
        let (acme_port, management_port, dns_port, dns_management) =
            (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme_port}"),
            "managementListenAddress": format!("127.0.0.1:{management_port}"),
            "certificate": cert,
            "privateKey": key,
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_path = dir.path().join("pebble-config.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let dns = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            // Only the DNS server; no AAAA answers, so pebble connects to 127.0.0.1 only.
            .args([
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv6",
                "",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv starts");
        let pebble = Command::new("pebble")
            .args(["-config", config_path.to_str().unwrap()])
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            // Every nonce good and every order validated anew: the test sees each challenge.
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log())
            .stderr(log())
            .spawn()
            .expect("pebble starts");
        let started = Pebble {
            children: vec![dns, pebble],
            _dir: dir,
            directory: format!("https://127.0.0.1:{acme_port}/dir"),
            management: format!("https://127.0.0.1:{management_port}"),
            https_root: cert,
        };
        for port in [acme_port, management_port, dns_management] {
            wait_for_port(port);
        }
        started
    }

    /// The root pebble issues from (made at its start).
    async fn issuing_root(&self) -> Vec<u8> {
        let own =
            reqwest::Certificate::from_pem(&std::fs::read(&self.https_root).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([own])
            .build()
            .unwrap();
        let res = client
            .get(format!("{}/roots/0", self.management))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap().to_vec()
    }

    fn settings(&self) -> AcmeSettings {
        AcmeSettings {
            domain: DOMAIN.into(),
            email: Some("ops@lethe.test".into()),
            directory: self.directory.clone(),
            ca_root: Some(self.https_root.clone()),
        }
    }
}

/// Pebble's own log, shown with TEST_LOG set.
fn log() -> Stdio {
    match std::env::var("TEST_LOG") {
        Ok(_) => Stdio::inherit(),
        Err(_) => Stdio::null(),
    }
}

fn wait_for_port(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on port {port} after 15 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Lethe in this process, on `port`, with ACME from `pebble`.
async fn start_lethe(
    data_dir: &Path,
    port: u16,
    redirect: Option<u16>,
    settings: AcmeSettings,
) -> Arc<lethe::acme::Acme> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    static LOG: std::sync::Once = std::sync::Once::new();
    if std::env::var("TEST_LOG").is_ok() {
        LOG.call_once(|| lethe::telemetry::init(Some("info,lethe=debug")));
    }
    let mut config = Config::with_data_dir(data_dir);
    config.listen = SocketAddr::from(([127, 0, 0, 1], port));
    config.http_redirect_listen = redirect.map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
    config.workers = Some(1);
    config.tls = TlsMode::Acme(settings);
    let app = Application::build(config).await.expect("app builds");
    let acme = app.acme.clone().expect("ACME manager");
    tokio::spawn(app.run_until_stopped());
    acme
}

/// Waits (at most 30 s) for the CA's first certificate to be served.
async fn wait_for_certificate(acme: &lethe::acme::Acme) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while acme.served_validity().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no certificate from pebble after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The leaf certificate Lethe on `port` serves for the domain, over a new connection from a
/// client that trusts only `root`: the chain must verify for the name.
async fn served_leaf(port: u16, root: &[u8]) -> Vec<u8> {
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(root).unwrap()])
        .resolve(DOMAIN, SocketAddr::from(([127, 0, 0, 1], port)))
        .tls_info(true)
        .build()
        .unwrap();
    let res = client
        .get(format!("https://{DOMAIN}:{port}/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the served chain does not verify for {DOMAIN}: {e:?}"));
    assert_eq!(res.status(), 200);
    let info = res.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    info.peer_certificate().unwrap().to_vec()
}

/// The first certificate of a PEM file, DER.
fn leaf_of(path: &Path) -> Vec<u8> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_certificate_comes_by_tls_alpn_01_and_is_renewed_without_a_restart() {
    let port = free_port();
    // Nothing listens on the HTTP-01 port: the validation can only be TLS-ALPN-01.
    let pebble = Pebble::start(port, free_port());
    let root = pebble.issuing_root().await;
    let data = tempfile::tempdir().unwrap();
    let acme = start_lethe(data.path(), port, None, pebble.settings()).await;
    wait_for_certificate(&acme).await;

    let stored = data.path().join("acme");
    let first = served_leaf(port, &root).await;
    assert_eq!(first, leaf_of(&stored.join("cert.pem")));
    for file in ["key.pem", "cert.pem", "account.json"] {
        assert_eq!(mode(&stored.join(file)), 0o600, "{file}");
    }

    // Not due now: nothing is ordered, the same certificate is served.
    let now = acme.renew_if_due(Utc::now()).await.unwrap();
    assert!(matches!(now, Renewal::NotDue { .. }), "{now:?}");
    assert_eq!(served_leaf(port, &root).await, first);

    // Years later it is due: a new order, answered by the same running listener, and the next
    // handshake gets the new certificate.
    let later = acme
        .renew_if_due(Utc::now() + Duration::days(5 * 366))
        .await
        .unwrap();
    assert!(matches!(later, Renewal::Renewed(_)), "{later:?}");
    let second = served_leaf(port, &root).await;
    assert_ne!(second, first, "the served certificate did not change");
    assert_eq!(second, leaf_of(&stored.join("cert.pem")));

    // The doctor reads it from the data directory without serve's flags.
    let out = lethe(&[
        "doctor",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--json",
    ])
    .output()
    .unwrap();
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let cert = findings
        .iter()
        .find(|f| f["check"] == "tls certificate")
        .unwrap();
    assert_eq!(cert["status"], "pass", "{cert}");
    let modes = findings
        .iter()
        .find(|f| f["check"] == "file modes")
        .unwrap();
    assert_eq!(modes["status"], "pass", "{modes}");
    assert!(
        modes["finding"].as_str().unwrap().contains("acme/key.pem"),
        "{modes}"
    );
    assert!(
        cert["finding"]
            .as_str()
            .unwrap()
            .contains("ACME certificate"),
        "{cert}"
    );
}

#[tokio::test]
async fn the_stored_certificate_is_served_when_the_ca_is_down() {
    let port = free_port();
    let pebble = Pebble::start(port, free_port());
    let root = pebble.issuing_root().await;
    let settings = pebble.settings();
    let data = tempfile::tempdir().unwrap();
    let acme = start_lethe(data.path(), port, None, settings.clone()).await;
    wait_for_certificate(&acme).await;
    let issued = served_leaf(port, &root).await;
    // The directory's certificate outlives pebble's folder, as an operator's file would.
    let kept = tempfile::tempdir().unwrap();
    let ca_root = kept.path().join("ca-root.pem");
    std::fs::copy(settings.ca_root.as_ref().unwrap(), &ca_root).unwrap();
    drop(pebble);

    // A renewal that falls due while the CA is down fails, and the running server keeps the
    // certificate it had.
    let due = Utc::now() + Duration::days(5 * 366);
    let failed = acme.renew_if_due(due).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(served_leaf(port, &root).await, issued);

    // Another Lethe on the same data directory, started with the CA gone: the stored
    // certificate at once, no temporary one.
    let server = serve(
        data.path(),
        &[
            "--acme-domain",
            DOMAIN,
            "--acme-directory",
            &settings.directory,
            "--acme-ca-root",
            ca_root.to_str().unwrap(),
        ],
    );
    let second_port: u16 = server
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", server.base));
    assert!(
        server.base.starts_with(&format!("https://{DOMAIN}:")),
        "{}",
        server.base
    );
    assert_eq!(served_leaf(second_port, &root).await, issued);
    assert!(
        server.said.contains(&format!(
            "ACME: certificate for {DOMAIN} from {}",
            settings.directory
        )),
        "{}",
        server.said
    );
    assert!(server.said.contains("valid until"), "{}", server.said);
    server.stop();
}

#[tokio::test]
async fn http_01_is_answered_on_the_redirect_listener() {
    let (port, redirect) = (free_port(), free_port());
    // Nothing listens on pebble's TLS-ALPN-01 port: the validation can only be HTTP-01.
    let pebble = Pebble::start(free_port(), redirect);
    let root = pebble.issuing_root().await;
    let data = tempfile::tempdir().unwrap();
    let acme = start_lethe(data.path(), port, Some(redirect), pebble.settings()).await;
    wait_for_certificate(&acme).await;
    assert_eq!(
        served_leaf(port, &root).await,
        leaf_of(&data.path().join("acme").join("cert.pem"))
    );
    // Outside an order, a token is unknown; the rest of the listener still redirects.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{redirect}");
    let token = client
        .get(format!("{base}/.well-known/acme-challenge/unknown"))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 404);
    let other = client.get(format!("{base}/console/")).send().await.unwrap();
    assert_eq!(other.status(), 308);
}

/// Accepts any certificate: the handshakes below look at what is served, not at trust.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    // Nor signatures: webpki will not parse the challenge certificate (its acmeIdentifier
    // extension is critical and unknown to it), which is what is looked at here.
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS connection to 127.0.0.1:`port` for DOMAIN offering `alpn`, then `request` written on it:
/// the certificate served and what came back, or the handshake's error.
fn handshake(port: u16, alpn: &[&[u8]], request: &str) -> Result<(Vec<u8>, String), String> {
    use std::io::{Read, Write};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls_pki_types::ServerName::try_from(DOMAIN).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    let leaf = conn.peer_certificates().unwrap()[0].to_vec();
    Ok((leaf, answer))
}

#[tokio::test]
async fn an_acme_tls_1_handshake_gets_only_the_challenge_certificate_and_no_http() {
    // No CA at all: Lethe serves its temporary certificate and keeps retrying in the background.
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let settings = AcmeSettings {
        domain: DOMAIN.into(),
        email: None,
        directory: format!("https://127.0.0.1:{}/dir", free_port()),
        ca_root: None,
    };
    let acme = start_lethe(data.path(), port, None, settings).await;
    let temporary = acme.served_certificate().unwrap().to_vec();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n");
    let acme_tls: &[&[u8]] = &[b"acme-tls/1"];

    let (normal, answer) = tokio::task::spawn_blocking({
        let request = request.clone();
        move || handshake(port, &[b"http/1.1"], &request)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(normal, temporary);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // No order under way: no handshake at all.
    let refused = tokio::task::spawn_blocking({
        let request = request.clone();
        move || handshake(port, acme_tls, &request)
    })
    .await
    .unwrap();
    assert!(refused.is_err(), "{refused:?}");

    // An order under way: its challenge certificate, and no HTTP on that connection.
    let challenge = lethe::acme::resolver::challenge_certificate(DOMAIN, &[7; 32]).unwrap();
    let challenge_der = challenge.cert[0].to_vec();
    acme.resolver().set_challenge(DOMAIN, challenge);
    let (served, answer) = tokio::task::spawn_blocking({
        let request = request.clone();
        move || handshake(port, acme_tls, &request)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(served, challenge_der);
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
    // Everyone else still gets the served certificate.
    let (normal, _) =
        tokio::task::spawn_blocking(move || handshake(port, &[b"h2", b"http/1.1"], ""))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(normal, temporary);
}

#[tokio::test]
async fn a_failed_validation_says_why_and_the_temporary_certificate_stays() {
    let port = free_port();
    // Pebble validates TLS-ALPN-01 on a port where nothing listens.
    let pebble = Pebble::start(free_port(), free_port());
    let data = tempfile::tempdir().unwrap();
    let acme = start_lethe(data.path(), port, None, pebble.settings()).await;
    let temporary = acme.served_certificate().unwrap();
    let failed = acme.renew_if_due(Utc::now()).await.unwrap_err().to_string();
    assert!(failed.contains(DOMAIN), "{failed}");
    // The CA's own words about the challenge (pebble: it could not connect).
    assert!(failed.contains("tls-alpn-01"), "{failed}");
    assert!(acme.served_validity().is_none());
    assert_eq!(acme.served_certificate().unwrap(), temporary);
    assert!(!data.path().join("acme").join("cert.pem").exists());
}
