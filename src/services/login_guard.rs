//! Failed logins counted per (account, network), in memory. The count slows guessing with a
//! growing delay (`domain::staff::login_delay`); it never locks the account itself, and it is kept
//! the same way for e-mail addresses that have no account, so the answers do not tell the two
//! apart. A restart forgets the counts, which costs an attacker nothing they could not get by
//! waiting the longest delay.

use crate::domain::network::IpRange;
use crate::domain::staff::login_delay;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After this long without a failure an entry is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// Above this many entries, forgotten ones are swept out on the next failure.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Default)]
pub struct LoginGuard {
    failures: Mutex<HashMap<(String, Option<IpRange>), Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// What a login attempt is counted under: the account (its e-mail as typed, normalised, or its
/// id for the second factor) and the client's network.
fn key(account: &str, ip: Option<IpAddr>) -> (String, Option<IpRange>) {
    (
        account.trim().to_lowercase(),
        ip.map(IpRange::client_network),
    )
}

impl LoginGuard {
    /// How long this account must still wait before a try from this network; None when it may
    /// try now.
    pub fn wait(&self, account: &str, ip: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let failures = self.lock();
        let f = failures.get(&key(account, ip))?;
        let ready = f.last + login_delay(f.count);
        (ready > now).then(|| ready - now)
    }

    pub fn failed(&self, account: &str, ip: Option<IpAddr>, now: Instant) {
        let mut failures = self.lock();
        if failures.len() > SWEEP_ABOVE {
            failures.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        }
        let entry = failures.entry(key(account, ip)).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(entry.last) >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    pub fn succeeded(&self, account: &str, ip: Option<IpAddr>) {
        self.lock().remove(&key(account, ip));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Option<IpRange>), Failures>> {
        match self.failures.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::staff::FREE_LOGIN_FAILURES;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn guessing_slows_the_guesser_only() {
        let guard = LoginGuard::default();
        let t0 = Instant::now();
        for _ in 0..FREE_LOGIN_FAILURES {
            assert_eq!(guard.wait("ada@example.org", ip("203.0.113.9"), t0), None);
            guard.failed("Ada@Example.org ", ip("203.0.113.9"), t0);
        }
        let wait = guard.wait("ada@example.org", ip("203.0.113.77"), t0);
        assert_eq!(wait, Some(Duration::from_secs(5)), "the same /24 waits");
        assert_eq!(
            guard.wait("ada@example.org", ip("198.51.100.7"), t0),
            None,
            "the owner on another network does not"
        );
        assert_eq!(guard.wait("bob@example.org", ip("203.0.113.9"), t0), None);
        let later = t0 + Duration::from_secs(6);
        assert_eq!(
            guard.wait("ada@example.org", ip("203.0.113.9"), later),
            None
        );
        guard.failed("ada@example.org", ip("203.0.113.9"), later);
        assert_eq!(
            guard.wait("ada@example.org", ip("203.0.113.9"), later),
            Some(Duration::from_secs(10)),
            "each failure doubles the wait"
        );
        guard.succeeded("ada@example.org", ip("203.0.113.9"));
        assert_eq!(
            guard.wait("ada@example.org", ip("203.0.113.9"), later),
            None
        );
    }

    #[test]
    fn a_day_without_failures_is_a_fresh_start() {
        let guard = LoginGuard::default();
        let t0 = Instant::now();
        for _ in 0..20 {
            guard.failed("ada@example.org", ip("203.0.113.9"), t0);
        }
        let next_day = t0 + FORGET_AFTER;
        guard.failed("ada@example.org", ip("203.0.113.9"), next_day);
        assert_eq!(
            guard.wait("ada@example.org", ip("203.0.113.9"), next_day),
            None
        );
    }
}
