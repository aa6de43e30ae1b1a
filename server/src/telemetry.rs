//! Traces over OTLP/HTTP, on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: the OpenTelemetry SDK reads the standard
//! variables (`OTEL_EXPORTER_OTLP_PROTOCOL` `http/protobuf` or `http/json`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, `OTEL_BSP_*`, …) and exports the engine's
//! spans (`gateway::telemetry`) in batches, off the request path. Each `/v1` request's span
//! continues the caller's trace (`traceparent`), and the answer carries the request's own
//! `traceparent`.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{
    Bytes, HeaderExtractor, HeaderInjector, HttpError, Request as HttpRequest,
    Response as HttpResponse,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The exporter and the tracer the subscriber's OpenTelemetry layer writes to.
pub struct Traces {
    pub provider: SdkTracerProvider,
    pub tracer: opentelemetry_sdk::trace::SdkTracer,
}

/// Whether the environment asks for traces.
fn asked() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let off = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|value| value.trim() == "true")
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|value| value.trim() == "none");
    !off && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The exporter the environment asks for, or `None`; spans are sent by `runtime`'s HTTP client.
pub fn from_env(runtime: tokio::runtime::Handle) -> anyhow::Result<Option<Traces>> {
    if !asked() {
        return Ok(None);
    }
    let client = OtlpHttp {
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?,
        runtime,
    };
    use opentelemetry_otlp::WithHttpConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name("llm-gateway");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("llm-gateway");
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    gateway::telemetry::enable();
    Ok(Some(Traces { provider, tracer }))
}

/// The span of a `/v1` request: the caller's trace continued, `traceparent` on the answer.
pub async fn trace_request(request: Request, next: Next) -> Response {
    if !gateway::telemetry::enabled() {
        return next.run(request).await;
    }
    // Nested under /v1, the request's own path has lost the prefix.
    let path = match request.extensions().get::<axum::extract::OriginalUri>() {
        Some(original) => original.path().to_owned(),
        None => request.uri().path().to_owned(),
    };
    let route = gateway::telemetry::route_of(&path);
    let span = gateway::telemetry::request_span(request.method().as_str(), route);
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    let _ = span.set_parent(parent);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(response.headers_mut()))
    });
    response
}

/// The exporter's HTTP client: the gateway's reqwest (TLS included), run on the server's
/// runtime whichever thread the SDK's batch processor exports from.
#[derive(Debug)]
struct OtlpHttp {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpHttp {
    async fn send_bytes(
        &self,
        request: HttpRequest<Bytes>,
    ) -> Result<HttpResponse<Bytes>, HttpError> {
        let client = self.client.clone();
        let request = reqwest::Request::try_from(request)?;
        self.runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let mut answer = HttpResponse::builder().status(response.status());
                if let Some(headers) = answer.headers_mut() {
                    *headers = response.headers().clone();
                }
                // A collector answers in a few bytes; read at most a little more.
                let body = response.bytes().await?;
                let body = body.slice(..body.len().min(64 * 1024));
                Ok::<_, HttpError>(answer.body(body)?)
            })
            .await?
    }
}
