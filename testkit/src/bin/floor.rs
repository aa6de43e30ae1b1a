//! The cheapest Rust proxy of each HTTP stack the gateway could be built on, for
//! `scripts/bench.sh`: it reads a request, forwards its body to one upstream over pooled keep-alive
//! connections with a provider key, and streams the answer back, with nothing else (no auth,
//! routing, quota or usage). Its throughput is the ceiling of any gateway on that stack, as nginx's
//! is the ceiling of a proxy that parses nothing.
//!
//! `--client hyper`: hyper-util's pooled client, the lowest layer a Rust gateway can use;
//! `--client reqwest`: reqwest, the client the gateway uses (over the same hyper-util pool).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Clone, Copy, ValueEnum)]
enum Stack {
    Hyper,
    Reqwest,
}

#[derive(Parser)]
struct Args {
    #[arg(long, value_enum)]
    client: Stack,
    /// The port to listen on, on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// The upstream base, e.g. `http://127.0.0.1:8001`; the request's path is appended.
    #[arg(long)]
    upstream: String,
}

#[derive(Clone)]
struct Forwarder {
    stack: Stack,
    upstream: String,
    hyper: Client<HttpConnector, Full<Bytes>>,
    reqwest: reqwest::Client,
}

impl Forwarder {
    async fn forward(&self, request: Request<Incoming>) -> Response<Body> {
        let url = format!("{}{}", self.upstream, request.uri().path());
        let body = match request.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => return failure(StatusCode::BAD_REQUEST, err.to_string()),
        };
        match self.stack {
            Stack::Hyper => {
                let upstream = Request::post(url)
                    .header("content-type", "application/json")
                    .header("authorization", "Bearer sk-floor")
                    .body(Full::new(body));
                let upstream = match upstream {
                    Ok(upstream) => upstream,
                    Err(err) => return failure(StatusCode::BAD_GATEWAY, err.to_string()),
                };
                match self.hyper.request(upstream).await {
                    Ok(answer) => {
                        let (parts, body) = answer.into_parts();
                        Response::from_parts(parts, body.map_err(Into::into).boxed())
                    }
                    Err(err) => failure(StatusCode::BAD_GATEWAY, err.to_string()),
                }
            }
            Stack::Reqwest => {
                let sent = self
                    .reqwest
                    .post(url)
                    .header("content-type", "application/json")
                    .bearer_auth("sk-floor")
                    .body(body)
                    .send()
                    .await;
                let answer = match sent {
                    Ok(answer) => answer,
                    Err(err) => return failure(StatusCode::BAD_GATEWAY, err.to_string()),
                };
                let mut response = Response::builder().status(answer.status());
                if let Some(kind) = answer.headers().get("content-type") {
                    response = response.header("content-type", kind);
                }
                let frames = futures_map(answer.bytes_stream());
                response
                    .body(BodyExt::boxed(StreamBody::new(frames)))
                    .unwrap_or_else(|err| failure(StatusCode::BAD_GATEWAY, err.to_string()))
            }
        }
    }
}

fn futures_map(
    stream: impl futures::Stream<Item = reqwest::Result<Bytes>>,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, Box<dyn std::error::Error + Send + Sync>>> {
    use futures::StreamExt as _;
    stream.map(|chunk| chunk.map(Frame::data).map_err(Into::into))
}

fn failure(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(message)).map_err(Into::into).boxed());
    *response.status_mut() = status;
    response
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    let forwarder = Forwarder {
        stack: args.client,
        upstream: args.upstream.trim_end_matches('/').to_owned(),
        hyper: Client::builder(TokioExecutor::new()).build_http(),
        reqwest: reqwest::Client::new(),
    };
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let forwarder = forwarder.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let forwarder = forwarder.clone();
                async move { Ok::<_, Infallible>(forwarder.forward(request).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
