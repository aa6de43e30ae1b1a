//! Latency of the router on a 4k-token request: the semantic router (issue: p99 ≤ 1 ms on one
//! core) and the surface classifier it falls back to; the semantic model's load time and the
//! memory it adds. Run with `cargo bench -p gateway --bench classifier` (see bench/README.md).

use std::time::Instant;

mod support;

use gateway::openai::ChatCompletionRequest;
use gateway::routing::classifier::classify;
use gateway::routing::semantic::{SemanticModel, default_model_dir};

fn request_of_about_4k_tokens() -> ChatCompletionRequest {
    request_starting_with("")
}

/// The same request as a multiple-choice question (options where the classifier reads them):
/// the one kind that also reads the outcome memory (11,665 published outcomes, 100 nearest),
/// the router's slowest path.
fn multiple_choice_request_of_about_4k_tokens() -> ChatCompletionRequest {
    request_starting_with(
        "Which fell most?\nA. the margin\nB. the revenue\nC. the offices\nD. the orders\n",
    )
}

fn request_starting_with(start: &str) -> ChatCompletionRequest {
    // About 4 characters per token: 16,000 characters of varied prose, numbers and code.
    let paragraph = "The quarterly report shows revenue of $12,400 from 37 customers, a 14% increase. \
        Explain why the margin fell, then implement `fn margin(rev: f64, cost: f64) -> f64` and prove it \
        handles zero revenue. Compare it with last year's 9 offices and 2,150 orders. ";
    let text = start.to_owned() + &paragraph.repeat(16_000 / paragraph.len() + 1);
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

/// Resident memory of this process, from /proc (Linux), in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn measure(name: &str, chars: usize, run: impl FnMut()) {
    let title = format!(
        "{name} on a {chars}-character (~{} token) request",
        chars / 4
    );
    support::measure(&title, run);
}

fn main() {
    let request = request_of_about_4k_tokens();
    let chars: usize = request
        .messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .map(str::len)
        .sum();
    let before = rss_mib();
    let started = Instant::now();
    let model = SemanticModel::load(&default_model_dir()).expect("the shipped router model loads");
    let load = started.elapsed();
    let after = rss_mib();
    println!(
        "semantic model: loaded in {:.0} ms, RSS {before:.1} -> {after:.1} MiB (+{:.1} MiB)",
        load.as_secs_f64() * 1000.0,
        after - before
    );
    measure("semantic router", chars, || {
        std::hint::black_box(model.classify(std::hint::black_box(&request)));
    });
    let multiple_choice = multiple_choice_request_of_about_4k_tokens();
    measure(
        "semantic router, multiple choice (reads the outcome memory)",
        chars,
        || {
            std::hint::black_box(model.classify(std::hint::black_box(&multiple_choice)));
        },
    );
    measure("surface classifier", chars, || {
        std::hint::black_box(classify(std::hint::black_box(&request)));
    });
}
