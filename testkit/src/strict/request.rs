//! What both providers' rules read from a request, and the refusal they answer with.

use serde_json::{Value, json};

/// A provider's refusal: the HTTP status and the error body, in the provider's own shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub body: Value,
}

/// The fakes' behaviour models, which the strict rules leave alone.
pub fn is_fake_model(name: &str) -> bool {
    name.starts_with("fake-")
}

pub(super) fn model_of(request: &Value) -> &str {
    request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A field that was sent with a value (`null` counts as not sent, as the APIs treat it).
pub(super) fn sent<'a>(request: &'a Value, field: &str) -> Option<&'a Value> {
    request.get(field).filter(|value| !value.is_null())
}

/// The value as the request wrote it (`0.2`, `0`, `0.0`), as OpenAI quotes it back.
pub(super) fn written(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

pub(super) fn is_number(value: &Value, expected: f64) -> bool {
    value.as_f64() == Some(expected)
}

pub(super) fn openai_error(message: String, param: &str, code: &str) -> Refusal {
    Refusal {
        status: 400,
        body: json!({
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }),
    }
}

pub(super) fn anthropic_error(message: impl Into<String>) -> Refusal {
    Refusal {
        status: 400,
        body: json!({
            "type": "error",
            "error": {"type": "invalid_request_error", "message": message.into()},
            "request_id": "req_fake_strict",
        }),
    }
}

/// Requests and refusal readers the rules' tests share.
#[cfg(test)]
pub(super) mod samples {
    use serde_json::{Value, json};

    use super::super::{anthropic_messages, openai_chat};

    pub fn chat(extra: Value) -> Value {
        let mut request = json!({"messages": [{"role": "user", "content": "Hi"}]});
        for (key, value) in extra.as_object().unwrap() {
            request[key] = value.clone();
        }
        request
    }

    pub fn openai_refusal(request: Value) -> (String, String, String) {
        let refusal = openai_chat(&request).expect("refused");
        assert_eq!(refusal.status, 400);
        let error = &refusal.body["error"];
        assert_eq!(error["type"], "invalid_request_error");
        (
            error["message"].as_str().unwrap().to_owned(),
            error["param"].as_str().unwrap().to_owned(),
            error["code"].as_str().unwrap().to_owned(),
        )
    }

    pub fn message(extra: Value) -> Value {
        let mut request = json!({
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Hi"}],
        });
        for (key, value) in extra.as_object().unwrap() {
            request[key] = value.clone();
        }
        request
    }

    pub fn anthropic_refusal(request: Value) -> String {
        let refusal = anthropic_messages(&request).expect("refused");
        assert_eq!(refusal.status, 400);
        assert_eq!(refusal.body["type"], "error");
        assert_eq!(refusal.body["error"]["type"], "invalid_request_error");
        refusal.body["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}
