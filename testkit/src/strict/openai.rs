//! OpenAI's chat-completion rules (see [`super`]).

use serde_json::Value;

use super::models::openai_model;
use super::request::{Refusal, is_fake_model, is_number, model_of, openai_error, sent, written};

fn unsupported_parameter(param: &str) -> Refusal {
    openai_error(
        format!("Unsupported parameter: '{param}' is not supported with this model."),
        param,
        "unsupported_parameter",
    )
}

/// OpenAI's `POST /v1/chat/completions` rules for the model the request names.
pub fn openai_chat(request: &Value) -> Option<Refusal> {
    let name = model_of(request);
    if is_fake_model(name) {
        return None;
    }
    let model = openai_model(name)?;
    if model.reasoning {
        if sent(request, "max_tokens").is_some() {
            return Some(openai_error(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
                    .into(),
                "max_tokens",
                "unsupported_parameter",
            ));
        }
        for param in ["temperature", "top_p"] {
            if let Some(value) = sent(request, param).filter(|value| !is_number(value, 1.0)) {
                return Some(openai_error(
                    format!(
                        "Unsupported value: '{param}' does not support {} with this model. Only the default (1) value is supported.",
                        written(value)
                    ),
                    param,
                    "unsupported_value",
                ));
            }
        }
        // The defaults (0, false) are let through: only a value that asks for something the
        // model cannot do is known to be refused.
        for param in ["presence_penalty", "frequency_penalty"] {
            if sent(request, param).is_some_and(|value| !is_number(value, 0.0)) {
                return Some(unsupported_parameter(param));
            }
        }
        if sent(request, "logprobs").is_some_and(|value| value != &Value::Bool(false)) {
            return Some(unsupported_parameter("logprobs"));
        }
    }
    for param in ["max_tokens", "max_completion_tokens"] {
        let Some(asked) = sent(request, param).and_then(Value::as_u64) else {
            continue;
        };
        let limit = model.max_completion_tokens;
        if asked > limit {
            return Some(openai_error(
                format!(
                    "max_tokens is too large: {asked}. This model supports at most {limit} completion tokens, whereas you provided {asked}."
                ),
                param,
                "invalid_value",
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::strict::OPENAI_MODELS;
    use crate::strict::request::samples::{chat, openai_refusal};

    // ---- OpenAI: reasoning models ----

    #[test]
    fn reasoning_models_refuse_max_tokens() {
        for model in [
            "o1",
            "o3",
            "o3-mini",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
        ] {
            let refusal = openai_chat(&chat(json!({"model": model, "max_tokens": 100}))).unwrap();
            assert_eq!(
                refusal.body,
                json!({"error": {
                    "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                    "type": "invalid_request_error",
                    "param": "max_tokens",
                    "code": "unsupported_parameter",
                }}),
                "{model}"
            );
        }
    }

    #[test]
    fn reasoning_models_take_max_completion_tokens() {
        for model in ["o3", "gpt-5-mini"] {
            assert_eq!(
                openai_chat(&chat(
                    json!({"model": model, "max_completion_tokens": 1000})
                )),
                None
            );
        }
    }

    #[test]
    fn reasoning_models_refuse_sampling_other_than_the_default() {
        let (message, param, code) =
            openai_refusal(chat(json!({"model": "o4-mini", "temperature": 0.2})));
        assert_eq!(
            message,
            "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported."
        );
        assert_eq!(
            (param.as_str(), code.as_str()),
            ("temperature", "unsupported_value")
        );

        let (message, param, _) = openai_refusal(chat(json!({"model": "gpt-5", "temperature": 0})));
        assert!(message.contains("does not support 0 with"), "{message}");
        assert_eq!(param, "temperature");

        let (message, param, code) = openai_refusal(chat(json!({"model": "o3", "top_p": 0.9})));
        assert_eq!(
            message,
            "Unsupported value: 'top_p' does not support 0.9 with this model. Only the default (1) value is supported."
        );
        assert_eq!(
            (param.as_str(), code.as_str()),
            ("top_p", "unsupported_value")
        );
    }

    #[test]
    fn reasoning_models_accept_the_default_sampling() {
        let request = chat(json!({
            "model": "o3-mini", "temperature": 1, "top_p": 1.0, "presence_penalty": 0,
            "frequency_penalty": 0, "logprobs": false, "max_tokens": null,
        }));
        assert_eq!(openai_chat(&request), None);
    }

    #[test]
    fn reasoning_models_refuse_penalties_and_logprobs() {
        for (field, value) in [
            ("presence_penalty", json!(0.5)),
            ("frequency_penalty", json!(-1)),
            ("logprobs", json!(true)),
        ] {
            let mut request = chat(json!({"model": "gpt-5-nano"}));
            request[field] = value;
            let (message, param, code) = openai_refusal(request);
            assert_eq!(
                message,
                format!("Unsupported parameter: '{field}' is not supported with this model.")
            );
            assert_eq!(
                (param.as_str(), code.as_str()),
                (field, "unsupported_parameter")
            );
        }
    }

    #[test]
    fn other_models_take_sampling_and_max_tokens() {
        let request = chat(json!({
            "model": "gpt-4o-mini", "max_tokens": 100, "temperature": 0.2, "top_p": 0.5,
            "presence_penalty": 0.5, "frequency_penalty": 0.5, "logprobs": true,
        }));
        assert_eq!(openai_chat(&request), None);
    }

    // ---- OpenAI: completion limits ----

    #[test]
    fn too_many_completion_tokens_are_refused_naming_the_field_sent() {
        let (message, param, code) =
            openai_refusal(chat(json!({"model": "gpt-4o", "max_tokens": 32000})));
        assert_eq!(
            message,
            "max_tokens is too large: 32000. This model supports at most 16384 completion tokens, whereas you provided 32000."
        );
        assert_eq!(
            (param.as_str(), code.as_str()),
            ("max_tokens", "invalid_value")
        );

        let (message, param, _) = openai_refusal(chat(
            json!({"model": "gpt-4.1-nano", "max_completion_tokens": 40000}),
        ));
        assert!(
            message.contains("at most 32768 completion tokens"),
            "{message}"
        );
        assert_eq!(param, "max_completion_tokens");

        let (message, _, _) = openai_refusal(chat(
            json!({"model": "o1", "max_completion_tokens": 100001}),
        ));
        assert!(message.contains("at most 100000"), "{message}");
        let (message, _, _) = openai_refusal(chat(
            json!({"model": "gpt-5", "max_completion_tokens": 128001}),
        ));
        assert!(message.contains("at most 128000"), "{message}");
    }

    #[test]
    fn a_model_at_exactly_its_limit_is_accepted() {
        for (model, field, limit) in [
            ("gpt-4o-mini", "max_tokens", 16_384),
            ("gpt-4o", "max_completion_tokens", 16_384),
            ("gpt-4.1", "max_tokens", 32_768),
            ("gpt-4.1-mini", "max_completion_tokens", 32_768),
            ("o4-mini", "max_completion_tokens", 100_000),
            ("gpt-5-mini", "max_completion_tokens", 128_000),
        ] {
            let mut request = chat(json!({"model": model}));
            request[field] = json!(limit);
            assert_eq!(openai_chat(&request), None, "{model} {field}");
            request[field] = json!(limit + 1);
            assert!(openai_chat(&request).is_some(), "{model} {field} + 1");
        }
    }

    #[test]
    fn fake_and_unknown_openai_models_are_not_checked() {
        for model in [
            "fake-tools",
            "fake-slow",
            "fake-o3",
            "gpt-3.5-turbo",
            "llama3.2",
        ] {
            let request = chat(json!({
                "model": model, "max_tokens": 1_000_000, "temperature": 0.2, "logprobs": true,
            }));
            assert_eq!(openai_chat(&request), None, "{model}");
        }
        assert_eq!(openai_chat(&json!({"messages": []})), None);
    }

    #[test]
    fn a_plain_request_is_accepted_by_every_openai_model() {
        for model in OPENAI_MODELS {
            assert_eq!(
                openai_chat(&chat(json!({"model": model.name}))),
                None,
                "{}",
                model.name
            );
        }
    }
}
