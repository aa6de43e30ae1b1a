//! Safety valves on `/v1`: requests per second and open streams per key, body size and the time
//! a body may take to arrive. Each answers in OpenAI's error shape, saying the limit.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{Backend, eventually, expect_openai_error, hello, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_its_requests_per_second_gets_429_with_retry_after() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.key_requests_per_second = 2).await;
    let tenant = app.tenant("ada@example.com").await;
    let other = app.tenant("bob@example.com").await;
    let body = hello();
    let responses =
        futures::future::join_all((0..12).map(|_| app.chat(Some(&tenant.key), &body))).await;
    let served = responses.iter().filter(|r| r.status() == 200).count();
    assert!(served >= 2, "the burst is served: {served}");
    let mut refused = 0;
    for response in responses.into_iter().filter(|r| r.status() == 429) {
        assert_eq!(response.headers()["retry-after"], "1");
        let error = expect_openai_error(response, 429).await;
        assert_eq!(error["code"], "rate_limit_exceeded");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("more than 2 requests in a second"),
            "{error}"
        );
        refused += 1;
    }
    assert!(
        refused >= 6,
        "12 requests at once on 2 per second: {refused} refused"
    );
    // Another key is not slowed by this one.
    assert_eq!(app.chat(Some(&other.key), &hello()).await.status(), 200);
    // The allowance comes back.
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.chat(Some(&tenant.key), &hello()).await.status() == 200
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_may_hold_only_so_many_streams_at_once() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.key_concurrent_streams = 1).await;
    let tenant = app.tenant("ada@example.com").await;
    app.fake_openai.set_stream_pause(Duration::from_millis(300));
    let mut streamed = hello();
    streamed["stream"] = json!(true);

    let mut first = app.chat(Some(&tenant.key), &streamed).await;
    assert_eq!(first.status(), 200);
    let _chunk = first.chunk().await.unwrap();
    let second = app.chat(Some(&tenant.key), &streamed).await;
    let error = expect_openai_error(second, 429).await;
    assert_eq!(error["code"], "too_many_concurrent_streams");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("1 streams open"),
        "{error}"
    );
    // Requests without stream are not held back by open streams.
    assert_eq!(app.chat(Some(&tenant.key), &hello()).await.status(), 200);

    // A client that walks away gives its place back.
    drop(first);
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.chat(Some(&tenant.key), &streamed).await.status() == 200
        })
        .await,
        "the abandoned stream's place came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_past_the_size_limit_is_413_naming_the_limit() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("ada@example.com").await;
    let padding = "x".repeat(33 * 1024 * 1024);
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": padding}]});
    let error = expect_openai_error(app.chat(Some(&tenant.key), &body).await, 413).await;
    assert_eq!(error["code"], "request_too_large");
    assert!(
        error["message"].as_str().unwrap().contains("32 MiB"),
        "{error}"
    );
    assert!(app.fake_openai.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_in_is_cut_off_with_408() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.body_read_timeout_secs = 1).await;
    let tenant = app.tenant("ada@example.com").await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"model\":",
        app.addr, tenant.key
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    // The rest never comes; the gateway answers instead of waiting for ever.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buffer = [0u8; 4096];
        loop {
            let n = socket.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}}") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(app.fake_openai.requests().is_empty());
}
