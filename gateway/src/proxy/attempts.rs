//! Stage 6: the provider calls. Each model in the route is tried with retries (full-jitter
//! backoff, honouring `retry-after`, within the request's deadline); a failure that is the
//! provider's, not the request's, moves on to the next model.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tracing::Instrument as _;

use super::respond::with_route_headers;
use crate::error::{ApiError, UpstreamError};
use crate::openai::ChatCompletionRequest;
use crate::providers::{ChatOutcome, ChunkStream, Provider, StreamItem, UpstreamCall};
use crate::routing::RouteDecision;
use crate::settings::RetrySettings;

/// A call that succeeded: a whole completion, or a stream whose first chunk has arrived; or the
/// provider's own answer to a request passed through in its API.
pub(super) enum Answer {
    Complete(ChatOutcome),
    Stream((StreamItem, ChunkStream)),
    Passed(super::native::Passed),
}

/// One model's attempt at a routed chat request: the request adapted to the model, then passed
/// through in the client's own API (`native`, when the model's provider speaks it), streamed, or
/// answered whole.
pub(super) async fn attempt(
    state: &crate::state::GatewayState,
    headers: &axum::http::HeaderMap,
    request: &ChatCompletionRequest,
    native: Option<super::native::NativeBody<'_>>,
    decision: &RouteDecision<'_>,
) -> Result<(Answer, crate::adapt::Notes), UpstreamError> {
    let span = crate::telemetry::attempt_span(decision.endpoint.kind.id(), &decision.model);
    let result = untraced(state, headers, request, native, decision)
        .instrument(span.clone())
        .await;
    match &result {
        Ok((Answer::Complete(outcome), _)) => {
            span.record("gen_ai.response.model", outcome.served_model.as_str());
            span.record("gen_ai.usage.input_tokens", outcome.usage.prompt_tokens);
            span.record(
                "gen_ai.usage.output_tokens",
                outcome.usage.completion_tokens,
            );
        }
        Ok(_) => {}
        Err(error) => {
            span.record("otel.status_code", "error");
            span.record("error.type", error_type(error).as_ref());
        }
    }
    result
}

/// An upstream failure as OpenTelemetry's `error.type` names it: the status code, or the kind.
fn error_type(error: &UpstreamError) -> std::borrow::Cow<'static, str> {
    match error {
        UpstreamError::Status { status, .. } => status.as_u16().to_string().into(),
        UpstreamError::Timeout { .. } => "timeout".into(),
        UpstreamError::Connect { .. } => "connect_failed".into(),
        UpstreamError::InvalidResponse { .. } => "invalid_response".into(),
        UpstreamError::Egress { .. } => "egress_refused".into(),
        UpstreamError::Request(_) => "request_refused".into(),
    }
}

async fn untraced(
    state: &crate::state::GatewayState,
    headers: &axum::http::HeaderMap,
    request: &ChatCompletionRequest,
    native: Option<super::native::NativeBody<'_>>,
    decision: &RouteDecision<'_>,
) -> Result<(Answer, crate::adapt::Notes), UpstreamError> {
    let provider = Provider::for_kind(decision.endpoint.kind);
    let call = upstream_call(state, headers, decision);
    // Each attempt gets the request as its model takes it (a fallback may differ).
    let (request, notes) = crate::adapt::chat(request, decision.endpoint.kind, &decision.model)?;
    let model = &decision.model;
    if let Some(native) = native.filter(|native| native.serves(decision)) {
        let (passed, notes) = native
            .attempt(&call, model, headers, request.wants_stream())
            .await?;
        return Ok((Answer::Passed(passed), notes));
    }
    let answer = if request.wants_stream() {
        open_stream(&provider, &call, &request, model)
            .await
            .map(Answer::Stream)
    } else {
        provider
            .chat(&call, &request, model)
            .await
            .map(Answer::Complete)
    };
    answer.map(|answer| (answer, notes))
}

/// Opens a stream and waits for its first chunk, so that a failure at byte zero is a normal
/// error (and may be retried or fall back) rather than a broken 200.
pub(super) async fn open_stream(
    provider: &Provider,
    call: &UpstreamCall<'_>,
    request: &ChatCompletionRequest,
    model: &str,
) -> Result<(StreamItem, ChunkStream), UpstreamError> {
    let mut stream = provider.chat_stream(call, request, model).await?;
    match crate::metrics::upstream(stream.next()).await {
        Some(Ok(first)) => Ok((first, stream)),
        Some(Err(err)) => Err(err),
        None => Err(UpstreamError::InvalidResponse {
            provider: call.endpoint.kind.id(),
            detail: "the stream was empty".into(),
        }),
    }
}

/// Tries the route's models in order and returns the first success with the model that gave
/// it. Every failed model is reported to `on_failure` (for its usage event); the error returned
/// is the last model's, carrying its route headers.
pub(super) async fn first_success<'d, 'a, T, Call, Fut>(
    decisions: &'d [RouteDecision<'a>],
    retry: &RetrySettings,
    started: Instant,
    mut call: Call,
    mut on_failure: impl FnMut(&RouteDecision<'a>, &ApiError),
) -> Result<(&'d RouteDecision<'a>, T), ApiError>
where
    Call: FnMut(&'d RouteDecision<'a>) -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    let mut last_error = None;
    for decision in decisions {
        match with_retries(retry, started, || call(decision)).await {
            Ok(value) => return Ok((decision, value)),
            Err(failed) => {
                // A request the translation for this provider refused never left the gateway.
                let sent = !matches!(failed.error, UpstreamError::Request(_));
                let api = ApiError::from(failed.error);
                if sent {
                    tracing::info!(status = %api.status, message = %api.body.error.message, model = %decision.model, "upstream call failed");
                } else {
                    tracing::info!(status = %api.status, message = %api.body.error.message, model = %decision.model, "request refused before it was sent: the provider cannot take it");
                }
                on_failure(decision, &api);
                let api = with_route_headers(api, decision);
                if !failed.try_next_model {
                    return Err(api);
                }
                last_error = Some(api);
            }
        }
    }
    Err(last_error.unwrap_or_else(ApiError::internal))
}

struct FailedCall {
    error: UpstreamError,
    /// Whether a fallback model may be tried: the failure was the provider's, not the request's.
    try_next_model: bool,
}

/// Runs `attempt` until it succeeds, fails for good, or the retry budget is spent.
async fn with_retries<T, F, Fut>(
    retry: &RetrySettings,
    started: Instant,
    mut attempt: F,
) -> Result<T, FailedCall>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    let mut backoff = retry.base_backoff;
    for number in 1..=retry.attempts.max(1) {
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !error.is_retryable() {
            return Err(FailedCall {
                error,
                try_next_model: false,
            });
        }
        if number == retry.attempts.max(1) {
            return Err(FailedCall {
                error,
                try_next_model: true,
            });
        }
        // Full jitter: a random wait up to the backoff, or what the provider asked for.
        let jittered = backoff.mul_f64(rand::random::<f64>());
        let wait = retry_after(&error).map_or(jittered, |asked| asked.max(jittered));
        if wait > retry.max_retry_wait || started.elapsed() + wait > retry.deadline {
            return Err(FailedCall {
                error,
                try_next_model: true,
            });
        }
        tracing::debug!(attempt = number, wait_ms = wait.as_millis() as u64, error = %error, "retrying upstream call");
        // Waiting out the provider's trouble is not time the gateway adds.
        crate::metrics::upstream(tokio::time::sleep(wait)).await;
        backoff *= 2;
    }
    unreachable!("the loop returns on its last attempt")
}

fn retry_after(error: &UpstreamError) -> Option<Duration> {
    let UpstreamError::Status {
        retry_after: Some(value),
        ..
    } = error
    else {
        return None;
    };
    // Seconds as the provider sent them; a negative, NaN, infinite or absurd value is ignored
    // (`Duration::from_secs_f64` would panic on it), an HTTP date too.
    let seconds = value.to_str().ok()?.trim().parse::<f64>().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RequestError;
    use crate::providers::{ProviderEndpoint, ProviderKind, ProviderSecret};
    use axum::http::{HeaderValue, StatusCode};

    fn rate_limited(after: &'static str) -> UpstreamError {
        UpstreamError::Status {
            provider: "openai",
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "slow down".into(),
            kind: None,
            code: None,
            retry_after: Some(HeaderValue::from_static(after)),
        }
    }

    fn retry(attempts: u32) -> RetrySettings {
        RetrySettings {
            attempts,
            base_backoff: Duration::from_millis(10),
            deadline: Duration::from_secs(60),
            max_retry_wait: Duration::from_secs(5),
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_ignores_what_is_not_a_wait() {
        let after = |value: &'static str| retry_after(&rate_limited(value));
        assert_eq!(after("2"), Some(Duration::from_secs(2)));
        assert_eq!(after(" 0.5 "), Some(Duration::from_millis(500)));
        for nonsense in [
            "-1",
            "NaN",
            "inf",
            "-inf",
            "1e300",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(after(nonsense), None, "Retry-After: {nonsense}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_then_gives_up() {
        let retry = RetrySettings {
            attempts: 3,
            base_backoff: Duration::from_millis(10),
            deadline: Duration::from_secs(5),
            max_retry_wait: Duration::from_secs(2),
        };
        let mut calls = 0;
        let result: Result<(), _> = with_retries(&retry, Instant::now(), || {
            calls += 1;
            async { Err(rate_limited("0")) }
        })
        .await;
        assert_eq!(calls, 3);
        assert!(result.unwrap_err().try_next_model);

        let mut calls = 0;
        let result = with_retries(&retry, Instant::now(), || {
            calls += 1;
            let outcome = if calls < 2 {
                Err(rate_limited("0"))
            } else {
                Ok(calls)
            };
            async move { outcome }
        })
        .await;
        assert_eq!(result.ok(), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_client_errors_or_past_the_deadline() {
        let retry = retry(5);
        let mut calls = 0;
        let result: Result<(), _> = with_retries(&retry, Instant::now(), || {
            calls += 1;
            async {
                Err(UpstreamError::Request(RequestError::Unsupported(
                    "no".into(),
                )))
            }
        })
        .await;
        assert_eq!(calls, 1);
        assert!(!result.unwrap_err().try_next_model);

        // Asked to wait 60 s, more than is worth waiting: move on at once.
        let mut calls = 0;
        let result: Result<(), _> = with_retries(&retry, Instant::now(), || {
            calls += 1;
            async { Err(rate_limited("60")) }
        })
        .await;
        assert_eq!(calls, 1);
        assert!(result.unwrap_err().try_next_model);
    }

    fn endpoint(kind: ProviderKind) -> ProviderEndpoint {
        ProviderEndpoint {
            kind,
            base_url: "http://127.0.0.1:9".into(),
            api_key: ProviderSecret::new("sk-test".into()),
            egress_refusal: None,
            opened: false,
        }
    }

    fn decision<'a>(endpoint: &'a ProviderEndpoint, model: &str) -> RouteDecision<'a> {
        RouteDecision {
            endpoint,
            model: model.into(),
            reason: format!("test: {model}"),
            tier: None,
            routed: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn falls_back_past_a_provider_failure_and_reports_each_failed_model() {
        let (openai, groq) = (endpoint(ProviderKind::OpenAi), endpoint(ProviderKind::Groq));
        let route = [decision(&openai, "primary"), decision(&groq, "fallback")];
        let mut failed = Vec::new();
        let (served, value) = first_success(
            &route,
            &retry(2),
            Instant::now(),
            |decision| {
                let outcome = match decision.model.as_str() {
                    "primary" => Err(rate_limited("0")),
                    _ => Ok("answer"),
                };
                async move { outcome }
            },
            |decision, api| failed.push((decision.model.clone(), api.status)),
        )
        .await
        .ok()
        .expect("the fallback answers");
        assert_eq!((served.model.as_str(), value), ("fallback", "answer"));
        assert_eq!(
            failed,
            [("primary".to_owned(), StatusCode::TOO_MANY_REQUESTS)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_request_is_not_sent_to_the_fallbacks() {
        let openai = endpoint(ProviderKind::OpenAi);
        let route = [decision(&openai, "primary"), decision(&openai, "fallback")];
        let mut tried = Vec::new();
        let error = first_success(
            &route,
            &retry(3),
            Instant::now(),
            |decision| {
                tried.push(decision.model.clone());
                async {
                    Err::<(), _>(UpstreamError::Request(RequestError::Unsupported(
                        "no".into(),
                    )))
                }
            },
            |_, _| {},
        )
        .await
        .err()
        .expect("fails");
        assert_eq!(tried, ["primary"]);
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        let (provider, model, reason) = error.route.expect("route headers on the error");
        assert_eq!(
            (provider.as_str(), model.as_str(), reason.as_str()),
            ("openai", "openai/primary", "test: primary")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn when_every_model_fails_the_last_error_is_returned() {
        let (openai, groq) = (endpoint(ProviderKind::OpenAi), endpoint(ProviderKind::Groq));
        let route = [decision(&openai, "primary"), decision(&groq, "fallback")];
        let mut failures = 0;
        let error = first_success(
            &route,
            &retry(1),
            Instant::now(),
            |_| async { Err::<(), _>(rate_limited("0")) },
            |_, _| failures += 1,
        )
        .await
        .err()
        .expect("fails");
        assert_eq!(failures, 2);
        assert_eq!(error.route.expect("route").1, "groq/fallback");
    }
}

/// The call to a decision's provider: its endpoint and key, the server's timeouts, and the hop
/// count one above the incoming request's (so a gateway pointed at itself is refused).
pub(super) fn upstream_call<'a>(
    state: &'a crate::state::GatewayState,
    headers: &axum::http::HeaderMap,
    decision: &RouteDecision<'a>,
) -> crate::providers::UpstreamCall<'a> {
    state.upstream_call(decision.endpoint, super::hops::incoming(headers) + 1)
}
