//! Assembles the running product: database, engine state, and one axum router with the portal,
//! `/v1` and `/healthz`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use app::{App, shell};
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use gateway::sea_orm::{ConnectOptions, Database, DatabaseConnection};
use gateway::state::{BackgroundTasks, GatewayState};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use migrations::{Migrator, MigratorTrait};
use tower::ServiceBuilder;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{ExpiredDeletion, Expiry, Session, SessionManagerLayer, SessionStore};

use crate::sessions::DbSessionStore;

use crate::config::{Config, redact_url};

/// Opens the database (creating the SQLite file and its folder if needed) and migrates it.
/// SQLite connections in the pool: readers in parallel (WAL), one writer at a time.
const SQLITE_CONNECTIONS: u32 = 4;

pub async fn connect_database(config: &Config) -> anyhow::Result<DatabaseConnection> {
    if config.is_sqlite() {
        if let Some(parent) =
            sqlite_path(&config.database_url).and_then(|path| path.parent().map(Path::to_path_buf))
        {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(&parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
        }
    }
    let mut options = ConnectOptions::new(config.database_url.clone());
    options.sqlx_logging(false);
    if config.is_sqlite() && !config.database_url.contains(":memory:") {
        // sea-orm gives SQLite a single connection: an export or a retention sweep would then
        // hold up every other query. With write-ahead logging readers never wait for the
        // writer, and writers queue on the busy timeout rather than fail.
        use gateway::sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        options.max_connections(SQLITE_CONNECTIONS);
        options.map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                // In WAL mode NORMAL loses no commit when the process dies (only on power loss).
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(std::time::Duration::from_secs(10))
        });
    }
    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to {}", redact_url(&config.database_url)))?;
    migrate(&db).await.context("migrating the database")?;
    Ok(db)
}

/// Brings the schema up to date. On PostgreSQL under an advisory lock held by the migrating
/// transaction: servers starting together on an empty database take turns (the later ones then
/// find nothing to do) instead of racing to create the same tables and dying halfway.
async fn migrate(db: &DatabaseConnection) -> Result<(), gateway::sea_orm::DbErr> {
    use gateway::sea_orm::{ConnectionTrait as _, DbBackend, TransactionTrait as _};
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await;
    }
    const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"llmgwmig");
    let transaction = db.begin().await?;
    transaction
        .execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        .await?;
    // On a transaction, sea-orm runs the migrations inside it (as savepoints).
    Migrator::up(&transaction, None).await?;
    transaction.commit().await
}

fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// `digest`: the site's files' (see [`crate::site_assets`]), which pages link them under.
pub fn leptos_options(config: &Config, addr: SocketAddr, digest: Option<&str>) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("llm-gateway")
        .site_root(config.leptos_site_root.as_str())
        .site_pkg_dir(crate::site_assets::pkg_dir(digest))
        .site_addr(addr)
        .build()
}

/// A built application, ready to be served.
pub struct Application {
    pub router: Router,
    pub state: GatewayState,
    pub tasks: BackgroundTasks,
}

pub async fn build(config: &Config, addr: SocketAddr) -> anyhow::Result<Application> {
    let db = connect_database(config).await?;
    let master_key = crate::master_key::load_master_key(config, &db).await?;
    let mut gateway = GatewayState::builder(db.clone(), master_key, config.engine_settings()?);
    // With Redis, servers share the response cache and the monthly request count.
    if let Some(url) = config
        .redis_url
        .as_deref()
        .filter(|url| !url.trim().is_empty())
    {
        let manager = gateway::cache::connect_redis(url)
            .await
            .with_context(|| format!("connecting to Redis at {}", redact_url(url)))?;
        gateway = gateway.redis(manager, &config.redis_key_prefix);
    }
    let (state, tasks) = gateway.start().context("starting the gateway")?;

    let portal = portal_router(config, addr, state.clone(), DbSessionStore::new(db.clone()));

    let metrics_token = config
        .metrics_token
        .clone()
        .filter(|token| !token.is_empty());
    let router = Router::new()
        .route("/healthz", get(crate::health::healthz))
        .route("/readyz", get(crate::health::readyz))
        .route(
            "/metrics",
            get(metrics).layer(middleware::from_fn(move |request, next| {
                guard_metrics(metrics_token.clone(), request, next)
            })),
        )
        .with_state(state.clone())
        .nest(
            "/v1",
            gateway::proxy::router(state.clone())
                .layer(middleware::from_fn(crate::telemetry::trace_request)),
        )
        .merge(
            // `/v1` reads its bodies within the same deadline itself, as it decodes them.
            gateway::webhooks::router(state.clone())
                .merge(portal)
                .layer(middleware::from_fn_with_state(
                    state.settings.body_read_timeout,
                    whole_body_in_time,
                )),
        )
        // One layer (the router boxes every route once per layer), outermost first.
        .layer(
            ServiceBuilder::new()
                // Keys travel in Authorization: never let a layer log it.
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    header::COOKIE,
                ]))
                // Failures worth an error line are logged where they happen, with their cause; a
                // portal form error (a 500 from a server function by Leptos' convention) is not
                // one of them.
                .layer(
                    TraceLayer::new_for_http()
                        .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
                ),
        );
    Ok(Application {
        router,
        state,
        tasks,
    })
}

fn portal_router<S>(config: &Config, addr: SocketAddr, state: GatewayState, store: S) -> Router
where
    S: SessionStore + ExpiredDeletion + Clone,
{
    let expiring = store.clone();
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(tokio::time::Duration::from_secs(3600));
        loop {
            hourly.tick().await;
            if let Err(err) = expiring.delete_expired().await {
                tracing::warn!(error = %err, "could not delete expired portal sessions");
            }
        }
    });
    let sessions = SessionManagerLayer::new(store)
        .with_name("gw_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(time::Duration::days(14)));

    let digest = crate::site_assets::digest(&config.leptos_site_root);
    let options = leptos_options(config, addr, digest.as_deref());
    let routes = generate_route_list(App);
    // Every page of the router but the public ones needs a session.
    let protected: std::sync::Arc<std::collections::HashSet<String>> = std::sync::Arc::new(
        routes
            .iter()
            .map(|route| route.path().to_owned())
            .filter(|path| !app::PUBLIC_PATHS.contains(&path.as_str()))
            .collect(),
    );
    let context = {
        let state = state.clone();
        move || provide_context(state.clone())
    };
    let export_state = state.clone();
    let assets = crate::site_assets::service(&config.leptos_site_root, digest);
    Router::new()
        .nest_service("/pkg", assets)
        .route(
            "/analytics/export.csv",
            get(
                move |session: Session, query: Query<HashMap<String, String>>| {
                    app::analytics::export::export_csv(export_state.clone(), session, query)
                },
            ),
        )
        .leptos_routes_with_context(&options, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(
            context, shell,
        ))
        .with_state(options)
        .layer(middleware::from_fn_with_state(
            protected,
            redirect_anonymous_visitors,
        ))
        .layer(middleware::from_fn(refuse_cross_site_posts))
        .layer(sessions)
        .layer(middleware::from_fn(head_as_get))
        .layer(middleware::from_fn(cache_rules))
        // Pages and server functions' answers, compressed as they go out at a quality made for
        // that (brotli's default, 11, is for files compressed once: it took seconds per response).
        .layer(tower_http::compression::CompressionLayer::new().quality(
            tower_http::compression::CompressionLevel::Precise(DYNAMIC_COMPRESSION_QUALITY),
        ))
        .layer(middleware::from_fn(security_headers))
}

/// Brotli's and gzip's level for what is compressed per response: 4 is what CDNs use for dynamic
/// content (a few ms for a page, within a few percent of the top level's size).
const DYNAMIC_COMPRESSION_QUALITY: i32 = 4;

/// How long a browser may keep what the portal sends: the site's files under their digest are
/// kept for good (`crate::site_assets`); without it, and the favicon, they are revalidated on
/// every load (a 304 costs one round trip); pages and server functions' answers hold the
/// account's data and are not stored at all.
async fn cache_rules(request: Request, next: Next) -> Response {
    let asset =
        request.uri().path().starts_with("/pkg/") || request.uri().path().starts_with("/favicon");
    let mut response = next.run(request).await;
    let rule = if asset { "no-cache" } else { "no-store" };
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static(rule));
    // The site's files are sent as their .br, .gz or plain copy by what the browser accepts: a
    // cache between must keep them apart (the compression layer says so for what it compresses).
    if asset && !headers.contains_key(header::VARY) {
        headers.insert(
            header::VARY,
            axum::http::HeaderValue::from_static("accept-encoding"),
        );
    }
    response
}

/// The most a portal form or a webhook sends (axum's default body limit, which their extractors
/// apply too).
const MAX_BODY_OUTSIDE_V1: usize = 2 * 1024 * 1024;

/// Reads a request's whole body within `deadline` before its handler runs: a client that sends
/// headers announcing a body and then nothing (or a byte now and then) would otherwise hold its
/// connection, and with enough of them every place, for as long as it liked.
async fn whole_body_in_time(
    State(deadline): State<std::time::Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(deadline, axum::body::to_bytes(body, MAX_BODY_OUTSIDE_V1));
    match read.await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(err)) => {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "The request body is larger than {} MiB.",
                        MAX_BODY_OUTSIDE_V1 / (1024 * 1024)
                    ),
                )
                    .into_response()
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    "The request body could not be read.",
                )
                    .into_response()
            }
        }
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "The request body did not arrive within {} seconds.",
                deadline.as_secs().max(1)
            ),
        )
            .into_response(),
    }
}

/// What a browser is told about every portal page: never framed (clickjacking), types not
/// sniffed, no full URLs to other sites, and no base, forms or plug-ins from elsewhere. Scripts
/// are not restricted by the policy: the hydration script is inline.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, axum::http::HeaderValue::from_static(value));
    }
    response
}

/// `HEAD` on a portal page (Claude Code sends `HEAD /` at start-up) is answered as `GET` would
/// be — the same status, redirect and headers — without a body. The page is rendered once and
/// to the end: dropping a streamed render half-way disposed reactive values still in use.
async fn head_as_get(mut request: Request, next: Next) -> Response {
    if request.method() != Method::HEAD {
        return next.run(request).await;
    }
    *request.method_mut() = Method::GET;
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    // Pages are small; a bound keeps a stray large file from being read whole.
    if let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, bytes.len().into());
    }
    Response::from_parts(parts, axum::body::Body::empty())
}

/// Portal pages need a session (all but `app::PUBLIC_PATHS`); anonymous visitors are sent to the
/// log-in page.
async fn redirect_anonymous_visitors(
    State(protected): State<std::sync::Arc<std::collections::HashSet<String>>>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if request.method() == Method::GET && protected.contains(path) {
        let logged_in = matches!(
            session.get::<i32>(app::server::ACCOUNT_ID).await,
            Ok(Some(_))
        );
        if !logged_in {
            return Redirect::to("/login").into_response();
        }
    }
    next.run(request).await
}

/// Server functions change state with POSTs; a browser says where a request comes from, and
/// only this site's own pages may send them (on top of the SameSite cookie).
async fn refuse_cross_site_posts(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let cross_site = match fetch_site {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => {
            let origin_host = headers
                .get(header::ORIGIN)
                .and_then(|v| v.to_str().ok())
                .filter(|origin| *origin != "null")
                .map(|origin| origin.split_once("://").map_or(origin, |(_, host)| host));
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            matches!((origin_host, host), (Some(origin), Some(host)) if origin != host)
                || headers.get(header::ORIGIN).is_some_and(|v| v == "null")
        }
    };
    if cross_site {
        return (
            StatusCode::FORBIDDEN,
            "Cross-site requests to the portal are refused.",
        )
            .into_response();
    }
    next.run(request).await
}

/// `/metrics` tells how busy the server is and how it is deployed: with `METRICS_TOKEN` set it
/// asks for that bearer token, else it answers only clients on this machine.
async fn guard_metrics(token: Option<String>, request: Request, next: Next) -> Response {
    let allowed = match &token {
        Some(token) => request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|presented| {
                use subtle::ConstantTimeEq as _;
                bool::from(presented.trim().as_bytes().ct_eq(token.as_bytes()))
            }),
        None => request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .is_some_and(|peer| peer.0.ip().is_loopback()),
    };
    if allowed {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "/metrics needs METRICS_TOKEN as a bearer token, or a client on this machine\n",
        )
            .into_response()
    }
}

/// Prometheus text format: the usage pipeline's counters (a full queue or a failing database
/// shows here as dropped events) and the gateway's overhead per request.
async fn metrics(State(state): State<GatewayState>) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = state.usage.counters();
    let mut body = String::new();
    for (name, help, value) in [
        (
            "llm_gateway_usage_events_recorded_total",
            "Usage events handed to the queue.",
            counters.recorded.load(Relaxed),
        ),
        (
            "llm_gateway_usage_events_written_total",
            "Usage events stored.",
            counters.written.load(Relaxed),
        ),
        (
            "llm_gateway_usage_events_dropped_total",
            "Usage events dropped (queue full, or the database kept failing).",
            counters.dropped.load(Relaxed),
        ),
        (
            "llm_gateway_usage_batches_written_total",
            "Usage batches stored.",
            counters.batches.load(Relaxed),
        ),
    ] {
        body.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    }
    state.metrics.render(&mut body);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/gateway.db?mode=rwc"),
            Some(Path::new("data/gateway.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }
}
