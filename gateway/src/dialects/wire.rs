//! What both dialects share: their refusal of what chat cannot express, ids, and event framing;
//! and a chat chunk read once for both.

use bytes::Bytes;
use serde_json::Value;

/// An event to send: its name and its data.
pub type Event = (&'static str, Value);

/// A converter of the chat event stream into a dialect's events, one chat event at a time.
pub trait DialectStream {
    /// One chat chunk → events.
    fn on_chunk(&mut self, chunk: &Value) -> Vec<Event>;
    /// The chat stream ended well.
    fn finish(&mut self) -> Vec<Event>;
    /// The chat stream broke off with `error` (OpenAI's error object).
    fn fail(&mut self, error: &Value) -> Vec<Event>;
}

/// What one chat chunk carries, as both dialects read it.
pub(crate) struct ChunkParts<'a> {
    pub usage: Option<&'a Value>,
    /// A non-empty text delta.
    pub text: Option<&'a str>,
    pub tool_calls: &'a [Value],
    pub finish_reason: Option<&'a str>,
}

pub(crate) fn chunk_parts(chunk: &Value) -> ChunkParts<'_> {
    let choice = &chunk["choices"][0];
    ChunkParts {
        usage: chunk.get("usage").filter(|usage| !usage.is_null()),
        text: choice["delta"]["content"]
            .as_str()
            .filter(|text| !text.is_empty()),
        tool_calls: choice["delta"]["tool_calls"]
            .as_array()
            .map_or(&[], Vec::as_slice),
        finish_reason: choice["finish_reason"].as_str(),
    }
}

/// A request the dialect cannot express as chat, or does not allow: a 400 naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectError {
    pub param: String,
    pub message: String,
    /// Something chat cannot express (a hosted tool, a file input), as opposed to a request that
    /// is wrong in itself: the provider whose API the request is in may still take it whole.
    pub unsupported: bool,
}

impl DialectError {
    pub fn invalid(param: &str, message: &str) -> Self {
        Self {
            param: param.to_owned(),
            message: if param.is_empty() {
                message.to_owned()
            } else {
                format!("Invalid '{param}': {message}.")
            },
            unsupported: false,
        }
    }
}

pub(crate) fn unsupported(param: &str, what: &str) -> DialectError {
    DialectError {
        param: param.to_owned(),
        message: format!(
            "'{param}': {what} cannot be translated for providers other than the one whose API this is."
        ),
        unsupported: true,
    }
}

/// A fresh id with OpenAI's or Anthropic's prefix (`msg_…`, `fc_…`, `call_…`).
pub(crate) fn new_id(prefix: &str) -> String {
    use rand::Rng as _;
    let tail: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("{prefix}_{tail}")
}

/// A server-sent event with its name line, as both the Responses and the Messages APIs frame
/// them.
pub fn named_event(name: &str, data: &Value) -> Bytes {
    // Written in place: one buffer per event, the JSON not copied from a second one.
    let mut frame = Vec::with_capacity(256);
    frame.extend_from_slice(b"event: ");
    frame.extend_from_slice(name.as_bytes());
    frame.extend_from_slice(b"\ndata: ");
    let data_starts = frame.len();
    if serde_json::to_writer(&mut frame, data).is_err() {
        frame.truncate(data_starts);
    }
    frame.extend_from_slice(b"\n\n");
    frame.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_events_carry_their_name_line() {
        assert_eq!(
            &named_event("ping", &json!({"type": "ping"}))[..],
            b"event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
    }
}
