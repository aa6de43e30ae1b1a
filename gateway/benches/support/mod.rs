//! What the latency benchmarks share: time a closure many times after a warm-up, and print the
//! percentiles.

use std::time::Instant;

/// Runs `run` 200 times to warm up, then 5,000 times timed; prints `title` and p50/p90/p99/max.
pub fn measure<T>(title: &str, mut run: impl FnMut() -> T) {
    for _ in 0..200 {
        std::hint::black_box(run());
    }
    let runs = 5_000;
    let mut nanos: Vec<u128> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(run());
            started.elapsed().as_nanos()
        })
        .collect();
    nanos.sort_unstable();
    let at = |q: f64| nanos[((runs as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    println!("{title}, {runs} runs");
    println!(
        "  p50 {:.1} µs   p90 {:.1} µs   p99 {:.1} µs   max {:.1} µs",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}
