//! What the benchmarks share: their settings from the environment, percentiles, and the bare
//! actix-web server each one's HTTP baseline runs on. Each bench uses a part of it.
#![allow(dead_code, reason = "each bench uses a part of this module")]

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::TcpListener;
use std::time::Duration;

/// `name` from the environment (or `default`), which must lie in `lo..=hi`; `_` may group digits.
pub fn env_in<T>(name: &str, default: T, lo: T, hi: T) -> T
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let value = match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        _ => default,
    };
    assert!(lo <= value && value <= hi, "{name} must be in {lo}..={hi}");
    value
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Nearest-rank percentile of sorted nanoseconds.
pub fn percentile(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Duration::from_nanos(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// For a bare actix-web server: a loopback listener on a free port, a rustls configuration with
/// a fresh self-signed certificate (the same TLS as Lethe's), and that certificate as PEM for the
/// clients.
pub fn bare_tls() -> (TcpListener, rustls::ServerConfig, Vec<u8>) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("self-signed certificate");
    let cert_pem = generated.cert.pem().into_bytes();
    let cert_der: CertificateDer<'static> = generated.cert.der().clone();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .expect("rustls server config");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    (listener, tls, cert_pem)
}
