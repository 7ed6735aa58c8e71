//! Resolved configuration. Precedence: command-line flag > `LETHE_*` environment (both through
//! clap) > TOML file (`--config`) > built-in default. Every problem names the option it is about.

use crate::cli::{DataArgs, ServeArgs};
use crate::domain::network::IpRange;
use crate::domain::schedule::CronSchedule;
use serde::{Deserialize, Serialize};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("{option}: {message}")]
pub struct ConfigError {
    pub option: String,
    pub message: String,
}

pub(crate) fn bad(option: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        option: option.to_owned(),
        message: message.into(),
    }
}

/// What a TOML configuration file holds: `data_dir` and the options of `serve` by their field
/// names. Unknown keys are an error, not a silent no-op.
#[derive(Debug, Default)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    serve: ServeArgs,
}

/// A value that must not appear in logs or `Debug` output (SMTP passwords, URLs that may carry
/// credentials).
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

fn read_file_config(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad("--config", format!("cannot read {}: {e}", path.display())))?;
    let in_file = |e: toml::de::Error| {
        let one_line = e.message().replace('\n', " ");
        bad("--config", format!("{}: {one_line}", path.display()))
    };
    let mut table: toml::Table = toml::from_str(&text).map_err(in_file)?;
    let data_dir = table
        .remove("data_dir")
        .map(|v| v.try_into::<PathBuf>())
        .transpose()
        .map_err(in_file)?;
    let serve = toml::Value::Table(table).try_into().map_err(in_file)?;
    Ok(FileConfig { data_dir, serve })
}

/// The options given as flags or in the environment, and for each one left out, the file's.
fn flags_over_file(flags: ServeArgs, file: ServeArgs) -> Result<ServeArgs, ConfigError> {
    let internal = |e: serde_json::Error| bad("--config", format!("cannot merge options: {e}"));
    let data = flags.data.clone();
    let serde_json::Value::Object(given) = serde_json::to_value(flags).map_err(internal)? else {
        return Err(bad("--config", "cannot merge options"));
    };
    let mut merged = serde_json::to_value(file).map_err(internal)?;
    for (option, value) in given {
        let left_out = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
        if !left_out {
            merged[option] = value;
        }
    }
    let mut args: ServeArgs = serde_json::from_value(merged).map_err(internal)?;
    args.data = data;
    Ok(args)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Generate a self-signed certificate on first start, reuse it afterwards.
    SelfSigned,
    /// Serve the operator's PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP behind a TLS-terminating proxy.
    Off,
    /// A certificate from an ACME CA, obtained and renewed by `crate::acme`.
    Acme(crate::acme::AcmeSettings),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub tls: TlsMode,
    pub http_redirect_listen: Option<SocketAddr>,
    pub hostnames: Vec<String>,
    /// None: derived from the bound address once it is known.
    pub public_url: Option<String>,
    /// Reverse proxies whose forwarding headers name the client (`web::client_ip`).
    pub trusted_proxies: Vec<IpRange>,
    /// What `/metrics` requires as a bearer token; None turns `/metrics` off.
    pub metrics_token: Option<Secret>,
    pub max_body_bytes: usize,
    /// Consent decisions a minute from one client network (`web::consent_decisions`).
    pub consent_rate: u32,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub session_cleanup_schedule: CronSchedule,
    pub workers: Option<usize>,
    pub demo: bool,
    /// Outgoing e-mail server; None keeps e-mail in the outbox.
    pub smtp_url: Option<Secret>,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    /// The sender of outgoing e-mail (required with `smtp_url`).
    pub mail_from: Option<String>,
    /// Webhooks may go to private, loopback and link-local addresses.
    pub webhook_allow_private: bool,
    /// When the outbox sender (and the policy announcer) run.
    pub outbox_schedule: CronSchedule,
    /// When records that legal holds kept after an erasure are released.
    pub legal_holds_schedule: CronSchedule,
    /// When every retention rule's claim is counted against the data (also after each run).
    pub claims_schedule: CronSchedule,
    /// When Lethe's own data (access log, outbox, audit log…) is pruned by its rules.
    pub own_data_schedule: CronSchedule,
    /// When spent period keys are destroyed.
    pub period_keys_schedule: CronSchedule,
    /// When the audit chain's head is kept in the key store (if it moved).
    pub audit_anchor_schedule: CronSchedule,
    /// When unverified data subject requests whose link ended are deleted.
    pub requests_schedule: CronSchedule,
    /// The deadline warnings of data subject requests.
    pub request_warnings_schedule: CronSchedule,
    /// The 72-hour deadline warnings of incidents.
    pub incident_deadlines_schedule: CronSchedule,
    pub incident_letters_schedule: CronSchedule,
    /// Rows a retention run changes per transaction.
    pub retention_batch_size: u32,
    /// First retry delay; each further one doubles, up to an hour.
    pub outbox_retry_base: Duration,
    /// Attempts before a message is `failed` for good.
    pub outbox_max_attempts: u32,
    /// Consecutive failed deliveries before a webhook endpoint is disabled.
    pub webhook_disable_after: u32,
    /// The master key from `LETHE_MASTER_KEY`; None uses (or creates) `master.key` in the data
    /// directory. Never a command-line flag, where other users could read it.
    pub master_key: Option<Secret>,
    /// IP ranges to countries (CSV `start,end,country`) for `ip_country` record fields.
    pub ip_country_file: Option<PathBuf>,
    /// Scheduled backups; None without `--backup-dir`.
    pub backup: Option<crate::services::backup::BackupSettings>,
}

/// `LETHE_MASTER_KEY`, if set and not empty.
pub fn master_key_from_env() -> Option<Secret> {
    std::env::var("LETHE_MASTER_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(Secret::new)
}

pub const DEFAULT_DATA_DIR: &str = "./lethe-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
const DEFAULT_SESSION_CLEANUP: &str = "0 */10 * * * *";
const DEFAULT_OUTBOX_SCHEDULE: &str = "*/10 * * * * *";
const DEFAULT_LEGAL_HOLDS_SCHEDULE: &str = "*/10 * * * *";
const DEFAULT_CLAIMS_SCHEDULE: &str = "5 * * * *";
const DEFAULT_OWN_DATA_SCHEDULE: &str = "30 3 * * *";
const DEFAULT_PERIOD_KEYS_SCHEDULE: &str = "15 * * * *";
/// Every minute: one read of the head, and a write only when it moved.
const DEFAULT_AUDIT_ANCHOR_SCHEDULE: &str = "* * * * *";
const DEFAULT_REQUESTS_SCHEDULE: &str = "*/10 * * * *";
const DEFAULT_REQUEST_WARNINGS_SCHEDULE: &str = "0 * * * *";
/// Every 5 minutes: a 12-hour warning is never more than a few minutes late.
const DEFAULT_INCIDENT_DEADLINES_SCHEDULE: &str = "*/5 * * * *";
const DEFAULT_INCIDENT_LETTERS_SCHEDULE: &str = "* * * * *";
pub const DEFAULT_RETENTION_BATCH_SIZE: u32 = 2000;

/// A built-in schedule; a typo in one is caught by the unit test of the defaults.
#[allow(
    clippy::panic,
    reason = "the argument is one of the constants above, all parsed by a unit test"
)]
fn builtin(expression: &str) -> CronSchedule {
    CronSchedule::parse(expression).unwrap_or_else(|e| panic!("built-in schedule: {e}"))
}

impl Config {
    /// Defaults with the given data directory; what tests and embedding start from.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls: TlsMode::SelfSigned,
            http_redirect_listen: None,
            hostnames: Vec::new(),
            public_url: None,
            trusted_proxies: Vec::new(),
            metrics_token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            consent_rate: 600,
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(12 * 3600),
            session_cleanup_schedule: builtin(DEFAULT_SESSION_CLEANUP),
            workers: None,
            demo: false,
            smtp_url: None,
            smtp_username: None,
            smtp_password: None,
            mail_from: None,
            webhook_allow_private: false,
            outbox_schedule: builtin(DEFAULT_OUTBOX_SCHEDULE),
            legal_holds_schedule: builtin(DEFAULT_LEGAL_HOLDS_SCHEDULE),
            claims_schedule: builtin(DEFAULT_CLAIMS_SCHEDULE),
            own_data_schedule: builtin(DEFAULT_OWN_DATA_SCHEDULE),
            period_keys_schedule: builtin(DEFAULT_PERIOD_KEYS_SCHEDULE),
            audit_anchor_schedule: builtin(DEFAULT_AUDIT_ANCHOR_SCHEDULE),
            requests_schedule: builtin(DEFAULT_REQUESTS_SCHEDULE),
            request_warnings_schedule: builtin(DEFAULT_REQUEST_WARNINGS_SCHEDULE),
            incident_deadlines_schedule: builtin(DEFAULT_INCIDENT_DEADLINES_SCHEDULE),
            incident_letters_schedule: builtin(DEFAULT_INCIDENT_LETTERS_SCHEDULE),
            retention_batch_size: DEFAULT_RETENTION_BATCH_SIZE,
            outbox_retry_base: Duration::from_secs(30),
            outbox_max_attempts: 12,
            webhook_disable_after: 10,
            master_key: None,
            ip_country_file: None,
            backup: None,
        }
    }

    pub fn from_serve_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let file = read_file_config(args.data.config.as_deref())?;
        let data_dir = args
            .data
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let args = flags_over_file(args, file.serve)?;
        let mut config = Config::with_data_dir(data_dir);
        let backup = backup_settings(&args)?;
        let acme = crate::acme::settings::from_serve_args(&args)?;

        let listen = args.listen;
        config.listen = parse_addr("--listen", listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
        let redirect = args.http_redirect_listen;
        config.http_redirect_listen = redirect
            .map(|a| parse_addr("--http-redirect-listen", &a))
            .transpose()?;

        let no_tls = args.no_tls.unwrap_or(false);
        let cert = args.tls_cert;
        let key = args.tls_key;
        config.tls = match (no_tls, cert, key) {
            (true, None, None) => TlsMode::Off,
            (true, _, _) => {
                return Err(bad(
                    "--no-tls",
                    "cannot be combined with --tls-cert/--tls-key",
                ));
            }
            (false, Some(cert), Some(key)) => TlsMode::Files { cert, key },
            (false, Some(_), None) => return Err(bad("--tls-key", "is required with --tls-cert")),
            (false, None, Some(_)) => return Err(bad("--tls-cert", "is required with --tls-key")),
            (false, None, None) => TlsMode::SelfSigned,
        };
        if let Some(settings) = acme {
            config.tls = match config.tls {
                TlsMode::SelfSigned => TlsMode::Acme(settings),
                TlsMode::Off => {
                    return Err(bad("--acme-domain", "cannot be combined with --no-tls"));
                }
                _ => {
                    return Err(bad(
                        "--acme-domain",
                        "cannot be combined with --tls-cert/--tls-key",
                    ));
                }
            };
        }
        if config.tls == TlsMode::Off && config.http_redirect_listen.is_some() {
            return Err(bad(
                "--http-redirect-listen",
                "makes no sense with --no-tls",
            ));
        }

        config.hostnames = args
            .hostnames
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(bad_host) = config.hostnames.iter().find(|h| !is_hostname(h)) {
            return Err(bad(
                "--hostname",
                format!("'{bad_host}' is not a host name"),
            ));
        }

        if let Some(url) = args.public_url {
            let url = url.trim_end_matches('/').to_owned();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(bad(
                    "--public-url",
                    format!("'{url}' must start with https://"),
                ));
            }
            config.public_url = Some(url);
        }

        config.trusted_proxies = args
            .trusted_proxies
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.parse::<IpRange>().map_err(|e| bad("--trusted-proxy", e)))
            .collect::<Result<_, _>>()?;
        if let Some(token) = args.metrics_token {
            if token.expose().trim().chars().count() < 16 {
                return Err(bad(
                    "--metrics-token",
                    "must be at least 16 characters (e.g. from `openssl rand -hex 16`)",
                ));
            }
            config.metrics_token = Some(token);
        }

        if let Some(n) = args.max_body_bytes {
            if !(1024..=256 * 1024 * 1024).contains(&n) {
                return Err(bad(
                    "--max-body-bytes",
                    "must be between 1024 and 268435456",
                ));
            }
            config.max_body_bytes = n;
        }
        if let Some(n) = args.consent_rate {
            if !(1..=1_000_000).contains(&n) {
                return Err(bad("--consent-rate", "must be between 1 and 1000000"));
            }
            config.consent_rate = n;
        }
        if let Some(m) = args.session_idle_minutes {
            if !(1..=24 * 60).contains(&m) {
                return Err(bad("--session-idle-minutes", "must be between 1 and 1440"));
            }
            config.session_idle = Duration::from_secs(u64::from(m) * 60);
        }
        if let Some(h) = args.session_absolute_hours {
            if !(1..=24 * 30).contains(&h) {
                return Err(bad("--session-absolute-hours", "must be between 1 and 720"));
            }
            config.session_absolute = Duration::from_secs(u64::from(h) * 3600);
        }
        if let Some(s) = args.session_cleanup_schedule {
            config.session_cleanup_schedule = parse_schedule("--session-cleanup-schedule", &s)?;
        }
        if let Some(w) = args.workers {
            if !(1..=256).contains(&w) {
                return Err(bad("--workers", "must be between 1 and 256"));
            }
            config.workers = Some(w);
        }
        config.demo = args.demo.unwrap_or(false);

        if let Some(url) = args.smtp_url {
            check_smtp_url(url.expose())?;
            config.smtp_url = Some(url);
        }
        config.smtp_username = args.smtp_username;
        config.smtp_password = args.smtp_password;
        if config.smtp_username.is_some() != config.smtp_password.is_some() {
            let missing = if config.smtp_username.is_some() {
                "--smtp-password"
            } else {
                "--smtp-username"
            };
            return Err(bad(
                missing,
                "SMTP user name and password go together; give both or neither",
            ));
        }
        if config.smtp_username.is_some() && config.smtp_url.is_none() {
            return Err(bad("--smtp-url", "is required with --smtp-username"));
        }
        if let Some(from) = args.mail_from {
            let from = from.trim().to_owned();
            if from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(bad(
                    "--mail-from",
                    format!("'{from}' is not a mailbox, e.g. \"Privacy <privacy@example.com>\""),
                ));
            }
            config.mail_from = Some(from);
        }
        if config.smtp_url.is_some() && config.mail_from.is_none() {
            return Err(bad("--mail-from", "is required with --smtp-url"));
        }
        config.webhook_allow_private = args.webhook_allow_private.unwrap_or(false);
        for (option, arg, slot) in [
            (
                "--outbox-schedule",
                args.outbox_schedule,
                &mut config.outbox_schedule,
            ),
            (
                "--legal-holds-schedule",
                args.legal_holds_schedule,
                &mut config.legal_holds_schedule,
            ),
            (
                "--claims-schedule",
                args.claims_schedule,
                &mut config.claims_schedule,
            ),
            (
                "--own-data-schedule",
                args.own_data_schedule,
                &mut config.own_data_schedule,
            ),
            (
                "--period-keys-schedule",
                args.period_keys_schedule,
                &mut config.period_keys_schedule,
            ),
            (
                "--audit-anchor-schedule",
                args.audit_anchor_schedule,
                &mut config.audit_anchor_schedule,
            ),
            (
                "--requests-schedule",
                args.requests_schedule,
                &mut config.requests_schedule,
            ),
            (
                "--request-warnings-schedule",
                args.request_warnings_schedule,
                &mut config.request_warnings_schedule,
            ),
            (
                "--incident-deadlines-schedule",
                args.incident_deadlines_schedule,
                &mut config.incident_deadlines_schedule,
            ),
            (
                "--incident-letters-schedule",
                args.incident_letters_schedule,
                &mut config.incident_letters_schedule,
            ),
        ] {
            if let Some(s) = arg {
                *slot = parse_schedule(option, &s)?;
            }
        }
        if let Some(n) = args.retention_batch_size {
            if !(10..=20_000).contains(&n) {
                return Err(bad(
                    "--retention-batch-size",
                    "must be between 10 and 20000",
                ));
            }
            config.retention_batch_size = n;
        }
        config.master_key = master_key_from_env();
        config.backup = backup;
        config.ip_country_file = args.ip_country_file;
        Ok(config)
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls != TlsMode::Off
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("lethe.db")
    }
}

const DEFAULT_BACKUP_SCHEDULE: &str = "30 3 * * *";

/// The scheduled backups' settings: off without `--backup-dir`; the other backup options are
/// refused without it rather than silently ignored.
fn backup_settings(
    args: &ServeArgs,
) -> Result<Option<crate::services::backup::BackupSettings>, ConfigError> {
    let Some(dir) = args.backup_dir.clone() else {
        let given = args.backup_schedule.is_some()
            || args.backup_keep_daily.is_some()
            || args.backup_keep_weekly.is_some()
            || args.backup_keep_keys_days.is_some();
        return if given {
            Err(bad(
                "--backup-dir",
                "is required with the other --backup-* options",
            ))
        } else {
            Ok(None)
        };
    };
    let schedule = match &args.backup_schedule {
        Some(s) => parse_schedule("--backup-schedule", s)?,
        None => builtin(DEFAULT_BACKUP_SCHEDULE),
    };
    let keep_daily = args.backup_keep_daily.unwrap_or(7);
    let keep_weekly = args.backup_keep_weekly.unwrap_or(4);
    if keep_daily == 0 {
        return Err(bad(
            "--backup-keep-daily",
            "must be at least 1: the newest backup is always kept",
        ));
    }
    let keep_keys_days = args.backup_keep_keys_days.unwrap_or(7);
    if keep_keys_days == 0 {
        return Err(bad(
            "--backup-keep-keys-days",
            "must be at least 1: a backup without keys.db cannot be restored",
        ));
    }
    Ok(Some(crate::services::backup::BackupSettings {
        dir,
        schedule,
        policy: crate::domain::backup::RotationPolicy {
            keep_daily,
            keep_weekly,
            keep_keys_days,
        },
    }))
}

/// The data directory for commands other than `serve`, with the same precedence.
pub fn data_dir_from(args: &DataArgs) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = &args.data_dir {
        return Ok(dir.clone());
    }
    let file = read_file_config(args.config.as_deref())?;
    Ok(file
        .data_dir
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)))
}

fn parse_addr(option: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value
        .to_socket_addrs()
        .map_err(|e| bad(option, format!("'{value}' is not HOST:PORT ({e})")))?
        .next()
        .ok_or_else(|| bad(option, format!("'{value}' resolves to no address")))
}

/// crontab(5) with five fields, a shorthand (`@daily`) or six fields with seconds first.
fn parse_schedule(option: &str, value: &str) -> Result<CronSchedule, ConfigError> {
    CronSchedule::parse(value).map_err(|e| bad(option, e.to_string()))
}

/// `smtp://` or `smtps://` with a host; the message never repeats the URL (it may hold a password).
fn check_smtp_url(url: &str) -> Result<(), ConfigError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| bad("--smtp-url", format!("is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "smtp" | "smtps") {
        return Err(bad(
            "--smtp-url",
            "must start with smtp:// (STARTTLS when offered) or smtps:// (TLS)",
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("--smtp-url", "names no host"));
    }
    Ok(())
}

pub(crate) fn is_hostname(h: &str) -> bool {
    h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs::default()
    }

    #[test]
    fn the_built_in_job_schedules_parse_and_crontab_forms_are_accepted() {
        let c = Config::with_data_dir("d");
        assert_eq!(c.own_data_schedule.source(), "30 3 * * *");
        assert_eq!(c.audit_anchor_schedule.source(), "* * * * *");
        let mut a = args();
        a.legal_holds_schedule = Some("@hourly".into());
        a.audit_anchor_schedule = Some("*/5 * * * * *".into());
        a.outbox_schedule = Some("*/5 * * * *".into());
        let c = Config::from_serve_args(a).unwrap();
        assert_eq!(c.legal_holds_schedule.source(), "@hourly");
        assert_eq!(c.outbox_schedule.source(), "*/5 * * * *");
        assert_eq!(c.audit_anchor_schedule.source(), "*/5 * * * * *");
    }

    #[test]
    fn defaults_listen_on_loopback_8443_with_self_signed_tls() {
        let c = Config::from_serve_args(args()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.tls, TlsMode::SelfSigned);
        assert_eq!(c.data_dir, PathBuf::from("./lethe-data"));
    }

    #[test]
    fn backups_are_off_without_a_directory_and_their_options_need_one() {
        assert!(Config::from_serve_args(args()).unwrap().backup.is_none());
        let mut a = args();
        a.backup_keep_daily = Some(3);
        let err = Config::from_serve_args(a).unwrap_err().to_string();
        assert!(err.contains("--backup-dir"), "{err}");
        let mut a = args();
        a.backup_dir = Some(PathBuf::from("/backups"));
        let b = Config::from_serve_args(a).unwrap().backup.unwrap();
        assert_eq!(b.schedule.source(), DEFAULT_BACKUP_SCHEDULE);
        assert_eq!(
            (
                b.policy.keep_daily,
                b.policy.keep_weekly,
                b.policy.keep_keys_days
            ),
            (7, 4, 7)
        );
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lethe.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nmax_body_bytes = 4096\n",
        )
        .unwrap();
        let mut a = args();
        a.data.config = Some(file);
        a.listen = Some("127.0.0.1:9001".into());
        let c = Config::from_serve_args(a).unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.max_body_bytes, 4096);
    }

    #[test]
    fn every_option_can_come_from_the_file_and_a_flag_replaces_a_list() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lethe.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/lethe\"\nhostnames = [\"privacy.example\"]\n\
             trusted_proxies = [\"10.0.0.0/8\"]\nclaims_schedule = \"@daily\"\n\
             metrics_token = \"0123456789abcdef\"\ndemo = true\n",
        )
        .unwrap();
        let mut a = args();
        a.data.config = Some(file.clone());
        let c = Config::from_serve_args(a).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/lethe"));
        assert_eq!(c.hostnames, vec!["privacy.example".to_owned()]);
        assert_eq!(c.trusted_proxies.len(), 1);
        assert_eq!(c.claims_schedule.source(), "@daily");
        assert_eq!(c.metrics_token.unwrap().expose(), "0123456789abcdef");
        assert!(c.demo);

        let mut a = args();
        a.data.config = Some(file.clone());
        a.data.data_dir = Some("/tmp/other".into());
        a.hostnames = vec!["a.example".into(), "b.example".into()];
        a.demo = Some(false);
        let c = Config::from_serve_args(a).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/other"));
        assert_eq!(c.hostnames, vec!["a.example", "b.example"]);
        assert!(!c.demo);
        assert_eq!(
            data_dir_from(&DataArgs {
                config: Some(file),
                data_dir: None
            })
            .unwrap(),
            PathBuf::from("/srv/lethe")
        );
    }

    #[test]
    fn the_file_may_not_name_the_file_and_its_types_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lethe.toml");
        for text in ["config = \"other.toml\"\n", "workers = \"two\"\n"] {
            std::fs::write(&file, text).unwrap();
            let mut a = args();
            a.data.config = Some(file.clone());
            let e = Config::from_serve_args(a).unwrap_err();
            assert_eq!(e.option, "--config", "{text}");
        }
    }

    #[test]
    fn unknown_file_keys_and_bad_values_name_the_option() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lethe.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let mut a = args();
        a.data.config = Some(file);
        let e = Config::from_serve_args(a).unwrap_err();
        assert_eq!(e.option, "--config");
        assert!(e.message.contains("lisen"), "{e}");

        let mut a = args();
        a.session_cleanup_schedule = Some("0 3 * *".into());
        assert_eq!(
            Config::from_serve_args(a).unwrap_err().option,
            "--session-cleanup-schedule"
        );
        let mut a = args();
        a.claims_schedule = Some("0 25 * * *".into());
        let e = Config::from_serve_args(a).unwrap_err();
        assert_eq!(e.option, "--claims-schedule");
        assert!(e.message.contains("hour"), "{e}");
        let mut a = args();
        a.retention_batch_size = Some(1);
        assert_eq!(
            Config::from_serve_args(a).unwrap_err().option,
            "--retention-batch-size"
        );

        let mut a = args();
        a.smtp_url = Some(Secret::new("http://mail.example"));
        a.mail_from = Some("lethe@example.org".into());
        assert_eq!(Config::from_serve_args(a).unwrap_err().option, "--smtp-url");
        let mut a = args();
        a.smtp_url = Some(Secret::new("smtp://mail.example:587"));
        assert_eq!(
            Config::from_serve_args(a).unwrap_err().option,
            "--mail-from"
        );
        let mut a = args();
        a.outbox_schedule = Some("every minute".into());
        assert_eq!(
            Config::from_serve_args(a).unwrap_err().option,
            "--outbox-schedule"
        );

        let mut a = args();
        a.tls_cert = Some("c.pem".into());
        assert_eq!(Config::from_serve_args(a).unwrap_err().option, "--tls-key");
    }

    #[test]
    fn smtp_secrets_are_redacted_in_debug() {
        let mut a = args();
        a.smtp_url = Some(Secret::new("smtps://ada:hunter2@mail.example"));
        a.smtp_username = Some("ada".into());
        a.smtp_password = Some(Secret::new("swordfish"));
        a.mail_from = Some("Privacy <privacy@example.org>".into());
        let debug = format!("{a:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("swordfish"),
            "{debug}"
        );
        let c = Config::from_serve_args(a).unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("swordfish"),
            "{debug}"
        );
        assert_eq!(c.smtp_password.unwrap().expose(), "swordfish");
    }
}
