//! The HTTP side of a provider call, shared by every provider: sending with a deadline, reading
//! bounded answers and error bodies, idle timeouts on streams, and failures mapped.

use std::time::Duration;

use bytes::Bytes;
use futures::Stream;

use super::api::{ChunkStream, StreamItem};
use super::events::{event_bytes, stream_error};
use crate::error::UpstreamError;

/// Sends a prepared upstream request. A non-2xx answer is read whole (error bodies are small) and
/// turned into the provider's error by `read_error`, with its `Retry-After`.
pub(crate) async fn send(
    provider: &'static str,
    timeout: Duration,
    request: reqwest::RequestBuilder,
    read_error: impl FnOnce(
        axum::http::StatusCode,
        Option<axum::http::HeaderValue>,
        &[u8],
    ) -> UpstreamError,
) -> Result<reqwest::Response, UpstreamError> {
    // The timeout bounds the wait for the answer to start, not the answer: a stream may run for
    // as long as its chunks keep coming (see `with_idle_timeout`).
    let response =
        match crate::metrics::upstream(tokio::time::timeout(timeout, request.send())).await {
            Ok(sent) => sent.map_err(|e| transport_error(provider, timeout, e))?,
            Err(_) => return Err(timed_out(provider, timeout)),
        };
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let retry_after = response
        .headers()
        .get(axum::http::header::RETRY_AFTER)
        .filter(|value| is_whole_seconds(value))
        .cloned();
    // Only the start of an error body is read: it carries the message, and a provider gone wrong
    // may send one without end.
    let read = tokio::time::timeout(timeout, read_capped(response, MAX_ERROR_BODY_BYTES));
    let body = match crate::metrics::upstream(read).await {
        Ok(Ok((body, _))) => body,
        // A body that breaks off or stalls still leaves the status to map.
        Ok(Err(_)) | Err(_) => Bytes::new(),
    };
    Err(read_error(status, retry_after, &body))
}

/// A `Retry-After` the gateway passes on: whole seconds, at most a day. What a provider gone
/// wrong may send instead (`NaN`, `-1`, `inf`, `1e300`) is dropped, not handed to clients.
fn is_whole_seconds(value: &axum::http::HeaderValue) -> bool {
    value
        .to_str()
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|text| text.parse::<u32>().ok())
        .is_some_and(|seconds| seconds <= 86_400)
}

/// The most of a successful, non-streamed answer the gateway reads (embeddings of many inputs are
/// the largest answers there are, a few megabytes); more is the provider gone wrong.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// The start of an error body the gateway reads.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Reads at most `limit` bytes of a body: the bytes, and whether the body went on past them.
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(Bytes, bool), reqwest::Error> {
    // A declared length within the limit is all there will be (hyper holds the body to it): read
    // it the usual way, without copying it chunk by chunk.
    if response
        .content_length()
        .is_some_and(|length| length <= limit as u64)
    {
        return Ok((response.bytes().await?, false));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body.freeze(), true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), false))
}

/// The whole body of a successful (small, non-streaming) upstream answer.
pub(crate) async fn read_body(
    provider: &'static str,
    timeout: Duration,
    response: reqwest::Response,
) -> Result<Bytes, UpstreamError> {
    let read = tokio::time::timeout(timeout, read_capped(response, MAX_ANSWER_BYTES));
    match crate::metrics::upstream(read).await {
        Ok(Ok((body, false))) => Ok(body),
        Ok(Ok((_, true))) => Err(UpstreamError::InvalidResponse {
            provider,
            detail: format!(
                "the answer is larger than {} MiB",
                MAX_ANSWER_BYTES / (1024 * 1024)
            ),
        }),
        Ok(Err(e)) => Err(transport_error(provider, timeout, e)),
        Err(_) => Err(timed_out(provider, timeout)),
    }
}

fn timed_out(provider: &'static str, timeout: Duration) -> UpstreamError {
    UpstreamError::Timeout {
        provider,
        seconds: timeout.as_secs().max(1),
    }
}

/// Ends a stream with a timeout error when the provider sends nothing for `idle`: a long answer
/// streams for as long as it needs, a stalled one is not waited on for ever.
pub(crate) fn with_idle_timeout(
    provider: &'static str,
    idle: Duration,
    stream: ChunkStream,
) -> ChunkStream {
    use futures::StreamExt as _;
    Box::pin(futures::stream::unfold(
        Some(stream),
        move |stream| async move {
            let mut stream = stream?;
            match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(item)) => Some((item, Some(stream))),
                Ok(None) => None,
                Err(_) => Some((Err(timed_out(provider, idle)), None)),
            }
        },
    ))
}

/// Turns a provider's server-sent events into OpenAI chunks with `convert`, one event at a time;
/// a broken connection ends the stream with an error.
pub(crate) fn convert_events(
    provider: &'static str,
    response: reqwest::Response,
    mut convert: impl FnMut(&eventsource_stream::Event) -> Result<Vec<StreamItem>, UpstreamError>
    + Send
    + 'static,
) -> impl Stream<Item = Result<StreamItem, UpstreamError>> + Send + 'static {
    use eventsource_stream::Eventsource as _;
    use futures::StreamExt as _;
    event_bytes(response).eventsource().flat_map(move |event| {
        let items: Vec<Result<StreamItem, UpstreamError>> = match event {
            Ok(event) => match convert(&event) {
                Ok(items) => items.into_iter().map(Ok).collect(),
                Err(err) => vec![Err(err)],
            },
            Err(err) => vec![Err(stream_error(provider, err))],
        };
        futures::stream::iter(items)
    })
}

/// Maps a reqwest failure (before any response) to an upstream error.
pub(crate) fn transport_error(
    provider: &'static str,
    timeout: Duration,
    err: reqwest::Error,
) -> UpstreamError {
    if err.is_timeout() {
        timed_out(provider, timeout)
    } else if let Some(refusal) = egress_refusal(&err) {
        UpstreamError::Egress {
            provider,
            refusal: refusal.clone(),
        }
    } else {
        // reqwest's message can include the URL but never headers, so the key stays out.
        UpstreamError::Connect {
            provider,
            detail: without_url(&err),
        }
    }
}

/// The SSRF guard's refusal, when that is why the connection failed (it comes back from the
/// resolver wrapped in the connector's errors).
fn egress_refusal(err: &reqwest::Error) -> Option<&crate::egress::EgressRefusal> {
    use std::error::Error as _;
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<crate::egress::EgressRefusal>() {
            return Some(refusal);
        }
        source = cause.source();
    }
    None
}

fn without_url(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut detail = String::from(if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    });
    let mut source = err.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_seconds_of_retry_after_are_passed_on() {
        let value = |text: &str| axum::http::HeaderValue::from_str(text).unwrap();
        for sane in ["0", "20", "86400"] {
            assert!(is_whole_seconds(&value(sane)), "{sane}");
        }
        for insane in [
            "NaN",
            "-1",
            "inf",
            "1e300",
            "1.5",
            "86401",
            "99999999999",
            " 5",
        ] {
            assert!(!is_whole_seconds(&value(insane)), "{insane}");
        }
    }
}
