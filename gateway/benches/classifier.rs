//! Latency of the difficulty classifier on a 4k-token request (issue: p99 ≤ 50 µs).
//! Run with `cargo bench -p gateway --bench classifier` (see bench/README.md).

use std::time::Instant;

use gateway::openai::ChatCompletionRequest;
use gateway::routing::classifier::classify;

fn request_of_about_4k_tokens() -> ChatCompletionRequest {
    // About 4 characters per token: 16,000 characters of varied prose, numbers and code.
    let paragraph = "The quarterly report shows revenue of $12,400 from 37 customers, a 14% increase. \
        Explain why the margin fell, then implement `fn margin(rev: f64, cost: f64) -> f64` and prove it \
        handles zero revenue. Compare it with last year's 9 offices and 2,150 orders. ";
    let text = paragraph.repeat(16_000 / paragraph.len() + 1);
    let body = serde_json::json!({
        "model": "auto",
        "messages": [
            {"role": "system", "content": "You are a careful financial analyst."},
            {"role": "user", "content": text},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
    });
    ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()).expect("valid request")
}

fn main() {
    let request = request_of_about_4k_tokens();
    let chars: usize = request
        .messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .map(str::len)
        .sum();
    for _ in 0..200 {
        std::hint::black_box(classify(&request));
    }
    let runs = 5_000;
    let mut nanos: Vec<u128> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(classify(std::hint::black_box(&request)));
            started.elapsed().as_nanos()
        })
        .collect();
    nanos.sort_unstable();
    let at = |q: f64| nanos[((runs as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    println!(
        "classifier on a {chars}-character (~{} token) request, {runs} runs",
        chars / 4
    );
    println!(
        "p50 {:.1} µs   p90 {:.1} µs   p99 {:.1} µs   max {:.1} µs",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}
