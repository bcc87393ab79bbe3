//! Counters and the request latency histogram, rendered as Prometheus text.
//!
//! Everything is a relaxed atomic: statistics that no decision reads, so the
//! hot path pays one uncontended-in-the-common-case `fetch_add` per counter.
//! The text is written by hand (format 0.0.4); no metrics crate is needed
//! for a handful of counters and one histogram.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::budget::Budget;

/// What a `POST /instances/{id}/events` send came to (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// 202: the event is in the instance's mailbox.
    Accepted,
    /// 404: the id had no instance when the request was looked up.
    NoSuchId,
    /// 429: the mailbox was full (no wait).
    Full,
    /// 429: the mailbox stayed full for the whole wait.
    Timeout,
    /// 410: the instance was deleted between the lookup and the send.
    Gone,
    /// 503: the id is registered but its channel is closed (not expected:
    /// a worker keeps its receiver until its channel is closed).
    Closed,
    /// 503: the body did not fit in the buffered-bytes budget.
    OverBudget,
}

impl SendOutcome {
    /// Every outcome, in the order of the exposition.
    pub const ALL: [SendOutcome; 7] = [
        SendOutcome::Accepted,
        SendOutcome::NoSuchId,
        SendOutcome::Full,
        SendOutcome::Timeout,
        SendOutcome::Gone,
        SendOutcome::Closed,
        SendOutcome::OverBudget,
    ];

    /// The Prometheus label value.
    pub fn label(self) -> &'static str {
        match self {
            SendOutcome::Accepted => "accepted",
            SendOutcome::NoSuchId => "no_such_id",
            SendOutcome::Full => "full",
            SendOutcome::Timeout => "timeout",
            SendOutcome::Gone => "gone",
            SendOutcome::Closed => "closed",
            SendOutcome::OverBudget => "over_budget",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The routes the latency histogram is split by (method and matched path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    PutInstance,
    DeleteInstance,
    GetInstance,
    PostEvent,
    ListInstances,
    Metrics,
    Other,
}

impl Route {
    const ALL: [Route; 7] = [
        Route::PutInstance,
        Route::DeleteInstance,
        Route::GetInstance,
        Route::PostEvent,
        Route::ListInstances,
        Route::Metrics,
        Route::Other,
    ];

    pub(crate) fn of(method: &axum::http::Method, matched: Option<&str>) -> Route {
        use axum::http::Method;
        match (matched, method) {
            (Some("/instances/{id}"), &Method::PUT) => Route::PutInstance,
            (Some("/instances/{id}"), &Method::DELETE) => Route::DeleteInstance,
            (Some("/instances/{id}"), &Method::GET) => Route::GetInstance,
            (Some("/instances/{id}/events"), &Method::POST) => Route::PostEvent,
            (Some("/instances"), &Method::GET) => Route::ListInstances,
            (Some("/metrics"), &Method::GET) => Route::Metrics,
            _ => Route::Other,
        }
    }

    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Route::PutInstance => ("PUT", "/instances/{id}"),
            Route::DeleteInstance => ("DELETE", "/instances/{id}"),
            Route::GetInstance => ("GET", "/instances/{id}"),
            Route::PostEvent => ("POST", "/instances/{id}/events"),
            Route::ListInstances => ("GET", "/instances"),
            Route::Metrics => ("GET", "/metrics"),
            Route::Other => ("other", "other"),
        }
    }
}

/// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` follows.
const BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

/// A Prometheus histogram of durations (non-cumulative buckets, summed on render).
#[derive(Debug, Default)]
struct Histogram {
    /// `BUCKETS.len()` finite buckets, then `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }
}

/// HTTP status codes counted one by one; anything else is `other`.
const CODES: [u16; 15] = [
    200, 201, 202, 204, 400, 401, 404, 405, 408, 410, 413, 415, 429, 500, 503,
];

/// The daemon's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) created: AtomicU64,
    pub(crate) replaced: AtomicU64,
    pub(crate) deleted: AtomicU64,
    pub(crate) processed: AtomicU64,
    /// Events whose handler panicked.
    pub(crate) failed: AtomicU64,
    /// Posts waiting for space now (`?wait_ms=`).
    pub(crate) waiting: AtomicU64,
    /// Connections open now.
    pub(crate) connections: AtomicU64,
    /// Connections answered 503 at the connection cap.
    pub(crate) refused_connections: AtomicU64,
    /// `PUT`s answered 503 because the slot budget was full.
    pub(crate) over_budget_slots: AtomicU64,
    /// Mutating requests answered 401.
    pub(crate) unauthorized: AtomicU64,
    /// Accept errors (file descriptors exhausted, for one).
    pub(crate) accept_errors: AtomicU64,
    sends: [AtomicU64; SendOutcome::ALL.len()],
    /// `CODES.len()` codes, then `other`.
    responses: [AtomicU64; CODES.len() + 1],
    latency: [Histogram; Route::ALL.len()],
}

impl Metrics {
    pub(crate) fn count_send(&self, outcome: SendOutcome) {
        self.sends[outcome.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn sends(&self, outcome: SendOutcome) -> u64 {
        self.sends[outcome.index()].load(Relaxed)
    }

    pub(crate) fn observe_request(&self, route: Route, status: u16, elapsed: Duration) {
        self.latency[route as usize].observe(elapsed);
        let slot = CODES
            .iter()
            .position(|&c| c == status)
            .unwrap_or(CODES.len());
        self.responses[slot].fetch_add(1, Relaxed);
    }

    pub(crate) fn requests(&self) -> u64 {
        self.responses.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// The Prometheus text exposition; `instances` is the registry's count.
    pub(crate) fn render(
        &self,
        instances: usize,
        buffered: usize,
        budgets: [&Budget; 2],
    ) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // `write!` into a String cannot fail; the results are ignored.
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        gauge(
            &mut out,
            "webhook_instances",
            "Instances registered now.",
            instances as u64,
        );
        gauge(
            &mut out,
            "webhook_events_buffered",
            "Events in mailboxes now (live instances and deleted ones still draining).",
            buffered as u64,
        );
        gauge(
            &mut out,
            "webhook_sends_waiting",
            "Posts waiting for space in a full mailbox now.",
            self.waiting.load(Relaxed),
        );
        gauge(
            &mut out,
            "webhook_connections",
            "HTTP connections open now.",
            self.connections.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP webhook_budget_used Units in use of each global budget (bytes of buffered bodies, mailbox slots).\n# TYPE webhook_budget_used gauge"
        );
        for budget in budgets {
            let _ = writeln!(
                out,
                "webhook_budget_used{{budget=\"{}\"}} {}",
                budget.name,
                budget.used()
            );
        }
        let _ = writeln!(
            out,
            "# HELP webhook_budget_limit The limit of each global budget.\n# TYPE webhook_budget_limit gauge"
        );
        for budget in budgets {
            let _ = writeln!(
                out,
                "webhook_budget_limit{{budget=\"{}\"}} {}",
                budget.name,
                budget.limit()
            );
        }
        counter(
            &mut out,
            "webhook_connections_refused_total",
            "Connections answered 503 at the connection cap.",
            self.refused_connections.load(Relaxed),
        );
        counter(
            &mut out,
            "webhook_accept_errors_total",
            "Errors accepting a connection (file descriptors exhausted, for one).",
            self.accept_errors.load(Relaxed),
        );
        counter(
            &mut out,
            "webhook_instances_refused_total",
            "PUTs answered 503 because the mailbox slot budget was full.",
            self.over_budget_slots.load(Relaxed),
        );
        counter(
            &mut out,
            "webhook_unauthorized_total",
            "Mutating requests answered 401.",
            self.unauthorized.load(Relaxed),
        );
        counter(
            &mut out,
            "webhook_instances_created_total",
            "PUTs that created an instance.",
            self.created.load(Relaxed),
        );
        counter(
            &mut out,
            "webhook_instances_replaced_total",
            "PUTs that replaced an instance.",
            self.replaced.load(Relaxed),
        );
        counter(
            &mut out,
            "webhook_instances_deleted_total",
            "Instances removed by DELETE.",
            self.deleted.load(Relaxed),
        );
        counter(
            &mut out,
            "webhook_events_processed_total",
            "Events processed by instance workers.",
            self.processed.load(Relaxed),
        );
        counter(
            &mut out,
            "webhook_events_failed_total",
            "Events whose handler panicked.",
            self.failed.load(Relaxed),
        );

        let _ = writeln!(
            out,
            "# HELP webhook_sends_total Event sends by outcome.\n# TYPE webhook_sends_total counter"
        );
        for outcome in SendOutcome::ALL {
            let _ = writeln!(
                out,
                "webhook_sends_total{{outcome=\"{}\"}} {}",
                outcome.label(),
                self.sends(outcome)
            );
        }

        let _ = writeln!(
            out,
            "# HELP webhook_http_responses_total HTTP responses by status code.\n# TYPE webhook_http_responses_total counter"
        );
        for (i, code) in CODES.iter().enumerate() {
            let _ = writeln!(
                out,
                "webhook_http_responses_total{{code=\"{code}\"}} {}",
                self.responses[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "webhook_http_responses_total{{code=\"other\"}} {}",
            self.responses[CODES.len()].load(Relaxed)
        );

        let name = "webhook_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from request to response head, by route.\n# TYPE {name} histogram"
        );
        for route in Route::ALL {
            let (method, path) = route.labels();
            let h = &self.latency[route as usize];
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Relaxed);
                let _ = writeln!(
                    out,
                    "{name}_bucket{{method=\"{method}\",route=\"{path}\",le=\"{le}\"}} {cumulative}"
                );
            }
            cumulative += h.buckets[BUCKETS.len()].load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{method=\"{method}\",route=\"{path}\",le=\"+Inf\"}} {cumulative}"
            );
            let sum = h.sum_nanos.load(Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "{name}_sum{{method=\"{method}\",route=\"{path}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "{name}_count{{method=\"{method}\",route=\"{path}\"}} {}",
                h.count.load(Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_inf() {
        let m = Metrics::default();
        m.observe_request(Route::PostEvent, 202, Duration::from_micros(30));
        m.observe_request(Route::PostEvent, 429, Duration::from_millis(3));
        m.observe_request(Route::PostEvent, 202, Duration::from_secs(60));
        let bytes = Budget::new("bytes", 10);
        let slots = Budget::new("slots", 20);
        let text = m.render(0, 0, [&bytes, &slots]);
        let line = |needle: &str| {
            text.lines()
                .find(|l| l.starts_with(needle))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let post = "webhook_request_duration_seconds_bucket{method=\"POST\",route=\"/instances/{id}/events\"";
        assert_eq!(
            line(&format!("{post},le=\"0.00005\"}}")),
            format!("{post},le=\"0.00005\"}} 1")
        );
        assert_eq!(
            line(&format!("{post},le=\"0.005\"}}")),
            format!("{post},le=\"0.005\"}} 2")
        );
        assert_eq!(
            line(&format!("{post},le=\"10\"}}")),
            format!("{post},le=\"10\"}} 2")
        );
        assert_eq!(
            line(&format!("{post},le=\"+Inf\"}}")),
            format!("{post},le=\"+Inf\"}} 3")
        );
        assert!(text.contains("webhook_http_responses_total{code=\"202\"} 2"));
        assert!(text.contains("webhook_http_responses_total{code=\"429\"} 1"));
        assert_eq!(m.requests(), 3);
    }
}
