//! The answer as the checks read it.

use serde_json::Value;

/// The answer as the checks read it: a chat completion's first choice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub finish_reason: Option<String>,
    /// `(name, arguments as sent)` per tool call.
    pub tool_calls: Vec<(String, String)>,
}

/// The longest answer text the checks read: longer ones are checked on their first part (and
/// the maths check on their last), so a check never costs more than this many bytes of work.
pub const MAX_CHECKED_BYTES: usize = 64 * 1024;

impl Answer {
    /// From a chat completion body; `None` when it is not one.
    pub fn of_chat_body(body: &[u8]) -> Option<Answer> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let choice = value.pointer("/choices/0")?;
        let message = choice.get("message")?;
        let text = message
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let tool_calls = message
            .get("tool_calls")
            .and_then(Value::as_array)
            .map(|calls| {
                calls
                    .iter()
                    .map(|call| {
                        let function = call.get("function");
                        let field = |name: &str| {
                            function
                                .and_then(|f| f.get(name))
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned()
                        };
                        (field("name"), field("arguments"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Answer {
            text,
            finish_reason: choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
            tool_calls,
        })
    }

    /// Only the text (for offline evaluation from published answers).
    pub fn text(text: &str) -> Answer {
        Answer {
            text: text.to_owned(),
            ..Answer::default()
        }
    }
}
