//! The fake Gemini: `generateContent` and `streamGenerateContent`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::respond::{json_response, sse_response, sse_response_watched};
use crate::shared::Shared;

/// Records a Gemini request and checks its `x-goog-api-key`: the parsed body, or Google's 400
/// `API_KEY_INVALID`.
fn gemini_request(
    shared: &Shared,
    path: String,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<serde_json::Value, Response> {
    let key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = shared.record("gemini", path, key.clone(), headers, body);
    if !shared.key_ok(key.as_deref()) {
        return Err(json_response(
            StatusCode::BAD_REQUEST,
            fixture!("gemini/error_invalid_api_key.json"),
            &[],
        ));
    }
    Ok(request)
}

/// `GET /v1beta/models`: the models the key may use; a bad key is Google's 400
/// `API_KEY_INVALID`, as on `generateContent`.
pub(crate) async fn gemini_models(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = gemini_request(&shared, "/v1beta/models".into(), &headers, &Bytes::new())
    {
        return refused;
    }
    json_response(StatusCode::OK, fixture!("gemini/models.json"), &[])
}

pub(crate) async fn gemini(
    State(shared): State<Arc<Shared>>,
    Path(call): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = gemini_request(&shared, format!("/v1beta/models/{call}"), &headers, &body)
    {
        return refused;
    }
    let Some((model, method)) = call.split_once(':') else {
        return json_response(
            StatusCode::NOT_FOUND,
            fixture!("gemini/error_not_found.json"),
            &[],
        );
    };
    match (model, method) {
        ("fake-error-429", _) => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            fixture!("gemini/error_rate_limit.json"),
            &[],
        ),
        ("fake-error-500", _) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            fixture!("gemini/error_unavailable.json"),
            &[],
        ),
        ("fake-flaky", _) if shared.flaky_fails() => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            fixture!("gemini/error_unavailable.json"),
            &[],
        ),
        ("fake-missing-model", _) => json_response(
            StatusCode::NOT_FOUND,
            fixture!("gemini/error_not_found.json"),
            &[],
        ),
        ("fake-garbage", _) => json_response(StatusCode::OK, r#"{"unexpected": true}"#, &[]),
        (_, "batchEmbedContents") => json_response(
            StatusCode::OK,
            fixture!("gemini/batch_embed_contents.json"),
            &[],
        ),
        (_, "embedContent") => {
            json_response(StatusCode::OK, fixture!("gemini/embed_content.json"), &[])
        }
        ("fake-tools", "generateContent") => json_response(
            StatusCode::OK,
            fixture!("gemini/generate_content_function_call.json"),
            &[],
        ),
        ("fake-tools", "streamGenerateContent") => sse_response(
            fixture!("gemini/stream_function_call.sse"),
            "\r\n\r\n",
            false,
        ),
        ("fake-stream-cut", "streamGenerateContent") => sse_response(
            fixture!("gemini/stream_generate_content.sse"),
            "\r\n\r\n",
            true,
        ),
        (_, "generateContent") => json_response(
            StatusCode::OK,
            fixture!("gemini/generate_content.json"),
            &[],
        ),
        (_, "streamGenerateContent") => sse_response_watched(
            fixture!("gemini/stream_generate_content.sse"),
            "\r\n\r\n",
            false,
            Some(shared.abandoned_streams.clone()),
            shared.stream_pause(),
        ),
        _ => json_response(
            StatusCode::NOT_FOUND,
            fixture!("gemini/error_not_found.json"),
            &[],
        ),
    }
}
