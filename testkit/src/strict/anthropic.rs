//! Anthropic's messages rules but thinking's (see [`super`]).

use serde_json::Value;

use super::models::anthropic_model;
use super::request::{Refusal, anthropic_error, is_fake_model, model_of, sent};
use super::thinking::anthropic_thinking;

/// Anthropic's `POST /v1/messages` rules for the model the request names.
pub fn anthropic_messages(request: &Value) -> Option<Refusal> {
    let name = model_of(request);
    if is_fake_model(name) {
        return None;
    }
    let model = anthropic_model(name);

    let system_messages = model.is_some_and(|model| model.system_messages);
    let messages = request.get("messages").and_then(Value::as_array);
    if !system_messages
        && messages
            .into_iter()
            .flatten()
            .any(|message| message.get("role").and_then(Value::as_str) == Some("system"))
    {
        return Some(anthropic_error(
            "messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role.",
        ));
    }

    let max_tokens = request.get("max_tokens").and_then(Value::as_u64);
    if let (Some(model), Some(asked)) = (model, max_tokens) {
        let limit = model.max_output_tokens;
        if asked > limit {
            return Some(anthropic_error(format!(
                "max_tokens: {asked} > {limit}, which is the maximum allowed number of output tokens for {name}"
            )));
        }
    }

    if let Some(temperature) = sent(request, "temperature").and_then(Value::as_f64) {
        if temperature > 1.0 {
            return Some(anthropic_error(
                "temperature: Input should be less than or equal to 1",
            ));
        }
        if temperature < 0.0 {
            return Some(anthropic_error(
                "temperature: Input should be greater than or equal to 0",
            ));
        }
    }

    if model.is_some_and(|model| !model.output_config) {
        for field in ["output_config", "context_management"] {
            if request.get(field).is_some() {
                return Some(anthropic_error(format!(
                    "{field}: Extra inputs are not permitted"
                )));
            }
        }
    }

    anthropic_thinking(request, name, model, max_tokens)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::strict::ANTHROPIC_MODELS;
    use crate::strict::request::samples::{anthropic_refusal, message};

    // ---- Anthropic: max_tokens ----

    #[test]
    fn anthropic_max_tokens_above_the_limit_is_refused() {
        let request = message(json!({"model": "claude-3-5-haiku-20241022", "max_tokens": 32000}));
        assert_eq!(
            anthropic_messages(&request).unwrap().body,
            json!({
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "max_tokens: 32000 > 8192, which is the maximum allowed number of output tokens for claude-3-5-haiku-20241022",
                },
                "request_id": "req_fake_strict",
            })
        );
        for (model, limit) in [
            ("claude-3-haiku-20240307", 4_096),
            ("claude-3-5-haiku-latest", 8_192),
            ("claude-3-7-sonnet-latest", 64_000),
            ("claude-sonnet-4-0", 64_000),
            ("claude-sonnet-4-20250514", 64_000),
            ("claude-opus-4-0", 32_000),
            ("claude-opus-4-20250514", 32_000),
            ("claude-sonnet-4-5", 64_000),
            ("claude-haiku-4-5", 64_000),
            ("claude-opus-4-5", 64_000),
            ("claude-opus-4-6", 128_000),
        ] {
            assert_eq!(
                anthropic_messages(&message(json!({"model": model, "max_tokens": limit}))),
                None,
                "{model} at its limit"
            );
            assert_eq!(
                anthropic_refusal(message(json!({"model": model, "max_tokens": limit + 1}))),
                format!(
                    "max_tokens: {} > {limit}, which is the maximum allowed number of output tokens for {model}",
                    limit + 1
                )
            );
        }
    }

    #[test]
    fn fake_anthropic_models_are_not_checked() {
        let request = message(json!({
            "model": "fake-tools", "max_tokens": 1_000_000, "temperature": 3,
            "thinking": {"type": "nonsense"}, "output_config": {"effort": "high"},
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        }));
        assert_eq!(anthropic_messages(&request), None);
    }

    // ---- Anthropic: sampling ----

    #[test]
    fn temperature_must_be_between_0_and_1() {
        assert_eq!(
            anthropic_refusal(message(
                json!({"model": "claude-3-5-haiku-latest", "temperature": 1.5})
            )),
            "temperature: Input should be less than or equal to 1"
        );
        assert_eq!(
            anthropic_refusal(message(
                json!({"model": "claude-sonnet-4-5", "temperature": -0.1})
            )),
            "temperature: Input should be greater than or equal to 0"
        );
        // A model the table does not know is held to it too.
        assert!(
            anthropic_messages(&message(
                json!({"model": "claude-3-opus-20240229", "temperature": 2})
            ))
            .is_some()
        );
        for temperature in [json!(0), json!(0.7), json!(1)] {
            let request = message(json!({"model": "claude-haiku-4-5", "temperature": temperature}));
            assert_eq!(anthropic_messages(&request), None);
        }
    }

    // ---- Anthropic: output_config and context_management ----

    #[test]
    fn output_config_and_context_management_need_a_recent_model() {
        for model in [
            "claude-opus-4-5",
            "claude-opus-4-6",
            "claude-sonnet-4-5",
            "claude-haiku-4-5",
        ] {
            let request = message(json!({
                "model": model, "output_config": {"effort": "high"},
                "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
            }));
            assert_eq!(anthropic_messages(&request), None, "{model}");
        }
        for model in [
            "claude-sonnet-4-0",
            "claude-opus-4-20250514",
            "claude-3-5-haiku-latest",
        ] {
            let request = message(json!({"model": model, "output_config": {"effort": "high"}}));
            assert_eq!(
                anthropic_refusal(request),
                "output_config: Extra inputs are not permitted"
            );
            let request = message(json!({"model": model, "context_management": {"edits": []}}));
            assert_eq!(
                anthropic_refusal(request),
                "context_management: Extra inputs are not permitted"
            );
        }
    }

    // ---- Anthropic: the system role ----

    #[test]
    fn a_system_message_in_messages_is_refused_except_by_opus_4_6() {
        let messages = json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "system", "content": "Answer in French from now on."},
            {"role": "user", "content": "And now?"},
        ]);
        for model in [
            "claude-3-5-haiku-latest",
            "claude-sonnet-4-5",
            "claude-opus-4-5",
            "claude-3-opus-20240229",
        ] {
            let request = message(json!({"model": model, "messages": messages}));
            assert_eq!(
                anthropic_refusal(request),
                "messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role.",
                "{model}"
            );
        }
        let request = message(json!({"model": "claude-opus-4-6", "messages": messages}));
        assert_eq!(anthropic_messages(&request), None);
        let top_level = message(json!({"model": "claude-sonnet-4-5", "system": "Be brief."}));
        assert_eq!(anthropic_messages(&top_level), None);
    }

    #[test]
    fn a_plain_request_is_accepted_by_every_model() {
        for model in ANTHROPIC_MODELS.iter().flat_map(|model| model.names) {
            assert_eq!(
                anthropic_messages(&message(json!({"model": model}))),
                None,
                "{model}"
            );
        }
    }
}
