//! Anthropic's extended-thinking rules, and the sampling rules that follow from thinking being
//! on (see [`super`]).

use serde_json::Value;

use super::models::AnthropicModel;
use super::request::{Refusal, anthropic_error, is_number, sent};

/// The `thinking` rules, and the sampling rules that follow from thinking being on.
pub(super) fn anthropic_thinking(
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
    use serde_json::{Value, json};

    use crate::strict::request::samples::{anthropic_refusal, message};
    use crate::strict::{ANTHROPIC_MODELS, anthropic_messages};

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
}
