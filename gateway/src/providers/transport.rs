//! The HTTP side of a provider call, shared by every provider: sending with a deadline, reading
//! bounded answers and error bodies, idle timeouts on streams, and failures mapped.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;

use super::api::{ChunkStream, StreamItem};
use super::events::body_error;
use super::sse::data_events;
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
    Box::pin(IdleTimeout {
        provider,
        stream: Some(stream),
        timer: IdleTimer::new(idle),
    })
}

struct IdleTimeout {
    provider: &'static str,
    /// `None` once the stream has ended or timed out.
    stream: Option<ChunkStream>,
    timer: IdleTimer,
}

impl Stream for IdleTimeout {
    type Item = Result<StreamItem, UpstreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(item) = stream.as_mut().poll_next(cx) {
            this.timer.gave();
            if item.is_none() {
                this.stream = None;
            }
            return Poll::Ready(item);
        }
        if this.timer.expired(cx) {
            this.stream = None;
            return Poll::Ready(Some(Err(timed_out(this.provider, this.timer.idle))));
        }
        Poll::Pending
    }
}

/// How long a provider has been silent, against a bound. One timer per stream, moved only when
/// it fires early: a chunk costs a clock read, where a `tokio::time::timeout` per chunk put a
/// timer in the wheel and took it out again each time.
pub(crate) struct IdleTimer {
    pub(crate) idle: Duration,
    /// When the provider was first found with nothing to give since it last gave: the wait is
    /// measured from there, not from what it gave (a client slow to read is not the provider
    /// idle).
    waiting_since: Option<tokio::time::Instant>,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimer {
    pub(crate) fn new(idle: Duration) -> Self {
        Self {
            idle,
            waiting_since: None,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// The provider gave something.
    pub(crate) fn gave(&mut self) {
        self.waiting_since = None;
    }

    /// The provider had nothing to give at this poll: whether it has now been silent for the
    /// bound. If not, the task is woken when it could be.
    pub(crate) fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = *self
            .waiting_since
            .get_or_insert_with(tokio::time::Instant::now)
            + self.idle;
        // The timer may be set for an earlier wait: it is moved on only when it fires before
        // this wait's deadline.
        while self.timer.as_mut().poll(cx).is_ready() {
            if deadline <= tokio::time::Instant::now() {
                return true;
            }
            self.timer.as_mut().reset(deadline);
        }
        false
    }
}

/// Turns a provider's server-sent events into OpenAI chunks with `convert`, one event's data at a
/// time, read by the parser OpenAI's streams are read with ([`data_events`]: the event names are
/// not read, Anthropic's data carry their `type` too); a broken connection or an event past its
/// bound ends the stream with an error.
pub(crate) fn convert_events(
    provider: &'static str,
    response: reqwest::Response,
    mut convert: impl FnMut(&[u8]) -> Result<Vec<StreamItem>, UpstreamError> + Send + 'static,
) -> impl Stream<Item = Result<StreamItem, UpstreamError>> + Send + 'static {
    use futures::StreamExt as _;
    data_events(response).flat_map(move |data| {
        let items: Vec<Result<StreamItem, UpstreamError>> = match data {
            Ok(data) => match convert(&data) {
                Ok(items) => items.into_iter().map(Ok).collect(),
                Err(err) => vec![Err(err)],
            },
            Err(err) => vec![Err(body_error(provider, err))],
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

    fn item(n: u8) -> StreamItem {
        StreamItem {
            json: Bytes::from(vec![n]),
            usage: None,
            usage_only: false,
        }
    }

    /// The wait is for the provider, between its items: a chunk every 600 ms passes a 1 s idle
    /// bound for as long as it goes on, a client that takes 5 s to ask for the next chunk is
    /// not the provider idle, and a provider silent for the bound ends the stream then.
    #[tokio::test(start_paused = true)]
    async fn the_idle_timeout_counts_the_providers_silence_only() {
        use futures::StreamExt as _;
        use tokio::time::{Instant, sleep};

        let idle = Duration::from_secs(1);
        let steady = futures::stream::unfold(0u8, |n| async move {
            sleep(Duration::from_millis(600)).await;
            (n < 5).then(|| (Ok(item(n)), n + 1))
        });
        let mut stream = with_idle_timeout("test", idle, Box::pin(steady));
        for n in 0..5 {
            assert_eq!(stream.next().await.unwrap().unwrap().json[0], n);
        }
        assert!(stream.next().await.is_none(), "ended well after 3 s");

        // The client reads slowly: the provider's next chunk is ready when it asks.
        let ready = futures::stream::iter([Ok(item(0)), Ok(item(1))]);
        let mut stream = with_idle_timeout("test", idle, Box::pin(ready));
        stream.next().await.unwrap().unwrap();
        sleep(Duration::from_secs(5)).await;
        assert_eq!(stream.next().await.unwrap().unwrap().json[0], 1);

        // One chunk, then silence: the stream ends with the timeout one bound after the wait
        // began, and then ends.
        let stalled = futures::stream::iter([Ok(item(0))]).chain(futures::stream::pending());
        let mut stream = with_idle_timeout("test", idle, Box::pin(stalled));
        sleep(Duration::from_secs(3)).await;
        stream.next().await.unwrap().unwrap();
        let waited = Instant::now();
        let timed_out = stream.next().await.unwrap().unwrap_err();
        assert!(matches!(
            timed_out,
            UpstreamError::Timeout { seconds: 1, .. }
        ));
        assert_eq!(waited.elapsed(), idle);
        assert!(stream.next().await.is_none());
    }

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
