//! Crash safety: `kill -9` of a loaded server, then a restart. Account changes are written before
//! they are answered, so none is lost; usage events wait at most one flush interval (1 s) in
//! memory, so at most the requests of the last moments before the kill go unrecorded, and never
//! one twice. This test measures that bound on the real binary.

use std::process::Stdio;
use std::time::{Duration, Instant};

use gateway::sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait, Statement};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::helpers::{OPENAI_KEY, PASSWORD, hello};

struct Install {
    dir: tempfile::TempDir,
    fake: testkit::FakeOpenAi,
}

impl Install {
    /// An empty data folder (SQLite) and a fake OpenAI accepting `OPENAI_KEY`.
    async fn new() -> Self {
        Install {
            dir: tempfile::tempdir().unwrap(),
            fake: testkit::FakeOpenAi::start(vec![OPENAI_KEY.into()])
                .await
                .unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_llm-gateway"));
        command
            .args(args)
            .env("DATABASE_URL", self.database_url())
            .env("GATEWAY_DATA_DIR", self.dir.path())
            .env("GATEWAY_ADDR", "127.0.0.1:0")
            .env("OPENAI_BASE_URL", self.fake.base_url())
            .env("RUST_LOG", "warn")
            .env_remove("GATEWAY_MASTER_KEY")
            .env_remove("GATEWAY_CONFIG")
            .env_remove("REDIS_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command
    }

    fn database_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.dir.path().join("gateway.db").display()
        )
    }

    async fn cli(&self, args: &[&str], stdin: &str) -> String {
        use tokio::io::AsyncWriteExt as _;
        let mut child = self.command(args).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let output = child.wait_with_output().await.unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// A Pro account with the fake OpenAI as its provider; returns a gateway key of it.
    async fn tenant(&self) -> String {
        self.cli(
            &[
                "user",
                "create",
                "--email",
                "ada@example.com",
                "--plan",
                "pro",
            ],
            &format!("{PASSWORD}\n"),
        )
        .await;
        self.cli(
            &[
                "provider",
                "add",
                "--email",
                "ada@example.com",
                "--provider",
                "openai",
            ],
            &format!("{OPENAI_KEY}\n"),
        )
        .await;
        self.cli(&["key", "create", "--email", "ada@example.com"], "")
            .await
    }

    /// Starts `serve` and returns it with its base URL.
    async fn serve(&self) -> (tokio::process::Child, String) {
        Self::started(self.command(&["serve"])).await
    }

    /// Starts `command` (a `serve`) and returns it with its base URL.
    async fn started(mut command: tokio::process::Command) -> (tokio::process::Child, String) {
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(base) = line.strip_prefix("LLM Gateway is running at ") {
                    return base.to_owned();
                }
            }
            panic!("the server ended before it said where it runs")
        })
        .await
        .expect("the server starts");
        // Keep reading (and dropping) its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (child, base)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_change_and_at_most_the_last_second_of_usage() {
    let install = Install::new().await;
    let key = install.tenant().await;
    let (mut server, base) = install.serve().await;
    let http = reqwest::Client::new();

    // Four clients for six seconds, each noting when its answers came back.
    let load_until = Instant::now() + Duration::from_secs(6);
    let clients = (0..4).map(|_| {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        tokio::spawn(async move {
            let mut served = Vec::new();
            while Instant::now() < load_until {
                let response = http
                    .post(format!("{base}/v1/chat/completions"))
                    .bearer_auth(&key)
                    .json(&hello())
                    .send()
                    .await;
                if response.is_ok_and(|r| r.status() == 200) {
                    served.push(Instant::now());
                }
            }
            served
        })
    });
    // A change made through the portal just before the kill: answered means written.
    let signed_up = http
        .post(format!("{base}/api/sign_up"))
        .header("origin", &base)
        .form(&[("email", "late@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(signed_up.status().is_success() || signed_up.status().is_redirection());
    let served: Vec<Instant> = futures::future::join_all(clients)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    server.start_kill().unwrap(); // SIGKILL: no shutdown, no flush.
    let killed_at = Instant::now();
    server.wait().await.unwrap();

    let db = Database::connect(install.database_url()).await.unwrap();
    let integrity = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA integrity_check",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(integrity.try_get_by_index::<String>(0).unwrap(), "ok");
    gateway::accounts::account_by_email(&db, "late@example.com")
        .await
        .expect("the sign-up answered before the kill is there");
    let recorded = gateway::entities::usage_event::Entity::find()
        .count(&db)
        .await
        .unwrap() as usize;
    let lost = served.len().saturating_sub(recorded);
    let old_enough = served
        .iter()
        .filter(|at| killed_at.duration_since(**at) > Duration::from_secs(3))
        .count();
    eprintln!(
        "kill -9 after {} served requests: {recorded} recorded, {lost} lost (answered in the last moments)",
        served.len()
    );
    assert!(recorded <= served.len(), "no request is recorded twice");
    assert!(
        recorded >= old_enough,
        "requests answered more than 3 s before the kill were lost: {recorded} recorded, {old_enough} older"
    );
    db.close().await.unwrap();

    // The restarted server serves, with the key and the provider as they were.
    let (mut restarted, base) = install.serve().await;
    let response = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    restarted.start_kill().unwrap();
    restarted.wait().await.unwrap();
}

/// `LOG_FORMAT=json`: every line the server logs is one JSON object (what log collectors read),
/// and a presented key is never in them.
#[tokio::test]
async fn with_log_format_json_every_log_line_is_a_json_object() {
    let install = Install::new().await;
    let mut command = install.command(&["serve"]);
    command
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped());
    let (mut server, base) = Install::started(command).await;
    let logs = server.stderr.take().unwrap();
    const SECRET: &str = "gw_0123456789abcdefghijklmnopqrstuvwxyzABCD";
    let refused = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(SECRET)
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let mut text = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut BufReader::new(logs), &mut text)
        .await
        .unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(!lines.is_empty(), "the server logged nothing at info");
    for line in &lines {
        let object: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("not a JSON line ({err}): {line}"));
        assert!(
            object["level"].is_string() && object["timestamp"].is_string(),
            "{line}"
        );
    }
    assert!(!text.contains(SECRET), "{text}");
}

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, a `/v1` request's spans reach the collector: the
/// server's span continues the caller's trace (`traceparent`) and names the request, its
/// children are routing and the provider call (GenAI conventions), and the answer carries the
/// request's own `traceparent`. Neither the prompt nor the answer is in any span.
#[tokio::test]
async fn a_requests_spans_reach_the_collector_without_its_text() {
    use testkit::otlp::{FakeCollector, attribute};
    let install = Install::new().await;
    let collector = FakeCollector::start().await.unwrap();
    let key = install.tenant().await;
    let mut command = install.command(&["serve"]);
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME");
    let (mut server, base) = Install::started(command).await;

    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const CALLER_SPAN: &str = "b7ad6b7169203331";
    let answer = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .json(&serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "a secret prompt 4242"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let request_id = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let traceparent = answer.headers()["traceparent"].to_str().unwrap().to_owned();
    assert!(
        traceparent.starts_with(&format!("00-{TRACE}-")),
        "{traceparent}"
    );
    assert!(
        !traceparent.contains(CALLER_SPAN),
        "the request's own span: {traceparent}"
    );
    let text = answer.text().await.unwrap();
    assert!(text.contains("Hello from the fake"), "{text}");

    let named = |name: &str| {
        collector
            .spans()
            .into_iter()
            .find(|span| span["name"] == name)
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while named("chat gpt-4o-mini").is_none() || named("POST /v1/chat/completions").is_none() {
        assert!(
            Instant::now() < deadline,
            "spans: {:?}",
            collector.exports()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let request = named("POST /v1/chat/completions").unwrap();
    let id =
        |span: &serde_json::Value, field: &str| span[field].as_str().unwrap_or("").to_lowercase();
    assert_eq!(id(&request, "traceId"), TRACE, "{request}");
    assert_eq!(id(&request, "parentSpanId"), CALLER_SPAN, "{request}");
    assert!(
        traceparent.contains(&id(&request, "spanId")),
        "{traceparent} {request}"
    );
    for (key, value) in [
        ("http.request.method", "POST"),
        ("http.route", "/v1/chat/completions"),
        ("http.response.status_code", "200"),
        ("gen_ai.request.model", "gpt-4o-mini"),
        ("gen_ai.response.model", "gpt-4o-mini"),
        ("gen_ai.provider.name", "openai"),
        ("llm_gateway.request.id", request_id.as_str()),
        ("llm_gateway.cache.hit", "false"),
    ] {
        assert_eq!(
            attribute(&request, key).as_deref(),
            Some(value),
            "{key}: {request}"
        );
    }
    assert!(
        attribute(&request, "gen_ai.usage.input_tokens").is_some(),
        "{request}"
    );

    let call = named("chat gpt-4o-mini").unwrap();
    assert_eq!(id(&call, "traceId"), TRACE);
    assert_eq!(id(&call, "parentSpanId"), id(&request, "spanId"), "{call}");
    for (key, value) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "gpt-4o-mini"),
        ("gen_ai.response.model", "gpt-4o-mini"),
    ] {
        assert_eq!(
            attribute(&call, key).as_deref(),
            Some(value),
            "{key}: {call}"
        );
    }
    assert!(
        attribute(&call, "gen_ai.usage.output_tokens").is_some(),
        "{call}"
    );
    let routing = named("routing").expect("a routing span");
    assert_eq!(id(&routing, "parentSpanId"), id(&request, "spanId"));
    assert_eq!(
        attribute(&routing, "llm_gateway.route.model").as_deref(),
        Some("gpt-4o-mini")
    );

    // Metadata only: what was asked and answered is in no export.
    let exported = serde_json::to_string(&collector.exports()).unwrap();
    assert!(
        exported.contains("llm-gateway"),
        "the service is named: {exported}"
    );
    for text in ["a secret prompt 4242", "Hello from the fake", key.as_str()] {
        assert!(!exported.contains(text), "{text} was exported");
    }
    server.start_kill().unwrap();
    server.wait().await.unwrap();
}

/// `llm-gateway healthcheck` (the image's HEALTHCHECK, which has no shell or curl): 0 while the
/// server at GATEWAY_ADDR answers `/healthz`, 1 with the reason once it does not.
#[tokio::test]
async fn healthcheck_says_whether_the_server_answers() {
    let install = Install::new().await;
    let (mut server, base) = install.serve().await;
    let addr = base.trim_start_matches("http://").to_owned();
    let check = || {
        let mut command = install.command(&["healthcheck"]);
        command.env("GATEWAY_ADDR", &addr).stderr(Stdio::piped());
        async move { command.output().await.unwrap() }
    };
    let healthy = check().await;
    assert!(healthy.status.success(), "{healthy:?}");
    assert_eq!(String::from_utf8_lossy(&healthy.stdout).trim(), "healthy");
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let gone = check().await;
    assert_eq!(gone.status.code(), Some(1), "{gone:?}");
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("no answer from"),
        "{gone:?}"
    );
}
