//! Outgoing webhooks: a JSON POST signed with HMAC-SHA256 over `{timestamp}.{body}`, sent as
//! `Lethe-Signature: t=<unix seconds>,v1=<hex>`. The receiver recomputes the HMAC with the
//! endpoint's secret and rejects old timestamps. Addresses in IANA's special-purpose blocks
//! (private, loopback, link-local, NAT64, 6to4, Teredo, ...) are refused, in the URL and at
//! resolution time (so a DNS answer cannot point a webhook inward), unless
//! `--webhook-allow-private` is set. Proxies from the environment are never used.

use crate::domain::special_addresses;
use hmac::Mac;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "Lethe-Signature";

/// The hex HMAC-SHA256 of `{timestamp}.{body}`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = crate::crypto::hmac_sha256(secret.as_bytes());
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The header value `t=<timestamp>,v1=<signature>`.
pub fn signature_header(secret: &str, timestamp: i64, body: &str) -> String {
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

/// Addresses a webhook may reach without `--webhook-allow-private`: those in no special-purpose
/// block of IANA's registries (`domain::special_addresses`).
pub fn is_public(ip: IpAddr) -> bool {
    special_addresses::is_ordinary(ip)
}

/// What a delivery attempt came to, as it is stored and shown. Deliberately coarse: the OS's
/// own words ("connection refused", "no route to host", a TLS alert) would tell whoever registers
/// an endpoint which inner hosts and ports answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Lethe would not connect: the address is not public, or the stored URL is not acceptable.
    #[error("refused")]
    Refused,
    /// No answer: the name did not resolve, the connection or TLS failed, or it timed out.
    #[error("failed")]
    Failed,
    /// The endpoint answered, but not with a 2xx status.
    #[error("the endpoint answered HTTP {0}")]
    Status(u16),
}

/// The resolver's refusal, found again in a reqwest error's causes.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves to no public address")]
struct NotPublic(String);

/// Resolves host names and drops the addresses a webhook may not reach. The addresses it returns
/// are the ones connected to, so no second lookup can rebind the name inward.
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
                return Err(NotPublic(host).into());
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
            // A proxy from the environment would resolve the target itself, past the resolver
            // that keeps webhooks off private addresses.
            .no_proxy()
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

    /// POSTs `body` (JSON) signed with `secret`. Ok for a 2xx answer. The cause of a failure is
    /// logged for the operator; the error says only what kind of failure it was.
    pub async fn post(
        &self,
        url: &str,
        secret: &str,
        event: &str,
        body: &str,
    ) -> Result<(), DeliveryError> {
        // Checked at every delivery, not only at registration: IP literals never reach the
        // resolver, and the classification may have grown since the endpoint was added.
        let url = self.check_url(url).map_err(|e| {
            tracing::warn!(error = %e, "webhook refused");
            DeliveryError::Refused
        })?;
        let timestamp = chrono::Utc::now().timestamp();
        let res = self
            .client
            .post(url.clone())
            .header("Content-Type", "application/json")
            .header("Lethe-Event", event)
            .header(SIGNATURE_HEADER, signature_header(secret, timestamp, body))
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| {
                let refused = is_not_public(&e);
                tracing::warn!(host = url.host_str().unwrap_or_default(), error = %describe(&e), "webhook delivery failed");
                if refused {
                    DeliveryError::Refused
                } else {
                    DeliveryError::Failed
                }
            })?;
        let status = res.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(status.as_u16()))
        }
    }
}

/// Whether the resolver refused the name (somewhere in the error's causes).
fn is_not_public(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<NotPublic>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A reqwest error with its causes, on one line (for the log only).
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

/// Names that mean this machine whatever DNS says (RFC 6761), with or without the root's dot.
fn is_local_name(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
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
            if !allow_private && is_local_name(d) {
                return Err("points at this machine".into());
            }
            None
        }
    };
    if let Some(ip) = literal
        && !allow_private
        && !is_public(ip)
    {
        let what = special_addresses::block_of(ip).map_or("special-purpose", |(name, _)| name);
        return Err(format!(
            "points at an address that is not public ({ip}: {what})"
        ));
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
            "http://localhost./",
            "http://api.LOCALHOST./",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[::ffff:0:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://[2001::1]/",
            "http://[fec0::1]/",
            "http://192.0.0.1/",
            "http://192.88.99.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "ftp://example.com/",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
        }
        assert!(check_url("http://127.0.0.1:8080/hook", true).is_ok());
        assert!(check_url("https://hooks.example.com/lethe", false).is_ok());
        assert!(check_url("https://user:pw@hooks.example.com/", false).is_err());
        assert!(check_url("https://[2a00:1450:4001:80b::200e]/", false).is_ok());
    }

    #[tokio::test]
    async fn a_refused_address_and_a_failed_connection_say_no_more_than_that() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = WebhookClient::new(false).unwrap();
        // A literal loopback address stored by an older Lethe is refused at delivery too.
        let refused = client
            .post("http://127.0.0.1:9/hook", "s", "test", "{}")
            .await;
        assert_eq!(refused, Err(DeliveryError::Refused));
        // A name that resolves to loopback is refused by the resolver, which the client uses.
        let resolver = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap();
        let error = resolver.resolve(name).await.err().unwrap();
        assert!(error.downcast_ref::<NotPublic>().is_some(), "{error}");
        // A name that does not resolve (RFC 6761's .invalid) failed: no OS text either way.
        let failed = client
            .post("http://hooks.invalid/hook", "s", "test", "{}")
            .await;
        assert_eq!(failed, Err(DeliveryError::Failed));
        assert_eq!(DeliveryError::Failed.to_string(), "failed");
        assert_eq!(DeliveryError::Refused.to_string(), "refused");
    }
}
