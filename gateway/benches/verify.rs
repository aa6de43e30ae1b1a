//! Latency of the cascade's checks (`gateway::verify`) on a 2,000-token answer (issue 33: p99
//! ≤ 1 ms added): a worked maths answer with many steps, a structured-output answer validated
//! against its schema (the schema compiled per request, as the gateway does), and tool calls.
//! Run with `cargo bench -p gateway --bench verify` (see bench/README.md).

mod support;

use gateway::openai::ChatCompletionRequest;
use gateway::verify::{Answer, Check, check};

fn request(body: serde_json::Value) -> ChatCompletionRequest {
    ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()).expect("valid request")
}

fn main() {
    // About 4 characters per token: 8,000 characters.
    let question =
        "A shop sells 12 boxes of 24 pens at $3.50 each and 7 crates of 15 rulers. How much?";
    let step = "Then 12 * 24 = 288 pens, and 288 * 3.5 = 1008 dollars; 7 * 15 = 105 rulers, so 1008 + 105 = 1113. ";
    let maths = format!("{}\n#### 1113", step.repeat(8_000 / step.len() + 1));
    let maths_request = request(serde_json::json!({
        "model": "auto:verify", "messages": [{"role": "user", "content": question}]
    }));
    let maths_answer = Answer::text(&maths);
    println!(
        "answer: {} characters (~{} tokens)",
        maths.len(),
        maths.len() / 4
    );
    support::measure("maths answer, every check", || {
        check(&maths_request, &maths_answer, &Check::ALL).passed()
    });

    let items: Vec<serde_json::Value> = (0..80)
        .map(|i| serde_json::json!({"name": format!("item number {i} with a longer description to fill the answer"), "count": i, "price": 1.5 * f64::from(i)}))
        .collect();
    let structured = serde_json::json!({"items": items, "total": 4740.0}).to_string();
    let schema_request = request(serde_json::json!({
        "model": "auto:verify",
        "messages": [{"role": "user", "content": "List the items."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "items", "strict": true, "schema": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "count": {"type": "integer", "minimum": 0}, "price": {"type": "number"}
                }, "required": ["name", "count", "price"], "additionalProperties": false}},
                "total": {"type": "number"}
            },
            "required": ["items", "total"], "additionalProperties": false
        }}}
    }));
    let structured_answer = Answer::text(&structured);
    println!("structured answer: {} characters", structured.len());
    support::measure("structured output against its schema, every check", || {
        check(&schema_request, &structured_answer, &Check::ALL).passed()
    });

    let tool_request = request(serde_json::json!({
        "model": "auto:verify",
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"], "additionalProperties": false
        }}}]
    }));
    let tool_answer = Answer {
        text: String::new(),
        finish_reason: Some("tool_calls".into()),
        tool_calls: (0..8)
            .map(|i| {
                (
                    "get_weather".to_owned(),
                    format!(r#"{{"city":"City {i}","days":{i}}}"#),
                )
            })
            .collect(),
    };
    support::measure(
        "eight tool calls against their parameters, every check",
        || check(&tool_request, &tool_answer, &Check::ALL).passed(),
    );
}
