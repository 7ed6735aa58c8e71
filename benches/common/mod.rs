//! What the benchmarks share: their settings from the environment, percentiles, and the bare
//! actix-web server each one's HTTP baseline runs on. Each bench uses a part of it.
#![allow(dead_code, reason = "each bench uses a part of this module")]

pub mod records;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::TcpListener;
use std::path::Path;
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

/// The ring crypto provider installed (for rustls) and a tokio runtime with `threads` workers,
/// for the load generator.
pub fn runtime(threads: usize) -> tokio::runtime::Runtime {
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("install the ring crypto provider");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The load average (1, 5 and 15 minutes), for the header of a report.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The file system type the path lives on (the longest mount point in /proc/mounts above it).
pub fn fs_type(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, point, kind) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_owned()))
        })
        .max()
        .map_or_else(|| "?".to_owned(), |(_, k)| k)
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
