//! The request rules the real OpenAI and Anthropic APIs enforce, so that the fakes refuse what the
//! providers refuse and a gateway bug cannot hide behind an easy-going fake.
//!
//! Each check is a pure function from a request body to `Some(Refusal)` (the status and the error
//! body in the provider's own shape) or `None` when the provider would accept the request. The
//! facts about models are this module's own table, written from the providers' model pages; it
//! deliberately does not share the gateway's catalog, so that the fake stays an independent truth
//! as the real provider is.
//!
//! The rules apply to the real model names only: a model named `fake-*` is never refused here
//! (the fakes' behaviour models keep their behaviour exactly). A model the table does not know is
//! held only to the rules that do not depend on the model (Anthropic's `system` role, temperature
//! range and thinking rules).
//!
//! OpenAI chat completions (provider `openai` only; Groq and Ollama are not checked):
//! - reasoning models (`o1`, `o3`, `o3-mini`, `o4-mini`, `gpt-5`, `gpt-5-mini`, `gpt-5-nano`)
//!   refuse `max_tokens` (`unsupported_parameter`: use `max_completion_tokens`), a `temperature` or
//!   `top_p` other than 1 (`unsupported_value`), and a non-zero `presence_penalty` /
//!   `frequency_penalty` or `logprobs: true` (`unsupported_parameter`);
//! - `max_tokens` or `max_completion_tokens` above the model's completion limit is refused
//!   (`invalid_value`, naming the field sent): gpt-4o and gpt-4o-mini 16384, gpt-4.1 (mini, nano)
//!   32768, o1 / o3 / o3-mini / o4-mini 100000, gpt-5 (mini, nano) 128000.
//!
//! Anthropic messages:
//! - `max_tokens` above the model's output limit (claude-3-haiku 4096, claude-3-5-haiku 8192,
//!   claude-3-7-sonnet 64000, claude-sonnet-4 64000, claude-opus-4 32000, claude-sonnet-4-5,
//!   claude-haiku-4-5 and claude-opus-4-5 64000, claude-opus-4-6 128000);
//! - `thinking`: `disabled` is accepted everywhere; `enabled` needs `budget_tokens` of at least
//!   1024 and below `max_tokens`, and is refused by the models without extended thinking
//!   (claude-3-haiku, claude-3-5-haiku); `adaptive` exists on claude-opus-4-6 only (older models
//!   refuse it as an unknown thinking type) and takes no `budget_tokens`; other types are refused;
//! - with thinking on, `temperature` other than 1 and any `top_k` are refused;
//! - `temperature` must be within 0..=1;
//! - `output_config` and `context_management` only on claude-opus-4-5, claude-opus-4-6,
//!   claude-sonnet-4-5 and claude-haiku-4-5 ("Extra inputs are not permitted" elsewhere);
//! - a `system` role inside `messages` is refused (the API takes a top-level `system`), except by
//!   claude-opus-4-6, which in our world accepts mid-conversation system messages.

use serde_json::{Value, json};

/// A provider's refusal: the HTTP status and the error body, in the provider's own shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub body: Value,
}

/// What the fake knows about one OpenAI chat model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAiModel {
    pub name: &'static str,
    /// The most completion tokens the model writes (`max_tokens` / `max_completion_tokens`).
    pub max_completion_tokens: u64,
    /// A reasoning model: `max_completion_tokens` only, default sampling only.
    pub reasoning: bool,
}

const fn openai(name: &'static str, max_completion_tokens: u64, reasoning: bool) -> OpenAiModel {
    OpenAiModel {
        name,
        max_completion_tokens,
        reasoning,
    }
}

/// OpenAI's chat models, from the model pages (output-token limits).
pub const OPENAI_MODELS: &[OpenAiModel] = &[
    openai("gpt-4o-mini", 16_384, false),
    openai("gpt-4o", 16_384, false),
    openai("gpt-4.1", 32_768, false),
    openai("gpt-4.1-mini", 32_768, false),
    openai("gpt-4.1-nano", 32_768, false),
    openai("o1", 100_000, true),
    openai("o3", 100_000, true),
    openai("o3-mini", 100_000, true),
    openai("o4-mini", 100_000, true),
    openai("gpt-5", 128_000, true),
    openai("gpt-5-mini", 128_000, true),
    openai("gpt-5-nano", 128_000, true),
];

/// What the fake knows about one Anthropic model (all the names it answers to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnthropicModel {
    pub names: &'static [&'static str],
    /// The most output tokens `max_tokens` may ask for.
    pub max_output_tokens: u64,
    /// Extended thinking (`thinking: {"type": "enabled", …}`).
    pub thinking: bool,
    /// Adaptive thinking (`thinking: {"type": "adaptive"}`).
    pub adaptive_thinking: bool,
    /// `output_config` (effort) and `context_management`.
    pub output_config: bool,
    /// `system` messages inside `messages`.
    pub system_messages: bool,
}

/// Anthropic's models, from the models overview (max output tokens, extended thinking).
pub const ANTHROPIC_MODELS: &[AnthropicModel] = &[
    AnthropicModel {
        names: &["claude-3-haiku-20240307"],
        max_output_tokens: 4_096,
        thinking: false,
        adaptive_thinking: false,
        output_config: false,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"],
        max_output_tokens: 8_192,
        thinking: false,
        adaptive_thinking: false,
        output_config: false,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219"],
        max_output_tokens: 64_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: false,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-sonnet-4-0", "claude-sonnet-4-20250514"],
        max_output_tokens: 64_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: false,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-opus-4-0", "claude-opus-4-20250514"],
        max_output_tokens: 32_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: false,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-sonnet-4-5", "claude-sonnet-4-5-20250929"],
        max_output_tokens: 64_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: true,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-haiku-4-5", "claude-haiku-4-5-20251001"],
        max_output_tokens: 64_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: true,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-opus-4-5", "claude-opus-4-5-20251101"],
        max_output_tokens: 64_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: true,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-opus-4-6"],
        max_output_tokens: 128_000,
        thinking: true,
        adaptive_thinking: true,
        output_config: true,
        system_messages: true,
    },
];

pub fn openai_model(name: &str) -> Option<&'static OpenAiModel> {
    OPENAI_MODELS.iter().find(|model| model.name == name)
}

pub fn anthropic_model(name: &str) -> Option<&'static AnthropicModel> {
    ANTHROPIC_MODELS
        .iter()
        .find(|model| model.names.contains(&name))
}

/// The fakes' behaviour models, which the strict rules leave alone.
pub fn is_fake_model(name: &str) -> bool {
    name.starts_with("fake-")
}

fn model_of(request: &Value) -> &str {
    request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A field that was sent with a value (`null` counts as not sent, as the APIs treat it).
fn sent<'a>(request: &'a Value, field: &str) -> Option<&'a Value> {
    request.get(field).filter(|value| !value.is_null())
}

/// The value as the request wrote it (`0.2`, `0`, `0.0`), as OpenAI quotes it back.
fn written(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn is_number(value: &Value, expected: f64) -> bool {
    value.as_f64() == Some(expected)
}

fn openai_error(message: String, param: &str, code: &str) -> Refusal {
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

fn anthropic_error(message: impl Into<String>) -> Refusal {
    Refusal {
        status: 400,
        body: json!({
            "type": "error",
            "error": {"type": "invalid_request_error", "message": message.into()},
            "request_id": "req_fake_strict",
        }),
    }
}

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

/// The `thinking` rules, and the sampling rules that follow from thinking being on.
fn anthropic_thinking(
    request: &Value,
    name: &str,
    model: Option<&AnthropicModel>,
    max_tokens: Option<u64>,
) -> Option<Refusal> {
    let thinking = sent(request, "thinking")?;
    let Some(kind) = thinking.get("type").and_then(Value::as_str) else {
        return Some(anthropic_error(
            "thinking: Unable to extract tag using discriminator 'type'",
        ));
    };
    // A model the table does not know is given the benefit of the doubt on `adaptive`.
    let adaptive = model.is_none_or(|model| model.adaptive_thinking);
    let expected = if adaptive {
        "'adaptive', 'disabled', 'enabled'"
    } else {
        "'disabled', 'enabled'"
    };
    let known = matches!(kind, "disabled" | "enabled") || (adaptive && kind == "adaptive");
    if !known {
        return Some(anthropic_error(format!(
            "thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags: {expected}"
        )));
    }
    match kind {
        "disabled" => return None,
        "enabled" => {
            let Some(budget) = sent(thinking, "budget_tokens") else {
                return Some(anthropic_error(
                    "thinking.enabled.budget_tokens: Field required",
                ));
            };
            if budget.as_f64().is_none_or(|budget| budget < 1024.0) {
                return Some(anthropic_error(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
                ));
            }
            if model.is_some_and(|model| !model.thinking) {
                return Some(anthropic_error(format!(
                    "'{name}' does not support thinking."
                )));
            }
            if let (Some(budget), Some(max_tokens)) = (budget.as_u64(), max_tokens)
                && budget >= max_tokens
            {
                return Some(anthropic_error(
                    "`max_tokens` must be greater than `thinking.budget_tokens`.",
                ));
            }
        }
        _ => {
            if thinking.get("budget_tokens").is_some() {
                return Some(anthropic_error(
                    "thinking.adaptive.budget_tokens: Extra inputs are not permitted",
                ));
            }
        }
    }
    let mode = if kind == "adaptive" {
        "thinking is enabled or in adaptive mode"
    } else {
        "thinking is enabled"
    };
    if sent(request, "temperature").is_some_and(|value| !is_number(value, 1.0)) {
        return Some(anthropic_error(format!(
            "`temperature` may only be set to 1 when {mode}. Please consult our documentation at https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking"
        )));
    }
    if sent(request, "top_k").is_some() {
        return Some(anthropic_error(
            "`top_k` must be unset when thinking is enabled or in adaptive mode",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(extra: Value) -> Value {
        let mut request = json!({"messages": [{"role": "user", "content": "Hi"}]});
        for (key, value) in extra.as_object().unwrap() {
            request[key] = value.clone();
        }
        request
    }

    fn message(extra: Value) -> Value {
        let mut request = json!({
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Hi"}],
        });
        for (key, value) in extra.as_object().unwrap() {
            request[key] = value.clone();
        }
        request
    }

    fn openai_refusal(request: Value) -> (String, String, String) {
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

    fn anthropic_refusal(request: Value) -> String {
        let refusal = anthropic_messages(&request).expect("refused");
        assert_eq!(refusal.status, 400);
        assert_eq!(refusal.body["type"], "error");
        assert_eq!(refusal.body["error"]["type"], "invalid_request_error");
        refusal.body["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    }

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

    // ---- Anthropic: thinking ----

    #[test]
    fn models_without_thinking_refuse_it() {
        for model in ["claude-3-haiku-20240307", "claude-3-5-haiku-latest"] {
            let request = message(json!({
                "model": model, "max_tokens": 4000,
                "thinking": {"type": "enabled", "budget_tokens": 2048},
            }));
            assert_eq!(
                anthropic_refusal(request),
                format!("'{model}' does not support thinking.")
            );
            let disabled = message(json!({"model": model, "thinking": {"type": "disabled"}}));
            assert_eq!(anthropic_messages(&disabled), None, "{model}");
        }
    }

    #[test]
    fn enabled_thinking_needs_a_budget_of_1024_below_max_tokens() {
        let with = |budget: Value, max_tokens: u64| {
            message(json!({
                "model": "claude-sonnet-4-5", "max_tokens": max_tokens,
                "thinking": {"type": "enabled", "budget_tokens": budget},
            }))
        };
        assert_eq!(
            anthropic_refusal(with(json!(1023), 4096)),
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        );
        assert!(
            anthropic_refusal(with(json!(4096), 4096))
                .starts_with("`max_tokens` must be greater than `thinking.budget_tokens`.")
        );
        assert!(anthropic_messages(&with(json!(5000), 4096)).is_some());
        assert_eq!(anthropic_messages(&with(json!(1024), 1025)), None);
        assert_eq!(anthropic_messages(&with(json!(16000), 64000)), None);
        let no_budget = message(json!({
            "model": "claude-opus-4-0", "max_tokens": 4096, "thinking": {"type": "enabled"},
        }));
        assert_eq!(
            anthropic_refusal(no_budget),
            "thinking.enabled.budget_tokens: Field required"
        );
    }

    #[test]
    fn adaptive_thinking_is_opus_4_6_only() {
        let adaptive = |model: &str| {
            message(json!({"model": model, "max_tokens": 4096, "thinking": {"type": "adaptive"}}))
        };
        assert_eq!(anthropic_messages(&adaptive("claude-opus-4-6")), None);
        for model in [
            "claude-opus-4-5",
            "claude-sonnet-4-5",
            "claude-3-7-sonnet-latest",
            "claude-3-5-haiku-latest",
        ] {
            assert_eq!(
                anthropic_refusal(adaptive(model)),
                "thinking: Input tag 'adaptive' found using 'type' does not match any of the expected tags: 'disabled', 'enabled'",
                "{model}"
            );
        }
        let with_budget = message(json!({
            "model": "claude-opus-4-6", "max_tokens": 4096,
            "thinking": {"type": "adaptive", "budget_tokens": 2048},
        }));
        assert_eq!(
            anthropic_refusal(with_budget),
            "thinking.adaptive.budget_tokens: Extra inputs are not permitted"
        );
        // Enabled thinking still works on the newest model.
        let enabled = message(json!({
            "model": "claude-opus-4-6", "max_tokens": 4096,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        }));
        assert_eq!(anthropic_messages(&enabled), None);
    }

    #[test]
    fn unknown_thinking_types_are_refused() {
        let request = message(json!({"model": "claude-opus-4-6", "thinking": {"type": "deep"}}));
        assert_eq!(
            anthropic_refusal(request),
            "thinking: Input tag 'deep' found using 'type' does not match any of the expected tags: 'adaptive', 'disabled', 'enabled'"
        );
        let request = message(json!({"model": "claude-sonnet-4-0", "thinking": {"type": "on"}}));
        assert!(anthropic_refusal(request).contains("expected tags: 'disabled', 'enabled'"));
        let request =
            message(json!({"model": "claude-sonnet-4-0", "thinking": {"budget_tokens": 2048}}));
        assert_eq!(
            anthropic_refusal(request),
            "thinking: Unable to extract tag using discriminator 'type'"
        );
    }

    #[test]
    fn disabled_thinking_is_fine_everywhere() {
        for model in ANTHROPIC_MODELS.iter().flat_map(|model| model.names) {
            let request = message(json!({
                "model": model, "thinking": {"type": "disabled"}, "temperature": 0.3, "top_k": 5,
            }));
            assert_eq!(anthropic_messages(&request), None, "{model}");
        }
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

    #[test]
    fn thinking_refuses_temperature_and_top_k() {
        let thinking = json!({"type": "enabled", "budget_tokens": 2048});
        let request = message(json!({
            "model": "claude-3-7-sonnet-latest", "max_tokens": 8000,
            "thinking": thinking, "temperature": 0.5,
        }));
        assert!(
            anthropic_refusal(request)
                .starts_with("`temperature` may only be set to 1 when thinking is enabled.")
        );
        let request = message(json!({
            "model": "claude-3-7-sonnet-latest", "max_tokens": 8000,
            "thinking": thinking, "top_k": 40,
        }));
        assert_eq!(
            anthropic_refusal(request),
            "`top_k` must be unset when thinking is enabled or in adaptive mode"
        );
        let request = message(json!({
            "model": "claude-opus-4-6", "max_tokens": 8000,
            "thinking": {"type": "adaptive"}, "temperature": 0,
        }));
        assert!(
            anthropic_refusal(request).contains("when thinking is enabled or in adaptive mode")
        );
        let request = message(json!({
            "model": "claude-3-7-sonnet-latest", "max_tokens": 8000,
            "thinking": thinking, "temperature": 1,
        }));
        assert_eq!(anthropic_messages(&request), None);
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
