//! What the load generators of `scripts/bench.sh` (`load`, `streams`) share: the request they
//! send, as given on the command line, and how they report latencies.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

/// p50, p90, p99 and the maximum of `values` in microseconds (`null` when there are none).
pub fn percentiles(values: &mut [Duration]) -> serde_json::Value {
    if values.is_empty() {
        return serde_json::Value::Null;
    }
    values.sort();
    let at = |q: f64| {
        let index = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1;
        values[index].as_secs_f64() * 1e6
    };
    json!({"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0)})
}

/// The request a load generator sends, from its command line.
#[derive(clap::Args)]
pub struct RequestArgs {
    /// The URL to POST to.
    #[arg(long)]
    pub url: String,
    /// The request body (a file holding JSON).
    #[arg(long)]
    pub body: PathBuf,
    /// Extra headers, `Name: value`.
    #[arg(long = "header")]
    pub headers: Vec<String>,
}

impl RequestArgs {
    /// The body file's bytes (a missing file stops the run).
    pub fn body_bytes(&self) -> bytes::Bytes {
        std::fs::read(&self.body)
            .unwrap_or_else(|err| panic!("{}: {err}", self.body.display()))
            .into()
    }

    /// The extra headers as (name, value), trimmed (a malformed one stops the run).
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|header| {
                let (name, value) = header
                    .split_once(':')
                    .unwrap_or_else(|| panic!("--header {header:?}: expected `Name: value`"));
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect()
    }
}
