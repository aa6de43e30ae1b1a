//! What the load generators of `scripts/bench.sh` (`load`, `streams`) report alike.

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
