//! An open-loop load generator for `scripts/bench.sh`: sends POST requests at a fixed rate and
//! reports latency percentiles as JSON on standard output.
//!
//! Each request's latency counts from the moment it was due, not from when it was sent, so a
//! slow target cannot hide its queueing by slowing the generator down (coordinated omission).
//! Two times per request: to the first byte of the body (for a stream, its first event) and to
//! the last byte. Maximum throughput is wrk's job; this measures latency at a given rate.

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use testkit::load_stats::{RequestArgs, percentiles};

/// POSTs a request at a fixed rate and reports latency percentiles as JSON.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    request: RequestArgs,
    /// Requests per second.
    #[arg(long)]
    rate: u32,
    /// How long to send, in seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// A first stretch at the same rate that is not measured (connections, caches, JIT-free warm-up).
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
}

struct Sample {
    first_byte: Duration,
    last_byte: Duration,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let body = args.request.body_bytes();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    for (name, value) in args.request.header_pairs() {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();

    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let warmup = u64::from(args.rate) * args.warmup_seconds;
    let total = warmup + u64::from(args.rate) * args.seconds;
    let started = Instant::now();
    // The pacer runs on its own thread: tokio's timer has a 1 ms granularity, which at 1-3 k req/s
    // would send requests in bursts and add up to a millisecond to every latency. A thread that
    // sleeps until 60 µs before (the kernel's timer slack is 50 µs) and spins the rest hands each
    // request over when it is due.
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel();
    let pacer = std::thread::spawn(move || {
        for number in 0..total {
            let due = started + interval.mul_f64(number as f64);
            let spin_from = due.checked_sub(Duration::from_micros(60)).unwrap_or(due);
            if let Some(wait) = spin_from.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            while Instant::now() < due {
                std::hint::spin_loop();
            }
            if due_tx.send((number, due)).is_err() {
                return;
            }
        }
    });
    let mut tasks = Vec::with_capacity(total as usize);
    while let Some((number, due)) = due_rx.recv().await {
        let (client, url, body) = (client.clone(), args.request.url.clone(), body.clone());
        let measured = number >= warmup;
        tasks.push(tokio::spawn(async move {
            let outcome = one_request(&client, &url, body, due).await;
            (measured, outcome)
        }));
    }
    pacer.join().expect("the pacer thread does not panic");
    let sending = started.elapsed();

    let mut samples = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (true, Ok(sample)) => samples.push(sample),
            (true, Err(error)) => errors.push(error),
            (false, _) => {}
        }
    }
    let mut first: Vec<Duration> = samples.iter().map(|s| s.first_byte).collect();
    let mut last: Vec<Duration> = samples.iter().map(|s| s.last_byte).collect();
    errors.sort();
    errors.dedup();
    let report = json!({
        "rate": args.rate,
        "seconds": args.seconds,
        "sent_rate": total as f64 / sending.as_secs_f64(),
        "ok": samples.len(),
        "errors": u64::from(args.rate) * args.seconds - samples.len() as u64,
        "error_kinds": errors.iter().take(5).collect::<Vec<_>>(),
        "first_byte_us": percentiles(&mut first),
        "last_byte_us": percentiles(&mut last),
    });
    println!("{report}");
}

async fn one_request(
    client: &reqwest::Client,
    url: &str,
    body: bytes::Bytes,
    due: Instant,
) -> Result<Sample, String> {
    let mut response = client
        .post(url)
        .body(body)
        .send()
        .await
        .map_err(|err| format!("send: {err}"))?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let Some(_) = response
        .chunk()
        .await
        .map_err(|err| format!("body: {err}"))?
    else {
        return Err("empty body".into());
    };
    let first_byte = due.elapsed();
    while response
        .chunk()
        .await
        .map_err(|err| format!("body: {err}"))?
        .is_some()
    {}
    Ok(Sample {
        first_byte,
        last_byte: due.elapsed(),
    })
}
