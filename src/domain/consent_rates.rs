//! The console's consent rates (issue 17): per consent purpose and UTC day, how many decisions
//! granted and refused it (and how many of the refusals Global Privacy Control made), the grant
//! rate `granted / (granted + refused)`, and the line chart drawn from them. The chart is only
//! numbers here; the template writes them as inline SVG with presentation attributes (the
//! console's CSP allows no `style`), and the table beside it is the accessible form.

use chrono::{Duration, NaiveDate};

/// The windows the page offers, in days; anything else is the default.
pub const DAY_CHOICES: [u32; 3] = [7, 30, 90];
pub const DEFAULT_DAYS: u32 = 30;

/// `?days=`, read leniently: one of [`DAY_CHOICES`], else [`DEFAULT_DAYS`].
pub fn parse_days(raw: &str) -> u32 {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|d| DAY_CHOICES.contains(d))
        .unwrap_or(DEFAULT_DAYS)
}

/// Line colours (Okabe–Ito, distinguishable with the common colour-vision deficiencies), each
/// dark enough on white; past the seventh purpose they repeat dashed.
pub const PALETTE: [&str; 7] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#7a5c00", "#56b4e9", "#000000",
];

/// One purpose's decisions on one day, as the store counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    pub day: NaiveDate,
    pub purpose: String,
    pub granted: i64,
    pub refused: i64,
    /// Of the refusals, those GPC made.
    pub by_gpc: i64,
}

/// Decisions counted together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub granted: i64,
    pub refused: i64,
    pub by_gpc: i64,
}

impl Tally {
    fn add(&mut self, granted: i64, refused: i64, by_gpc: i64) {
        self.granted += granted;
        self.refused += refused;
        self.by_gpc += by_gpc;
    }

    pub fn decisions(&self) -> i64 {
        self.granted + self.refused
    }

    /// The grant rate in percent; none without decisions.
    pub fn rate(&self) -> Option<f64> {
        percent(self.granted, self.decisions())
    }

    /// The share of refusals GPC made, in percent; none without refusals.
    pub fn gpc_share(&self) -> Option<f64> {
        percent(self.by_gpc, self.refused)
    }

    pub fn rate_text(&self) -> String {
        percent_text(self.rate())
    }

    pub fn gpc_share_text(&self) -> String {
        percent_text(self.gpc_share())
    }
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// `67 %`, or a dash when there is nothing to divide by.
pub fn percent_text(p: Option<f64>) -> String {
    match p {
        Some(p) => format!("{p:.0} %"),
        None => "—".to_owned(),
    }
}

/// One consent purpose over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct PurposeRates {
    pub key: String,
    /// The inventory's name; none when the purpose is no longer in the inventory.
    pub name: Option<String>,
    pub colour: &'static str,
    /// Dashed (`stroke-dasharray`) once the palette has been used up.
    pub dash: Option<&'static str>,
    pub total: Tally,
    /// One per day of the window, oldest first.
    pub daily: Vec<Tally>,
}

impl PurposeRates {
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.key)
    }
}

/// Every consent purpose over `days` UTC days from `first_day`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    pub first_day: NaiveDate,
    pub days: u32,
    pub purposes: Vec<PurposeRates>,
    pub total: Tally,
}

impl Rates {
    pub fn last_day(&self) -> NaiveDate {
        self.first_day + Duration::days(i64::from(self.days.max(1)) - 1)
    }

    pub fn is_empty(&self) -> bool {
        self.total.decisions() == 0
    }

    /// The chart's numbers as rows: each day and purpose with decisions, oldest day first.
    pub fn day_rows(&self) -> Vec<DayRow<'_>> {
        let mut rows = Vec::new();
        for i in 0..self.days as usize {
            for p in &self.purposes {
                if let Some(t) = p.daily.get(i).filter(|t| t.decisions() > 0) {
                    rows.push(DayRow {
                        day: self.first_day + Duration::days(i as i64),
                        purpose: p,
                        tally: *t,
                    });
                }
            }
        }
        rows
    }
}

/// One purpose's decisions on one day (a row of the day-by-day table).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayRow<'a> {
    pub day: NaiveDate,
    pub purpose: &'a PurposeRates,
    pub tally: Tally,
}

/// Counts `counts` per purpose and day. `purposes` (key, name) are the inventory's consent
/// purposes, listed even without decisions; a purpose that has decisions but has left the
/// inventory since is listed after them, without a name. Counts outside the window are ignored.
pub fn rates(
    purposes: &[(String, String)],
    counts: &[DayCount],
    first_day: NaiveDate,
    days: u32,
) -> Rates {
    let days = days.max(1);
    let mut listed: Vec<(String, Option<String>)> = purposes
        .iter()
        .map(|(k, n)| (k.clone(), Some(n.clone())))
        .collect();
    for c in counts {
        if !listed.iter().any(|(k, _)| k == &c.purpose) {
            listed.push((c.purpose.clone(), None));
        }
    }
    let mut total = Tally::default();
    let purposes = listed
        .into_iter()
        .enumerate()
        .map(|(i, (key, name))| {
            let mut daily = vec![Tally::default(); days as usize];
            let mut sum = Tally::default();
            for c in counts.iter().filter(|c| c.purpose == key) {
                let offset = (c.day - first_day).num_days();
                let Some(slot) = usize::try_from(offset).ok().and_then(|o| daily.get_mut(o)) else {
                    continue;
                };
                slot.add(c.granted, c.refused, c.by_gpc);
                sum.add(c.granted, c.refused, c.by_gpc);
            }
            total.add(sum.granted, sum.refused, sum.by_gpc);
            PurposeRates {
                key,
                name,
                colour: PALETTE[i % PALETTE.len()],
                dash: (i >= PALETTE.len()).then_some("6 3"),
                total: sum,
                daily,
            }
        })
        .collect();
    Rates {
        first_day,
        days,
        purposes,
        total,
    }
}

/// The drawing's size in SVG units (it scales to the page's width).
pub const WIDTH: f64 = 720.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 700.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 216.0;
/// Where the legend starts, its rows' height, and the width of each of its two columns.
const LEGEND_TOP: f64 = 262.0;
const LEGEND_ROW: f64 = 22.0;
const LEGEND_COLUMN: f64 = 330.0;
/// Longer names are cut in the legend (the table has them whole).
const LEGEND_CHARS: usize = 40;

/// A position along an axis and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub at: f64,
    pub label: String,
}

/// One purpose's line: the days with decisions, joined.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    pub colour: &'static str,
    pub dash: Option<&'static str>,
    /// `x,y x,y …` for `<polyline points>`.
    pub points: String,
    /// Each day with decisions as a dot (a single day draws no line).
    pub dots: Vec<(f64, f64)>,
    /// Where its legend entry goes.
    pub legend_x: f64,
    pub legend_y: f64,
}

/// The chart: plot area, axes' ticks, one line per purpose with decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    /// Days along the bottom (`MM-DD`), about six of them.
    pub x_ticks: Vec<Tick>,
    /// 0, 25, 50, 75, 100 %.
    pub y_ticks: Vec<Tick>,
    pub lines: Vec<Line>,
}

fn x_of(day: usize, days: u32) -> f64 {
    let span = f64::from(days.max(2) - 1);
    LEFT + (RIGHT - LEFT) * day as f64 / span
}

fn y_of(rate: f64) -> f64 {
    BOTTOM - (BOTTOM - TOP) * rate.clamp(0.0, 100.0) / 100.0
}

fn short(label: &str) -> String {
    if label.chars().count() <= LEGEND_CHARS {
        label.to_owned()
    } else {
        let cut: String = label.chars().take(LEGEND_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// The chart of `rates`; none when there is no decision to draw.
pub fn chart(rates: &Rates) -> Option<Chart> {
    if rates.is_empty() {
        return None;
    }
    let days = rates.days.max(1);
    let step = (days as usize).div_ceil(6).max(1);
    let mut x_ticks: Vec<Tick> = (0..days as usize)
        .step_by(step)
        .map(|i| Tick {
            at: x_of(i, days),
            label: (rates.first_day + Duration::days(i as i64))
                .format("%m-%d")
                .to_string(),
        })
        .collect();
    let last = days as usize - 1;
    if !last.is_multiple_of(step) {
        // The last day is always named; a tick too close before it gives way.
        if x_ticks
            .last()
            .is_some_and(|t| x_of(last, days) - t.at < 60.0)
        {
            x_ticks.pop();
        }
        x_ticks.push(Tick {
            at: x_of(last, days),
            label: rates.last_day().format("%m-%d").to_string(),
        });
    }
    let y_ticks = [0.0, 25.0, 50.0, 75.0, 100.0]
        .into_iter()
        .map(|r| Tick {
            at: y_of(r),
            label: format!("{r:.0} %"),
        })
        .collect();
    let lines: Vec<Line> = rates
        .purposes
        .iter()
        .filter(|p| p.total.decisions() > 0)
        .enumerate()
        .map(|(n, p)| {
            let dots: Vec<(f64, f64)> = p
                .daily
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.rate().map(|r| (round(x_of(i, days)), round(y_of(r)))))
                .collect();
            let points = dots
                .iter()
                .map(|(x, y)| format!("{x},{y}"))
                .collect::<Vec<_>>()
                .join(" ");
            Line {
                label: short(p.label()),
                colour: p.colour,
                dash: p.dash,
                points,
                dots,
                legend_x: LEFT + LEGEND_COLUMN * (n % 2) as f64,
                legend_y: LEGEND_TOP + LEGEND_ROW * (n / 2) as f64,
            }
        })
        .collect();
    let rows = lines.len().div_ceil(2) as f64;
    Some(Chart {
        width: WIDTH,
        height: LEGEND_TOP + LEGEND_ROW * rows,
        left: LEFT,
        right: RIGHT,
        top: TOP,
        bottom: BOTTOM,
        x_ticks,
        y_ticks,
        lines,
    })
}

/// One decimal place is plenty for a drawing.
fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn count(d: u32, purpose: &str, granted: i64, refused: i64, by_gpc: i64) -> DayCount {
        DayCount {
            day: day(d),
            purpose: purpose.into(),
            granted,
            refused,
            by_gpc,
        }
    }

    fn inventory() -> Vec<(String, String)> {
        vec![
            ("ads".into(), "Advertising".into()),
            ("analytics".into(), "Analytics".into()),
            ("news".into(), "Newsletter".into()),
        ]
    }

    #[test]
    fn days_are_one_of_the_choices() {
        assert_eq!(parse_days("7"), 7);
        assert_eq!(parse_days(" 90 "), 90);
        assert_eq!(parse_days("31"), 30);
        assert_eq!(parse_days(""), 30);
        assert_eq!(parse_days("-7"), 30);
    }

    #[test]
    fn rates_count_per_purpose_and_day_and_the_share_gpc_refused() {
        let counts = [
            count(1, "ads", 1, 3, 2),
            count(3, "ads", 2, 0, 0),
            count(3, "analytics", 3, 1, 0),
            // Outside the window: ignored.
            count(28, "ads", 5, 5, 5),
            // Left the inventory since.
            count(2, "old", 0, 1, 0),
        ];
        let r = rates(&inventory(), &counts, day(1), 7);
        assert_eq!(r.last_day(), day(7));
        let keys: Vec<&str> = r.purposes.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["ads", "analytics", "news", "old"]);
        let ads = &r.purposes[0];
        assert_eq!(
            ads.total,
            Tally {
                granted: 3,
                refused: 3,
                by_gpc: 2
            }
        );
        assert_eq!(ads.total.rate_text(), "50 %");
        assert_eq!(ads.total.gpc_share_text(), "67 %");
        assert_eq!(ads.daily.len(), 7);
        assert_eq!(ads.daily[0].rate(), Some(25.0));
        assert_eq!(ads.daily[1].rate(), None, "no decision that day");
        assert_eq!(ads.daily[2].rate(), Some(100.0));
        assert_eq!(r.purposes[2].total.rate_text(), "—", "never asked");
        assert_eq!(r.purposes[3].name, None);
        assert_eq!(r.purposes[3].label(), "old");
        assert_eq!(
            r.total,
            Tally {
                granted: 6,
                refused: 5,
                by_gpc: 2
            }
        );
        assert_eq!(r.total.gpc_share_text(), "40 %");
        assert_eq!(r.purposes[0].colour, PALETTE[0]);
        let rows: Vec<(u32, &str, i64)> = r
            .day_rows()
            .iter()
            .map(|d| (d.day.day(), d.purpose.key.as_str(), d.tally.decisions()))
            .collect();
        assert_eq!(
            rows,
            [
                (1, "ads", 4),
                (2, "old", 1),
                (3, "ads", 2),
                (3, "analytics", 4)
            ]
        );
        assert_ne!(r.purposes[0].colour, r.purposes[1].colour);
    }

    #[test]
    fn the_chart_draws_a_line_per_purpose_with_decisions_inside_its_plot() {
        let counts = [
            count(1, "ads", 1, 3, 0),
            count(7, "ads", 2, 0, 0),
            count(4, "analytics", 0, 1, 0),
        ];
        let r = rates(&inventory(), &counts, day(1), 7);
        let c = chart(&r).unwrap();
        assert_eq!(c.lines.len(), 2, "news has no decisions: no line");
        let ads = &c.lines[0];
        assert_eq!(ads.label, "Advertising");
        // First day at the left edge, 25 % a quarter up; last day at the right edge, 100 %.
        assert_eq!(ads.dots, [(LEFT, 166.0), (RIGHT, TOP)]);
        assert_eq!(ads.points, "72,166 700,16");
        assert_eq!(c.lines[1].dots, [(386.0, BOTTOM)], "0 % on the axis");
        for line in &c.lines {
            for (x, y) in &line.dots {
                assert!((c.left..=c.right).contains(x) && (c.top..=c.bottom).contains(y));
            }
        }
        let y: Vec<&str> = c.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(y, ["0 %", "25 %", "50 %", "75 %", "100 %"]);
        assert_eq!(c.x_ticks.first().unwrap().label, "03-01");
        assert_eq!(c.x_ticks.last().unwrap().label, "03-07");
        assert!(c.height > LEGEND_TOP, "room for the legend");
        assert_eq!(chart(&rates(&inventory(), &[], day(1), 7)), None);
    }

    #[test]
    fn thirty_and_ninety_days_name_the_last_day_and_about_six_others() {
        for days in [30, 90] {
            let r = rates(&inventory(), &[count(2, "ads", 1, 0, 0)], day(1), days);
            let c = chart(&r).unwrap();
            assert!((5..=8).contains(&c.x_ticks.len()), "{:?}", c.x_ticks);
            assert_eq!(c.x_ticks.last().unwrap().at, RIGHT);
            assert!(c.x_ticks.windows(2).all(|w| w[1].at - w[0].at >= 60.0));
        }
    }

    #[test]
    fn long_names_are_cut_in_the_legend_and_colours_repeat_dashed() {
        let many: Vec<(String, String)> = (0..9)
            .map(|i| (format!("p{i}"), "N".repeat(if i == 0 { 60 } else { 3 })))
            .collect();
        let counts: Vec<DayCount> = (0..9)
            .map(|i| count(1, &format!("p{i}"), 1, 0, 0))
            .collect();
        let r = rates(&many, &counts, day(1), 7);
        assert_eq!(r.purposes[7].colour, r.purposes[0].colour);
        assert_eq!(r.purposes[7].dash, Some("6 3"));
        assert_eq!(r.purposes[6].dash, None);
        let c = chart(&r).unwrap();
        assert_eq!(c.lines[0].label.chars().count(), LEGEND_CHARS);
        assert!(c.lines[0].label.ends_with('…'));
        assert_eq!(c.height, LEGEND_TOP + LEGEND_ROW * 5.0);
    }
}
