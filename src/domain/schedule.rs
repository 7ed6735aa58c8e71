//! Cron expressions as operators type them for retention rules and jobs, and the instants they
//! fire at (UTC). Operators know crontab(5), but the `cron` crate speaks another dialect (seconds
//! first, Sunday = 1, day of month AND day of week), so crontab is translated here rather than
//! passed through, where it would silently fire on the wrong days. Every error names the field to
//! fix, because "invalid expression" does not tell an operator which of five numbers is wrong.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, Utc};

const SECOND: &str = "second";
const MINUTE: &str = "minute";
const HOUR: &str = "hour";
const DAY_OF_MONTH: &str = "day of month";
const MONTH: &str = "month";
const DAY_OF_WEEK: &str = "day of week";
const YEAR: &str = "year";
const EXPRESSION: &str = "expression";

/// The crate knows no year after this one, and steps past `t` by adding a second, which would
/// overflow near the end of chrono's range.
const LAST_YEAR: i32 = 2100;

/// crontab(5)'s shorthands, as the five fields they stand for.
const SHORTHANDS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// A parsed schedule: what the operator typed and the firings it means (UTC).
#[derive(Clone, Debug)]
pub struct CronSchedule {
    source: String,
    /// Firings are the union of these: crontab's "either day field" rule needs two schedules,
    /// because the crate can only AND the day fields.
    schedules: Vec<cron::Schedule>,
    /// Set only for a schedule read from JSON or YAML that does not parse (it never fires): the
    /// item holding it names the problem under its own field when validated.
    problem: Option<CronError>,
}

/// What is wrong with an expression, and in which field, so the operator knows what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{expression}': {field}: {message}")]
pub struct CronError {
    pub expression: String,
    pub field: &'static str,
    pub message: String,
}

/// A field's problem before the expression is known to the caller.
type FieldResult<T> = Result<T, (&'static str, String)>;

impl CronSchedule {
    /// Accepts crontab's five fields, its `@` shorthands, or the `cron` crate's own six or seven
    /// fields (seconds first, Sunday = 1) for those who already write that.
    pub fn parse(expression: &str) -> Result<CronSchedule, CronError> {
        let source = expression.trim();
        let fail = |(field, message): (&'static str, String)| CronError {
            expression: source.to_owned(),
            field,
            message,
        };
        let schedules = if source.starts_with('@') {
            let fields = SHORTHANDS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(source))
                .map(|(_, fields)| *fields)
                .ok_or_else(|| fail((EXPRESSION, unknown_shorthand(source))))?;
            from_crontab(&fields.split_whitespace().collect::<Vec<_>>()).map_err(fail)?
        } else {
            let fields: Vec<&str> = source.split_whitespace().collect();
            match fields.len() {
                5 => from_crontab(&fields),
                6 | 7 => from_crate_form(&fields),
                0 => Err((EXPRESSION, format!("is empty; {SHAPES}"))),
                n => Err((EXPRESSION, format!("has {n} fields; {SHAPES}"))),
            }
            .map_err(fail)?
        };
        let schedule = CronSchedule {
            source: source.to_owned(),
            schedules,
            problem: None,
        };
        // From before the crate's first year, so the answer does not depend on today's date and
        // a stored schedule never becomes unreadable.
        if schedule
            .next_after(DateTime::UNIX_EPOCH - Duration::seconds(1))
            .is_none()
        {
            return Err(fail((
                DAY_OF_MONTH,
                format!(
                    "never fires: no date from 1970 to {LAST_YEAR} has this day of month in \
                     these months (and weekdays and years, where those are given)"
                ),
            )));
        }
        Ok(schedule)
    }

    /// `@daily`, the default schedule of a retention rule.
    pub fn daily() -> CronSchedule {
        #[allow(clippy::expect_used)] // a constant, covered by the `shorthands` test
        CronSchedule::parse("@daily").expect("@daily parses")
    }

    /// What is wrong with a schedule read from JSON or YAML; None for every parsed one.
    pub fn problem(&self) -> Option<&CronError> {
        self.problem.as_ref()
    }

    /// The trimmed text typed, to show back and to store.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first firing strictly after `t`; `None` once the schedule is over (past its last
    /// year, or past 2100).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if t.year() > LAST_YEAR {
            return None;
        }
        self.schedules
            .iter()
            .filter_map(|schedule| schedule.after(&t).next())
            .min()
    }

    /// The next `n` firings strictly after `from`, fewer if the schedule ends.
    pub fn upcoming(&self, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut firings = Vec::with_capacity(n.min(1024));
        let mut at = from;
        while firings.len() < n {
            let Some(next) = self.next_after(at) else {
                break;
            };
            firings.push(next);
            at = next;
        }
        firings
    }

    /// The gap between the next two firings after `t` (how stale a result can be between runs).
    pub fn interval_after(&self, t: DateTime<Utc>) -> Option<Duration> {
        let first = self.next_after(t)?;
        let second = self.next_after(first)?;
        Some(second - first)
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for CronSchedule {}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for CronSchedule {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronSchedule::parse(s)
    }
}

impl serde::Serialize for CronSchedule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// Any string reads: one that does not parse is kept with its problem (see
/// [`CronSchedule::problem`]), so that the rule holding it can name the field to fix (`schedule`)
/// instead of the reader failing on "the body".
impl<'de> serde::Deserialize<'de> for CronSchedule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(CronSchedule::parse(&text).unwrap_or_else(|e| CronSchedule {
            source: text.trim().to_owned(),
            schedules: Vec::new(),
            problem: Some(e),
        }))
    }
}

impl utoipa::PartialSchema for CronSchedule {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A crontab(5) expression in UTC: five fields (minute hour day-of-month month \
                 day-of-week, Sunday = 0 or 7), or @yearly, @annually, @monthly, @weekly, \
                 @daily, @midnight, @hourly; or six/seven fields with seconds first (and a year) \
                 in the cron crate's numbering (Sunday = 1).",
            ))
            .examples(["0 3 * * *", "*/15 9-17 * * 1-5", "@daily"])
            .into()
    }
}

impl utoipa::ToSchema for CronSchedule {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CronSchedule")
    }
}

const SHAPES: &str = "expected 5 fields (minute hour day-of-month month day-of-week), a shorthand \
                      such as @daily, or 6 or 7 fields with seconds first (and a year)";

fn unknown_shorthand(source: &str) -> String {
    let known = SHORTHANDS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ");
    if source.eq_ignore_ascii_case("@reboot") {
        format!("@reboot is not supported here (there is no boot to run at); use one of {known}")
    } else {
        format!("is not a known shorthand; use one of {known}")
    }
}

/// Whose numbering and grammar a field follows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// crontab(5): Sunday is 0 or 7, a step only after `*` or a range.
    Crontab,
    /// The `cron` crate: Sunday is 1, `?` in the day fields, `10/5` means 10 to the end by 5,
    /// names and numbers not mixed in one range. Checked here only so errors name the field.
    Crate,
}

#[derive(Clone, Copy)]
struct Rule {
    field: &'static str,
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
    /// How the names are shown in an error.
    names_hint: &'static str,
    /// `?` stands for "any" (the crate's day fields).
    any: bool,
    dialect: Dialect,
}

impl Rule {
    const fn numbers(field: &'static str, min: u32, max: u32, dialect: Dialect) -> Rule {
        Rule {
            field,
            min,
            max,
            names: &[],
            names_hint: "",
            any: false,
            dialect,
        }
    }
}

const CRONTAB_MONTHS: &[(&str, u32)] = &[
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];

const CRONTAB_DAYS: &[(&str, u32)] = &[
    ("sun", 0),
    ("mon", 1),
    ("tue", 2),
    ("wed", 3),
    ("thu", 4),
    ("fri", 5),
    ("sat", 6),
];

/// The names the crate itself accepts (its `MONTH_MAP`).
const CRATE_MONTHS: &[(&str, u32)] = &[
    ("jan", 1),
    ("january", 1),
    ("feb", 2),
    ("february", 2),
    ("mar", 3),
    ("march", 3),
    ("apr", 4),
    ("april", 4),
    ("may", 5),
    ("jun", 6),
    ("june", 6),
    ("jul", 7),
    ("july", 7),
    ("aug", 8),
    ("august", 8),
    ("sep", 9),
    ("september", 9),
    ("oct", 10),
    ("october", 10),
    ("nov", 11),
    ("november", 11),
    ("dec", 12),
    ("december", 12),
];

/// The names the crate itself accepts (its `DAY_OF_WEEK_MAP`), Sunday = 1.
const CRATE_DAYS: &[(&str, u32)] = &[
    ("sun", 1),
    ("sunday", 1),
    ("mon", 2),
    ("monday", 2),
    ("tue", 3),
    ("tues", 3),
    ("tuesday", 3),
    ("wed", 4),
    ("wednesday", 4),
    ("thu", 5),
    ("thurs", 5),
    ("thursday", 5),
    ("fri", 6),
    ("friday", 6),
    ("sat", 7),
    ("saturday", 7),
];

const CRONTAB: [Rule; 5] = [
    Rule::numbers(MINUTE, 0, 59, Dialect::Crontab),
    Rule::numbers(HOUR, 0, 23, Dialect::Crontab),
    Rule::numbers(DAY_OF_MONTH, 1, 31, Dialect::Crontab),
    Rule {
        names: CRONTAB_MONTHS,
        names_hint: "jan-dec",
        ..Rule::numbers(MONTH, 1, 12, Dialect::Crontab)
    },
    Rule {
        names: CRONTAB_DAYS,
        names_hint: "sun-sat",
        ..Rule::numbers(DAY_OF_WEEK, 0, 7, Dialect::Crontab)
    },
];

const CRATE: [Rule; 7] = [
    Rule::numbers(SECOND, 0, 59, Dialect::Crate),
    Rule::numbers(MINUTE, 0, 59, Dialect::Crate),
    Rule::numbers(HOUR, 0, 23, Dialect::Crate),
    Rule {
        any: true,
        ..Rule::numbers(DAY_OF_MONTH, 1, 31, Dialect::Crate)
    },
    Rule {
        names: CRATE_MONTHS,
        names_hint: "jan-dec",
        ..Rule::numbers(MONTH, 1, 12, Dialect::Crate)
    },
    Rule {
        names: CRATE_DAYS,
        names_hint: "sun-sat",
        any: true,
        ..Rule::numbers(DAY_OF_WEEK, 1, 7, Dialect::Crate)
    },
    Rule::numbers(YEAR, 1970, LAST_YEAR as u32, Dialect::Crate),
];

/// crontab's five fields, as one crate schedule, or two when both day fields are restricted.
fn from_crontab(fields: &[&str]) -> FieldResult<Vec<cron::Schedule>> {
    let mut sets = Vec::with_capacity(CRONTAB.len());
    for (text, rule) in fields.iter().zip(CRONTAB.iter()) {
        sets.push(expand(text, rule).map_err(|message| (rule.field, message))?);
    }
    let [minutes, hours, days, months, weekdays] = sets.as_slice() else {
        return Err((EXPRESSION, format!("has {} fields; {SHAPES}", fields.len())));
    };
    let minute = listed(minutes, &CRONTAB[0]);
    let hour = listed(hours, &CRONTAB[1]);
    let day = listed(days, &CRONTAB[2]);
    let month = listed(months, &CRONTAB[3]);
    let weekday = weekday_names(weekdays);
    // crontab(5): a day field that starts with `*` does not restrict; when neither does, a day
    // matching either field fires.
    let restricted = |text: &str| !text.starts_with('*');
    let expressions = if restricted(fields[2]) && restricted(fields[4]) {
        vec![
            format!("0 {minute} {hour} {day} {month} *"),
            format!("0 {minute} {hour} * {month} {weekday}"),
        ]
    } else {
        vec![format!("0 {minute} {hour} {day} {month} {weekday}")]
    };
    expressions
        .iter()
        .map(|expression| {
            cron::Schedule::from_str(expression)
                .map_err(|e| (EXPRESSION, format!("cannot be scheduled: {e}")))
        })
        .collect()
}

/// The crate's own form, checked field by field first so that errors name the field.
fn from_crate_form(fields: &[&str]) -> FieldResult<Vec<cron::Schedule>> {
    for (text, rule) in fields.iter().zip(CRATE.iter()) {
        expand(text, rule).map_err(|message| (rule.field, message))?;
    }
    // Re-joined so that the crate splits the fields exactly as checked above.
    let schedule = cron::Schedule::from_str(&fields.join(" "))
        .map_err(|e| (EXPRESSION, format!("is not understood: {e}")))?;
    Ok(vec![schedule])
}

/// The values a field selects, with crontab's Sunday 7 folded onto 0.
fn expand(text: &str, rule: &Rule) -> Result<BTreeSet<u32>, String> {
    let mut values = BTreeSet::new();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!("'{text}' has an empty item in its list"));
        }
        values.extend(expand_item(item, rule)?);
    }
    if rule.dialect == Dialect::Crontab && rule.field == DAY_OF_WEEK && values.remove(&7) {
        values.insert(0);
    }
    Ok(values)
}

fn expand_item(item: &str, rule: &Rule) -> Result<Vec<u32>, String> {
    let (base, step) = match item.split_once('/') {
        None => (item, None),
        Some((base, step)) => (base, Some(step_of(step, rule)?)),
    };
    let (first, last) = if base == "*" || (rule.any && base == "?") {
        (rule.min, rule.max)
    } else if let Some((from, to)) = base.split_once('-') {
        let (start, end) = (value(from, rule)?, value(to, rule)?);
        if rule.dialect == Dialect::Crate && is_name(from) != is_name(to) {
            return Err(format!(
                "the range {base} mixes a name and a number; use two names or two numbers"
            ));
        }
        if start > end {
            let hint = if rule.dialect == Dialect::Crontab && rule.field == DAY_OF_WEEK && end == 0
            {
                " (Sunday at the end of a range is 7)"
            } else {
                ""
            };
            return Err(format!(
                "the range {base} runs backwards; write the smaller value first{hint}"
            ));
        }
        (start, end)
    } else {
        let start = value(base, rule)?;
        match step {
            None => (start, start),
            Some(_) if rule.dialect == Dialect::Crate && !is_name(base) => (start, rule.max),
            Some(step) => {
                return Err(format!(
                    "'{item}': a step goes after `*` or a range, e.g. */{step}"
                ));
            }
        }
    };
    let step = usize::try_from(step.unwrap_or(1)).unwrap_or(usize::MAX);
    Ok((first..=last).step_by(step).collect())
}

/// The crate refuses steps larger than the field's largest value; in crontab such a step is
/// almost always a mistake (`*/90` minutes would mean "on the hour").
fn step_of(step: &str, rule: &Rule) -> Result<u32, String> {
    let Some(n) = number(step) else {
        return Err(format!("the step '{step}' is not a number"));
    };
    if n == 0 {
        return Err("a step of 0 never moves on; use 1 or more".into());
    }
    if n > rule.max {
        return Err(format!(
            "the step {step} is larger than {}, the largest {}",
            rule.max, rule.field
        ));
    }
    Ok(n)
}

fn value(token: &str, rule: &Rule) -> Result<u32, String> {
    let (min, max) = (rule.min, rule.max);
    if token.is_empty() {
        return Err("a number is missing".into());
    }
    if token.bytes().all(|b| b.is_ascii_digit()) {
        return match number(token) {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!("{token} is outside {min}-{max}")),
        };
    }
    if is_name(token) && !rule.names.is_empty() {
        return rule
            .names
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(token))
            .map(|(_, n)| *n)
            .ok_or_else(|| {
                format!(
                    "'{token}' is neither a number in {min}-{max} nor a name {}",
                    rule.names_hint
                )
            });
    }
    Err(format!("'{token}' is not a number in {min}-{max}"))
}

fn number(token: &str) -> Option<u32> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Overlong numbers are out of every range, whatever their value.
    Some(token.parse().unwrap_or(u32::MAX))
}

fn is_name(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphabetic())
}

/// A field for the crate: `*` when everything is selected, else the explicit list.
fn listed(values: &BTreeSet<u32>, rule: &Rule) -> String {
    if values.len() == (rule.min..=rule.max).count() {
        return "*".into();
    }
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// crontab's weekdays (Sunday = 0) by name, so the crate's Sunday = 1 cannot shift them.
fn weekday_names(values: &BTreeSet<u32>) -> String {
    const NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    if values.len() == NAMES.len() {
        return "*".into();
    }
    values
        .iter()
        .filter_map(|&day| NAMES.get(day as usize).copied())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Timelike, Weekday};
    use proptest::prelude::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn schedule(expression: &str) -> CronSchedule {
        CronSchedule::parse(expression).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(expression: &str) -> CronError {
        match CronSchedule::parse(expression) {
            Ok(_) => panic!("'{expression}' was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn three_am_fires_daily_at_three() {
        let s = schedule(" 0 3 * * * ");
        assert_eq!(s.source(), "0 3 * * *");
        assert_eq!(
            s.upcoming(at(2024, 5, 10, 12, 0), 3),
            vec![
                at(2024, 5, 11, 3, 0),
                at(2024, 5, 12, 3, 0),
                at(2024, 5, 13, 3, 0)
            ]
        );
        // Strictly after: a firing at `t` itself is not the next one.
        assert_eq!(
            s.next_after(at(2024, 5, 11, 3, 0)),
            Some(at(2024, 5, 12, 3, 0))
        );
        let just_before = at(2024, 5, 11, 3, 0) - Duration::milliseconds(1);
        assert_eq!(s.next_after(just_before), Some(at(2024, 5, 11, 3, 0)));
    }

    #[test]
    fn business_hours_fire_on_weekdays_only_with_crontab_numbering() {
        let s = schedule("*/15 9-17 * * 1-5");
        // 2024-06-03 is a Monday.
        assert_eq!(at(2024, 6, 3, 0, 0).weekday(), Weekday::Mon);
        assert_eq!(
            s.upcoming(at(2024, 6, 3, 8, 0), 3),
            vec![
                at(2024, 6, 3, 9, 0),
                at(2024, 6, 3, 9, 15),
                at(2024, 6, 3, 9, 30)
            ]
        );
        // After Friday's last run comes Monday: Saturday and Sunday are skipped.
        assert_eq!(
            s.next_after(at(2024, 6, 7, 17, 45)),
            Some(at(2024, 6, 10, 9, 0))
        );
        for t in s.upcoming(at(2024, 6, 1, 0, 0), 400) {
            assert!(!matches!(t.weekday(), Weekday::Sat | Weekday::Sun), "{t}");
            assert!((9..=17).contains(&t.hour()) && t.minute() % 15 == 0, "{t}");
        }
    }

    #[test]
    fn sunday_is_0_7_and_sun() {
        let from = at(2024, 6, 5, 12, 0);
        let expected = vec![at(2024, 6, 9, 0, 0), at(2024, 6, 16, 0, 0)];
        for expression in ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "0 0 * * SUN"] {
            let firings = schedule(expression).upcoming(from, 2);
            assert_eq!(firings, expected, "{expression}");
            assert!(firings.iter().all(|t| t.weekday() == Weekday::Sun));
        }
        assert_eq!(
            schedule("0 0 * * */2").upcoming(from, 4),
            vec![
                at(2024, 6, 6, 0, 0),  // Thursday
                at(2024, 6, 8, 0, 0),  // Saturday
                at(2024, 6, 9, 0, 0),  // Sunday
                at(2024, 6, 11, 0, 0)  // Tuesday
            ]
        );
        assert_eq!(
            schedule("0 0 * * fri-7").upcoming(from, 3),
            vec![
                at(2024, 6, 7, 0, 0),
                at(2024, 6, 8, 0, 0),
                at(2024, 6, 9, 0, 0)
            ]
        );
    }

    #[test]
    fn month_names_are_case_insensitive() {
        assert_eq!(
            schedule("0 0 1 JAN,jul *").upcoming(at(2024, 2, 1, 0, 0), 2),
            vec![at(2024, 7, 1, 0, 0), at(2025, 1, 1, 0, 0)]
        );
    }

    #[test]
    fn both_day_fields_restricted_fire_on_either() {
        // October 2024: Fridays are the 4th, 11th, 18th, 25th; the 13th is a Sunday.
        assert_eq!(at(2024, 10, 13, 0, 0).weekday(), Weekday::Sun);
        assert_eq!(
            schedule("0 0 13 * 5").upcoming(at(2024, 10, 1, 0, 0), 6),
            vec![
                at(2024, 10, 4, 0, 0),
                at(2024, 10, 11, 0, 0),
                at(2024, 10, 13, 0, 0),
                at(2024, 10, 18, 0, 0),
                at(2024, 10, 25, 0, 0),
                at(2024, 11, 1, 0, 0)
            ]
        );
    }

    #[test]
    fn a_day_field_starting_with_star_keeps_both_required() {
        // crontab(5): `*/2` starts with `*`, so odd days AND Mondays.
        assert_eq!(
            schedule("0 0 */2 * 1").upcoming(at(2024, 6, 1, 0, 0), 3),
            vec![
                at(2024, 6, 3, 0, 0),
                at(2024, 6, 17, 0, 0),
                at(2024, 7, 1, 0, 0)
            ]
        );
    }

    #[test]
    fn shorthands() {
        let from = at(2024, 6, 5, 12, 34); // a Wednesday
        let next = |e: &str| schedule(e).next_after(from);
        assert_eq!(next("@daily"), Some(at(2024, 6, 6, 0, 0)));
        assert_eq!(next("@midnight"), Some(at(2024, 6, 6, 0, 0)));
        assert_eq!(next("@hourly"), Some(at(2024, 6, 5, 13, 0)));
        assert_eq!(next("@weekly"), Some(at(2024, 6, 9, 0, 0)));
        assert_eq!(next("@monthly"), Some(at(2024, 7, 1, 0, 0)));
        assert_eq!(next("@yearly"), Some(at(2025, 1, 1, 0, 0)));
        assert_eq!(next("@annually"), Some(at(2025, 1, 1, 0, 0)));
        assert_eq!(schedule("@daily").source(), "@daily");
    }

    #[test]
    fn six_and_seven_fields_use_the_crate_numbering() {
        let from = at(2024, 6, 5, 12, 0);
        assert_eq!(
            schedule("0 30 2 * * *").upcoming(from, 2),
            vec![at(2024, 6, 6, 2, 30), at(2024, 6, 7, 2, 30)]
        );
        // Day of week 1 is Sunday in the crate.
        assert_eq!(
            schedule("0 0 0 * * 1").next_after(from),
            Some(at(2024, 6, 9, 0, 0))
        );
        assert_eq!(
            schedule("0 0 12 ? * Mon").next_after(from),
            Some(at(2024, 6, 10, 12, 0))
        );
        assert_eq!(
            schedule("0 0 12 1 1 * 2030").upcoming(from, 2),
            vec![at(2030, 1, 1, 12, 0)]
        );
        assert_eq!(
            schedule("15 0/20 * * * *").upcoming(from, 2),
            vec![
                Utc.with_ymd_and_hms(2024, 6, 5, 12, 0, 15).unwrap(),
                Utc.with_ymd_and_hms(2024, 6, 5, 12, 20, 15).unwrap()
            ]
        );
    }

    #[test]
    fn errors_name_the_expression_and_the_field() {
        let e = error("0 25 * * *");
        assert_eq!(e.field, "hour");
        assert_eq!(e.expression, "0 25 * * *");
        assert_eq!(e.to_string(), "'0 25 * * *': hour: 25 is outside 0-23");
        for (expression, field, says) in [
            ("61 * * * *", "minute", "61 is outside 0-59"),
            ("* * 32 * *", "day of month", "32 is outside 1-31"),
            ("* * * 13 *", "month", "13 is outside 1-12"),
            ("* * * * 8", "day of week", "8 is outside 0-7"),
            ("* * * * xyz", "day of week", "xyz"),
            ("5-1 * * * *", "minute", "backwards"),
            ("* * * * sat-sun", "day of week", "is 7"),
            ("*/0 * * * *", "minute", "step of 0"),
            ("*/60 * * * *", "minute", "larger than 59"),
            ("5/15 * * * *", "minute", "after `*` or a range"),
            ("1,,2 * * * *", "minute", "empty item"),
            ("@reboot", "expression", "@daily"),
            ("@fortnightly", "expression", "@hourly"),
            ("* * *", "expression", "has 3 fields"),
            ("", "expression", "is empty"),
            ("* * * * * * * *", "expression", "has 8 fields"),
            ("0 0 31 2 *", "day of month", "never fires"),
            ("0 0 30 2 *", "day of month", "never fires"),
            ("60 * * * * *", "second", "outside 0-59"),
            ("0 0 0 * * 0", "day of week", "outside 1-7"),
            ("0 0 0 ? * 3-thu", "day of week", "mixes"),
            ("0 0 0 * * * 1969", "year", "outside 1970-2100"),
            ("0 0 0 ? * * ?", "year", "'?'"),
            ("0 0 0 29 2 * 2023", "day of month", "never fires"),
        ] {
            let e = error(expression);
            assert_eq!(e.field, field, "{expression}: {e}");
            assert_eq!(e.expression, expression, "{e}");
            assert!(e.message.contains(says), "{expression}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("'{expression}': {field}: "))
            );
        }
    }

    #[test]
    fn feb_29_is_a_rare_but_real_firing() {
        assert_eq!(
            schedule("0 0 29 2 *").next_after(at(2024, 3, 1, 0, 0)),
            Some(at(2028, 2, 29, 0, 0))
        );
    }

    #[test]
    fn upcoming_returns_n_increasing_instants() {
        let firings = schedule("*/15 9-17 * * 1-5").upcoming(at(2024, 6, 7, 17, 20), 3);
        assert_eq!(firings.len(), 3);
        assert!(firings.windows(2).all(|w| w[0] < w[1]));
        assert!(firings[0] > at(2024, 6, 7, 17, 20));
        assert!(
            schedule("@daily")
                .upcoming(at(2024, 1, 1, 0, 0), 0)
                .is_empty()
        );
        // A schedule with a last year runs out.
        assert_eq!(
            schedule("0 0 0 1 1 * 2030").upcoming(at(2024, 1, 1, 0, 0), 3),
            vec![at(2030, 1, 1, 0, 0)]
        );
    }

    #[test]
    fn interval_after_is_the_gap_between_runs() {
        let t = at(2024, 6, 5, 12, 0);
        assert_eq!(
            schedule("@daily").interval_after(t),
            Some(Duration::hours(24))
        );
        assert_eq!(
            schedule("*/15 * * * *").interval_after(t),
            Some(Duration::minutes(15))
        );
        assert_eq!(
            schedule("0 0 0 1 1 * 2030").interval_after(t),
            None,
            "one firing left has no interval"
        );
    }

    #[test]
    fn far_future_instants_do_not_panic() {
        let s = schedule("@daily");
        assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
        assert_eq!(s.next_after(at(2101, 1, 1, 0, 0)), None);
        assert!(s.upcoming(DateTime::<Utc>::MAX_UTC, 3).is_empty());
    }

    #[test]
    fn equality_display_and_serde_use_the_text_typed() {
        let s = schedule("  0 3 * * * ");
        assert_eq!(s, schedule("0 3 * * *"));
        assert_ne!(s, schedule("0 3 * * 0-7"));
        assert_eq!(s.to_string(), "0 3 * * *");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"0 3 * * *\"");
        let back: CronSchedule = serde_json::from_str("\"@weekly\"").unwrap();
        assert_eq!(back.source(), "@weekly");
        // A bad one reads, keeps its problem, and never fires.
        let bad = serde_json::from_str::<CronSchedule>("\"0 25 * * *\"").unwrap();
        assert_eq!(
            bad.problem().unwrap().to_string(),
            "'0 25 * * *': hour: 25 is outside 0-23"
        );
        assert_eq!(bad.next_after(Utc::now()), None);
        assert!(back.problem().is_none());
        assert_eq!(
            "@daily".parse::<CronSchedule>().unwrap(),
            schedule("@daily")
        );
    }

    #[test]
    fn openapi_schema_is_a_string() {
        use utoipa::{PartialSchema, ToSchema};
        let json = serde_json::to_value(CronSchedule::schema()).unwrap();
        assert_eq!(json["type"], "string");
        assert!(json["description"].as_str().unwrap().contains("crontab"));
        assert_eq!(CronSchedule::name(), "CronSchedule");
    }

    /// One generated crontab field: its text and the values it means, worked out here
    /// independently of the parser.
    fn field(min: u32, max: u32) -> impl Strategy<Value = (String, Vec<u32>)> {
        prop_oneof![
            Just(("*".to_string(), (min..=max).collect())),
            (min..=max).prop_map(|n| (n.to_string(), vec![n])),
            (min..=max, min..=max).prop_map(|(a, b)| {
                let (a, b) = (a.min(b), a.max(b));
                (format!("{a}-{b}"), (a..=b).collect())
            }),
            (1..=max).prop_map(move |s| {
                (format!("*/{s}"), (min..=max).step_by(s as usize).collect())
            }),
            (min..=max, min..=max, 1..=max).prop_map(|(a, b, s)| {
                let (a, b) = (a.min(b), a.max(b));
                (
                    format!("{a}-{b}/{s}"),
                    (a..=b).step_by(s as usize).collect(),
                )
            }),
            (min..=max, min..=max).prop_map(|(a, b)| (format!("{a},{b}"), vec![a, b])),
        ]
    }

    fn named(
        names: &'static [&'static str],
        first: u32,
    ) -> impl Strategy<Value = (String, Vec<u32>)> {
        (0..names.len()).prop_map(move |i| (names[i].to_uppercase(), vec![first + i as u32]))
    }

    struct Oracle {
        minutes: Vec<u32>,
        hours: Vec<u32>,
        days: Vec<u32>,
        months: Vec<u32>,
        /// Sunday = 0.
        weekdays: Vec<u32>,
        either_day: bool,
    }

    impl Oracle {
        fn day_matches(&self, date: NaiveDate) -> bool {
            let dom = self.days.contains(&date.day());
            let dow = self
                .weekdays
                .contains(&date.weekday().num_days_from_sunday());
            self.months.contains(&date.month())
                && if self.either_day {
                    dom || dow
                } else {
                    dom && dow
                }
        }

        fn matches(&self, t: DateTime<Utc>) -> bool {
            t.second() == 0
                && t.nanosecond() == 0
                && self.minutes.contains(&t.minute())
                && self.hours.contains(&t.hour())
                && self.day_matches(t.date_naive())
        }

        /// Walks the calendar day by day: slow, obvious, and independent of the crate.
        fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
            let mut hours = self.hours.clone();
            hours.sort_unstable();
            let mut minutes = self.minutes.clone();
            minutes.sort_unstable();
            let mut date = t.date_naive();
            while date.year() <= LAST_YEAR {
                if self.day_matches(date) {
                    for &h in &hours {
                        for &m in &minutes {
                            let candidate = date.and_hms_opt(h, m, 0)?.and_utc();
                            if candidate > t {
                                return Some(candidate);
                            }
                        }
                    }
                }
                date = date.succ_opt()?;
            }
            None
        }
    }

    const MONTH_NAMES: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAY_NAMES: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn crontab_firings_match_the_fields_independently_checked(
            minute in field(0, 59),
            hour in field(0, 23),
            day in field(1, 31),
            month in prop_oneof![field(1, 12), named(MONTH_NAMES, 1)],
            weekday in prop_oneof![field(0, 7), named(DAY_NAMES, 0)],
            from_seconds in 946_684_800i64..2_840_140_800, // 2000 to 2060
        ) {
            let expression =
                format!("{} {} {} {} {}", minute.0, hour.0, day.0, month.0, weekday.0);
            let oracle = Oracle {
                minutes: minute.1,
                hours: hour.1,
                days: day.1,
                months: month.1,
                weekdays: weekday.1.iter().map(|&d| d % 7).collect(),
                either_day: !day.0.starts_with('*') && !weekday.0.starts_with('*'),
            };
            let from = DateTime::from_timestamp(from_seconds, 0).unwrap();
            match CronSchedule::parse(&expression) {
                Ok(schedule) => {
                    let firings = schedule.upcoming(from, 5);
                    let mut at = from;
                    for t in &firings {
                        prop_assert!(oracle.matches(*t), "{expression}: {t} does not match");
                        prop_assert_eq!(Some(*t), oracle.next_after(at), "{} after {}", expression, at);
                        at = *t;
                    }
                    if firings.len() < 5 {
                        prop_assert_eq!(oracle.next_after(at), None, "{}", expression);
                    }
                }
                Err(e) => {
                    prop_assert_eq!(e.field, "day of month", "{}", e);
                    let start = DateTime::UNIX_EPOCH - Duration::seconds(1);
                    prop_assert_eq!(oracle.next_after(start), None, "{}", e);
                }
            }
        }
    }
}
