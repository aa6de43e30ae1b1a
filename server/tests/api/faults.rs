//! A provider that misbehaves at the connection level, as real ones do: it resets the connection,
//! accepts and never answers, cuts its body short, sends server-sent events that are not JSON, or
//! speaks plain TCP where TLS is expected. For each, what the client sees (a clean OpenAI-shaped
//! error, never a hang or a panic) and what analytics records.

use std::time::Duration;

use gateway::entities::usage_event;
use gateway::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::helpers::{Backend, OPENAI_KEY, TestApp, expect_openai_error, hello, spawn_app_with};

#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Reads the request, then resets the connection.
    Reset,
    /// Reads the request and never answers.
    Hang,
    /// Promises 500 bytes of JSON and sends 10.
    Truncated,
    /// A 200 event stream whose event is not JSON.
    MalformedSse,
    /// Answers a TLS handshake with plain HTTP.
    NotTls,
}

/// A provider on 127.0.0.1 that misbehaves the same way on every connection.
async fn bad_provider(misbehaviour: Misbehaviour) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buffer).await;
                match misbehaviour {
                    Misbehaviour::Reset => {
                        let _ = socket.set_zero_linger();
                        drop(socket);
                    }
                    Misbehaviour::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Misbehaviour::Truncated => {
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"id\":\"chat")
                            .await;
                    }
                    Misbehaviour::MalformedSse => {
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: {this is not json\n\n")
                            .await;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Misbehaviour::NotTls => {
                        let _ = socket
                            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                            .await;
                    }
                }
            });
        }
    });
    addr
}

/// A tenant whose OpenAI provider is `base_url`.
async fn tenant_at(app: &TestApp, email: &str, base_url: &str) -> (i32, String) {
    let account_id = app.create_account(email).await;
    app.state
        .add_provider(account_id, "openai", OPENAI_KEY, Some(base_url))
        .await
        .unwrap();
    (account_id, app.create_key(account_id).await)
}

async fn recorded(app: &TestApp, account_id: i32) -> Vec<usage_event::Model> {
    app.flush_usage().await;
    usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .all(&app.state.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_level_failures_become_clean_errors_and_are_recorded() {
    // A short upstream timeout, so that the hanging provider is given up on quickly.
    let app = spawn_app_with(Backend::Sqlite, |config| config.upstream_timeout_secs = 1).await;
    let cases = [
        (
            Misbehaviour::Reset,
            "http",
            false,
            502,
            "upstream_unreachable",
        ),
        (Misbehaviour::Hang, "http", false, 504, "upstream_timeout"),
        (
            Misbehaviour::Truncated,
            "http",
            false,
            502,
            "upstream_unreachable",
        ),
        (
            Misbehaviour::MalformedSse,
            "http",
            true,
            502,
            "upstream_invalid_response",
        ),
        (
            Misbehaviour::NotTls,
            "https",
            false,
            502,
            "upstream_unreachable",
        ),
    ];
    for (n, (misbehaviour, scheme, stream, status, code)) in cases.into_iter().enumerate() {
        let addr = bad_provider(misbehaviour).await;
        let (account_id, key) = tenant_at(
            &app,
            &format!("t{n}@example.com"),
            &format!("{scheme}://{addr}/v1"),
        )
        .await;
        let mut body = hello();
        if stream {
            body["stream"] = json!(true);
        }
        let answer = tokio::time::timeout(Duration::from_secs(60), app.chat(Some(&key), &body))
            .await
            .unwrap_or_else(|_| panic!("{misbehaviour:?}: the client was left waiting"));
        let error = expect_openai_error(answer, status).await;
        assert_eq!(error["code"], code, "{misbehaviour:?}: {error}");
        assert!(
            !error["message"].as_str().unwrap().contains(OPENAI_KEY),
            "{misbehaviour:?}: the provider key leaked into the error"
        );
        let events = recorded(&app, account_id).await;
        assert!(
            !events.is_empty() && events.iter().all(|e| e.status == status as i16),
            "{misbehaviour:?}: every attempt is in analytics with its status: {:?}",
            events
                .iter()
                .map(|e| (e.status, e.error_code.clone()))
                .collect::<Vec<_>>()
        );
    }
}
