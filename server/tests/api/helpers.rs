use std::net::SocketAddr;
use std::time::Duration;

use gateway::accounts::{self, Plan};
use gateway::sea_orm::{ConnectionTrait, Database};
use gateway::state::{BackgroundTasks, GatewayState};
use serde_json::{Value, json};
use server::config::Config;
use testkit::FakeOpenAi;

/// The provider key the fake OpenAI accepts.
pub const OPENAI_KEY: &str = "sk-test-0123456789abcdefghij";
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(backend: Backend)` once per database back-end.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A database made for one test and removed after it.
pub enum TestDatabase {
    Sqlite { dir: tempfile::TempDir },
    Postgres { name: String },
}

/// `gw_test_<pid>_<nanos>_<n>`: unique across the parallel test processes and threads.
fn unique_database_name() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("gw_test_{}_{nanos}_{n}", std::process::id())
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn postgres_url_for(database: &str) -> String {
    let admin = postgres_admin_url();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{database}")
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> (Self, String) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("gateway.db").display()
                );
                (TestDatabase::Sqlite { dir }, url)
            }
            Backend::Postgres => {
                let name = unique_database_name();
                let admin = Database::connect(postgres_admin_url()).await.expect(
                    "PostgreSQL on 127.0.0.1:5432 must be running for the PostgreSQL tests (see README)",
                );
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let url = postgres_url_for(&name);
                (TestDatabase::Postgres { name }, url)
            }
        }
    }

    pub fn sqlite_dir(&self) -> Option<&std::path::Path> {
        match self {
            TestDatabase::Sqlite { dir } => Some(dir.path()),
            TestDatabase::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { name } = self {
            let name = name.clone();
            // Drop runs inside the test's runtime: use a thread with a runtime of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    if let Ok(admin) = Database::connect(postgres_admin_url()).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        admin.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub state: GatewayState,
    pub fake_openai: FakeOpenAi,
    pub config: Config,
    pub data_dir: tempfile::TempDir,
    tasks: Option<BackgroundTasks>,
    server: tokio::task::JoinHandle<()>,
    // Last, so the database outlives the server that uses it.
    pub database: TestDatabase,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Builds the application and serves it on a free port of 127.0.0.1.
async fn serve(
    config: &Config,
) -> (
    SocketAddr,
    server::app::Application,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let mut application = server::app::build(config, addr)
        .await
        .expect("application builds");
    let router = std::mem::replace(&mut application.router, axum::Router::new());
    let limits = server::listen::ServeLimits::from_config(config);
    let server = tokio::spawn(async move {
        server::listen::serve(listener, router, &limits, std::future::pending()).await;
    });
    (addr, application, server)
}

/// `spawn_app` with a configuration tweak.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let (database, database_url) = TestDatabase::create(backend).await;
    let fake_openai = FakeOpenAi::start(vec![OPENAI_KEY.into(), "sk-tenant-b-0123456789".into()])
        .await
        .expect("fake OpenAI starts");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        database_url,
        gateway_addr: "127.0.0.1:0".into(),
        gateway_data_dir: data_dir.path().to_path_buf(),
        upstream_timeout_secs: 10,
        // The fake providers tenants point at run on this machine.
        allowed_private_upstreams: "127.0.0.1".into(),
        ..Config::default()
    };
    config.provider_base_urls.insert(
        gateway::providers::ProviderKind::OpenAi,
        fake_openai.base_url(),
    );
    tweak(&mut config);
    let (addr, application, server) = serve(&config).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        addr,
        http,
        state: application.state,
        fake_openai,
        config,
        data_dir,
        tasks: Some(application.tasks),
        server,
        database,
    }
}

/// A second server on the same database (and data directory, so the same master key): what
/// scaling out looks like.
pub struct Peer {
    pub addr: SocketAddr,
    pub state: GatewayState,
    server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    pub async fn spawn_peer(&self, tweak: impl FnOnce(&mut Config)) -> Peer {
        let mut config = self.config.clone();
        tweak(&mut config);
        let (addr, application, server) = serve(&config).await;
        Peer {
            addr,
            state: application.state,
            server,
        }
    }
}

impl Peer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An account with a gateway key and an OpenAI provider pointing at the fake.
pub struct Tenant {
    pub account_id: i32,
    pub key: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A Pro account: most tests exercise features (streaming, several providers) that Free
    /// leaves out; plan tests pick their plan with [`TestApp::create_account_on`].
    pub async fn create_account(&self, email: &str) -> i32 {
        self.create_account_on(email, Plan::Pro).await
    }

    pub async fn create_account_on(&self, email: &str, plan: Plan) -> i32 {
        accounts::create_account(&self.state.db, email, PASSWORD, plan)
            .await
            .expect("account created")
            .id
    }

    pub async fn create_key(&self, account_id: i32) -> String {
        accounts::create_gateway_key(
            &self.state.db,
            &self.state.settings.plans,
            account_id,
            "test",
        )
        .await
        .expect("key created")
        .secret
    }

    pub async fn add_openai(&self, account_id: i32, api_key: &str) {
        self.state
            .add_provider(account_id, "openai", api_key, None)
            .await
            .expect("provider added");
    }

    /// A fresh account with a key and the fake OpenAI as its provider.
    pub async fn tenant(&self, email: &str) -> Tenant {
        let account_id = self.create_account(email).await;
        self.add_openai(account_id, OPENAI_KEY).await;
        let key = self.create_key(account_id).await;
        Tenant { account_id, key }
    }

    pub async fn chat(&self, key: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request = self.http.post(self.url("/v1/chat/completions")).json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("request sent")
    }

    pub async fn flush_usage(&self) {
        self.state.usage.flush().await;
    }

    /// Stops the server as a shutdown signal would: queued usage is written.
    pub async fn shut_down(&mut self) {
        self.server.abort();
        if let Some(tasks) = self.tasks.take() {
            tasks.shutdown(&self.state).await;
        }
    }
}

pub fn hello() -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]})
}

/// Checks the OpenAI error shape and returns the error object.
pub async fn expect_openai_error(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let body: Value = response.json().await.expect("error body is JSON");
    let error = body.get("error").expect("an `error` object").clone();
    for field in ["message", "type", "param", "code"] {
        assert!(error.get(field).is_some(), "error lacks `{field}`: {body}");
    }
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    error
}

/// Polls `check` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
