//! The chat request as the gateway reads it, and the bounds it is held to.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::RequestError;

/// Roles OpenAI's chat API accepts.
const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Parsed only by `from_json_bytes` (no derive: serde's flatten would read the body twice).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatCompletionRequest {
    /// `None` or `"auto"` lets the gateway choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// OpenAI's own limits on a chat request: longer arrays are refused there too, so a request over
/// them would only cost a provider call (and fallbacks) to fail.
pub const MAX_MESSAGES: usize = 2048;

/// How much of the last user message the router and the answer checks read
/// ([`ChatCompletionRequest::last_user_text`]): enough to know what it asks, and it bounds the
/// time a very long request takes.
pub const PROMPT_READ_BYTES: usize = 8_000;
pub const MAX_TOOLS: usize = 128;

impl ChatCompletionRequest {
    /// The text of the last user message (its text parts, one per line), cut to `max_bytes` at
    /// a character boundary: what the router and the answer checks read of a request.
    pub fn last_user_text(&self, max_bytes: usize) -> String {
        let mut text = String::new();
        for message in self.messages.iter().rev() {
            if message.get("role").and_then(serde_json::Value::as_str) != Some("user") {
                continue;
            }
            match message.get("content") {
                Some(serde_json::Value::String(s)) => text.push_str(s),
                Some(serde_json::Value::Array(parts)) => {
                    for part in parts {
                        if let Some(s) = part.get("text").and_then(serde_json::Value::as_str) {
                            text.push_str(s);
                            text.push('\n');
                        }
                    }
                }
                _ => {}
            }
            break;
        }
        if text.len() > max_bytes {
            let mut end = max_bytes;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    }

    /// Parses and validates a request body, naming the offending parameter on failure.
    pub fn from_json_bytes(body: &[u8]) -> Result<Self, RequestError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| RequestError::InvalidJson(e.to_string()))?;
        let Value::Object(mut object) = value else {
            return Err(RequestError::InvalidJson(
                "the body must be a JSON object".into(),
            ));
        };
        // The known fields are taken out of the parsed object and the rest kept as it is: no
        // second pass through serde (`flatten` would copy every value once more).
        let messages = match object.remove("messages") {
            None => return Err(RequestError::MissingField("messages".into())),
            Some(Value::Array(messages)) => messages,
            Some(_) => return Err(invalid("messages", "expected an array of message objects")),
        };
        if messages.is_empty() {
            return Err(invalid("messages", "expected at least one message"));
        }
        if messages.len() > MAX_MESSAGES {
            return Err(invalid(
                "messages",
                &format!(
                    "array too long: at most {MAX_MESSAGES} messages, found {}",
                    messages.len()
                ),
            ));
        }
        if let Some(Value::Array(tools)) = object.get("tools")
            && tools.len() > MAX_TOOLS
        {
            return Err(invalid(
                "tools",
                &format!(
                    "array too long: at most {MAX_TOOLS} tools, found {}",
                    tools.len()
                ),
            ));
        }
        for (index, message) in messages.iter().enumerate() {
            let Some(message) = message.as_object() else {
                return Err(invalid(
                    &format!("messages[{index}]"),
                    "expected a message object",
                ));
            };
            let Some(role) = message.get("role") else {
                return Err(RequestError::MissingField(format!(
                    "messages[{index}].role"
                )));
            };
            if !role.as_str().is_some_and(|role| ROLES.contains(&role)) {
                return Err(invalid(
                    &format!("messages[{index}].role"),
                    &format!("expected one of {}", ROLES.join(", ")),
                ));
            }
        }
        let model = match object.remove("model") {
            None | Some(Value::Null) => None,
            Some(Value::String(model)) => {
                check_model_name("model", &model)?;
                Some(model)
            }
            Some(_) => return Err(invalid("model", "expected a string")),
        };
        let stream = match object.remove("stream") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(stream)) => Some(stream),
            Some(_) => return Err(invalid("stream", "expected a boolean")),
        };
        Ok(Self {
            model,
            messages,
            stream,
            extra: object,
        })
    }
}

/// The longest model name the gateway takes, stores or echoes.
pub const MAX_MODEL_NAME_BYTES: usize = 256;

/// A model name as providers spell them (`gpt-4o`, `anthropic/claude-sonnet-4-0`,
/// `meta-llama/llama-4-scout`, `llama3.2:latest`, `ft:gpt-4o:org:id`, `auto:0.7`): at most
/// [`MAX_MODEL_NAME_BYTES`] of letters, digits and `- . _ : / @ +`. Anything else would be stored
/// in every usage event and echoed in `x-gateway-model`.
pub fn check_model_name(param: &str, name: &str) -> Result<(), RequestError> {
    if name.len() > MAX_MODEL_NAME_BYTES {
        return Err(invalid(
            param,
            &format!("a model name is at most {MAX_MODEL_NAME_BYTES} bytes"),
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._:/@+".contains(c);
    if !name.chars().all(allowed) {
        return Err(invalid(
            param,
            "a model name has only letters, digits and - . _ : / @ +",
        ));
    }
    Ok(())
}

/// `text` cut to at most `max` bytes, at a character boundary: what a provider names (a model,
/// an error code) before it is stored.
pub fn clipped(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

pub(super) fn invalid(param: &str, reason: &str) -> RequestError {
    RequestError::InvalidField {
        param: param.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<ChatCompletionRequest, RequestError> {
        ChatCompletionRequest::from_json_bytes(value.to_string().as_bytes())
    }

    #[test]
    fn model_names_are_bounded_and_plain() {
        for name in [
            "gpt-4o",
            "anthropic/claude-sonnet-4-0",
            "groq/meta-llama/llama-4-scout-17b-16e-instruct",
            "llama3.2:latest",
            "ft:gpt-4o-mini:acme:support:abc123",
            "auto:0.7",
            "models/gemini-2.5-flash@001",
        ] {
            assert!(check_model_name("model", name).is_ok(), "{name}");
        }
        let long = "a".repeat(MAX_MODEL_NAME_BYTES + 1);
        for name in [long.as_str(), "gpt 4o", "gpt-4o\r\nx-injected: 1", "modèle"] {
            let err = check_model_name("model", name).unwrap_err();
            assert!(
                matches!(err, RequestError::InvalidField { ref param, .. } if param == "model")
            );
        }
        let refused =
            parse(json!({"model": long, "messages": [{"role": "user", "content": "hi"}]}));
        assert!(refused.is_err());
        assert_eq!(clipped("héllo", 2), "h");
        assert_eq!(clipped("héllo", 3), "hé");
        assert_eq!(clipped("hi", 10), "hi");
    }

    #[test]
    fn keeps_unknown_fields_for_forwarding() {
        let request = parse(json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2,
            "seed": 7
        }))
        .unwrap();
        assert_eq!(request.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(request.extra["temperature"], json!(0.2));
        let round_trip = serde_json::to_value(&request).unwrap();
        assert_eq!(round_trip["seed"], json!(7));
        assert!(round_trip.get("stream").is_none());
    }

    #[test]
    fn names_the_bad_parameter() {
        assert_eq!(
            parse(json!({"model": "x"})),
            Err(RequestError::MissingField("messages".into()))
        );
        assert!(matches!(
            parse(json!({"messages": []})),
            Err(RequestError::InvalidField { param, .. }) if param == "messages"
        ));
        assert!(matches!(
            parse(json!({"messages": [{"content": "hi"}]})),
            Err(RequestError::MissingField(param)) if param == "messages[0].role"
        ));
        assert!(matches!(
            parse(json!({"messages": [{"role": "wizard", "content": "hi"}]})),
            Err(RequestError::InvalidField { param, .. }) if param == "messages[0].role"
        ));
        assert!(matches!(
            parse(json!({"model": 3, "messages": [{"role": "user", "content": "hi"}]})),
            Err(RequestError::InvalidField { param, .. }) if param == "model"
        ));
        assert!(matches!(
            ChatCompletionRequest::from_json_bytes(b"{not json"),
            Err(RequestError::InvalidJson(_))
        ));
        assert!(matches!(
            ChatCompletionRequest::from_json_bytes(b"[1]"),
            Err(RequestError::InvalidJson(_))
        ));
    }

    mod properties {
        use super::*;
        use crate::test_support::arbitrary;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn any_bytes_are_parsed_or_refused_with_a_400(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                let _ = ChatCompletionRequest::from_json_bytes(&bytes);
            }

            /// What parses serialises back to the same request: nothing the client sent is
            /// dropped or changed on its way to an OpenAI-compatible provider.
            #[test]
            fn a_parsed_request_round_trips(body in prop_oneof![arbitrary::chat_request(), arbitrary::json()]) {
                let Ok(request) = ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()) else {
                    return Ok(());
                };
                let again = ChatCompletionRequest::from_json_bytes(&serde_json::to_vec(&request).unwrap())
                    .expect("a parsed request parses again");
                prop_assert_eq!(&again, &request);
                prop_assert_eq!(request.messages.len(), body["messages"].as_array().unwrap().len());
            }
        }
    }
}

#[cfg(test)]
mod model_name_fuzz {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 1024, failure_persistence: None, ..Default::default() })]

        /// A name that passes is short and can go in a header as it is (`x-gateway-model`);
        /// anything else is a 400 naming the field, never a panic.
        #[test]
        fn a_model_name_is_accepted_only_if_it_fits_a_header(name in proptest::prelude::any::<String>(), ascii in "[a-zA-Z0-9._:/@+ \r\n-]{0,300}") {
            for name in [name, ascii] {
                match check_model_name("model", &name) {
                    Ok(()) => {
                        proptest::prop_assert!(name.len() <= MAX_MODEL_NAME_BYTES);
                        proptest::prop_assert!(axum::http::HeaderValue::from_str(&name).is_ok());
                        proptest::prop_assert!(!name.contains([' ', '\r', '\n']));
                    }
                    Err(err) => proptest::prop_assert!(
                        matches!(&err, crate::error::RequestError::InvalidField { param, .. } if param == "model"),
                        "{err}"
                    ),
                }
            }
        }

        /// What a provider names is cut at a character boundary, never past the bound.
        #[test]
        fn clipping_keeps_a_prefix_within_the_bound(text in proptest::prelude::any::<String>(), max in 0usize..64) {
            let cut = clipped(&text, max);
            proptest::prop_assert!(cut.len() <= max);
            proptest::prop_assert!(text.starts_with(cut));
            // Cut no shorter than the boundary before the bound (a character is at most 4 bytes).
            proptest::prop_assert!(text.len() <= max || cut.len() + 4 > max);
        }
    }
}
