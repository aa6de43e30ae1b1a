//! Chat completion chunks → the Responses API's events.

use serde_json::{Value, json};

use super::answer::{
    function_call_item, message_item, now_secs, response_object, status_of, suffix, usage,
};
use super::request::ResponsesEcho;
use crate::dialects::wire::{DialectStream, Event, chunk_parts, new_id};

/// One function call being streamed.
#[derive(Debug)]
struct StreamedCall {
    item_id: String,
    output_index: usize,
    call_id: String,
    name: String,
    arguments: String,
}

/// Chat completion chunks → Responses events, one chunk at a time. Each call returns the events
/// (name, JSON) to send for what came in.
#[derive(Debug)]
pub struct ResponsesStream {
    echo: ResponsesEcho,
    sequence: u64,
    response_id: Option<String>,
    created_at: i64,
    model: String,
    /// The open message item: (id, output index, text so far).
    message: Option<(String, usize, String)>,
    calls: Vec<StreamedCall>,
    /// Chat's tool call index → position in `calls`.
    call_of_index: Vec<(u64, usize)>,
    done_items: Vec<(usize, Value)>,
    next_output_index: usize,
    finish_reason: Option<String>,
    usage: Value,
}

impl ResponsesStream {
    pub fn new(echo: ResponsesEcho) -> Self {
        Self {
            echo,
            sequence: 0,
            response_id: None,
            created_at: now_secs(),
            model: String::new(),
            message: None,
            calls: Vec::new(),
            call_of_index: Vec::new(),
            done_items: Vec::new(),
            next_output_index: 0,
            finish_reason: None,
            usage: Value::Null,
        }
    }

    fn event(&mut self, kind: &'static str, mut payload: Value) -> Event {
        payload["type"] = json!(kind);
        payload["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        (kind, payload)
    }

    fn snapshot(&self, status: &str) -> Value {
        let id = self.response_id.clone().unwrap_or_default();
        let mut response = response_object(&id, self.created_at, &self.model, &self.echo);
        response.insert("status".into(), json!(status));
        Value::Object(response)
    }

    /// The opening events, on the first chunk.
    fn open(&mut self, chunk: &Value, events: &mut Vec<Event>) {
        if self.response_id.is_some() {
            return;
        }
        self.response_id = Some(format!("resp_{}", suffix(chunk["id"].as_str())));
        self.created_at = chunk["created"].as_i64().unwrap_or(self.created_at);
        self.model = chunk["model"].as_str().unwrap_or_default().to_owned();
        let created = self.snapshot("in_progress");
        events.push(self.event("response.created", json!({"response": created})));
        let in_progress = self.snapshot("in_progress");
        events.push(self.event("response.in_progress", json!({"response": in_progress})));
    }

    fn on_text(&mut self, text: &str, events: &mut Vec<Event>) {
        if self.message.is_none() {
            let (id, index) = (new_id("msg"), self.next_output_index);
            self.next_output_index += 1;
            let item = json!({"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []});
            events.push(self.event(
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            ));
            let part =
                json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
            events.push(self.event(
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
            ));
            self.message = Some((id, index, String::new()));
        }
        let Some((id, index, so_far)) = self.message.as_mut() else {
            return;
        };
        so_far.push_str(text);
        let (id, index) = (id.clone(), *index);
        events.push(self.event(
            "response.output_text.delta",
            json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text, "logprobs": []}),
        ));
    }

    fn on_tool_call(&mut self, call: &Value, events: &mut Vec<Event>) {
        let chat_index = call["index"].as_u64().unwrap_or(0);
        let position = match self
            .call_of_index
            .iter()
            .find(|(index, _)| *index == chat_index)
        {
            Some(&(_, position)) => position,
            None => {
                let streamed = StreamedCall {
                    item_id: new_id("fc"),
                    output_index: self.next_output_index,
                    call_id: call["id"]
                        .as_str()
                        .map_or_else(|| new_id("call"), str::to_owned),
                    name: call["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    arguments: String::new(),
                };
                self.next_output_index += 1;
                let item = function_call_item(
                    &self.echo,
                    &streamed.item_id,
                    &streamed.call_id,
                    &streamed.name,
                    "",
                    "in_progress",
                );
                let index = streamed.output_index;
                self.calls.push(streamed);
                self.call_of_index.push((chat_index, self.calls.len() - 1));
                events.push(self.event(
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                ));
                self.calls.len() - 1
            }
        };
        if let Some(arguments) = call["function"]["arguments"]
            .as_str()
            .filter(|a| !a.is_empty())
        {
            let streamed = &mut self.calls[position];
            streamed.arguments.push_str(arguments);
            let (item_id, index) = (streamed.item_id.clone(), streamed.output_index);
            events.push(self.event(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": arguments}),
            ));
        }
    }
}

impl DialectStream for ResponsesStream {
    fn on_chunk(&mut self, chunk: &Value) -> Vec<Event> {
        let mut events = Vec::new();
        self.open(chunk, &mut events);
        let parts = chunk_parts(chunk);
        if let Some(usage) = parts.usage {
            self.usage = usage.clone();
        }
        if let Some(text) = parts.text {
            self.on_text(text, &mut events);
        }
        for call in parts.tool_calls {
            self.on_tool_call(call, &mut events);
        }
        if let Some(reason) = parts.finish_reason {
            self.finish_reason = Some(reason.to_owned());
        }
        events
    }

    /// Closes the open items, then `response.completed` (or `.incomplete`) with the whole
    /// output and usage.
    fn finish(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        if self.response_id.is_none() {
            self.open(&json!({}), &mut events);
        }
        if let Some((id, index, text)) = self.message.take() {
            events.push(self.event(
                "response.output_text.done",
                json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
            ));
            let part =
                json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
            events.push(self.event(
                "response.content_part.done",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
            ));
            let item = message_item(&id, &text, "completed");
            events.push(self.event(
                "response.output_item.done",
                json!({"output_index": index, "item": item.clone()}),
            ));
            self.done_items.push((index, item));
        }
        for streamed in std::mem::take(&mut self.calls) {
            events.push(self.event(
                "response.function_call_arguments.done",
                json!({"item_id": streamed.item_id, "output_index": streamed.output_index,
                       "name": super::tools::split_name(&self.echo.tools, &streamed.name).1,
                       "arguments": streamed.arguments}),
            ));
            let item = function_call_item(
                &self.echo,
                &streamed.item_id,
                &streamed.call_id,
                &streamed.name,
                &streamed.arguments,
                "completed",
            );
            events.push(self.event(
                "response.output_item.done",
                json!({"output_index": streamed.output_index, "item": item.clone()}),
            ));
            self.done_items.push((streamed.output_index, item));
        }
        self.done_items.sort_by_key(|(index, _)| *index);
        let (status, incomplete) = status_of(self.finish_reason.as_deref());
        let mut response = self.snapshot(status);
        response["incomplete_details"] = incomplete;
        response["completed_at"] = json!(now_secs());
        response["output"] = Value::Array(
            self.done_items
                .iter()
                .map(|(_, item)| item.clone())
                .collect(),
        );
        response["usage"] = usage(&self.usage);
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        events.push(self.event(kind, json!({"response": response})));
        events
    }

    /// `error` (flat, as the SDK reads it), then `response.failed`.
    fn fail(&mut self, error: &Value) -> Vec<Event> {
        let mut events = Vec::new();
        if self.response_id.is_none() {
            self.open(&json!({}), &mut events);
        }
        let code = error["code"].clone();
        let message = error["message"]
            .as_str()
            .unwrap_or("the provider's stream broke off")
            .to_owned();
        events.push(self.event(
            "error",
            json!({"code": code, "message": message, "param": error["param"].clone()}),
        ));
        let mut response = self.snapshot("failed");
        response["error"] = json!({"code": if code.is_null() { json!("server_error") } else { code }, "message": message});
        events.push(self.event("response.failed", json!({"response": response})));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_the_documented_event_sequence() {
        let mut stream = ResponsesStream::new(ResponsesEcho::default());
        let chunk = |delta: Value, finish: Value| json!({"id": "chatcmpl-1", "created": 1, "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        let mut events = stream.on_chunk(&chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        ));
        events.extend(stream.on_chunk(&chunk(json!({"content": "Hel"}), Value::Null)));
        events.extend(stream.on_chunk(&chunk(json!({"content": "lo"}), Value::Null)));
        events.extend(stream.on_chunk(&chunk(json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}), Value::Null)));
        events.extend(stream.on_chunk(&chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
            json!("tool_calls"),
        )));
        events.extend(stream.on_chunk(&json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})));
        events.extend(stream.finish());
        let kinds: Vec<&str> = events.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let sequence: Vec<u64> = events
            .iter()
            .map(|(_, e)| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(sequence, (0..events.len() as u64).collect::<Vec<_>>());
        let completed = &events.last().unwrap().1["response"];
        assert_eq!(completed["id"], events[0].1["response"]["id"]);
        assert_eq!(completed["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(completed["output"][1]["arguments"], "{}");
        assert_eq!(completed["usage"]["total_tokens"], 5);
    }

    #[test]
    fn a_broken_stream_ends_with_error_then_failed() {
        let mut stream = ResponsesStream::new(ResponsesEcho::default());
        stream.on_chunk(
            &json!({"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "x"}}]}),
        );
        let events =
            stream.fail(&json!({"message": "timeout", "code": "upstream_timeout", "param": null}));
        assert_eq!(events[0].0, "error");
        assert_eq!(events[0].1["code"], "upstream_timeout");
        assert!(
            events[0].1.get("error").is_none(),
            "flat, as the SDK expects"
        );
        assert_eq!(events[1].0, "response.failed");
        assert_eq!(events[1].1["response"]["status"], "failed");
    }
}
