//! Outgoing e-mail over SMTP (lettre). `smtp://host:port` upgrades with STARTTLS when the server
//! offers it, `smtps://host:port` speaks TLS from the start; credentials come from the URL or from
//! `LETHE_SMTP_USERNAME`/`LETHE_SMTP_PASSWORD`. Without a configured server there is no `Mailer`
//! and e-mail stays in the outbox, readable in the console.

use crate::config::Config;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

/// The URL lettre is given: plain `smtp://` gets opportunistic STARTTLS (on port 25 unless the
/// URL names one), an explicit `?tls=` is kept.
fn transport_url(url: &str) -> Result<(String, Option<u16>), String> {
    let mut parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    let port = parsed.port();
    if parsed.scheme() == "smtp" && !parsed.query_pairs().any(|(k, _)| k == "tls") {
        parsed.query_pairs_mut().append_pair("tls", "opportunistic");
        return Ok((parsed.to_string(), Some(port.unwrap_or(25))));
    }
    Ok((parsed.to_string(), port))
}

impl Mailer {
    /// None when no SMTP server is configured.
    pub fn from_config(config: &Config) -> Result<Option<Mailer>, String> {
        let (Some(url), Some(from)) = (&config.smtp_url, &config.mail_from) else {
            return Ok(None);
        };
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("--mail-from is not a mailbox ({e})"))?;
        let (url, port) = transport_url(url.expose()).map_err(|e| format!("--smtp-url: {e}"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            // lettre's message could echo the URL; keep the password out of logs.
            .map_err(|_| "--smtp-url: lettre cannot use this URL".to_owned())?
            .timeout(Some(Duration::from_secs(20)));
        if let Some(port) = port {
            builder = builder.port(port);
        }
        if let (Some(user), Some(password)) = (&config.smtp_username, &config.smtp_password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
        }))
    }

    /// Sends one plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("recipient is not a mailbox: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| format!("cannot build the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_smtp_gets_opportunistic_starttls_on_port_25() {
        let (url, port) = transport_url("smtp://mail.example").unwrap();
        assert!(url.contains("tls=opportunistic"));
        assert_eq!(port, Some(25));
        let (url, port) = transport_url("smtp://u:p@mail.example:2525").unwrap();
        assert!(url.contains("tls=opportunistic") && url.contains("u:p@"));
        assert_eq!(port, Some(2525));
        let (url, port) = transport_url("smtps://mail.example").unwrap();
        assert!(!url.contains("tls="));
        assert_eq!(port, None);
    }
}
