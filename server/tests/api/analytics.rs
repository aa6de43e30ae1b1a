//! The usage pipeline, analytics roll-ups, retention, and the response cache (in memory and in
//! Redis).

use std::time::Duration;

use gateway::accounts::Plan;
use gateway::analytics::{self, DAY_MS};
use gateway::entities::usage_event;
use gateway::routing::RoutingPolicy;
use gateway::sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::{Value, json};

use crate::helpers::{Backend, OPENAI_KEY, TestApp, eventually, hello, spawn_app, spawn_app_with};

crate::on_both_backends!(
    the_cache_hits_misses_expires_and_never_crosses_accounts,
    rollups_feed_the_report_and_the_export,
    retention_clamps_queries_and_deletes_old_events,
    the_export_streams_page_by_page_without_losing_or_repeating_a_row,
    a_failing_database_never_fails_a_request,
    one_bad_event_never_drops_the_others_batched_with_it,
    the_request_log_filters_pages_and_keeps_to_the_account,
    a_requests_attempts_share_its_id_and_open_together_in_the_log,
    the_log_splits_a_requests_time_between_provider_and_gateway,
);

async fn pro_tenant(app: &TestApp, email: &str) -> (i32, String) {
    let account_id = app.create_account_on(email, Plan::Pro).await;
    app.add_openai(account_id, OPENAI_KEY).await;
    let key = app.create_key(account_id).await;
    (account_id, key)
}

async fn cache_on(app: &TestApp, account_id: i32) {
    let policy = RoutingPolicy {
        cache: Some(true),
        ..Default::default()
    };
    app.state
        .set_account_routing_policy(account_id, &policy)
        .await
        .unwrap();
}

async fn ask(
    app: &TestApp,
    key: &str,
    body: &Value,
    cache_header: Option<&str>,
) -> (Option<String>, String) {
    let mut request = app
        .http
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body);
    if let Some(value) = cache_header {
        request = request.header("x-gateway-cache", value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let header = response
        .headers()
        .get("x-gateway-cache")
        .map(|v| v.to_str().unwrap().to_owned());
    (header, response.text().await.unwrap())
}

/// Hit, miss, a different request, the per-request switch, a streamed hit, another account.
async fn exercise_cache(app: &TestApp) {
    let (account_id, key) = pro_tenant(app, "cache@example.com").await;
    let (other_id, other_key) = pro_tenant(app, "other@example.com").await;
    cache_on(app, account_id).await;
    cache_on(app, other_id).await;
    let question = hello();

    let (first, answer) = ask(app, &key, &question, None).await;
    let (second, cached) = ask(app, &key, &question, None).await;
    assert_eq!(
        (first.as_deref(), second.as_deref()),
        (Some("MISS"), Some("HIT"))
    );
    assert_eq!(answer, cached, "the same bytes");
    assert_eq!(
        app.fake_openai.requests().len(),
        1,
        "the second answer came from the cache"
    );

    let mut warmer = question.clone();
    warmer["temperature"] = json!(0.9);
    assert_eq!(
        ask(app, &key, &warmer, None).await.0.as_deref(),
        Some("MISS")
    );
    // Switched off for one request: no cache, no header.
    assert_eq!(ask(app, &key, &question, Some("off")).await.0, None);
    assert_eq!(app.fake_openai.requests().len(), 3);

    // A streaming request gets the cached answer as a stream.
    let mut streaming = question.clone();
    streaming["stream"] = json!(true);
    streaming["stream_options"] = json!({"include_usage": true});
    let (header, stream) = ask(app, &key, &streaming, None).await;
    assert_eq!(header.as_deref(), Some("HIT"));
    assert!(
        stream.starts_with("data: {") && stream.ends_with("data: [DONE]\n\n"),
        "{stream}"
    );
    assert!(
        stream.contains("\"chat.completion.chunk\"")
            && stream.contains("Hello from the fake OpenAI server.")
    );
    assert!(stream.contains("\"usage\":{"), "usage chunk when asked");
    assert_eq!(app.fake_openai.requests().len(), 3);

    // The same request from another account is never answered from this account's cache.
    assert_eq!(
        ask(app, &other_key, &question, None).await.0.as_deref(),
        Some("MISS")
    );
    assert_eq!(app.fake_openai.requests().len(), 4);

    // Hits are recorded as such, with nothing spent and the cost they saved.
    app.flush_usage().await;
    let events = analytics::events_since(&app.state.db, account_id, 0)
        .await
        .unwrap();
    let hits: Vec<_> = events.iter().filter(|e| e.cache_hit).collect();
    assert_eq!(hits.len(), 2);
    let miss = events.iter().find(|e| !e.cache_hit).unwrap();
    assert!(
        hits.iter()
            .all(|hit| hit.cost_usd == 0.0 && hit.saving_usd > miss.saving_usd && hit.counted)
    );
}

async fn the_cache_hits_misses_expires_and_never_crosses_accounts(backend: Backend) {
    let app = spawn_app(backend).await;
    exercise_cache(&app).await;

    // Expiry, with a one-second TTL.
    let app = spawn_app_with(backend, |config| config.cache_ttl_secs = 1).await;
    let (account_id, key) = pro_tenant(&app, "ttl@example.com").await;
    cache_on(&app, account_id).await;
    assert_eq!(
        ask(&app, &key, &hello(), None).await.0.as_deref(),
        Some("MISS")
    );
    assert_eq!(
        ask(&app, &key, &hello(), None).await.0.as_deref(),
        Some("HIT")
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        ask(&app, &key, &hello(), None).await.0.as_deref(),
        Some("MISS")
    );

    // Off unless switched on, and never on a plan without the cache (even when asked).
    let (_, plain_key) = pro_tenant(&app, "plain@example.com").await;
    assert_eq!(ask(&app, &plain_key, &hello(), None).await.0, None);
    assert_eq!(
        ask(&app, &plain_key, &hello(), Some("on"))
            .await
            .0
            .as_deref(),
        Some("MISS")
    );
    assert_eq!(
        ask(&app, &plain_key, &hello(), Some("on"))
            .await
            .0
            .as_deref(),
        Some("HIT")
    );
    let free_id = app.create_account_on("free@example.com", Plan::Free).await;
    app.add_openai(free_id, OPENAI_KEY).await;
    let free_key = app.create_key(free_id).await;
    assert_eq!(ask(&app, &free_key, &hello(), Some("on")).await.0, None);
    let bad = app
        .http
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&free_key)
        .header("x-gateway-cache", "maybe")
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

/// The same behaviour with the cache in the Redis on 127.0.0.1:6379 (a namespace of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_works_in_redis() {
    let namespace = format!(
        "gw-test-{}-{}",
        std::process::id(),
        gateway::clock::now_ms()
    );
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.redis_url = Some("redis://127.0.0.1:6379".into());
        config.redis_key_prefix = namespace.clone();
    })
    .await;
    assert_eq!(app.state.cache.backend_name(), "redis");
    exercise_cache(&app).await;
    // The entries are in Redis, under this installation's prefix, with a TTL.
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}:cache:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 3_600_000, "{ttl}");
    let _: () = redis::cmd("DEL")
        .arg(keys)
        .query_async(&mut connection)
        .await
        .unwrap();

    // Expiry in Redis, with a one-second TTL.
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.redis_url = Some("redis://127.0.0.1:6379".into());
        config.redis_key_prefix = format!("{namespace}-ttl");
        config.cache_ttl_secs = 1;
    })
    .await;
    let (account_id, key) = pro_tenant(&app, "ttl@example.com").await;
    cache_on(&app, account_id).await;
    assert_eq!(
        ask(&app, &key, &hello(), None).await.0.as_deref(),
        Some("MISS")
    );
    assert_eq!(
        ask(&app, &key, &hello(), None).await.0.as_deref(),
        Some("HIT")
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        ask(&app, &key, &hello(), None).await.0.as_deref(),
        Some("MISS")
    );
}

async fn rollups_feed_the_report_and_the_export(backend: Backend) {
    let app = spawn_app(backend).await;
    let (account_id, key) = pro_tenant(&app, "report@example.com").await;
    for _ in 0..3 {
        assert_eq!(app.chat(Some(&key), &hello()).await.status(), 200);
    }
    let failing =
        json!({"model": "openai/fake-error-500", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(app.chat(Some(&key), &failing).await.status(), 502);
    let routed = json!({"model": "auto", "messages": [{"role": "user", "content": "Thanks!"}]});
    assert_eq!(app.chat(Some(&key), &routed).await.status(), 200);
    app.flush_usage().await;

    let now = gateway::clock::now_ms();
    let report = analytics::report(
        &app.state.db,
        account_id,
        now - DAY_MS,
        now + 1,
        analytics::HOUR_MS,
        &Default::default(),
    )
    .await
    .unwrap();
    let events = analytics::events_since(&app.state.db, account_id, 0)
        .await
        .unwrap();
    assert_eq!(
        report.totals.requests,
        events.len() as i64,
        "roll-ups hold every event"
    );
    assert_eq!(
        report.totals.errors,
        events.iter().filter(|e| e.status >= 400).count() as i64
    );
    assert_eq!(
        report.totals.prompt_tokens,
        events
            .iter()
            .map(|e| i64::from(e.prompt_tokens))
            .sum::<i64>()
    );
    assert!(
        (report.totals.cost_usd - events.iter().map(|e| e.cost_usd).sum::<f64>()).abs() < 1e-12
    );
    assert!(report.totals.p50_ms.is_some() && report.totals.p95_ms >= report.totals.p50_ms);
    assert_eq!(report.series.len(), 25, "hourly buckets over a day");
    assert_eq!(
        report.series.iter().map(|p| p.totals.requests).sum::<i64>(),
        report.totals.requests
    );
    assert_eq!(report.by_model[0].name, "openai/gpt-4o-mini");
    assert_eq!(report.by_provider.len(), 1);

    let csv = analytics::to_csv(&events);
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines[0], analytics::EXPORT_COLUMNS.join(","));
    assert!(
        lines[0].contains(",cost_usd,baseline_cost_usd,saving_usd,baseline_model,"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), events.len() + 1);
    // Each row: what the same tokens cost on the baseline model; a saving only where the
    // gateway chose the model (the auto request), none for the pinned ones.
    let header: Vec<&str> = lines[0].split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    for (line, event) in lines[1..].iter().zip(&events) {
        let cells: Vec<&str> = line.split(',').collect();
        let number = |name: &str| cells[column(name)].parse::<f64>().unwrap();
        assert_eq!(number("cost_usd"), event.cost_usd, "{line}");
        let baseline_cost = event.baseline_cost_usd.expect("gpt-4o has a price");
        assert_eq!(number("baseline_cost_usd"), baseline_cost, "{line}");
        if event.routed {
            assert!((event.saving_usd - (baseline_cost - event.cost_usd)).abs() < 1e-15);
        } else {
            assert_eq!(event.saving_usd, 0.0, "pinned: nothing saved, {line}");
        }
        assert_eq!(cells[column("routed")], event.routed.to_string());
    }
    let routed: Vec<_> = events.iter().filter(|e| e.routed).collect();
    assert_eq!(
        routed.len(),
        1,
        "only the auto request was the gateway's choice"
    );
    let event = routed[0];
    assert_eq!(event.baseline_model.as_deref(), Some("openai/gpt-4o"));
    assert!(event.cost_usd > 0.0 && event.saving_usd > 0.0, "{event:?}");
    // The report claims the saving on that one request, against its cost without the gateway.
    assert_eq!(report.totals.saving_requests, 1);
    assert!((report.totals.saving_usd - event.saving_usd).abs() < 1e-15);
    assert!(
        (report.totals.saving_base_usd - event.baseline_cost_usd.unwrap()).abs() < 1e-15,
        "{:?}",
        report.totals
    );
    // The catalog has no price for the fake's failing model: counted, never costed.
    assert_eq!(report.totals.unpriced_requests, 1);
    assert!(
        !csv.contains("Say hello") && !csv.contains("Hello from the fake"),
        "metadata only"
    );
}

async fn insert_event(app: &TestApp, account_id: i32, created_at: i64) {
    event_row(account_id, created_at)
        .insert(&app.state.db)
        .await
        .unwrap();
}

/// Two and a quarter pages of events, all in the same millisecond (so that pages meet inside a
/// run of equal times), and a neighbour's events that must not show.
async fn the_export_streams_page_by_page_without_losing_or_repeating_a_row(backend: Backend) {
    use futures::TryStreamExt as _;
    let app = spawn_app(backend).await;
    let account = app.create_account("big@example.com").await;
    let neighbour = app.create_account("neighbour@example.com").await;
    let now = gateway::clock::now_ms();
    let rows = analytics::EXPORT_PAGE as usize * 2 + 500;
    for (owner, count) in [(account, rows), (neighbour, 10)] {
        let events: Vec<_> = (0..count).map(|_| event_row(owner, now)).collect();
        for chunk in events.chunks(500) {
            usage_event::Entity::insert_many(chunk.to_vec())
                .exec(&app.state.db)
                .await
                .unwrap();
        }
    }
    let chunks: Vec<_> = analytics::csv_stream(app.state.db.clone(), account, 0)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chunks.len(), 3, "one chunk per page");
    let csv: String = chunks
        .iter()
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), rows + 1, "a header and every row once");
    assert_eq!(lines.iter().filter(|l| l.starts_with("time,")).count(), 1);
    let ids: Vec<i64> = analytics::events_since(&app.state.db, account, 0)
        .await
        .unwrap()
        .iter()
        .map(|event| event.id)
        .collect();
    assert_eq!(ids.len(), rows);
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "in order, none twice"
    );
}

fn event_row(account_id: i32, created_at: i64) -> usage_event::ActiveModel {
    usage_event::ActiveModel {
        account_id: Set(account_id),
        key_id: Set(None),
        provider: Set("openai".into()),
        model: Set("gpt-4o-mini".into()),
        prompt_tokens: Set(1),
        completion_tokens: Set(1),
        latency_ms: Set(10),
        status: Set(200),
        error_code: Set(None),
        created_at: Set(created_at),
        tier: Set(None),
        baseline_model: Set(None),
        cost_usd: Set(0.0),
        saving_usd: Set(0.0),
        counted: Set(true),
        cache_hit: Set(false),
        ..Default::default()
    }
}

async fn retention_clamps_queries_and_deletes_old_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let free = app.create_account_on("free@example.com", Plan::Free).await;
    let pro = app.create_account_on("pro@example.com", Plan::Pro).await;
    let now = gateway::clock::now_ms();
    for account in [free, pro] {
        insert_event(&app, account, now - DAY_MS).await;
        insert_event(&app, account, now - 10 * DAY_MS).await;
        insert_event(&app, account, now - 100 * DAY_MS).await;
    }
    let plans = &app.state.settings.plans;
    // Before the job runs, queries already stop at the retention: 7 days for Free, 90 for Pro.
    let visible = |account: i32, plan: Plan| {
        let since = analytics::clamp_since(now, 365 * DAY_MS, plans.limits(plan).retention_days);
        let db = app.state.db.clone();
        async move {
            analytics::events_since(&db, account, since)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        (
            visible(free, Plan::Free).await,
            visible(pro, Plan::Pro).await
        ),
        (1, 2)
    );

    // One event per statement, so that the batches are many (the job uses thousands).
    let deleted = analytics::delete_expired_in_batches(&app.state.db, plans, now, 1)
        .await
        .unwrap();
    assert_eq!(deleted, 3, "Free loses two, Pro one");
    assert_eq!(
        analytics::events_since(&app.state.db, free, 0)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        analytics::events_since(&app.state.db, pro, 0)
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn a_failing_database_never_fails_a_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key) = pro_tenant(&app, "resilient@example.com").await;
    assert_eq!(app.chat(Some(&key), &hello()).await.status(), 200);
    app.flush_usage().await;
    let written = app
        .state
        .usage
        .counters()
        .written
        .load(std::sync::atomic::Ordering::Relaxed);
    // The usage table goes away: writes fail from now on.
    app.state
        .db
        .execute_unprepared("ALTER TABLE usage_events RENAME TO usage_events_gone")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    for _ in 0..5 {
        assert_eq!(app.chat(Some(&key), &hello()).await.status(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "requests did not wait for the database"
    );
    // The writer retries, then gives the batch up and counts it as dropped.
    let counters = app.state.usage.counters();
    assert!(
        eventually(Duration::from_secs(10), || async {
            counters.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 5
        })
        .await,
        "dropped events are counted"
    );
    assert_eq!(
        counters.written.load(std::sync::atomic::Ordering::Relaxed),
        written
    );
}

/// PostgreSQL refuses NUL in text and a deleted account's event breaks its foreign key: either
/// used to fail the shared batch and drop every tenant's usage with it.
async fn one_bad_event_never_drops_the_others_batched_with_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (account_id, _key) = pro_tenant(&app, "ada@example.com").await;
    let event = |account_id: i32, model: &str| gateway::usage::UsageEvent {
        account_id,
        key_id: 1,
        provider: "openai".into(),
        model: model.into(),
        prompt_tokens: 3,
        completion_tokens: 4,
        latency_ms: 5,
        upstream_ms: None,
        first_byte_ms: None,
        status: 200,
        error_code: Some("odd\0code".into()),
        created_at_ms: gateway::clock::now_ms(),
        tier: None,
        baseline_model: None,
        cost_usd: 0.0,
        saving_usd: 0.0,
        counted: true,
        cache_hit: false,
        route_reason: None,
        routed: false,
        priced: true,
        baseline_cost_usd: None,
        key_accepted: true,
        request_id: gateway::usage::RequestId::new(),
    };
    let written_before = app
        .state
        .usage
        .counters()
        .written
        .load(std::sync::atomic::Ordering::Relaxed);
    app.state.usage.record(event(account_id, "gpt-4o-mini"));
    app.state.usage.record(event(account_id, "gpt\0-4o"));
    app.state
        .usage
        .record(event(account_id + 1000, "gpt-4o-mini"));
    app.state.usage.record(event(account_id, "gpt-4o"));
    app.flush_usage().await;

    let stored: Vec<(String, Option<String>)> = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .order_by_asc(usage_event::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.model, row.error_code))
        .collect();
    let models: Vec<&str> = stored.iter().map(|(model, _)| model.as_str()).collect();
    assert_eq!(models, ["gpt-4o-mini", "gpt\u{FFFD}-4o", "gpt-4o"]);
    assert!(
        stored
            .iter()
            .all(|(_, code)| code.as_deref() == Some("odd\u{FFFD}code"))
    );
    let counters = app.state.usage.counters();
    assert_eq!(
        counters.written.load(std::sync::atomic::Ordering::Relaxed) - written_before,
        3
    );
    assert_eq!(
        counters.dropped.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

/// PostgreSQL refuses every connection for ten seconds (connections cut, new ones refused), then
/// comes back. Requests keep being served from memory, and the usage queued meanwhile is written
/// once the database answers again: nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_second_database_outage_loses_no_request_and_no_usage() {
    use gateway::sea_orm::Database;
    let app = spawn_app_with(Backend::Postgres, |config| {
        config.account_change_poll_ms = 100
    })
    .await;
    let (account_id, key) = pro_tenant(&app, "outage@example.com").await;
    // The setup's own changes are journaled; once the watcher has seen them (and evicted the
    // account) the account is cached again by the first request. Taken down before that, the
    // database would be needed to load the account: a 500 that is the test's race, not the
    // outage's.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.chat(Some(&key), &hello()).await.status(), 200);
    let crate::helpers::TestDatabase::Postgres { name } = &app.database else {
        panic!("a PostgreSQL database");
    };
    let admin = Database::connect(crate::helpers::postgres_admin_url())
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();

    assert!(app.state.db.ping().await.is_err(), "the database is down");

    let mut served = 1;
    let outage = std::time::Instant::now();
    while outage.elapsed() < Duration::from_secs(10) {
        let response = app.chat(Some(&key), &hello()).await;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "served while the database is down: {body}");
        served += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    admin.close().await.unwrap();

    let counted = || async {
        usage_event::Entity::find()
            .filter(usage_event::Column::AccountId.eq(account_id))
            .filter(usage_event::Column::Counted.eq(true))
            .count(&app.state.db)
            .await
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(30), || async {
            counted().await == served
        })
        .await,
        "usage caught up: {} of {served} requests recorded",
        counted().await
    );
    assert_eq!(
        app.state
            .usage
            .counters()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// The request log (`/requests`): newest first, every filter narrowing it, pages cut by position
/// (each request exactly once across pages, even with equal timestamps), another tenant's
/// requests never shown, and nothing older than the plan keeps.
async fn the_request_log_filters_pages_and_keeps_to_the_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = crate::portal::Browser::new(&app);
    let account = browser.sign_up("ada@example.com").await;
    let key = app.create_key(account.id).await;
    let key_id = gateway::accounts::find_key_by_prefix(&app.state.db, account.id, &key)
        .await
        .unwrap()
        .id;
    let stranger = app.tenant("eve@example.com").await;
    let now = gateway::clock::now_ms();
    let mut rows = Vec::new();
    for i in 0..120_i64 {
        let mut row = event_row(account.id, now - (i / 2) * 1000);
        row.status = Set(if i % 5 == 0 { 404 } else { 200 });
        row.model = Set(if i % 2 == 0 { "gpt-4o-mini" } else { "gpt-4o" }.into());
        row.key_id = Set((i % 3 == 0).then_some(key_id));
        row.cache_hit = Set(i % 7 == 0);
        row.tier = Set(Some(if i % 4 == 0 { "strong" } else { "cheap" }.into()));
        rows.push(row);
    }
    rows.push(event_row(stranger.account_id, now));
    // Free keeps 7 days.
    rows.push(event_row(account.id, now - 8 * DAY_MS));
    usage_event::Entity::insert_many(rows)
        .exec(&app.state.db)
        .await
        .unwrap();

    let log = |filters: Vec<(&'static str, String)>| {
        let browser = &browser;
        async move {
            let pairs: Vec<(&str, &str)> = filters.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = browser.post_form("request_log", &pairs).await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let all_pages = |filters: Vec<(&'static str, String)>| {
        let log = &log;
        async move {
            // (id, time) of every row, in the order shown.
            let mut seen: Vec<(i64, String)> = Vec::new();
            let mut before = String::new();
            loop {
                let mut page_filters = filters.clone();
                page_filters.push(("before", before.clone()));
                let page = log(page_filters).await;
                for row in page["rows"].as_array().unwrap() {
                    let at = row["at"].as_str().unwrap().to_owned();
                    seen.push((row["id"].as_i64().unwrap(), at));
                }
                match page["next"].as_str() {
                    Some(next) => before = next.to_owned(),
                    None => return seen,
                }
            }
        }
    };

    let everything = all_pages(vec![]).await;
    let ids: Vec<i64> = everything.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids.len(),
        120,
        "every request of the account, once, within retention"
    );
    let unique: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 120);
    let times: Vec<&String> = everything.iter().map(|(_, at)| at).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let count = |filters: Vec<(&'static str, String)>| {
        let all_pages = &all_pages;
        async move { all_pages(filters).await.len() }
    };
    assert_eq!(count(vec![("status", "errors".into())]).await, 24);
    assert_eq!(count(vec![("status", "404".into())]).await, 24);
    assert_eq!(count(vec![("status", "ok".into())]).await, 96);
    assert_eq!(count(vec![("model", "gpt-4o".into())]).await, 60);
    assert_eq!(count(vec![("key", key_id.to_string())]).await, 40);
    assert_eq!(count(vec![("cache", "hit".into())]).await, 18);
    assert_eq!(count(vec![("tier", "strong".into())]).await, 30);
    assert_eq!(
        count(vec![
            ("status", "404".into()),
            ("model", "gpt-4o-mini".into())
        ])
        .await,
        12
    );
    let first = log(vec![("key", key_id.to_string())]).await;
    assert!(
        first["rows"][0]["key"]
            .as_str()
            .unwrap()
            .contains(&key[..11]),
        "{first}"
    );
    assert_eq!(first["retention_days"], 7);
    assert_eq!(
        first["ranges"],
        json!(["1h", "24h", "7d"]),
        "what Free keeps"
    );

    // The time filter: a request two hours old is in the last day, not in the last hour.
    usage_event::Entity::insert(event_row(account.id, now - 2 * 3_600_000))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(count(vec![]).await, 121);
    assert_eq!(count(vec![("range", "24h".into())]).await, 121);
    assert_eq!(count(vec![("range", "1h".into())]).await, 120);

    // A logged-out visitor sees nothing; the other tenant only their own request.
    let other = crate::portal::Browser::new(&app);
    assert_eq!(other.post_form("request_log", &[]).await.status(), 401);
    let logged_in = other
        .post_form(
            "log_in",
            &[
                ("email", "eve@example.com"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert!(logged_in.status().is_success(), "{}", logged_in.status());
    let theirs = other
        .post_form("request_log", &[])
        .await
        .json::<Value>()
        .await
        .unwrap();
    let theirs = theirs["rows"].as_array().unwrap();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert!(!ids.contains(&theirs[0]["id"].as_i64().unwrap()));
}

/// The request log's page of one request (by its `x-request-id`), as the portal reads it.
async fn request_log_of(browser: &crate::portal::Browser<'_>, request: String) -> Value {
    let response = browser
        .post_form("request_log", &[("request", request.as_str())])
        .await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()
}

/// Every `/v1` answer carries `x-request-id`; the request's events (a failing model's retries,
/// the fallback that answered) carry it too, so the log finds the request by it and opens it to
/// its attempts in order. A mistyped id finds nothing; another tenant's id finds nothing.
async fn a_requests_attempts_share_its_id_and_open_together_in_the_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = crate::portal::Browser::new(&app);
    let account = browser.sign_up("ada@example.com").await;
    app.add_openai(account.id, OPENAI_KEY).await;
    let key = app.create_key(account.id).await;
    let mut request = hello();
    request["model"] = json!("openai/fake-error-500");
    request["models"] = json!(["openai/gpt-4o-mini"]);
    let answered = app.chat(Some(&key), &request).await;
    assert_eq!(answered.status(), 200);
    let id = answered.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(gateway::usage::RequestId::parse(&id).is_some(), "{id}");
    let other = app.chat(Some(&key), &hello()).await;
    let other_id = other.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(other_id, id);
    // A refusal is named too.
    let refused = app.chat(None, &hello()).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("x-request-id"));
    app.flush_usage().await;

    let log = |request: &str| request_log_of(&browser, request.to_owned());
    let found = log(&id).await;
    let rows = found["rows"].as_array().unwrap();
    assert!(rows.len() >= 2, "the failures and the answer: {found}");
    assert!(rows.iter().all(|row| row["request_id"] == id.as_str()));
    let answer = rows.iter().find(|row| row["status"] == 200).unwrap();
    let attempts = answer["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), rows.len(), "{answer}");
    let statuses: Vec<i64> = attempts
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert!(
        statuses[..statuses.len() - 1]
            .iter()
            .all(|status| *status >= 500),
        "{statuses:?}"
    );
    assert_eq!(attempts[0]["model"], "openai/fake-error-500");
    assert_eq!(attempts.last().unwrap()["model"], "openai/gpt-4o-mini");
    let times: Vec<i64> = attempts
        .iter()
        .map(|a| a["latency_ms"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // A request of one event has no attempts to list.
    let single = log(&other_id).await;
    assert_eq!(single["rows"].as_array().unwrap().len(), 1);
    assert_eq!(single["rows"][0]["attempts"], json!([]));
    // A mistyped id finds nothing; so does the id from another tenant's browser.
    assert_eq!(log("req_123").await["rows"], json!([]));
    let eve = crate::portal::Browser::new(&app);
    eve.sign_up("eve@example.com").await;
    let theirs = eve
        .post_form("request_log", &[("request", id.as_str())])
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(theirs["rows"], json!([]));
}

/// Each event says how much of its time was spent waiting for the provider and, for a stream,
/// when its first byte left: the log's detail splits the latency from them. The fake answers
/// `fake-slow` after 3 s and streams an event every 20 ms; a cache hit waits for no provider.
async fn the_log_splits_a_requests_time_between_provider_and_gateway(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = crate::portal::Browser::new(&app);
    let account = browser.sign_up("ada@example.com").await;
    app.state.set_plan(account.id, Plan::Pro).await.unwrap();
    app.add_openai(account.id, OPENAI_KEY).await;
    cache_on(&app, account.id).await;
    let key = app.create_key(account.id).await;
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };

    let mut slow = hello();
    slow["model"] = json!("openai/fake-slow");
    let answered = app.chat(Some(&key), &slow).await;
    assert_eq!(answered.status(), 200);
    let slow_id = id_of(&answered);
    let mut streamed = hello();
    streamed["stream"] = json!(true);
    streamed["messages"] = json!([{"role": "user", "content": "a stream, timed"}]);
    let answered = app.chat(Some(&key), &streamed).await;
    assert_eq!(answered.status(), 200);
    let stream_id = id_of(&answered);
    assert!(answered.text().await.unwrap().contains("[DONE]"));
    let cached = hello();
    assert_eq!(app.chat(Some(&key), &cached).await.status(), 200);
    let answered = app.chat(Some(&key), &cached).await;
    assert_eq!(answered.headers()["x-gateway-cache"], "HIT");
    let hit_id = id_of(&answered);
    app.flush_usage().await;

    let row = |request: String| {
        let browser = &browser;
        async move {
            let page = request_log_of(browser, request).await;
            let rows = page["rows"].as_array().unwrap();
            assert_eq!(rows.len(), 1, "{page}");
            let number = |name: &str| rows[0][name].as_i64();
            (
                number("latency_ms").unwrap(),
                number("upstream_ms"),
                number("first_byte_ms"),
            )
        }
    };
    // Three seconds at the provider, the gateway's part a small remainder.
    let (latency, upstream, first_byte) = row(slow_id).await;
    let upstream = upstream.expect("the provider's wait is recorded");
    assert!(
        upstream >= 3_000 && upstream <= latency,
        "{upstream} of {latency}"
    );
    assert!(latency - upstream < 1_000, "{upstream} of {latency}");
    assert_eq!(
        first_byte, None,
        "a whole answer has no first byte of its own"
    );
    // A stream's first byte leaves before its last: the rest is streaming, not the gateway.
    let (latency, upstream, first_byte) = row(stream_id).await;
    let first_byte = first_byte.expect("a stream's first byte is recorded");
    assert!(upstream.unwrap() <= first_byte, "{upstream:?} {first_byte}");
    assert!(latency - first_byte >= 20, "{first_byte} of {latency}");
    // Served from the cache: no provider was waited for.
    let (_, upstream, first_byte) = row(hit_id).await;
    assert_eq!((upstream, first_byte), (Some(0), None));
}
