//! `lethe doctor`'s rules: what each measured fact means (pass, warn or fail) and the exit
//! code of a whole run. The gathering is in `services::doctor`; here only thresholds, so that
//! they are tested without a data directory.

use serde::Serialize;

/// How one check came out. Ordered: the worst status of a run decides its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One line of the report: the check, its status, what was found and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: String,
    pub status: Status,
    pub finding: String,
    /// Empty when nothing needs doing.
    pub action: String,
}

impl Finding {
    pub fn new(check: &str, status: Status, finding: impl Into<String>) -> Finding {
        Finding {
            check: check.to_owned(),
            status,
            finding: finding.into(),
            action: String::new(),
        }
    }

    pub fn action(mut self, action: impl Into<String>) -> Finding {
        self.action = action.into();
        self
    }
}

/// 0 when every check passed, 1 when one warns, 2 when one fails: scripts and monitors can
/// tell "look at it" from "it is broken" without parsing the table.
pub fn exit_code(findings: &[Finding]) -> u8 {
    match findings.iter().map(|f| f.status).max() {
        Some(Status::Fail) => 2,
        Some(Status::Warn) => 1,
        _ => 0,
    }
}

/// Group and other permission bits of a Unix mode.
const GROUP_OTHER: u32 = 0o077;

/// The data directory: anyone but its owner listing or entering it is a warning (the files in
/// it are still guarded by their own modes).
pub fn directory_mode(mode: u32) -> Status {
    if mode & GROUP_OTHER == 0 {
        Status::Pass
    } else {
        Status::Warn
    }
}

/// A database file: the data is sealed, but names, audit entries and wrapped keys are not for
/// other users of the machine.
pub fn database_mode(mode: u32) -> Status {
    if mode & GROUP_OTHER == 0 {
        Status::Pass
    } else {
        Status::Warn
    }
}

/// The master key: anyone who can read it, with a copy of `keys.db`, can read everything.
pub fn master_key_mode(mode: u32) -> Status {
    if mode & GROUP_OTHER == 0 {
        Status::Pass
    } else {
        Status::Fail
    }
}

/// A certificate renewed at start within 30 days of its end (see `tls.rs`): fewer days left
/// means the server has not restarted since, or the operator's own certificate is ageing.
pub const CERT_WARN_DAYS: i64 = 30;

pub fn certificate(days_left: i64) -> Status {
    if days_left < 0 {
        Status::Fail
    } else if days_left < CERT_WARN_DAYS {
        Status::Warn
    } else {
        Status::Pass
    }
}

/// A certificate Lethe renews itself by ACME: failing once ended, a warning once its renewal
/// time (`domain::acme::renew_at`) has passed without a new one, since the renewal then keeps
/// failing (the CA unreachable, the domain no longer pointing here).
pub fn acme_certificate(
    not_before: chrono::DateTime<chrono::Utc>,
    not_after: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Status {
    if now >= not_after {
        Status::Fail
    } else if super::acme::renewal_due(not_before, not_after, now) {
        Status::Warn
    } else {
        Status::Pass
    }
}

/// Free space on the data directory's file system, in percent: SQLite needs room for its WAL
/// and for a checkpoint; a full disk stops every write.
pub fn disk_space(free_percent: f64) -> Status {
    if free_percent < 2.0 {
        Status::Fail
    } else if free_percent < 10.0 {
        Status::Warn
    } else {
        Status::Pass
    }
}

/// Data subject requests past their deadline and incidents past their 72 hours without a
/// decision: a breach of the law already, so a failure.
pub fn overdue(count: u64) -> Status {
    if count == 0 {
        Status::Pass
    } else {
        Status::Fail
    }
}

/// Queued messages older than an hour, or webhook endpoints switched off after failures: mail
/// or events that someone waits for.
pub fn backlog(count: u64) -> Status {
    if count == 0 {
        Status::Pass
    } else {
        Status::Warn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_owner_only_pass_and_the_master_key_fails_when_others_can_read() {
        assert_eq!(directory_mode(0o700), Status::Pass);
        assert_eq!(directory_mode(0o750), Status::Warn);
        assert_eq!(database_mode(0o600), Status::Pass);
        assert_eq!(database_mode(0o644), Status::Warn);
        assert_eq!(master_key_mode(0o600), Status::Pass);
        assert_eq!(master_key_mode(0o400), Status::Pass);
        assert_eq!(master_key_mode(0o644), Status::Fail);
        assert_eq!(master_key_mode(0o640), Status::Fail);
    }

    #[test]
    fn certificate_days_left() {
        assert_eq!(certificate(300), Status::Pass);
        assert_eq!(certificate(30), Status::Pass);
        assert_eq!(certificate(29), Status::Warn);
        assert_eq!(certificate(0), Status::Warn);
        assert_eq!(certificate(-1), Status::Fail);
    }

    #[test]
    fn an_acme_certificate_warns_once_its_renewal_is_overdue() {
        use chrono::{Duration, TimeZone, Utc};
        let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let to = from + Duration::days(90);
        assert_eq!(
            acme_certificate(from, to, from + Duration::days(59)),
            Status::Pass
        );
        assert_eq!(
            acme_certificate(from, to, from + Duration::days(61)),
            Status::Warn
        );
        assert_eq!(acme_certificate(from, to, to), Status::Fail);
    }

    #[test]
    fn disk_space_thresholds() {
        assert_eq!(disk_space(50.0), Status::Pass);
        assert_eq!(disk_space(10.0), Status::Pass);
        assert_eq!(disk_space(9.9), Status::Warn);
        assert_eq!(disk_space(1.9), Status::Fail);
    }

    #[test]
    fn counts_and_exit_codes() {
        assert_eq!(overdue(0), Status::Pass);
        assert_eq!(overdue(1), Status::Fail);
        assert_eq!(backlog(0), Status::Pass);
        assert_eq!(backlog(3), Status::Warn);
        let pass = Finding::new("a", Status::Pass, "fine");
        let warn = Finding::new("b", Status::Warn, "hm").action("look");
        let fail = Finding::new("c", Status::Fail, "broken");
        assert_eq!(exit_code(&[]), 0);
        assert_eq!(exit_code(std::slice::from_ref(&pass)), 0);
        assert_eq!(exit_code(&[pass.clone(), warn.clone()]), 1);
        assert_eq!(exit_code(&[warn, fail, pass]), 2);
    }

    #[test]
    fn json_shape() {
        let f = Finding::new("smtp", Status::Warn, "not configured").action("set --smtp-url");
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["status"], "warn");
        assert_eq!(v["check"], "smtp");
        assert_eq!(v["action"], "set --smtp-url");
    }
}
