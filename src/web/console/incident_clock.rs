//! The 72-hour clock as the console pages write it: time left or overdue in words (the same
//! words `static/console-clock.js` keeps current each minute), an instant in the workspace's
//! zone with UTC beside it, the countdowns of the dashboard, and the decision about the
//! authority in a word.

use crate::domain::incident::AuthorityDecision;
use crate::services::incidents::IncidentView;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// A length of time in words, to the minute (rounded down): "45 min", "5 h 3 min", and past
/// three days "4 days 2 h". `static/console-clock.js` writes the same words.
fn span_words(d: Duration) -> String {
    let minutes = d.num_minutes();
    if minutes >= 72 * 60 {
        format!(
            "{} days {} h",
            minutes / (24 * 60),
            minutes % (24 * 60) / 60
        )
    } else if minutes >= 60 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else if minutes > 0 {
        format!("{minutes} min")
    } else {
        "less than 1 min".to_owned()
    }
}

/// Where an incident stands against its 72 hours: "5 h 3 min left", "overdue by 2 h 10 min".
pub fn time_left_words(left: Duration) -> String {
    if left >= Duration::zero() {
        format!("{} left", span_words(left))
    } else {
        format!("overdue by {}", span_words(-left))
    }
}

/// An instant as a page shows it: on the wall in the workspace's zone, in UTC (beside it or on
/// hover), and as the machine-readable `datetime` of a `<time>`.
pub struct Shown {
    pub local: String,
    pub utc: String,
    pub iso: String,
}

/// An instant however a template holds it (by value, or behind one or two references).
pub trait Instant {
    fn instant(&self) -> DateTime<Utc>;
}

impl Instant for DateTime<Utc> {
    fn instant(&self) -> DateTime<Utc> {
        *self
    }
}

impl<T: Instant + ?Sized> Instant for &T {
    fn instant(&self) -> DateTime<Utc> {
        (**self).instant()
    }
}

pub fn shown(t: DateTime<Utc>, zone: Tz) -> Shown {
    Shown {
        local: crate::domain::incident::in_zone(t, zone),
        utc: t.format("%Y-%m-%d %H:%M UTC").to_string(),
        iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// An incident still waiting for its notice, for the dashboard and the overview.
pub struct Countdown {
    pub id: String,
    pub title: String,
    pub deadline: Shown,
    pub words: String,
    pub overdue: bool,
}

/// The incidents `awaiting_notice` gave (most urgent first) as countdowns at `now`.
pub fn countdowns(waiting: Vec<IncidentView>, zone: Tz, now: DateTime<Utc>) -> Vec<Countdown> {
    waiting
        .into_iter()
        .map(|i| Countdown {
            words: time_left_words(i.deadline - now),
            overdue: i.deadline < now,
            deadline: shown(i.deadline, zone),
            id: i.id,
            title: i.title,
        })
        .collect()
}

/// The decision about the authority in a word: notified (late), not notified, or pending.
pub fn decision_words(i: &IncidentView) -> &'static str {
    match (i.notified_at, i.notified_late, i.authority_decision) {
        (Some(_), Some(true), _) => "notified late",
        (Some(_), _, _) => "notified",
        (None, _, Some(AuthorityDecision::NotNotified)) => "not notified",
        _ => "pending",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_in_words() {
        let m = Duration::minutes;
        assert_eq!(time_left_words(m(71 * 60 + 59)), "71 h 59 min left");
        assert_eq!(time_left_words(m(45)), "45 min left");
        assert_eq!(
            time_left_words(Duration::seconds(20)),
            "less than 1 min left"
        );
        assert_eq!(time_left_words(-m(5 * 60)), "overdue by 5 h 0 min");
        assert_eq!(
            time_left_words(-m(32 * 24 * 60 + 11 * 60 + 5)),
            "overdue by 32 days 11 h"
        );
    }
}
