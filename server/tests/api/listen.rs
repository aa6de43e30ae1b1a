//! The accept loop's limits, against the real application: a client that trickles its headers
//! is cut off, connections over the cap are closed, and shutdown waits for open streams only as
//! long as its grace period.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{Backend, spawn_app_with};

/// Reads until the server closes the connection; `None` if it is still open after `patience`.
async fn closed_within(stream: &mut TcpStream, patience: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    tokio::time::timeout(patience, async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await
    .ok()
    .map(|()| received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.header_read_timeout_secs = 1
    })
    .await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n")
        .await
        .unwrap();
    // The rest of the headers never come: the server closes the connection (hyper answers 408
    // first) long before this test would give up.
    let received = closed_within(&mut slow, Duration::from_secs(20))
        .await
        .expect("the server closed the connection");
    let received = String::from_utf8_lossy(&received);
    assert!(
        received.is_empty() || received.starts_with("HTTP/1.1 408"),
        "{received}"
    );

    // A client that sends its request in time is served as before.
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_comes_is_cut_off_on_every_route() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.body_read_timeout_secs = 1).await;
    // No account needed for either: a log-in form and Stripe's webhook.
    for (path, content_type) in [
        ("/api/log_in", "application/x-www-form-urlencoded"),
        ("/webhooks/stripe", "application/json"),
    ] {
        let mut stalled = TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\nConnection: close\r\n\r\nemail="
        );
        stalled.write_all(head.as_bytes()).await.unwrap();
        let received = closed_within(&mut stalled, Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("{path}: the connection is still held"));
        let received = String::from_utf8_lossy(&received);
        assert!(received.starts_with("HTTP/1.1 408"), "{path}: {received}");
        assert!(
            received.contains("did not arrive within 1 seconds"),
            "{path}: {received}"
        );
    }
    // A body sent in time is read as before (the log-in form's answer: wrong credentials).
    let login = app
        .http
        .post(app.url("/api/log_in"))
        .form(&[
            ("email", "nobody@example.com"),
            ("password", "not-a-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_ne!(login.status(), 408);
    assert_ne!(login.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_place() {
    // Eight places, two per address (a quarter, the default).
    let app = spawn_app_with(Backend::Sqlite, |config| config.max_connections = 8).await;
    let _held = served_and_held(app.addr, 2).await;
    let mut third = health_request(app.addr, false).await;
    let received = closed_within(&mut third, Duration::from_secs(20))
        .await
        .expect("a third connection from the same address is closed");
    assert!(received.is_empty(), "no answer over the address's cap");

    // Another address (all of 127.0.0.0/8 is this machine) still gets in.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = other.connect(app.addr).await.unwrap();
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_within(&mut other, Duration::from_secs(20))
        .await
        .expect("answered and closed");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// `count` connections, each served once and kept alive, holding its place.
async fn served_and_held(addr: std::net::SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..count {
        let mut connection = health_request(addr, false).await;
        let mut buffer = [0u8; 256];
        let read = connection.read(&mut buffer).await.unwrap();
        assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
        held.push(connection);
    }
    held
}

/// A new connection that has sent `GET /healthz` (asking the server to close it after the answer
/// with `close`).
async fn health_request(addr: std::net::SocketAddr, close: bool) -> TcpStream {
    let mut connection = TcpStream::connect(addr).await.unwrap();
    let request: &[u8] = if close {
        b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n"
    } else {
        b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
    };
    // Over the cap the server may close before the request is written: what it sends back tells.
    let _ = connection.write_all(request).await;
    connection
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.max_connections = 2;
        config.max_connections_per_address = 2;
    })
    .await;
    let held = served_and_held(app.addr, 2).await;
    let mut third = health_request(app.addr, false).await;
    let received = closed_within(&mut third, Duration::from_secs(20))
        .await
        .expect("the third connection is closed");
    assert!(received.is_empty(), "no answer over the cap");

    drop(held);
    // The places free up once the held connections go.
    let mut served = false;
    for _ in 0..50 {
        let mut again = health_request(app.addr, true).await;
        let answer = closed_within(&mut again, Duration::from_secs(20))
            .await
            .unwrap_or_default();
        if answer.starts_with(b"HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "a new connection is served once the others closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_open_streams_only_as_long_as_its_grace() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.shutdown_grace_secs = 1).await;
    let tenant = app.tenant("grace@example.com").await;
    // A second server on the same database, whose shutdown this test controls.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let application = server::app::build(&app.config, addr).await.unwrap();
    let limits = server::listen::ServeLimits::from_config(&app.config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        server::listen::serve(listener, application.router, &limits, async {
            let _ = stopped.await;
        })
        .await;
    });

    // A stream whose events come a minute apart stays open across the shutdown.
    app.fake_openai.set_stream_pause(Duration::from_secs(60));
    let mut response = app
        .http
        .post(format!("http://{addr}/v1/chat/completions"))
        .bearer_auth(&tenant.key)
        .json(&json!({"model": "openai/gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let _first = response.chunk().await.unwrap();

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .expect("the server stopped after its grace period, with the stream still open")
        .unwrap();
}
