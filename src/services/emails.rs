//! Every e-mail Lethe sends, as text/plain askama templates under `templates/email/`: the
//! wording lives there, in one place. A template's first line is `Subject: …`, then a blank
//! line, then the body.

use crate::error::AppError;
use askama::Template;

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub body: String,
}

/// Renders `template` and splits it into subject and body.
pub fn render(template: &impl Template) -> Result<Email, AppError> {
    let text = template
        .render()
        .map_err(|e| AppError::internal(anyhow::anyhow!("e-mail template: {e}")))?;
    split(&text).ok_or_else(|| {
        AppError::internal(anyhow::anyhow!(
            "e-mail template: the first line must be `Subject: …`, then a blank line"
        ))
    })
}

fn split(text: &str) -> Option<Email> {
    let (head, body) = text.split_once("\n\n")?;
    let subject = head.strip_prefix("Subject:")?.trim();
    // A subject is one line: a value with a line break would add headers.
    if subject.is_empty() || subject.contains(['\r', '\n']) {
        return None;
    }
    let mut body = body.to_owned();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    Some(Email {
        subject: subject.to_owned(),
        body,
    })
}

/// The double opt-in of a policy subscription.
#[derive(Template)]
#[template(path = "email/subscription_confirm.txt")]
pub struct SubscriptionConfirm<'a> {
    /// The workspace's legal name.
    pub name: &'a str,
    pub days: i64,
    pub link: &'a str,
}

/// A material policy version, announced to a confirmed subscriber.
#[derive(Template)]
#[template(path = "email/policy_announcement.txt")]
pub struct PolicyAnnouncement<'a> {
    pub name: &'a str,
    pub version: i64,
    /// Whether it takes effect later (else it is in effect).
    pub upcoming: bool,
    /// `YYYY-MM-DD HH:MM` (UTC).
    pub effective: String,
    /// `YYYY-MM-DD`, for the subject.
    pub effective_day: String,
    /// Why it applies sooner than the usual notice, if it does.
    pub waiver: Option<&'a str>,
    pub summary: &'a str,
    /// The version's page.
    pub link: &'a str,
    pub unsubscribe: &'a str,
}

/// A forgotten password's reset link, for a staff account.
#[derive(Template)]
#[template(path = "email/password_reset.txt")]
pub struct PasswordReset<'a> {
    pub account: &'a str,
    /// When it was asked for, `YYYY-MM-DD HH:MM` (UTC).
    pub asked_at: String,
    /// The asker's network (/24 or /48), or "unknown".
    pub network: String,
    pub minutes: i64,
    pub link: &'a str,
}

/// A request from the privacy center: the link that confirms the address.
#[derive(Template)]
#[template(path = "email/request_verify.txt")]
pub struct RequestVerify<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub description: &'a str,
    pub status: &'a str,
    pub hours: i64,
    pub link: &'a str,
}

/// A request is verified; `due` is its deadline's day, `YYYY-MM-DD`.
#[derive(Template)]
#[template(path = "email/request_verified.txt")]
pub struct RequestVerified<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub description: &'a str,
    pub status: &'a str,
    pub due: String,
}

/// A request's deadline was extended, with the reason the law requires.
#[derive(Template)]
#[template(path = "email/request_extended.txt")]
pub struct RequestExtended<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub description: &'a str,
    pub status: &'a str,
    pub due: String,
    pub reason: &'a str,
}

#[derive(Template)]
#[template(path = "email/request_completed.txt")]
pub struct RequestCompleted<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub description: &'a str,
    pub status: &'a str,
    /// What was done: what a legal hold keeps (reason, end date), or that no data is held.
    pub answer: Option<&'a str>,
}

/// A refusal: the ground as the person reads it, and what staff added.
#[derive(Template)]
#[template(path = "email/request_denied.txt")]
pub struct RequestDenied<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub description: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub text: Option<&'a str>,
}

/// A data subject request's deadline is near or has passed, for the members who handle
/// requests. It names the request, never the person.
#[derive(Template)]
#[template(path = "email/request_deadline.txt")]
pub struct RequestDeadline<'a> {
    pub workspace: &'a str,
    pub kind: &'a str,
    pub id: &'a str,
    pub law: String,
    /// `YYYY-MM-DD` (UTC).
    pub received: String,
    pub due: String,
    pub overdue: bool,
    pub overdue_days: i64,
    pub days_left: i64,
    pub extended: bool,
    /// The request's page in the console.
    pub link: &'a str,
}

/// An incident's 72-hour deadline is near (or passed) and the authority is not yet notified.
#[derive(Template)]
#[template(path = "email/incident_deadline.txt")]
pub struct IncidentDeadline<'a> {
    pub workspace: &'a str,
    pub title: &'a str,
    pub id: &'a str,
    /// `48h` or `12h`.
    pub threshold: &'a str,
    pub passed: bool,
    pub hours_left: i64,
    pub hours_over: i64,
    /// In the workspace's zone, e.g. `2026-10-23 10:00 CEST`.
    pub detected_local: String,
    pub deadline_local: String,
    /// `2026-10-26 08:00 UTC`.
    pub deadline_utc: String,
    pub link: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_gives_its_subject_and_body() {
        let mail = render(&SubscriptionConfirm {
            name: "News Ltd",
            days: 7,
            link: "https://lethe.example/p/news/subscribe/confirm/t",
        })
        .unwrap();
        assert_eq!(
            mail.subject,
            "Confirm: privacy policy updates from News Ltd"
        );
        assert!(mail.body.starts_with("Someone, hopefully you,"));
        assert!(
            mail.body
                .contains("within 7 days:\nhttps://lethe.example/p/news/subscribe/confirm/t\n")
        );
        assert!(mail.body.ends_with("nothing will be sent to you.\n"));
    }

    #[test]
    fn the_announcement_says_when_and_why_sooner() {
        let base = PolicyAnnouncement {
            name: "News Ltd",
            version: 3,
            upcoming: true,
            effective: "2026-12-01 00:00".into(),
            effective_day: "2026-12-01".into(),
            waiver: None,
            summary: "New processor.",
            link: "https://l.example/p/news/privacy/v/3",
            unsubscribe: "https://l.example/p/news/unsubscribe/u",
        };
        let mail = render(&base).unwrap();
        assert_eq!(
            mail.subject,
            "News Ltd: privacy policy version 3 takes effect on 2026-12-01"
        );
        assert!(mail.body.contains(
            "Version 3 takes effect on 2026-12-01 00:00 UTC; until then the current version \
             applies.\n\nWhat changes:\nNew processor.\n"
        ));
        let sooner = render(&PolicyAnnouncement {
            upcoming: false,
            waiver: Some("a court order"),
            ..base
        })
        .unwrap();
        assert_eq!(
            sooner.subject,
            "News Ltd: privacy policy version 3 is in effect"
        );
        assert!(sooner.body.contains(
            "in effect since 2026-12-01 00:00 UTC.\n\nIt applies sooner than our usual notice \
             because: a court order\n\nWhat changes:"
        ));
        assert!(
            sooner
                .body
                .ends_with("Unsubscribe: https://l.example/p/news/unsubscribe/u\n")
        );
    }

    #[test]
    fn a_subject_must_come_first_and_be_one_line() {
        assert!(split("no subject\n\nbody").is_none());
        assert!(split("Subject: \n\nbody").is_none());
        assert_eq!(split("Subject: Hi\n\nbody").unwrap().body, "body\n");
    }
}

/// The letter to the people a breach affected (GDPR Art. 34): staff's subject and text, then
/// who sends it and why.
#[derive(Template)]
#[template(path = "email/incident_letter.txt")]
pub struct IncidentLetter<'a> {
    pub subject: &'a str,
    pub body: &'a str,
    pub organisation: &'a str,
    pub incident_id: &'a str,
    pub policy_url: &'a str,
}

/// The draft staff start the letter to affected people from.
#[derive(Template)]
#[template(path = "email/incident_letter_draft.txt")]
pub struct IncidentLetterDraft<'a> {
    pub organisation: &'a str,
    pub what_happened: &'a str,
    pub consequences: &'a str,
    pub measures: &'a str,
    pub contact: &'a str,
}
