//! A few people and records in each demo workspace, so the console's subject pages, the access
//! log, restriction and a legal hold can be tried at once. Seeded only into an empty vault.

use crate::domain::ip_country::IpCountryTable;
use crate::domain::subject::SubjectInput;
use crate::error::AppError;
use crate::services::{Caller, records, subjects};
use crate::store::{Db, WorkspaceScope};
use crate::vault::Vault;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

struct DemoSubject {
    external_id: &'static str,
    email: &'static str,
    kind: &'static str,
    birth_date: &'static str,
}

fn people(slug: &str) -> Vec<DemoSubject> {
    let p = |external_id, email, kind, birth_date| DemoSubject {
        external_id,
        email,
        kind,
        birth_date,
    };
    match slug {
        "aulm" => vec![
            p(
                "cus_1001",
                "mira.okafor@example.com",
                "customer",
                "1988-03-14",
            ),
            p(
                "cus_1002",
                "jonas.berg@example.net",
                "customer",
                "1975-11-02",
            ),
            p("cus_1003", "li.wen@example.org", "customer", "1993-07-21"),
            // Closed their account 45 days ago: the first retention runs act on them.
            p(
                "cus_1004",
                "tomas.novak@example.com",
                "customer",
                "1969-12-05",
            ),
        ],
        _ => vec![
            p(
                "lrn_2001",
                "sam.rivera@example.com",
                "learner",
                "2001-09-09",
            ),
            p(
                "ins_3001",
                "ana.costa@example.net",
                "instructor",
                "1980-01-30",
            ),
        ],
    }
}

fn records(slug: &str) -> Vec<Value> {
    let at = |days: i64| (Utc::now() - Duration::days(days)).to_rfc3339();
    let rec = |category: &str, subject: Option<&str>, days: i64, fields: Value| {
        let mut r = json!({"category": category, "occurred_at": at(days), "fields": fields});
        if let Some(s) = subject {
            r["subject"] = json!(s);
        }
        r
    };
    match slug {
        "aulm" => vec![
            rec(
                "usage.message_log.payload_preview",
                Some("cus_1001"),
                2,
                json!({"preview": "Your appointment with Dr. Haas is confirmed for Tuesday at 9:30, reply STOP to opt out"}),
            ),
            rec(
                "usage.message_log.payload_preview",
                Some("cus_1001"),
                1,
                json!({"preview": "Reminder: your parcel 44-1871 arrives today between 10 and 12"}),
            ),
            rec(
                "user.device.ip_address",
                Some("cus_1001"),
                1,
                json!({"ip": "198.51.100.23"}),
            ),
            rec(
                "user.financial",
                Some("cus_1002"),
                40,
                json!({"billing_address": "Storgatan 12, 111 23 Stockholm", "plan": "growth",
                       "payment_note": "invoice 2026-0412 paid by card ending 4242"}),
            ),
            rec(
                "support.ticket",
                Some("cus_1002"),
                12,
                json!({"subject": "Webhook retries", "message": "Our endpoint was down last night; were the messages retried?"}),
            ),
            rec(
                "user.device.ip_address",
                None,
                0,
                json!({"ip": "203.0.113.77"}),
            ),
            // Old enough for the first runs of the 30-day and 7-day rules.
            rec(
                "usage.message_log.payload_preview",
                Some("cus_1002"),
                45,
                json!({"preview": "Your verification code is 481 516, valid for 10 minutes"}),
            ),
            rec(
                "user.device.ip_address",
                Some("cus_1002"),
                10,
                json!({"ip": "192.0.2.141"}),
            ),
            rec(
                "user.device.ip_address",
                None,
                12,
                json!({"ip": "198.51.100.200"}),
            ),
            rec(
                "usage.message_log",
                Some("cus_1004"),
                60,
                json!({"recipient_number": "+420601234567", "sent_at": at(60), "status": "delivered"}),
            ),
            rec(
                "support.ticket",
                Some("cus_1004"),
                50,
                json!({"subject": "Closing my account", "message": "Please close my account at the end of the month."}),
            ),
            rec(
                "support.csat",
                Some("cus_1004"),
                50,
                json!({"score": 5, "comment": "Quick and friendly, thanks Tomas"}),
            ),
            rec(
                "support.ticket",
                Some("cus_1003"),
                5,
                json!({"subject": "Wrong name on invoice", "message": "The invoice shows my old company name."}),
            ),
        ],
        _ => vec![
            rec(
                "user.behavior.browsing_history",
                Some("lrn_2001"),
                3,
                json!({"accessed_at": at(3), "page": "/courses/watercolour-basics/lesson-2", "action": "video completed"}),
            ),
            rec(
                "user.preferences",
                Some("lrn_2001"),
                30,
                json!({"language": "es"}),
            ),
            rec(
                "instructor.profile",
                Some("ins_3001"),
                90,
                json!({"real_name": "Ana Costa", "biography": "Painter and teacher in Porto.", "qualifications": "MA Fine Arts"}),
            ),
            rec(
                "user.financial.bank_account",
                Some("ins_3001"),
                90,
                json!({"account_reference": "card 4111 1111 1111 1111 for payouts"}),
            ),
            rec(
                "user.behavior.browsing_history",
                None,
                0,
                json!({"accessed_at": at(0), "page": "/courses", "action": "viewed"}),
            ),
            // Old enough for the first runs of the 30-day minimization rules.
            rec(
                "user.behavior.browsing_history",
                Some("lrn_2001"),
                40,
                json!({"accessed_at": at(40), "page": "/courses/watercolour-basics", "action": "enrolled"}),
            ),
            rec(
                "user.device.ip_address",
                Some("lrn_2001"),
                45,
                json!({"ip": "203.0.113.9"}),
            ),
            rec(
                "user.device",
                Some("lrn_2001"),
                40,
                json!({"os_version": "Android 15", "browser": "Firefox 140"}),
            ),
        ],
    }
}

/// Seeds the vault of a demo workspace that has no subjects yet.
pub fn seed(db: &Db, vault: &Vault, scope: &WorkspaceScope, slug: &str) -> Result<(), AppError> {
    if subjects::list(db, scope, 1, 0)?.1 > 0 {
        return Ok(());
    }
    let caller = Caller::system();
    let today = Utc::now().date_naive();
    for p in people(slug) {
        let input = SubjectInput {
            external_id: p.external_id.into(),
            email: Some(p.email.into()),
            kind: Some(p.kind.into()),
            birth_date: p.birth_date.parse().ok(),
        };
        subjects::put(db, vault, scope, &caller, input, today)?;
    }
    records::ingest_now(db, vault, &IpCountryTable::default(), *scope, records(slug))?;
    if slug == "aulm" {
        let closed = Utc::now() - Duration::days(45);
        subjects::close(db, scope, &caller, "cus_1004", Some(closed))?;
        subjects::set_restriction(
            db,
            vault,
            scope,
            &caller,
            "cus_1003",
            Some("the customer contests the accuracy of their invoice data (ticket 311)"),
        )?;
    }
    Ok(())
}
