//! The console's consent rates (issue 17): per consent purpose and UTC day over the last 7, 30
//! or 90 days, decisions granted and refused, the grant rate, and the share of refusals Global
//! Privacy Control made. Counts only: no person is named, so the page is for everyone who sees
//! the inventory, and reading it is not logged.

use crate::domain::consent_rates::{self, DayCount};
use crate::error::AppError;
use crate::store::{Db, WorkspaceScope, consent, inventory};
use chrono::{DateTime, Duration, NaiveDate, Utc};

pub use crate::domain::consent_rates::{
    Chart, DAY_CHOICES, PurposeRates, Rates, Tally, chart, parse_days,
};

/// The rates over the `days` UTC days that end today (`now`'s day, included).
pub fn rates(
    db: &Db,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
    days: u32,
) -> Result<Rates, AppError> {
    let days = days.clamp(1, 366);
    let first_day = now.date_naive() - Duration::days(i64::from(days) - 1);
    let from = first_day.and_time(chrono::NaiveTime::MIN).and_utc();
    let (purposes, rows) = db.read_snapshot(|c| {
        let purposes: Vec<(String, String)> = inventory::consent_purposes(c, scope)?
            .into_iter()
            .map(|p| (p.key, p.name))
            .collect();
        let rows = consent::daily_rates(c, scope, from)?;
        Ok::<_, AppError>((purposes, rows))
    })?;
    let counts = rows
        .into_iter()
        .map(|r| {
            let day = NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").map_err(|e| {
                AppError::internal(anyhow::anyhow!("consent day '{}' unreadable: {e}", r.day))
            })?;
            Ok(DayCount {
                day,
                purpose: r.purpose,
                granted: r.granted,
                refused: r.refused,
                by_gpc: r.by_gpc,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(consent_rates::rates(&purposes, &counts, first_day, days))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use chrono::TimeZone;

    /// A workspace with one subject and decisions on 1, 3 and 9 March 2026 at noon (UTC), the
    /// last one just before midnight; one refusal was GPC's.
    fn fixture() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("lethe.db")).unwrap();
        let t = "'2026-01-01T00:00:00.000000Z'";
        db.read(|c| {
            c.execute_batch(&format!(
                "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
                 VALUES (1, 'a', 'A', 'privacy@a.example', {t}, {t}); \
                 INSERT INTO subjects (id, workspace_id, external_id, kind, key_id, created_at, updated_at) \
                 VALUES (1, 1, 'cus_1', 'customer', 'k1', {t}, {t}); \
                 INSERT INTO consent_records (id, workspace_id, subject_id, source, gpc, decided_at) VALUES \
                   ('r1', 1, 1, 'api', 0, '2026-03-01T12:00:00.000000Z'), \
                   ('r2', 1, 1, 'banner', 1, '2026-03-03T12:00:00.000000Z'), \
                   ('r3', 1, 1, 'api', 0, '2026-03-09T23:59:59.999999Z'); \
                 INSERT INTO consent_choices (record_id, purpose_key, granted, reason) VALUES \
                   ('r1', 'ads', 1, NULL), ('r2', 'ads', 0, 'gpc'), ('r2', 'news', 0, NULL), \
                   ('r3', 'ads', 1, NULL);"
            ))
            .map_err(StoreError::from)
        })
        .unwrap();
        (dir, db)
    }

    #[test]
    fn the_window_ends_with_nows_utc_day() {
        let (_dir, db) = fixture();
        let scope = WorkspaceScope::for_tests(1);
        let now = Utc.with_ymd_and_hms(2026, 3, 9, 23, 59, 59).unwrap();
        let week = rates(&db, &scope, now, 7).unwrap();
        assert_eq!(week.first_day, NaiveDate::from_ymd_opt(2026, 3, 3).unwrap());
        let ads = &week.purposes[0];
        assert_eq!((ads.key.as_str(), ads.name.as_deref()), ("ads", None));
        assert_eq!(
            ads.total,
            Tally {
                granted: 1,
                refused: 1,
                by_gpc: 1
            },
            "1 March is outside the week"
        );
        assert_eq!(ads.daily[0].by_gpc, 1);
        assert_eq!(ads.daily[6].granted, 1, "the last moment of today counts");
        assert_eq!(week.total.gpc_share_text(), "50 %");

        let month = rates(&db, &scope, now, 30).unwrap();
        assert_eq!(month.purposes[0].total.granted, 2);
        // A day later the last decision is yesterday's.
        let later = rates(&db, &scope, now + Duration::days(1), 7).unwrap();
        assert_eq!(later.purposes[0].daily[5].granted, 1);
        let empty = rates(&db, &scope, now + Duration::days(60), 7).unwrap();
        assert!(empty.is_empty());
    }
}
