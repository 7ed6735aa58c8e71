//! The command line. Every `serve` option can also come from a `LETHE_*` environment variable or
//! from the TOML file given with `--config`; flags win over the environment, which wins over the file.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "lethe",
    version,
    about = "Lethe: a self-hosted privacy back office in one binary"
)]
pub struct Cli {
    /// Log filter, e.g. `info` or `lethe=debug,actix_web=info`.
    #[arg(long = "log", env = "LETHE_LOG", global = true, value_name = "FILTER")]
    pub log_filter: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the console, the privacy center and the API over HTTPS.
    Serve(Box<ServeArgs>),
    /// Manage staff accounts from the shell.
    Admin(AdminArgs),
    /// Manage API keys from the shell.
    Apikey(ApikeyArgs),
    /// Inspect the tamper-evident audit log.
    Audit(AuditArgs),
    /// Manage the master key that wraps every data key.
    Keys(KeysArgs),
    /// Create (or refresh) the two demo workspaces, `aulm` and `aufum`, and print a console login.
    Demo(DataArgs),
    /// Run retention rules now, or see what they would do (also while `lethe serve` runs on the
    /// same data directory).
    Retention(RetentionArgs),
    /// Back up `lethe.db` and `keys.db` (never the master key), also while `lethe serve` runs,
    /// or check a backup.
    Backup(BackupArgs),
    /// Put a backup in place of a stopped Lethe's databases, then replay the erasure journal so
    /// that no one erased and no key destroyed since the backup comes back.
    Restore(RestoreArgs),
    /// Check a Lethe's health: file modes, master key, TLS certificate, SMTP, backups, audit
    /// chain, database integrity, deadlines, outbox, disk space, retention claims. Read-only,
    /// also while `lethe serve` runs. Exits 0 when all pass, 1 on a warning, 2 on a failure.
    Doctor(Box<DoctorArgs>),
    /// Make a workspace's evidence pack for an auditor: one zip with the records of
    /// processing, policy versions, retention runs, the request log, the breach register,
    /// consent statistics, the access log's summary and the audit chain's head, signed with the
    /// workspace's Ed25519 key; or check one (`lethe evidence verify FILE`).
    Evidence(EvidenceArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    pub command: Option<EvidenceCommand>,
    #[command(flatten)]
    pub data: DataArgs,
    /// The workspace (slug) the pack is about.
    #[arg(long)]
    pub workspace: Option<String>,
    /// First day of the period (YYYY-MM-DD, UTC, inclusive) for the time-based logs; by default
    /// the beginning.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day of the period (YYYY-MM-DD, UTC, inclusive); by default up to now. Policy versions
    /// published after it are left out.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Where the zip goes; by default `lethe-evidence-<slug>-<UTC time>.zip` in the current
    /// directory. Its path is the only line on standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Check a pack: the signature over its manifest with the public key the manifest holds
    /// (and, with --data-dir, that this key is the workspace's), then that every file is
    /// exactly the one listed. Exits 0 when it holds, 1 naming what does not, 2 when the file
    /// cannot be read.
    Verify {
        /// The pack (`.zip`).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// A data directory (or --config) that has the workspace: the key is then also checked
        /// to be the workspace's own.
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The options `lethe serve` is given (same flags, `LETHE_*` variables and --config file),
    /// so that the checks see what the server uses: its SMTP server, backup schedule, TLS files.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Print the findings as a JSON array of {check, status, finding, action}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// `lethe backup --to DIR` is `lethe backup create --to DIR`.
    #[command(flatten)]
    pub data: DataArgs,
    /// Directory the backup folder is made in (as `create --to`).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Copy `lethe.db`, then `keys.db`, into a new folder `DIR/lethe-<UTC time>` with a
    /// `manifest.json` (sizes, SHA-256, schema version, audit chain head). Live writes go on
    /// meanwhile. Prints the folder.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// Directory the backup folder is made in (created if need be).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Check a backup folder: each file's size and SHA-256 against the manifest, SQLite's
    /// integrity check of each copy (opened read-only) and the copy's audit chain. Exits 1
    /// naming each file and what is wrong with it.
    Verify {
        /// The backup folder (`.../lethe-<UTC time>`).
        #[arg(value_name = "BACKUP_FOLDER")]
        folder: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The backup folder to restore (it must verify, and still hold its `keys.db`).
    #[arg(
        long = "from",
        value_name = "BACKUP_FOLDER",
        required_unless_present = "replica",
        conflicts_with = "replica"
    )]
    pub from: Option<PathBuf>,
    /// The data directory's `lethe.db` and `keys.db` were just put there by `litestream
    /// restore`: replay the whole erasure journal onto them (a replica's position in time is
    /// not known to Lethe, and every journal line is safe to replay twice).
    #[arg(long)]
    pub replica: bool,
    /// The erasure journal to replay, for a data directory that has none (a new directory):
    /// copied in, then replayed. By default the data directory's own `erasure-journal.log`.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Restore even though there is no erasure journal at all: people erased and keys destroyed
    /// since the backup come back. Only when the journal is truly lost.
    #[arg(long)]
    pub without_journal: bool,
}

#[derive(Debug, Args)]
pub struct RetentionArgs {
    #[command(subcommand)]
    pub command: RetentionCommand,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Run every enabled rule of every workspace (or the ones named) now, in batches. A run cut
    /// short (Ctrl-C, a crash) resumes where it stopped at the next run or server start. Only one
    /// run at a time per workspace: this waits while another is in progress.
    Run {
        #[command(flatten)]
        data: DataArgs,
        /// Only this workspace (slug).
        #[arg(long)]
        workspace: Option<String>,
        /// Only this rule (key); it runs even if it is disabled.
        #[arg(long)]
        rule: Option<String>,
        /// Count what each rule would delete, anonymize or leave to a legal hold; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Records changed per transaction [default: 2000].
        #[arg(long, value_name = "N")]
        batch_size: Option<u32>,
    },
}

/// Where the data lives. Shared by every command that opens the database.
#[derive(Debug, Args, Clone, Default)]
pub struct DataArgs {
    /// TOML configuration file; its keys are the long option names with `_` for `-`.
    #[arg(long, env = "LETHE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: database, TLS material, keys [default: ./lethe-data].
    #[arg(long, env = "LETHE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Every option of `serve`, declared here once: clap reads it from a flag or its `LETHE_*`
/// variable, serde from the TOML file (keys are the field names; `config::Config` merges the two
/// and resolves the result).
#[derive(Debug, Args, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeArgs {
    /// `data_dir` is read from the file separately: `config` itself is not a file key.
    #[command(flatten)]
    #[serde(skip)]
    pub data: DataArgs,
    /// Address to serve on [default: 127.0.0.1:8443].
    #[arg(long, env = "LETHE_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// PEM certificate chain to serve instead of the generated self-signed one (needs --tls-key).
    #[arg(long, env = "LETHE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "LETHE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP. Only for running behind a reverse proxy that terminates TLS.
    #[arg(long, env = "LETHE_NO_TLS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub no_tls: Option<bool>,
    /// Obtain and renew the certificate for this domain from an ACME CA (Let's Encrypt by
    /// default) instead of generating a self-signed one: the DNS name must point at this server,
    /// whose --listen port the CA reaches as 443 (TLS-ALPN-01), or whose --http-redirect-listen
    /// it reaches as 80 (HTTP-01). Kept in `<data-dir>/acme/`, renewed without a restart.
    #[arg(long, env = "LETHE_ACME_DOMAIN", value_name = "DOMAIN")]
    pub acme_domain: Option<String>,
    /// Contact address given to the ACME CA (expiry warnings, policy changes).
    #[arg(long, env = "LETHE_ACME_EMAIL", value_name = "EMAIL")]
    pub acme_email: Option<String>,
    /// The ACME CA's directory URL [default: Let's Encrypt's production directory].
    #[arg(long, env = "LETHE_ACME_DIRECTORY", value_name = "URL")]
    pub acme_directory: Option<String>,
    /// PEM root certificate(s) trusted for the ACME directory's own HTTPS, beside the roots
    /// compiled in (Mozilla's): for a private CA or a test CA such as pebble.
    #[arg(long, env = "LETHE_ACME_CA_ROOT", value_name = "FILE")]
    pub acme_ca_root: Option<PathBuf>,
    /// Also listen for plain HTTP here and redirect every request to HTTPS.
    #[arg(long, env = "LETHE_HTTP_REDIRECT_LISTEN", value_name = "HOST:PORT")]
    pub http_redirect_listen: Option<String>,
    /// Host name this server is reached by; added to the self-signed certificate. Repeatable
    /// (comma-separated in the environment).
    #[arg(
        long = "hostname",
        env = "LETHE_HOSTNAMES",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub hostnames: Vec<String>,
    /// Public base URL used in links Lethe prints or sends [default: https://<listen>].
    #[arg(long, env = "LETHE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// A reverse proxy whose `X-Forwarded-For` / `Forwarded` headers are believed: an address or
    /// a range such as 10.0.0.0/8. The client's address (throttles, audit) is then the nearest
    /// one in the chain that is not a trusted proxy. Repeatable (comma-separated in the
    /// environment).
    #[arg(
        long = "trusted-proxy",
        env = "LETHE_TRUSTED_PROXIES",
        value_name = "ADDRESS[/PREFIX]",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// The bearer token `/metrics` requires (at least 16 characters); without one, `/metrics` is
    /// off. Prefer the environment variable: a flag is visible to other users of the machine.
    #[arg(
        long,
        env = "LETHE_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<crate::config::Secret>,
    /// Largest request body accepted, in bytes; larger bodies get 413 [default: 1048576].
    #[arg(long, env = "LETHE_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Consent decisions a minute the banner's endpoint takes from one client network (a /24 or
    /// /64: an office or a mobile carrier's many visitors share one) [default: 600].
    #[arg(long, env = "LETHE_CONSENT_RATE", value_name = "PER_MINUTE")]
    pub consent_rate: Option<u32>,
    /// Console sessions end after this many minutes without a request [default: 30].
    #[arg(long, env = "LETHE_SESSION_IDLE_MINUTES", value_name = "MINUTES")]
    pub session_idle_minutes: Option<u32>,
    /// Console sessions end this many hours after login, active or not [default: 12].
    #[arg(long, env = "LETHE_SESSION_ABSOLUTE_HOURS", value_name = "HOURS")]
    pub session_absolute_hours: Option<u32>,
    /// Schedule of the expired-session clean-up: crontab's five fields, a shorthand such as
    /// `@hourly`, or six fields with seconds first; UTC [default: "0 */10 * * * *"].
    #[arg(long, env = "LETHE_SESSION_CLEANUP_SCHEDULE", value_name = "CRON")]
    pub session_cleanup_schedule: Option<String>,
    /// Number of HTTP worker threads [default: number of cores].
    #[arg(long, env = "LETHE_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Load the two demo workspaces and print a console login.
    #[arg(long, env = "LETHE_DEMO", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub demo: Option<bool>,
    /// SMTP server for outgoing e-mail: `smtp://host:port` (STARTTLS when the server offers it),
    /// `smtps://host:port` (TLS from the start); credentials may be in the URL. Without it, e-mail
    /// stays in the outbox, readable in the console.
    #[arg(
        long,
        env = "LETHE_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<crate::config::Secret>,
    /// SMTP user name (instead of putting it in --smtp-url).
    #[arg(long, env = "LETHE_SMTP_USERNAME", value_name = "NAME")]
    pub smtp_username: Option<String>,
    /// SMTP password (instead of putting it in --smtp-url); prefer the environment variable.
    #[arg(
        long,
        env = "LETHE_SMTP_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub smtp_password: Option<crate::config::Secret>,
    /// Sender of outgoing e-mail, e.g. `Privacy <privacy@example.com>` (required with --smtp-url).
    #[arg(long, env = "LETHE_MAIL_FROM", value_name = "MAILBOX")]
    pub mail_from: Option<String>,
    /// Allow webhooks to private, loopback and link-local addresses (refused by default).
    #[arg(long, env = "LETHE_WEBHOOK_ALLOW_PRIVATE", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub webhook_allow_private: Option<bool>,
    /// Schedule of the outbox sender [default: "*/10 * * * * *", every ten seconds].
    #[arg(long, env = "LETHE_OUTBOX_SCHEDULE", value_name = "CRON")]
    pub outbox_schedule: Option<String>,
    /// Schedule of the release of records kept by legal holds that ended [default: "*/10 * * * *"].
    #[arg(long, env = "LETHE_LEGAL_HOLDS_SCHEDULE", value_name = "CRON")]
    pub legal_holds_schedule: Option<String>,
    /// Schedule of the check of every retention rule's claim against the data (also done after
    /// each run) [default: "5 * * * *", hourly].
    #[arg(long, env = "LETHE_CLAIMS_SCHEDULE", value_name = "CRON")]
    pub claims_schedule: Option<String>,
    /// Schedule of the pruning of Lethe's own data (access log, outbox, audit log…) by its rules
    /// [default: "30 3 * * *", daily at 03:30 UTC].
    #[arg(long, env = "LETHE_OWN_DATA_SCHEDULE", value_name = "CRON")]
    pub own_data_schedule: Option<String>,
    /// Schedule of the destruction of spent period keys [default: "15 * * * *", hourly].
    #[arg(long, env = "LETHE_PERIOD_KEYS_SCHEDULE", value_name = "CRON")]
    pub period_keys_schedule: Option<String>,
    /// Schedule of the anchoring of the audit chain: its head is kept in `keys.db` when it
    /// moved (and at a clean shutdown), so `lethe audit verify` sees entries removed from
    /// `lethe.db` [default: "* * * * *", every minute].
    #[arg(long, env = "LETHE_AUDIT_ANCHOR_SCHEDULE", value_name = "CRON")]
    pub audit_anchor_schedule: Option<String>,
    /// Schedule of the deletion of data subject requests never verified, once their
    /// verification link has ended [default: "*/10 * * * *"].
    #[arg(long, env = "LETHE_REQUESTS_SCHEDULE", value_name = "CRON")]
    pub requests_schedule: Option<String>,
    /// Schedule of the deadline warnings of data subject requests, e-mailed to the owners and
    /// privacy officers a week and two days before a deadline and once it has passed
    /// [default: "0 * * * *", hourly].
    #[arg(long, env = "LETHE_REQUEST_WARNINGS_SCHEDULE", value_name = "CRON")]
    pub request_warnings_schedule: Option<String>,
    /// Schedule of the incidents' 72-hour deadline warnings, e-mailed to the privacy officers
    /// (or the owners) with 48 and 12 hours left until the authority must be notified
    /// [default: "*/5 * * * *"].
    #[arg(long, env = "LETHE_INCIDENT_DEADLINES_SCHEDULE", value_name = "CRON")]
    pub incident_deadlines_schedule: Option<String>,
    /// Schedule of the letters to people a high-risk breach affected: each run sends every
    /// letter still being sent, in batches of 200 people [default: "* * * * *", every minute].
    #[arg(long, env = "LETHE_INCIDENT_LETTERS_SCHEDULE", value_name = "CRON")]
    pub incident_letters_schedule: Option<String>,
    /// Records a retention run changes per transaction; between batches live writes get
    /// through [default: 2000].
    #[arg(long, env = "LETHE_RETENTION_BATCH_SIZE", value_name = "N")]
    pub retention_batch_size: Option<u32>,
    /// Directory for scheduled backups: each run copies `lethe.db` and `keys.db` into a dated
    /// folder there (never the master key). Without it, scheduled backups are off.
    #[arg(long, env = "LETHE_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Schedule of the scheduled backups [default: "30 3 * * *", daily at 03:30 UTC].
    #[arg(long, env = "LETHE_BACKUP_SCHEDULE", value_name = "CRON")]
    pub backup_schedule: Option<String>,
    /// Backups of `lethe.db` kept: the newest of each of the last N days [default: 7].
    #[arg(long, env = "LETHE_BACKUP_KEEP_DAILY", value_name = "N")]
    pub backup_keep_daily: Option<u32>,
    /// Backups of `lethe.db` kept: the newest of each of the last M weeks [default: 4].
    #[arg(long, env = "LETHE_BACKUP_KEEP_WEEKLY", value_name = "M")]
    pub backup_keep_weekly: Option<u32>,
    /// Copies of `keys.db` are removed from backups older than K days [default: 7]: a key
    /// destroyed today (an erasure, a spent period) is gone from every backup after K days.
    #[arg(long, env = "LETHE_BACKUP_KEEP_KEYS_DAYS", value_name = "K")]
    pub backup_keep_keys_days: Option<u32>,
    /// IP ranges to countries for `ip_country` record fields: a CSV file of `start,end,country`
    /// lines (e.g. `1.0.0.0,1.0.0.255,AU`). Without it the country is left empty.
    #[arg(long, env = "LETHE_IP_COUNTRY_FILE", value_name = "FILE")]
    pub ip_country_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an instance administrator. The password is read from the terminal, or from
    /// standard input when it is not a terminal; never from an argument. An e-mail that already
    /// has an account is refused unless --reset-password is given.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// E-mail address, used to log in.
        #[arg(long)]
        email: String,
        /// When the e-mail already has an account: set the new password (and make it an
        /// administrator) instead of refusing. Its sessions end.
        #[arg(long)]
        reset_password: bool,
    },
}

#[derive(Debug, Args)]
pub struct ApikeyArgs {
    #[command(subcommand)]
    pub command: ApikeyCommand,
}

#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create an API key and print it, once, as the only line on standard output.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Scope to grant, e.g. records:write. Repeatable.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// A name that says what uses the key.
        #[arg(long, default_value = "created from the shell")]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the whole audit log and print its head; names the first entry
    /// that does not match, and every anchor (kept in `keys.db`, or given with --expect) that
    /// the chain no longer holds. Exits 1 when anything is broken.
    Verify {
        #[command(flatten)]
        data: DataArgs,
        /// A head saved earlier, e.g. from the privacy center's transparency page: the chain
        /// must still have entry SEQ with this hash. Repeatable.
        #[arg(long = "expect", value_name = "SEQ:HASH")]
        expect: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-wrap every data key under a new master key; records are not touched. Stop `lethe
    /// serve` first. With a key file, a new `master.key` replaces the old one. With
    /// `LETHE_MASTER_KEY`, give the new key in `LETHE_NEW_MASTER_KEY` (64 hex characters) and
    /// start the server with it afterwards.
    Rotate {
        #[command(flatten)]
        data: DataArgs,
    },
}
