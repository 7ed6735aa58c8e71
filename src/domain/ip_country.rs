//! An IP-range → country table, loaded from the operator's CSV file (`start,end,country`), so
//! that ingestion can keep a country instead of an address. Pure: the caller reads the file.

use std::net::{IpAddr, Ipv6Addr};

/// One range, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span<T> {
    start: T,
    end: T,
    country: [u8; 2],
}

/// Sorted, non-overlapping ranges per address family, so a lookup is one binary search.
#[derive(Debug, Default, Clone)]
pub struct IpCountryTable {
    v4: Vec<Span<u32>>,
    v6: Vec<Span<u128>>,
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    V4(u32),
    V6(u128),
}

impl IpCountryTable {
    /// Parses the whole file; errors name the 1-based line, e.g. "line 7: 'abc' is not an IP
    /// address". Rows whose country is unknown (`-`, `ZZ` or empty) are checked, then skipped.
    pub fn parse_csv(text: &str) -> Result<IpCountryTable, String> {
        let mut v4: Vec<(Span<u32>, usize)> = Vec::new();
        let mut v6: Vec<(Span<u128>, usize)> = Vec::new();
        let mut first_row = true;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let at = |message: String| format!("line {n}: {message}");
            // A byte-order mark is what spreadsheet programs put before the first cell.
            let line = raw.trim_start_matches('\u{feff}').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let is_first = std::mem::replace(&mut first_row, false);
            let cells = split_cells(line).map_err(at)?;
            let first_cell = cells.first().map_or("", String::as_str);
            let start = match parse_bound(first_cell) {
                Some(b) => b,
                None if is_first && looks_like_header(first_cell) => continue,
                None => return Err(at(not_an_ip(first_cell))),
            };
            let [_, end_cell, country_cell, ..] = cells.as_slice() else {
                return Err(at("expected three values: start,end,country".into()));
            };
            let end = parse_bound(end_cell).ok_or_else(|| at(not_an_ip(end_cell)))?;
            let (start, end) = match (start, end) {
                (Bound::V6(s), Bound::V6(e)) => match (v4_mapped(s), v4_mapped(e)) {
                    // Lookups of IPv4-mapped addresses use the IPv4 table, so such ranges go there.
                    (Some(s), Some(e)) => (Bound::V4(s), Bound::V4(e)),
                    _ => (Bound::V6(s), Bound::V6(e)),
                },
                other => other,
            };
            let country = parse_country(country_cell).map_err(at)?;
            match (start, end) {
                (Bound::V4(start), Bound::V4(end)) => push(&mut v4, start, end, country, n)?,
                (Bound::V6(start), Bound::V6(end)) => push(&mut v6, start, end, country, n)?,
                _ => {
                    return Err(at(
                        "start and end are of different families (one IPv4, one IPv6)".into(),
                    ));
                }
            }
        }
        Ok(IpCountryTable {
            v4: sorted(v4)?,
            v6: sorted(v6)?,
        })
    }

    /// How many ranges with a known country the table holds.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The two-letter code of the range holding `ip`, or None when no range holds it.
    /// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) look up the IPv4 table.
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let code = match ip.to_canonical() {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }?;
        Some(code.iter().map(|&b| char::from(b)).collect())
    }
}

fn find<T: Ord + Copy>(spans: &[Span<T>], x: T) -> Option<[u8; 2]> {
    let after = spans.partition_point(|s| s.start <= x);
    let span = spans.get(after.checked_sub(1)?)?;
    (x <= span.end).then_some(span.country)
}

/// Records a row; `None` country means unknown, which is checked but not kept.
fn push<T: Ord + Copy>(
    spans: &mut Vec<(Span<T>, usize)>,
    start: T,
    end: T,
    country: Option<[u8; 2]>,
    line: usize,
) -> Result<(), String> {
    if start > end {
        return Err(format!("line {line}: the start is after the end"));
    }
    if let Some(country) = country {
        spans.push((
            Span {
                start,
                end,
                country,
            },
            line,
        ));
    }
    Ok(())
}

/// Sorts by start and refuses overlaps, which would make a lookup's answer depend on the order.
fn sorted<T: Ord + Copy>(mut spans: Vec<(Span<T>, usize)>) -> Result<Vec<Span<T>>, String> {
    spans.sort_by_key(|(s, line)| (s.start, *line));
    // Sorted by start, any overlap shows between neighbours.
    for pair in spans.windows(2) {
        if let [(a, line_a), (b, line_b)] = pair
            && b.start <= a.end
        {
            let (later, earlier) = (line_a.max(line_b), line_a.min(line_b));
            return Err(format!(
                "line {later}: the range overlaps the range on line {earlier}"
            ));
        }
    }
    Ok(spans.into_iter().map(|(s, _)| s).collect())
}

/// An address, or (for IPv4, as some free databases give it) a decimal number.
fn parse_bound(cell: &str) -> Option<Bound> {
    if !cell.is_empty() && cell.bytes().all(|b| b.is_ascii_digit()) {
        return cell.parse::<u32>().ok().map(Bound::V4);
    }
    match cell.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(Bound::V4(u32::from(a))),
        IpAddr::V6(a) => Some(Bound::V6(u128::from(a))),
    }
}

fn v4_mapped(x: u128) -> Option<u32> {
    Ipv6Addr::from(x).to_ipv4_mapped().map(u32::from)
}

/// A header names its columns ("start", "ip_from"); a mistyped address (with digits, dots or
/// colons) is an error instead, so that a broken first row is not silently skipped.
fn looks_like_header(cell: &str) -> bool {
    cell.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && !cell.contains(['.', ':'])
        && !cell.chars().all(|c| c.is_ascii_hexdigit())
}

fn not_an_ip(cell: &str) -> String {
    let mut shown: String = cell.chars().take(60).collect();
    if shown.len() < cell.len() {
        shown.push('…');
    }
    if cell.bytes().all(|b| b.is_ascii_digit()) && !cell.is_empty() {
        format!(
            "'{shown}' is not an IP address (a decimal number must fit IPv4: at most 4294967295)"
        )
    } else {
        format!("'{shown}' is not an IP address")
    }
}

/// Upper-cased two-letter code; `None` for the usual spellings of "unknown".
fn parse_country(cell: &str) -> Result<Option<[u8; 2]>, String> {
    let code = cell.to_ascii_uppercase();
    match code.as_bytes() {
        [] | [b'-'] | [b'Z', b'Z'] => Ok(None),
        &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(Some([a, b])),
        _ => Err(format!(
            "'{}' is not a two-letter country code",
            cell.chars().take(60).collect::<String>()
        )),
    }
}

/// Splits one CSV line; values may be double-quoted (with `""` for a quote) and are trimmed.
fn split_cells(line: &str) -> Result<Vec<String>, String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if cell.trim().is_empty() => {
                cell.clear();
                quoted = true;
            }
            (false, ',') => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    if quoted {
        return Err("a quoted value is not closed".into());
    }
    cells.push(cell);
    Ok(cells.into_iter().map(|c| c.trim().to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# from the operator's provider
start,end,country
1.0.0.0,1.0.0.255,au
\"1.0.1.0\",\"1.0.3.255\",\"CN\"

16777216,16777471,AU
2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,de
2001:db9::,2001:db9::ff,-
10.0.0.0,10.255.255.255,ZZ
::ffff:8.8.8.0,::ffff:8.8.8.255,US
";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn table(extra: &str) -> Result<IpCountryTable, String> {
        // The decimal AU row (line 6) overlaps line 3, so most tests leave it out.
        let base: String = SAMPLE
            .lines()
            .filter(|l| !l.starts_with("1677"))
            .map(|l| format!("{l}\n"))
            .collect();
        IpCountryTable::parse_csv(&format!("{base}{extra}"))
    }

    #[test]
    fn looks_up_v4_v6_and_mapped() {
        let t = table("").unwrap();
        assert_eq!(t.len(), 4);
        assert!(!t.is_empty());
        assert_eq!(t.country(ip("1.0.0.0")).as_deref(), Some("AU"));
        assert_eq!(t.country(ip("1.0.0.255")).as_deref(), Some("AU"));
        assert_eq!(t.country(ip("1.0.2.7")).as_deref(), Some("CN"));
        assert_eq!(t.country(ip("1.0.4.0")), None);
        assert_eq!(t.country(ip("0.255.255.255")), None);
        assert_eq!(t.country(ip("10.1.2.3")), None, "ZZ rows are skipped");
        assert_eq!(t.country(ip("2001:db8:1::5")).as_deref(), Some("DE"));
        assert_eq!(t.country(ip("2001:db9::1")), None, "'-' rows are skipped");
        assert_eq!(t.country(ip("::ffff:1.0.0.9")).as_deref(), Some("AU"));
        // A mapped range in the file lands in the IPv4 table.
        assert_eq!(t.country(ip("8.8.8.8")).as_deref(), Some("US"));
        assert_eq!(t.country(ip("::1")), None);
    }

    #[test]
    fn decimal_ipv4_bounds() {
        let t = IpCountryTable::parse_csv("16777216,16777471,AU\n0,255,XX\n").unwrap();
        assert_eq!(t.country(ip("1.0.0.42")).as_deref(), Some("AU"));
        assert_eq!(t.country(ip("0.0.0.1")).as_deref(), Some("XX"));
        let e = IpCountryTable::parse_csv("1,4294967296,AU").unwrap_err();
        assert!(
            e.starts_with("line 1: '4294967296' is not an IP address"),
            "{e}"
        );
    }

    #[test]
    fn empty_file_is_an_empty_table() {
        let t = IpCountryTable::parse_csv("# nothing yet\n\n").unwrap();
        assert!(t.is_empty());
        assert_eq!(t.country(ip("1.2.3.4")), None);
        assert!(IpCountryTable::default().is_empty());
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            (
                "1.0.0.0,1.0.0.255,AU\nabc,1.0.1.255,AU",
                "line 2: 'abc' is not an IP address",
            ),
            (
                "1.0.0.0,1.0.0.x,AU",
                "line 1: '1.0.0.x' is not an IP address",
            ),
            ("1.0.0.9,1.0.0.1,AU", "line 1: the start is after the end"),
            (
                "\n\n1.0.0.0,::1,AU",
                "line 3: start and end are of different families",
            ),
            (
                "1.0.0.0,1.0.0.1,USA",
                "line 1: 'USA' is not a two-letter country code",
            ),
            ("1.0.0.0,1.0.0.1", "line 1: expected three values"),
            (
                "1.0.0.0,\"1.0.0.1,AU",
                "line 1: a quoted value is not closed",
            ),
            (
                "fe80:::1,fe80::2,DE",
                "line 1: 'fe80:::1' is not an IP address",
            ),
        ];
        for (csv, expected) in cases {
            let e = IpCountryTable::parse_csv(csv).unwrap_err();
            assert!(e.starts_with(expected), "{csv:?}: {e}");
        }
    }

    #[test]
    fn only_the_first_row_may_be_a_header() {
        let e = IpCountryTable::parse_csv("1.0.0.0,1.0.0.1,AU\nstart,end,country").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let t = IpCountryTable::parse_csv(
            "\u{feff}\"ip_from\",\"ip_to\",\"cc\",\"name\"\n\
             \"16777216\",\"16777471\",\"AU\",\"Korea, Republic of\"",
        )
        .unwrap();
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn overlapping_ranges_are_refused() {
        let e = IpCountryTable::parse_csv(SAMPLE).unwrap_err();
        assert_eq!(e, "line 6: the range overlaps the range on line 3");
        let e = table("2001:db8:5::,2001:db8:5::1,FR\n").unwrap_err();
        assert_eq!(e, "line 10: the range overlaps the range on line 6");
        // Touching is not overlapping.
        assert!(table("1.0.4.0,1.0.4.0,JP\n0.0.0.0,0.255.255.255,JP\n").is_ok());
        // Unknown rows are not kept, so they cannot overlap anything.
        assert!(table("1.0.0.5,1.0.0.6,-\n").is_ok());
    }
}
