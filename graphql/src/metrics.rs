//! A small hand-written Prometheus registry: request counts and latency histograms by
//! operation type, response cache hits and misses, append latency, projection lag. Recording is a few relaxed atomic adds, so it
//! costs nothing measurable on the hot path; rendering happens only when `/metrics` is scraped.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds (the `+Inf` bucket is implicit). 10 and
/// 20 ms are the latency targets of queries and of durable mutations, so `/metrics` tells how
/// many requests (and appends) missed them.
const BUCKET_BOUNDS_US: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000,
];

/// What kind of GraphQL operation a request ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Query,
    Mutation,
    Subscription,
    /// The request could not be parsed far enough to know.
    Unknown,
}

impl OperationKind {
    const ALL: [OperationKind; 4] = [
        OperationKind::Query,
        OperationKind::Mutation,
        OperationKind::Subscription,
        OperationKind::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Query => "query",
            OperationKind::Mutation => "mutation",
            OperationKind::Subscription => "subscription",
            OperationKind::Unknown => "unknown",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A cumulative latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Count per bucket (not cumulative; summed when rendered); the last one is `+Inf`.
    buckets: [AtomicU64; BUCKET_BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, latency: Duration) {
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKET_BOUNDS_US
            .iter()
            .position(|&bound| latency_us <= bound)
            .unwrap_or(BUCKET_BOUNDS_US.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(latency_us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (i, bound_us) in BUCKET_BOUNDS_US.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let le = *bound_us as f64 / 1e6;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[BUCKET_BOUNDS_US.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let sum_s = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum_s}");
        let _ = writeln!(out, "{name}_count{braces} {}", self.count());
    }
}

/// Counters and histograms of one operation kind.
#[derive(Debug, Default)]
struct OperationMetrics {
    ok: AtomicU64,
    error: AtomicU64,
    latency: Histogram,
}

/// The server's metrics. Shared as `Arc<Metrics>`.
#[derive(Debug, Default)]
pub struct Metrics {
    operations: [OperationMetrics; 4],
    /// HTTP requests refused before reaching GraphQL, by reason.
    rejected_body_too_large: AtomicU64,
    rejected_malformed: AtomicU64,
    rejected_unauthenticated: AtomicU64,
    append_latency: Histogram,
    append_conflicts: AtomicU64,
    login_failures: AtomicU64,
    ws_connections: AtomicU64,
    /// Queries answered from the response cache, answered with the answer a concurrent request
    /// computed for the same question, and computed.
    response_cache_hits: AtomicU64,
    response_cache_shared: AtomicU64,
    response_cache_misses: AtomicU64,
}

/// How a query the response cache could keep was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheLookup {
    /// From a kept answer still exact.
    Hit,
    /// From the answer a concurrent request computed for the same question, after waiting
    /// for it (see `crate::response_cache::ResponseCache::lead`).
    Shared,
    /// Computed.
    Miss,
}

/// Why the HTTP edge refused a request before running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    BodyTooLarge,
    Malformed,
    Unauthenticated,
}

impl Metrics {
    pub fn new() -> Self {
        Metrics::default()
    }

    /// Records one GraphQL operation (HTTP request or subscription start) and how long it took.
    pub fn record_operation(&self, kind: OperationKind, ok: bool, latency: Duration) {
        let op = &self.operations[kind.index()];
        if ok {
            op.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            op.error.fetch_add(1, Ordering::Relaxed);
        }
        op.latency.observe(latency);
    }

    pub fn record_rejection(&self, rejection: Rejection) {
        let counter = match rejection {
            Rejection::BodyTooLarge => &self.rejected_body_too_large,
            Rejection::Malformed => &self.rejected_malformed,
            Rejection::Unauthenticated => &self.rejected_unauthenticated,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the latency of one durable append to the log.
    pub fn record_append(&self, latency: Duration) {
        self.append_latency.observe(latency);
    }

    /// Records an append refused for a concurrent change (it is retried by the app service).
    pub fn record_append_conflict(&self) {
        self.append_conflicts.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how a query the response cache could keep was answered.
    pub fn record_response_cache(&self, lookup: CacheLookup) {
        let counter = match lookup {
            CacheLookup::Hit => &self.response_cache_hits,
            CacheLookup::Shared => &self.response_cache_shared,
            CacheLookup::Miss => &self.response_cache_misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Queries answered from the response cache so far.
    pub fn response_cache_hits(&self) -> u64 {
        self.response_cache_hits.load(Ordering::Relaxed)
    }

    pub fn record_login_failure(&self) {
        self.login_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ws_connected(&self) {
        self.ws_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ws_disconnected(&self) {
        self.ws_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// WebSocket connections open now.
    pub fn ws_connections(&self) -> u64 {
        self.ws_connections.load(Ordering::Relaxed)
    }

    /// Number of appends observed so far (for tests and the benchmark report).
    pub fn append_count(&self) -> u64 {
        self.append_latency.count()
    }

    /// Renders every metric in the Prometheus text exposition format (version 0.0.4). The
    /// projection lag and log head are sampled by the caller at scrape time.
    pub fn render(&self, projection_lag_events: u64, log_head_position: u64) -> String {
        let mut out = String::with_capacity(8 * 1024);
        out.push_str("# HELP graphql_requests_total GraphQL operations by type and outcome.\n");
        out.push_str("# TYPE graphql_requests_total counter\n");
        for kind in OperationKind::ALL {
            let op = &self.operations[kind.index()];
            let name = kind.as_str();
            let ok = op.ok.load(Ordering::Relaxed);
            let error = op.error.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "graphql_requests_total{{operation=\"{name}\",outcome=\"ok\"}} {ok}"
            );
            let _ = writeln!(
                out,
                "graphql_requests_total{{operation=\"{name}\",outcome=\"error\"}} {error}"
            );
        }
        out.push_str(
            "# HELP graphql_request_duration_seconds GraphQL operation latency by type.\n",
        );
        out.push_str("# TYPE graphql_request_duration_seconds histogram\n");
        for kind in OperationKind::ALL {
            let labels = format!("operation=\"{}\"", kind.as_str());
            self.operations[kind.index()].latency.render(
                &mut out,
                "graphql_request_duration_seconds",
                &labels,
            );
        }
        out.push_str(
            "# HELP http_requests_rejected_total Requests refused before execution, by reason.\n",
        );
        out.push_str("# TYPE http_requests_rejected_total counter\n");
        for (reason, counter) in [
            ("body_too_large", &self.rejected_body_too_large),
            ("malformed", &self.rejected_malformed),
            ("unauthenticated", &self.rejected_unauthenticated),
        ] {
            let value = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "http_requests_rejected_total{{reason=\"{reason}\"}} {value}"
            );
        }
        out.push_str(
            "# HELP graphql_response_cache_lookups_total Cacheable queries answered from a kept answer (hit), from a concurrent request's answer (shared) or computed (miss).\n",
        );
        out.push_str("# TYPE graphql_response_cache_lookups_total counter\n");
        for (outcome, counter) in [
            ("hit", &self.response_cache_hits),
            ("shared", &self.response_cache_shared),
            ("miss", &self.response_cache_misses),
        ] {
            let value = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "graphql_response_cache_lookups_total{{outcome=\"{outcome}\"}} {value}"
            );
        }
        out.push_str("# HELP eventlog_append_duration_seconds Latency of durable appends.\n");
        out.push_str("# TYPE eventlog_append_duration_seconds histogram\n");
        self.append_latency
            .render(&mut out, "eventlog_append_duration_seconds", "");
        out.push_str(
            "# HELP eventlog_append_conflicts_total Appends refused for a concurrent change.\n",
        );
        out.push_str("# TYPE eventlog_append_conflicts_total counter\n");
        let _ = writeln!(
            out,
            "eventlog_append_conflicts_total {}",
            self.append_conflicts.load(Ordering::Relaxed)
        );
        out.push_str("# HELP eventlog_head_position Position of the last durable event.\n");
        out.push_str("# TYPE eventlog_head_position gauge\n");
        let _ = writeln!(out, "eventlog_head_position {log_head_position}");
        out.push_str(
            "# HELP projection_lag_events Events the slowest projection is behind the log head.\n",
        );
        out.push_str("# TYPE projection_lag_events gauge\n");
        let _ = writeln!(out, "projection_lag_events {projection_lag_events}");
        out.push_str("# HELP auth_login_failures_total Failed login attempts.\n");
        out.push_str("# TYPE auth_login_failures_total counter\n");
        let _ = writeln!(
            out,
            "auth_login_failures_total {}",
            self.login_failures.load(Ordering::Relaxed)
        );
        out.push_str("# HELP graphql_ws_connections Open GraphQL WebSocket connections.\n");
        out.push_str("# TYPE graphql_ws_connections gauge\n");
        let _ = writeln!(
            out,
            "graphql_ws_connections {}",
            self.ws_connections.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::new();
        metrics.record_append(Duration::from_micros(50));
        metrics.record_append(Duration::from_micros(700));
        metrics.record_append(Duration::from_millis(19));
        metrics.record_append(Duration::from_millis(21));
        metrics.record_append(Duration::from_secs(10));
        let text = metrics.render(3, 42);
        assert!(text.contains("eventlog_append_duration_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(text.contains("eventlog_append_duration_seconds_bucket{le=\"0.001\"} 2\n"));
        assert!(text.contains("eventlog_append_duration_seconds_bucket{le=\"0.02\"} 3\n"));
        assert!(text.contains("eventlog_append_duration_seconds_bucket{le=\"0.025\"} 4\n"));
        assert!(text.contains("eventlog_append_duration_seconds_bucket{le=\"2.5\"} 4\n"));
        assert!(text.contains("eventlog_append_duration_seconds_bucket{le=\"+Inf\"} 5\n"));
        assert!(text.contains("eventlog_append_duration_seconds_count 5\n"));
        assert!(text.contains("projection_lag_events 3\n"));
        assert!(text.contains("eventlog_head_position 42\n"));
    }

    #[test]
    fn operations_are_counted_by_kind_and_outcome() {
        let metrics = Metrics::new();
        metrics.record_operation(OperationKind::Query, true, Duration::from_micros(10));
        metrics.record_operation(OperationKind::Query, false, Duration::from_micros(10));
        metrics.record_operation(OperationKind::Mutation, true, Duration::from_micros(10));
        let text = metrics.render(0, 0);
        assert!(text.contains("graphql_requests_total{operation=\"query\",outcome=\"ok\"} 1\n"));
        assert!(text.contains("graphql_requests_total{operation=\"query\",outcome=\"error\"} 1\n"));
        assert!(text.contains("graphql_requests_total{operation=\"mutation\",outcome=\"ok\"} 1\n"));
        assert!(text.contains("graphql_request_duration_seconds_count{operation=\"query\"} 2\n"));
        metrics.record_response_cache(CacheLookup::Hit);
        metrics.record_response_cache(CacheLookup::Hit);
        metrics.record_response_cache(CacheLookup::Shared);
        metrics.record_response_cache(CacheLookup::Miss);
        let text = metrics.render(0, 0);
        assert!(text.contains("graphql_response_cache_lookups_total{outcome=\"hit\"} 2\n"));
        assert!(text.contains("graphql_response_cache_lookups_total{outcome=\"shared\"} 1\n"));
        assert!(text.contains("graphql_response_cache_lookups_total{outcome=\"miss\"} 1\n"));
        assert_eq!(metrics.response_cache_hits(), 2);
    }
}
