//! The streaming-concurrency benchmark's two ends, for `bench/streams.py`:
//!
//! - `upstream`: an OpenAI-compatible server whose chat streams last about two seconds, as a
//!   model's answer does: a role chunk at once, then content chunks at a steady pace, the finish
//!   chunk, a usage-only chunk and `[DONE]` (the fixtures' shapes). A plain request gets the
//!   fixture's completion at once. `POST /v1/messages` streams the same answer as Anthropic's
//!   Messages events, paced alike. Thousands of streams at a time cost it one timer each.
//! - `clients`: N clients, each on its own keep-alive connection, asking for one stream after
//!   another for a fixed time (a closed loop, as N users of an app), started over a ramp so the
//!   listener's backlog is not the thing measured. It reports completed streams, errors by kind,
//!   and the time to the first and to the last byte, as JSON.
//!
//! Both use hyper directly: the load generator must cost far less per stream than the targets.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use testkit::load_stats::{RequestArgs, percentiles};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve slow chat streams on 127.0.0.1.
    Upstream {
        #[arg(long)]
        port: u16,
        /// Content chunks per stream (besides the role, finish and usage chunks).
        #[arg(long, default_value_t = 20)]
        chunks: u32,
        /// How long a stream lasts from its first chunk to `[DONE]`, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        stream_ms: u64,
    },
    /// Keep N streams open against a target for a while.
    Clients {
        /// The request (http only).
        #[command(flatten)]
        request: RequestArgs,
        /// Concurrent clients.
        #[arg(long)]
        clients: usize,
        /// How long to run, in seconds, from the first client's start; streams that end later
        /// are not counted.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// The clients start evenly over this many milliseconds.
        #[arg(long, default_value_t = 1000)]
        ramp_ms: u64,
        /// A complete stream holds this text (its last event), else it counts as cut short.
        #[arg(long)]
        expect: String,
    },
}

fn main() {
    let args = Args::parse();
    // One thread: the load generator and the upstream share one core, and a single-threaded
    // runtime spends none of it on work stealing.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match args.command {
        Command::Upstream {
            port,
            chunks,
            stream_ms,
        } => runtime.block_on(upstream(port, chunks, stream_ms)),
        Command::Clients {
            request,
            clients,
            seconds,
            ramp_ms,
            expect,
        } => {
            let plan = Plan {
                url: request.url.parse().expect("--url is a URL"),
                body: request.body_bytes(),
                headers: request.header_pairs(),
                expect: expect.into_bytes(),
            };
            let report = runtime.block_on(run_clients(
                Arc::new(plan),
                clients,
                Duration::from_secs(seconds),
                Duration::from_millis(ramp_ms),
            ));
            println!("{report}");
        }
    }
}

type Body = BoxBody<Bytes, Infallible>;

async fn upstream(port: u16, chunks: u32, stream_ms: u64) {
    // A backlog for thousands of connections opened at once (tokio's `bind` let 129 of 1,500
    // through: a burst past it would measure the kernel's SYN retry, not the target).
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .expect("the port is free");
    let listener = socket.listen(65_535).expect("listening");
    let frames = Arc::new(StreamFrames::new(chunks));
    let pause = Duration::from_millis(stream_ms) / (chunks + 1);
    let mut http = http1::Builder::new();
    http.max_buf_size(64 * 1024);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors: let some streams end.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let frames = frames.clone();
        let connection = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |request: Request<Incoming>| {
                let frames = frames.clone();
                async move { Ok::<_, Infallible>(answer(request, &frames, pause).await) }
            }),
        );
        tokio::spawn(connection);
    }
}

/// One stream's events, made once: each stream sends the same bytes.
struct StreamFrames {
    chunks: u32,
    /// Chat completions: the role chunk, one content chunk, the finish and usage chunks with
    /// `[DONE]`.
    chat: Pace,
    /// Anthropic Messages (`POST /v1/messages`), as Anthropic sends them: `message_start`,
    /// `content_block_start` and `ping`; one `content_block_delta`; then `content_block_stop`,
    /// `message_delta` and `message_stop`.
    messages: Pace,
    completion: Bytes,
}

/// The bytes of a stream's start, of each of its content events, and of its end.
#[derive(Clone)]
struct Pace {
    start: Bytes,
    content: Bytes,
    tail: Bytes,
}

impl Pace {
    fn anthropic(chunks: u32) -> Self {
        let event = |value: serde_json::Value| {
            format!(
                "event: {}\ndata: {value}\n\n",
                value["type"].as_str().unwrap_or_default()
            )
        };
        let start = event(json!({"type": "message_start", "message": {
                "id": "msg_bench", "type": "message", "role": "assistant", "content": [],
                "model": "claude-3-5-haiku-20241022", "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 19, "output_tokens": 1}}}))
            + &event(json!({"type": "content_block_start", "index": 0,
                            "content_block": {"type": "text", "text": ""}}))
            + &event(json!({"type": "ping"}));
        let content = event(json!({"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": " token"}}));
        let tail = event(json!({"type": "content_block_stop", "index": 0}))
            + &event(json!({"type": "message_delta",
                            "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                            "usage": {"output_tokens": chunks}}))
            + &event(json!({"type": "message_stop"}));
        Self {
            start: start.into(),
            content: content.into(),
            tail: tail.into(),
        }
    }
}

impl StreamFrames {
    fn new(chunks: u32) -> Self {
        let chunk = |delta: serde_json::Value, finish: serde_json::Value, usage| {
            let event = json!({
                "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1741569952,
                "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_06737a9306",
                "choices": usage_choices(&usage, delta, finish), "usage": usage,
            });
            format!("data: {event}\n\n")
        };
        let usage =
            json!({"prompt_tokens": 19, "completion_tokens": chunks, "total_tokens": 19 + chunks});
        let tail = chunk(json!({}), json!("stop"), serde_json::Value::Null)
            + &chunk(json!({}), serde_json::Value::Null, usage.clone())
            + "data: [DONE]\n\n";
        let completion = json!({
            "id": "chatcmpl-bench", "object": "chat.completion", "created": 1741569952,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the bench upstream."},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": usage,
        });
        Self {
            chunks,
            chat: Pace {
                start: chunk(
                    json!({"role": "assistant", "content": ""}),
                    serde_json::Value::Null,
                    serde_json::Value::Null,
                )
                .into(),
                content: chunk(
                    json!({"content": " token"}),
                    serde_json::Value::Null,
                    serde_json::Value::Null,
                )
                .into(),
                tail: tail.into(),
            },
            messages: Pace::anthropic(chunks),
            completion: completion.to_string().into(),
        }
    }
}

/// A usage-only chunk has no choices; every other chunk has one.
fn usage_choices(
    usage: &serde_json::Value,
    delta: serde_json::Value,
    finish: serde_json::Value,
) -> serde_json::Value {
    if usage.is_null() {
        json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}])
    } else {
        json!([])
    }
}

async fn answer(
    request: Request<Incoming>,
    frames: &StreamFrames,
    pause: Duration,
) -> Response<Body> {
    let anthropic = request.uri().path() == "/v1/messages";
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Response::new(Full::new(Bytes::new()).boxed()),
    };
    let streamed = serde_json::from_slice::<serde_json::Value>(&body)
        .is_ok_and(|request| request["stream"] == json!(true));
    if !streamed {
        return Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(frames.completion.clone()).boxed())
            .expect("a response");
    }
    let Pace {
        start: role,
        content,
        tail,
    } = if anthropic {
        frames.messages.clone()
    } else {
        frames.chat.clone()
    };
    let chunks = frames.chunks;
    let events = async_stream::stream! {
        yield Ok::<_, Infallible>(Frame::data(role));
        for _ in 0..chunks {
            tokio::time::sleep(pause).await;
            yield Ok(Frame::data(content.clone()));
        }
        tokio::time::sleep(pause).await;
        yield Ok(Frame::data(tail));
    };
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(BodyExt::boxed(StreamBody::new(events)))
        .expect("a response")
}

struct Plan {
    url: hyper::Uri,
    body: Bytes,
    headers: Vec<(String, String)>,
    expect: Vec<u8>,
}

#[derive(Default)]
struct Outcome {
    first_byte: Vec<Duration>,
    last_byte: Vec<Duration>,
    errors: std::collections::BTreeMap<String, u64>,
}

async fn run_clients(
    plan: Arc<Plan>,
    clients: usize,
    seconds: Duration,
    ramp: Duration,
) -> serde_json::Value {
    let started = Instant::now();
    let deadline = started + seconds;
    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..clients {
        let plan = plan.clone();
        let start = started + ramp.mul_f64(number as f64 / clients.max(1) as f64);
        tasks.spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            one_client(&plan, deadline).await
        });
    }
    let mut all = Outcome::default();
    while let Some(outcome) = tasks.join_next().await {
        let outcome = outcome.expect("a client does not panic");
        all.first_byte.extend(outcome.first_byte);
        all.last_byte.extend(outcome.last_byte);
        for (kind, count) in outcome.errors {
            *all.errors.entry(kind).or_default() += count;
        }
    }
    json!({
        "clients": clients,
        "seconds": seconds.as_secs(),
        "completed": all.last_byte.len(),
        "errors": all.errors.values().sum::<u64>(),
        "error_kinds": all.errors,
        "first_byte_us": percentiles(&mut all.first_byte),
        "last_byte_us": percentiles(&mut all.last_byte),
    })
}

/// One user: a connection, then one stream after another until the deadline; a broken
/// connection is replaced.
async fn one_client(plan: &Plan, deadline: Instant) -> Outcome {
    let mut outcome = Outcome::default();
    let error = |outcome: &mut Outcome, kind: String| {
        *outcome.errors.entry(kind).or_default() += 1;
    };
    let authority = plan
        .url
        .authority()
        .expect("--url has a host")
        .as_str()
        .to_owned();
    let path = plan
        .url
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    let mut sender = None;
    while Instant::now() < deadline {
        if sender.is_none() {
            match connect(&authority).await {
                Ok(connected) => sender = Some(connected),
                Err(kind) => {
                    error(&mut outcome, kind);
                    // Do not hammer a listener that refuses.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let Some(connection) = sender.as_mut() else {
            continue;
        };
        // Origin form (`POST /v1/… HTTP/1.1`), as clients send it: some servers (uvicorn) do not
        // route the absolute form.
        let mut request = Request::post(path.clone())
            .header("host", &authority)
            .header("content-type", "application/json");
        for (name, value) in &plan.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(plan.body.clone()))
            .expect("a request");
        let sent = Instant::now();
        match tokio::time::timeout_at(
            deadline.into(),
            stream_once(connection, request, &plan.expect, sent),
        )
        .await
        {
            Err(_) => break, // still streaming at the deadline: not counted either way
            Ok(Ok((first, last))) => {
                if Instant::now() <= deadline {
                    outcome.first_byte.push(first);
                    outcome.last_byte.push(last);
                }
            }
            Ok(Err(kind)) => {
                error(&mut outcome, kind);
                sender = None;
            }
        }
    }
    outcome
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(authority: &str) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|err| format!("connect: {}", err.kind()))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| format!("handshake: {err}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn stream_once(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
    expect: &[u8],
    sent: Instant,
) -> Result<(Duration, Duration), String> {
    sender
        .ready()
        .await
        .map_err(|err| format!("connection: {err}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| format!("send: {err}"))?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status().as_u16()));
    }
    let mut body = response.into_body();
    let mut first = None;
    // The last few bytes seen, to find the expected ending however the chunks are cut.
    let mut tail: Vec<u8> = Vec::with_capacity(256);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| format!("body: {err}"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        first.get_or_insert_with(|| sent.elapsed());
        tail.extend_from_slice(&data);
        if tail.len() > 4096 {
            tail.drain(..tail.len() - 1024);
        }
    }
    let Some(first) = first else {
        return Err("empty body".into());
    };
    if !tail.windows(expect.len()).any(|window| window == expect) {
        return Err("stream cut short".into());
    }
    Ok((first, sent.elapsed()))
}
