//! Outgoing webhooks: a JSON POST signed with HMAC-SHA256 over `{timestamp}.{body}`, sent as
//! `Lethe-Signature: t=<unix seconds>,v1=<hex>`. The receiver recomputes the HMAC with the
//! endpoint's secret and rejects old timestamps. Private, loopback and link-local addresses are
//! refused (at resolution time, so a DNS answer cannot point a webhook inward) unless
//! `--webhook-allow-private` is set.

use hmac::{KeyInit, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "Lethe-Signature";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The hex HMAC-SHA256 of `{timestamp}.{body}`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The header value `t=<timestamp>,v1=<signature>`.
pub fn signature_header(secret: &str, timestamp: i64, body: &str) -> String {
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

/// Addresses a webhook may reach without `--webhook-allow-private`.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// Resolves host names and drops the addresses a webhook may not reach.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Sends signed webhooks. Cheap to clone.
#[derive(Clone)]
pub struct WebhookClient {
    client: reqwest::Client,
    allow_private: bool,
}

impl WebhookClient {
    pub fn new(allow_private: bool) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Lethe-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        Ok(WebhookClient {
            client,
            allow_private,
        })
    }

    /// Refuses URLs that are not http(s) or name a private address literally (names are checked
    /// when they are resolved).
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, String> {
        check_url(url, self.allow_private)
    }

    /// POSTs `body` (JSON) signed with `secret`. Ok for a 2xx answer; Err says what went wrong.
    pub async fn post(
        &self,
        url: &str,
        secret: &str,
        event: &str,
        body: &str,
    ) -> Result<(), String> {
        let url = self.check_url(url)?;
        let timestamp = chrono::Utc::now().timestamp();
        let res = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("Lethe-Event", event)
            .header(SIGNATURE_HEADER, signature_header(secret, timestamp, body))
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = res.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered HTTP {}", status.as_u16()))
        }
    }
}

/// A reqwest error with its causes, on one line.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err("must start with https:// or http://".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials; the signature authenticates Lethe".into());
    }
    let literal = match parsed.host() {
        None => return Err("names no host".into()),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            if !allow_private && (d == "localhost" || d.ends_with(".localhost")) {
                return Err("points at this machine".into());
            }
            None
        }
    };
    if let Some(ip) = literal
        && !allow_private
        && !is_public(ip)
    {
        return Err(format!("points at a private address ({ip})"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        let sig = signature("key", 1700000000, "{}");
        assert_eq!(
            sig,
            "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_ne!(sig, signature("key", 1700000001, "{}"));
        assert_eq!(
            signature_header("key", 1, "x"),
            format!("t=1,v1={}", signature("key", 1, "x"))
        );
    }

    #[test]
    fn private_addresses_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://10.1.2.3/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://localhost/",
            "ftp://example.com/",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
        }
        assert!(check_url("http://127.0.0.1:8080/hook", true).is_ok());
        assert!(check_url("https://hooks.example.com/lethe", false).is_ok());
        assert!(check_url("https://user:pw@hooks.example.com/", false).is_err());
    }
}
