//! Prometheus metrics, rendered in the text exposition format. Request series are kept in memory
//! by (method, route pattern, status); domain gauges are read from the store at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let Ok(mut map) = self.series.lock() else {
            return;
        };
        let s = map
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        s.count += 1;
        s.sum_seconds += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                s.buckets[i] += 1;
            }
        }
    }

    /// The request series followed by the given gauges `(name, help, value)`.
    pub fn render(&self, gauges: &[(&str, &str, i64)]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP lethe_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE lethe_http_requests_total counter\n");
        let map = match self.series.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        for ((method, route, status), s) in map.iter() {
            let _ = writeln!(
                out,
                "lethe_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                s.count
            );
        }
        out.push_str("# HELP lethe_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE lethe_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in map.iter() {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "lethe_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "lethe_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "lethe_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "lethe_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("GET", "/healthz", 200, Duration::from_millis(3));
        m.observe("GET", "/healthz", 200, Duration::from_millis(300));
        let text = m.render(&[("lethe_workspaces", "Workspaces.", 2)]);
        assert!(text.contains(
            "lethe_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.5\"} 2"));
        assert!(text.contains("lethe_workspaces 2"));
    }
}
