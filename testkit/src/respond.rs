//! How the fake answers: JSON bodies, event streams paced as a provider paces them, bodies that
//! never end, and the JSON-text answers of structured output.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::shared::DEFAULT_STREAM_PAUSE;
use crate::strict;

pub(crate) fn json_response(
    status: StatusCode,
    body: &str,
    headers: &[(&'static str, &'static str)],
) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(*name, header::HeaderValue::from_static(value));
    }
    response
}

/// A body that starts with `prefix` and then never ends (64 KiB of padding at a time, for as long
/// as the client reads).
pub(crate) fn endless_response(
    status: StatusCode,
    content_type: &'static str,
    prefix: &'static str,
) -> Response {
    let padding = Bytes::from(vec![b'a'; 64 * 1024]);
    let stream = async_stream::stream! {
        yield Ok::<_, std::io::Error>(Bytes::from_static(prefix.as_bytes()));
        loop {
            yield Ok(padding.clone());
        }
    };
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

/// An event stream of 64 KiB `data:` lines that never ends its first event.
pub(crate) fn endless_event_response() -> Response {
    let mut line = b"data: ".to_vec();
    line.extend(std::iter::repeat_n(b'a', 64 * 1024));
    line.push(b'\n');
    let line = Bytes::from(line);
    let stream = async_stream::stream! {
        loop {
            yield Ok::<_, std::io::Error>(line.clone());
        }
    };
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    response
}

/// Counts a stream as abandoned unless it was marked complete before being dropped.
pub(crate) struct CompletionWatch {
    complete: bool,
    abandoned: Arc<AtomicU32>,
}

impl Drop for CompletionWatch {
    fn drop(&mut self) {
        if !self.complete {
            self.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Streams a fixture's events with a small pause between them, as a real provider does; with
/// `cut`, the connection breaks off after two events.
pub(crate) fn sse_response(fixture: &str, separator: &'static str, cut: bool) -> Response {
    sse_response_watched(fixture, separator, cut, None, DEFAULT_STREAM_PAUSE)
}

pub(crate) fn sse_response_watched(
    fixture: &str,
    separator: &'static str,
    cut: bool,
    abandoned: Option<Arc<AtomicU32>>,
    pause: Duration,
) -> Response {
    let events: Vec<String> = fixture
        .split(separator)
        .filter(|event| !event.trim().is_empty())
        .map(|event| format!("{event}{separator}"))
        .collect();
    let stream = async_stream::stream! {
        let mut watch = abandoned.map(|abandoned| CompletionWatch { complete: cut, abandoned });
        for (index, event) in events.into_iter().enumerate() {
            if cut && index == 2 {
                yield Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"));
                return;
            }
            yield Ok::<_, std::io::Error>(Bytes::from(event));
            tokio::time::sleep(pause).await;
        }
        if let Some(watch) = watch.as_mut() {
            watch.complete = true;
        }
    };
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    response
}

/// A strict rule's refusal as the provider sends it.
pub(crate) fn refusal_response(
    refusal: strict::Refusal,
    headers: &[(&'static str, &'static str)],
) -> Response {
    json_response(
        StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST),
        &refusal.body.to_string(),
        headers,
    )
}

/// The JSON text a real model's structured-output answer carries, as the fake OpenAI writes it.
pub(crate) const JSON_ANSWER: &str = r#"{"city":"Paris"}"#;

/// The chat completion fixture with `model` set and the JSON text as the message content.
pub(crate) fn with_json_content(fixture: &str, model: &str) -> String {
    let mut value: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    value["model"] = Value::String(model.to_owned());
    if let Some(content) = value.pointer_mut("/choices/0/message/content") {
        *content = Value::String(JSON_ANSWER.to_owned());
    }
    value.to_string()
}

/// The chat completion stream fixture with the JSON text as its content: the first two content
/// deltas carry `{"city":` and `"Paris"}`, the other content deltas are left out, and every other
/// event is kept byte for byte.
pub(crate) fn json_content_stream(fixture: &str) -> String {
    let mut pieces = [r#"{"city":"#, r#""Paris"}"#].into_iter();
    let mut stream = String::new();
    for event in fixture
        .split("\n\n")
        .filter(|event| !event.trim().is_empty())
    {
        let chunk = event
            .strip_prefix("data: ")
            .and_then(|data| serde_json::from_str::<Value>(data).ok());
        let Some(mut chunk) = chunk else {
            stream.push_str(event);
            stream.push_str("\n\n");
            continue;
        };
        let has_text = chunk
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .is_some_and(|text| !text.is_empty());
        if !has_text {
            stream.push_str(event);
            stream.push_str("\n\n");
            continue;
        }
        let Some(piece) = pieces.next() else {
            continue;
        };
        chunk["choices"][0]["delta"]["content"] = Value::String(piece.to_owned());
        stream.push_str(&format!("data: {chunk}\n\n"));
    }
    stream
}

pub(crate) fn with_model(fixture: &str, pointer: &str, model: &str) -> String {
    let mut value: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    if let Some(slot) = value.pointer_mut(pointer) {
        *slot = Value::String(model.to_owned());
    }
    value.to_string()
}

/// `Authorization` as sent.
pub(crate) fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
