//! A fake OpenTelemetry collector on 127.0.0.1: OTLP/HTTP's traces endpoint (`POST /v1/traces`)
//! as the collector's `otlphttp` receiver answers it, for JSON-encoded exports
//! (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`); a protobuf body is refused with 415, which the
//! real receiver would take, so a test cannot pass on an export it never read.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::{Value, json};

pub struct FakeCollector {
    addr: SocketAddr,
    exports: Arc<Mutex<Vec<Value>>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeCollector {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let exports = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(exports.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            exports,
            server,
        })
    }

    /// For `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter adds `/v1/traces`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every export request received, as sent.
    pub fn exports(&self) -> Vec<Value> {
        self.exports.lock().clone()
    }

    /// Every span received (`resourceSpans[].scopeSpans[].spans[]`), in arrival order.
    pub fn spans(&self) -> Vec<Value> {
        let mut spans = Vec::new();
        for export in self.exports.lock().iter() {
            for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                }
            }
        }
        spans
    }
}

impl Drop for FakeCollector {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A span attribute's value as text (OTLP/JSON writes integers as strings or numbers).
pub fn attribute(span: &Value, key: &str) -> Option<String> {
    let value = span["attributes"]
        .as_array()?
        .iter()
        .find(|attribute| attribute["key"] == key)?
        .get("value")?;
    let inner = value
        .get("stringValue")
        .or_else(|| value.get("intValue"))
        .or_else(|| value.get("boolValue"))
        .or_else(|| value.get("doubleValue"))?;
    Some(match inner {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

async fn receive(
    State(exports): State<Arc<Mutex<Vec<Value>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !json_body {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "this fake reads OTLP/JSON only",
        )
            .into_response();
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(export) if export.get("resourceSpans").is_some() => {
            exports.lock().push(export);
            axum::Json(json!({"partialSuccess": {}})).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "not an ExportTraceServiceRequest").into_response(),
    }
}
