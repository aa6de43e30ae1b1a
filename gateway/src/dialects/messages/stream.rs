//! Chat completion chunks → Anthropic's stream events.

use serde_json::{Value, json};

use super::answer::{message_id, stop_reason, usage};
use super::request::MessagesEcho;
use crate::dialects::wire::{DialectStream, Event, chunk_parts, new_id};

/// The block being streamed.
#[derive(Debug)]
enum OpenBlock {
    Text,
    /// A tool call, by chat's tool call index.
    Tool(u64),
}

/// Chat completion chunks → Anthropic's stream events, one chunk at a time.
#[derive(Debug)]
pub struct MessagesStream {
    echo: MessagesEcho,
    started: bool,
    /// The open block and its index.
    open: Option<(OpenBlock, usize)>,
    next_index: usize,
    finish_reason: Option<String>,
    usage: Value,
}

impl MessagesStream {
    pub fn new(echo: MessagesEcho) -> Self {
        Self {
            echo,
            started: false,
            open: None,
            next_index: 0,
            finish_reason: None,
            usage: Value::Null,
        }
    }

    fn start(&mut self, chunk: &Value, events: &mut Vec<Event>) {
        if self.started {
            return;
        }
        self.started = true;
        let model = if self.echo.model.is_empty() {
            chunk["model"].clone()
        } else {
            json!(self.echo.model)
        };
        events.push(("message_start", json!({"type": "message_start", "message": {
            "id": message_id(chunk["id"].as_str()), "type": "message", "role": "assistant", "content": [],
            "model": model, "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        }})));
        events.push(("ping", json!({"type": "ping"})));
    }

    fn close_block(&mut self, events: &mut Vec<Event>) {
        if let Some((_, index)) = self.open.take() {
            events.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }
}

impl DialectStream for MessagesStream {
    fn on_chunk(&mut self, chunk: &Value) -> Vec<Event> {
        let mut events = Vec::new();
        self.start(chunk, &mut events);
        let parts = chunk_parts(chunk);
        if let Some(usage) = parts.usage {
            self.usage = usage.clone();
        }
        if let Some(text) = parts.text {
            if !matches!(self.open, Some((OpenBlock::Text, _))) {
                self.close_block(&mut events);
                let index = self.next_index;
                self.next_index += 1;
                events.push((
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "text", "text": ""}}),
                ));
                self.open = Some((OpenBlock::Text, index));
            }
            let index = self.open.as_ref().map_or(0, |(_, index)| *index);
            events.push((
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": text}}),
            ));
        }
        for call in parts.tool_calls {
            let call_index = call["index"].as_u64().unwrap_or(0);
            if !matches!(self.open, Some((OpenBlock::Tool(open), _)) if open == call_index) {
                self.close_block(&mut events);
                let index = self.next_index;
                self.next_index += 1;
                let id = call["id"]
                    .as_str()
                    .map_or_else(|| new_id("toolu"), str::to_owned);
                events.push(("content_block_start", json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": id, "name": call["function"]["name"], "input": {}}})));
                self.open = Some((OpenBlock::Tool(call_index), index));
            }
            if let Some(arguments) = call["function"]["arguments"]
                .as_str()
                .filter(|a| !a.is_empty())
            {
                let index = self.open.as_ref().map_or(0, |(_, index)| *index);
                events.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": arguments}}),
                ));
            }
        }
        if let Some(reason) = parts.finish_reason {
            self.finish_reason = Some(reason.to_owned());
        }
        events
    }

    /// Closes the open block, then `message_delta` (stop reason, usage) and `message_stop`.
    fn finish(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        self.start(&json!({}), &mut events);
        self.close_block(&mut events);
        let usage = usage(&self.usage);
        events.push(("message_delta", json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(Some(self.finish_reason.as_deref().unwrap_or("stop"))), "stop_sequence": null},
            "usage": {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"]}})));
        events.push(("message_stop", json!({"type": "message_stop"})));
        events
    }

    /// An `error` event, as Anthropic sends one mid-stream.
    fn fail(&mut self, error: &Value) -> Vec<Event> {
        let message = error["message"]
            .as_str()
            .unwrap_or("the provider's stream broke off");
        let kind = match error["code"].as_str() {
            Some("upstream_timeout") => "timeout_error",
            _ => "api_error",
        };
        vec![(
            "error",
            json!({"type": "error", "error": {"type": kind, "message": message}}),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_anthropics_event_sequence() {
        let mut stream = MessagesStream::new(MessagesEcho::default());
        let chunk = |delta: Value, finish: Value| json!({"id": "chatcmpl-1", "model": "m", "choices": [{"delta": delta, "finish_reason": finish}]});
        let mut events = stream.on_chunk(&chunk(
            json!({"role": "assistant", "content": "Hi"}),
            Value::Null,
        ));
        events.extend(stream.on_chunk(&chunk(json!({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{\"a\""}}]}), Value::Null)));
        events.extend(stream.on_chunk(&chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
            json!("tool_calls"),
        )));
        events.extend(stream.on_chunk(
            &json!({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 6}}),
        ));
        events.extend(stream.finish());
        let kinds: Vec<&str> = events.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(events[5].1["index"], 1);
        assert_eq!(events[5].1["content_block"]["input"], json!({}));
        assert_eq!(events[9].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(events[9].1["usage"]["output_tokens"], 6);
        for (kind, event) in &events {
            assert_eq!(event["type"], *kind, "the data repeats the event's name");
        }
    }
}
