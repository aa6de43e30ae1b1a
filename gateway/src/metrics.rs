//! What the gateway itself adds to a request, for `/metrics`: the histogram
//! `llm_gateway_overhead_seconds`, labelled by route and streaming, so operators see in
//! production what `bench/` measures.
//!
//! Overhead is the time from a request's arrival at `/v1` to its response head, less the time spent
//! waiting for the provider: sending the request and reading its answer (for a stream, its first
//! event), and backoff between retries. Later chunks of a stream are forwarded as they arrive and
//! are not counted.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

// Tokio's clock: the same as the system's, except in tests that pause time.
use tokio::time::Instant;

tokio::task_local! {
    /// The provider wait of the request this task is serving.
    static UPSTREAM_WAIT: Cell<Duration>;
}

/// Awaits `work`, counting its time as waiting for the provider when a request is being
/// measured (outside [`measuring_upstream_wait`] it just awaits).
pub async fn upstream<F: Future>(work: F) -> F::Output {
    let started = Instant::now();
    let output = work.await;
    let _outside_a_request =
        UPSTREAM_WAIT.try_with(|wait| wait.set(wait.get() + started.elapsed()));
    output
}

/// The provider wait of the request being served so far; `None` outside a measured request.
pub fn upstream_wait_so_far() -> Option<Duration> {
    UPSTREAM_WAIT.try_with(Cell::get).ok()
}

/// Runs `request` and returns its output with the time it spent in [`upstream`].
pub async fn measuring_upstream_wait<F: Future>(request: F) -> (F::Output, Duration) {
    UPSTREAM_WAIT
        .scope(Cell::new(Duration::ZERO), async move {
            let output = request.await;
            (output, UPSTREAM_WAIT.with(Cell::get))
        })
        .await
}

/// Upper bounds of the buckets, in seconds: from a tenth of a millisecond (what a reverse
/// proxy adds) to a quarter of a second.
const BOUNDS_SECONDS: [f64; 11] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];

/// The routes whose overhead is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeasuredRoute {
    ChatCompletions,
    Embeddings,
}

impl MeasuredRoute {
    const ALL: [MeasuredRoute; 2] = [MeasuredRoute::ChatCompletions, MeasuredRoute::Embeddings];

    /// The route of a path under `/v1` (with or without the prefix).
    pub fn of_path(path: &str) -> Option<Self> {
        match path.strip_prefix("/v1").unwrap_or(path) {
            "/chat/completions" => Some(Self::ChatCompletions),
            "/embeddings" => Some(Self::Embeddings),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/v1/chat/completions",
            Self::Embeddings => "/v1/embeddings",
        }
    }
}

#[derive(Default)]
struct Histogram {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    buckets: [AtomicU64; BOUNDS_SECONDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        let bucket = BOUNDS_SECONDS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BOUNDS_SECONDS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_nanos
            .fetch_add(u64::try_from(value.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }
}

/// Lock-free: each request adds to two atomics.
#[derive(Default)]
pub struct GatewayMetrics {
    /// Indexed by route, then by streaming (0 = no, 1 = yes).
    overhead: [[Histogram; 2]; 2],
}

impl GatewayMetrics {
    pub fn observe_overhead(&self, route: MeasuredRoute, streaming: bool, overhead: Duration) {
        self.overhead[route as usize][usize::from(streaming)].observe(overhead);
    }

    /// The histograms in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        let name = "llm_gateway_overhead_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time the gateway adds to a request: arrival to response head, less the wait for the provider."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for route in MeasuredRoute::ALL {
            for streaming in [false, true] {
                let histogram = &self.overhead[route as usize][usize::from(streaming)];
                let labels = format!("route=\"{}\",streaming=\"{streaming}\"", route.label());
                let mut cumulative = 0;
                for (bucket, bound) in histogram.buckets.iter().zip(
                    BOUNDS_SECONDS
                        .iter()
                        .map(|bound| bound.to_string())
                        .chain(["+Inf".to_owned()]),
                ) {
                    cumulative += bucket.load(Relaxed);
                    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
                }
                let sum = histogram.sum_nanos.load(Relaxed) as f64 / 1e9;
                let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
                let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused time: the sleeps are exact, however loaded the machine (a wall-clock bound here
    // failed under load).
    #[tokio::test(start_paused = true)]
    async fn only_the_time_in_upstream_counts_as_waiting() {
        let ((), waited) = measuring_upstream_wait(async {
            upstream(tokio::time::sleep(Duration::from_millis(30))).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            upstream(tokio::time::sleep(Duration::from_millis(10))).await;
        })
        .await;
        assert_eq!(waited, Duration::from_millis(40));
        // Outside a measured request `upstream` only awaits.
        assert_eq!(upstream(async { 7 }).await, 7);
    }

    #[test]
    fn renders_cumulative_buckets_per_route_and_streaming() {
        let metrics = GatewayMetrics::default();
        let chat = MeasuredRoute::of_path("/v1/chat/completions").unwrap();
        metrics.observe_overhead(chat, false, Duration::from_micros(80));
        metrics.observe_overhead(chat, false, Duration::from_micros(700));
        metrics.observe_overhead(chat, true, Duration::from_secs(2));
        assert_eq!(
            MeasuredRoute::of_path("/embeddings"),
            Some(MeasuredRoute::Embeddings)
        );
        assert_eq!(MeasuredRoute::of_path("/v1/models"), None);

        let mut text = String::new();
        metrics.render(&mut text);
        let line = |needle: &str| {
            text.lines()
                .find(|line| line.starts_with(needle))
                .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        let plain = "llm_gateway_overhead_seconds_bucket{route=\"/v1/chat/completions\",streaming=\"false\"";
        assert_eq!(line(&format!("{plain},le=\"0.0001\"}}")), "1");
        assert_eq!(line(&format!("{plain},le=\"0.0005\"}}")), "1");
        assert_eq!(line(&format!("{plain},le=\"0.001\"}}")), "2");
        assert_eq!(line(&format!("{plain},le=\"+Inf\"}}")), "2");
        let streamed =
            "llm_gateway_overhead_seconds_bucket{route=\"/v1/chat/completions\",streaming=\"true\"";
        assert_eq!(line(&format!("{streamed},le=\"0.25\"}}")), "0");
        assert_eq!(line(&format!("{streamed},le=\"+Inf\"}}")), "1");
        assert_eq!(
            line(
                "llm_gateway_overhead_seconds_sum{route=\"/v1/chat/completions\",streaming=\"false\"}"
            ),
            "0.00078"
        );
        assert_eq!(
            line(
                "llm_gateway_overhead_seconds_count{route=\"/v1/embeddings\",streaming=\"false\"}"
            ),
            "0"
        );
    }
}
