//! Budgets and rate limits per key and per organisation, through `/v1`: the hard stop under
//! concurrency, OpenAI's `x-ratelimit-*` headers, and exact counts across two servers on one Redis.

use futures::future::join_all;
use gateway::limits::{Limits, NANOS_PER_USD, Scope};
use gateway::sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_openai_error, hello, spawn_app, spawn_app_with};
use crate::on_both_backends;

/// A request of a known size: 200 bytes of prompt, at most 10 tokens of answer. The fake answers
/// every chat with 19 prompt and 10 completion tokens: 8,850 nano-dollars on gpt-4o-mini.
fn sized_request() -> Value {
    json!({"model": "openai/gpt-4o-mini", "max_tokens": 10,
        "messages": [{"role": "user", "content": "x".repeat(200)}]})
}
const ACTUAL_NANOS: i64 = 19 * 150 + 10 * 600;

async fn key_id(app: &TestApp, account_id: i32) -> i32 {
    gateway::accounts::list_gateway_keys(&app.state.db, account_id)
        .await
        .unwrap()[0]
        .id
}

async fn limit_key(app: &TestApp, tenant: &crate::helpers::Tenant, limits: Limits) {
    let key_id = key_id(app, tenant.account_id).await;
    app.state
        .set_key_limits(tenant.account_id, key_id, &limits)
        .await
        .unwrap();
}

async fn spent_nanos(app: &TestApp, account_id: i32) -> i64 {
    app.flush_usage().await;
    let backend = app.state.db.get_database_backend();
    let row = app
        .state
        .db
        .query_one(Statement::from_string(
            backend,
            format!("SELECT CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) AS spent FROM usage_events WHERE account_id = {account_id}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let spent: f64 = row.try_get("", "spent").unwrap();
    (spent * NANOS_PER_USD).round() as i64
}

/// Waits, if needed, until the current minute has 15 s left, so that a test counting requests
/// per minute never straddles two minutes.
async fn away_from_a_minute_boundary() {
    let into_minute = gateway::clock::now_ms() % 60_000;
    if into_minute > 45_000 {
        tokio::time::sleep(std::time::Duration::from_millis(
            (60_000 - into_minute + 200) as u64,
        ))
        .await;
    }
}

async fn a_budget_is_never_overspent_by_concurrent_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("budget@example.com").await;
    let key_id = key_id(&app, tenant.account_id).await;
    let budget_nanos = 30 * ACTUAL_NANOS;
    let limits = Limits {
        monthly_budget_usd: Some(budget_nanos as f64 / NANOS_PER_USD),
        ..Limits::default()
    };
    app.state
        .set_key_limits(tenant.account_id, key_id, &limits)
        .await
        .unwrap();

    let send = || {
        let (http, url, key) = (
            app.http.clone(),
            app.url("/v1/chat/completions"),
            tenant.key.clone(),
        );
        async move {
            let response = http
                .post(url)
                .bearer_auth(key)
                .json(&sized_request())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    };
    let burst = join_all((0..50).map(|_| send())).await;
    let mut served = 0;
    for (status, body) in &burst {
        match status {
            200 => served += 1,
            429 => {
                assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
                assert_eq!(body["error"]["type"], "insufficient_quota");
                let message = body["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains("monthly budget of $0.0003") && message.contains("resets on"),
                    "{message}"
                );
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert!(served > 0 && served < 50, "{served} of 50 served");
    // One at a time, until the budget refuses: then it is spent to within one worst case.
    loop {
        let (status, body) = send().await;
        if status == 429 {
            assert_eq!(body["error"]["code"], "budget_exceeded");
            break;
        }
        assert_eq!(status, 200, "{body}");
        served += 1;
    }
    let spent = spent_nanos(&app, tenant.account_id).await;
    assert_eq!(
        spent,
        served * ACTUAL_NANOS,
        "every served request is counted at list price"
    );
    assert!(
        spent <= budget_nanos,
        "spent {spent} of a {budget_nanos} budget"
    );
    let worst_case = 300 * 150 + 10 * 600;
    assert!(
        spent > budget_nanos - worst_case,
        "the budget is used up to one worst case: {spent}"
    );
    assert_eq!(
        app.fake_openai.requests().len() as i64,
        served,
        "refused requests never reach the provider"
    );
}

async fn rate_limits_answer_with_openais_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("rpm@example.com").await;
    let key_id = key_id(&app, tenant.account_id).await;
    let limits = Limits {
        requests_per_minute: Some(3),
        tokens_per_minute: Some(10_000),
        ..Limits::default()
    };
    app.state
        .set_key_limits(tenant.account_id, key_id, &limits)
        .await
        .unwrap();
    away_from_a_minute_boundary().await;

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = app.chat(Some(&tenant.key), &hello()).await;
        assert_eq!(response.status(), 200);
        let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("x-ratelimit-limit-requests"), "3");
        assert_eq!(header("x-ratelimit-limit-tokens"), "10000");
        assert!(header("x-ratelimit-reset-requests").ends_with('s'));
        remaining.push(header("x-ratelimit-remaining-requests"));
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let refused = app.chat(Some(&tenant.key), &hello()).await;
    let headers = refused.headers().clone();
    let error = expect_openai_error(refused, 429).await;
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(error["type"], "rate_limit_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("3 requests per minute")
    );
    assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    // Tokens used are what the provider reported: 29 a request (19 + 10).
    let remaining_tokens: u64 = headers["x-ratelimit-remaining-tokens"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(remaining_tokens, 10_000 - 3 * 29);

    // The organisation's limit holds every key; a key without limits has no headers.
    app.state
        .set_key_limits(tenant.account_id, key_id, &Limits::default())
        .await
        .unwrap();
    let plain = app.chat(Some(&tenant.key), &hello()).await;
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("x-ratelimit-limit-requests").is_none());
    // "Say hello" is counted as 12 tokens until the answer says 29: two fit in 58, a third not.
    let org = Limits {
        tokens_per_minute: Some(29 * 2),
        ..Limits::default()
    };
    app.state
        .set_account_limits(tenant.account_id, &org)
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            app.chat(Some(&tenant.key), &hello())
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses[..2], [200, 200], "{statuses:?}");
    assert_eq!(statuses[2..], [429, 429], "{statuses:?}");
}

on_both_backends!(
    a_budget_is_never_overspent_by_concurrent_requests,
    rate_limits_answer_with_openais_headers,
);

/// Two servers on one database and one Redis: a key's requests per minute and its budget are
/// counted once for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_sharing_redis_share_rate_limits_and_budgets_exactly() {
    let prefix = format!(
        "gw-limits-test-{}-{}",
        std::process::id(),
        gateway::clock::now_ms()
    );
    let app = spawn_app_with(Backend::Postgres, |config| {
        config.redis_url = Some("redis://127.0.0.1:6379".into());
        config.redis_key_prefix = prefix.clone();
    })
    .await;
    let peer = app.spawn_peer(|_| {}).await;
    let tenant = app.tenant("shared-limits@example.com").await;
    let key_id = key_id(&app, tenant.account_id).await;
    limit_key(
        &app,
        &tenant,
        Limits {
            requests_per_minute: Some(10),
            ..Limits::default()
        },
    )
    .await;
    away_from_a_minute_boundary().await;

    let send = |url: String, body: Value| {
        let (http, key) = (app.http.clone(), tenant.key.clone());
        async move {
            let response = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    let url = |i: usize, path: &str| {
        if i % 2 == 0 {
            app.url(path)
        } else {
            peer.url(path)
        }
    };
    let statuses = join_all((0..30).map(|i| send(url(i, "/v1/chat/completions"), hello()))).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        20,
        "{statuses:?}"
    );

    // Tokens per minute, across both servers: "Say hello" is counted as 12 tokens when admitted
    // (29 once answered, which only leaves less room), so 60 admit exactly five.
    limit_key(
        &app,
        &tenant,
        Limits {
            tokens_per_minute: Some(60),
            ..Limits::default()
        },
    )
    .await;
    assert!(
        crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
            let config = peer
                .state
                .directory
                .account(tenant.account_id)
                .await
                .unwrap();
            config
                .limits
                .keys
                .values()
                .any(|l| l.tokens_per_minute == Some(60))
        })
        .await
    );
    // This server evicted the account when the limit changed: load it before the burst, as the
    // peer has, so that neither server's requests wait on a load while the other's are answered
    // (an answer settles at 29 tokens and would leave room for fewer than five).
    app.state
        .directory
        .account(tenant.account_id)
        .await
        .unwrap();
    let statuses = join_all((0..30).map(|i| send(url(i, "/v1/chat/completions"), hello()))).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );

    // The organisation's budget, across both servers: never overspent.
    let budget_nanos = 20 * ACTUAL_NANOS;
    app.state
        .set_account_limits(
            tenant.account_id,
            &Limits {
                monthly_budget_usd: Some(budget_nanos as f64 / NANOS_PER_USD),
                ..Limits::default()
            },
        )
        .await
        .unwrap();
    app.state
        .set_key_limits(tenant.account_id, key_id, &Limits::default())
        .await
        .unwrap();
    peer.state.usage.flush().await;
    let spent_before = spent_nanos(&app, tenant.account_id).await;
    assert_eq!(spent_before, 15 * ACTUAL_NANOS);
    // Both servers see the change (the peer through the change journal) before the burst.
    assert!(
        crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
            let config = peer
                .state
                .directory
                .account(tenant.account_id)
                .await
                .unwrap();
            !config.limits.account.is_empty()
        })
        .await
    );
    let statuses =
        join_all((0..40).map(|i| send(url(i, "/v1/chat/completions"), sized_request()))).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    peer.state.usage.flush().await;
    let spent = spent_nanos(&app, tenant.account_id).await;
    assert!(spent <= budget_nanos, "spent {spent} of {budget_nanos}");
    assert!(statuses.contains(&429));
    let scope_spend = gateway::limits::ledger::spent_since(
        &app.state.db,
        Scope::Account(tenant.account_id),
        gateway::plans::month_bounds_utc(gateway::clock::now_ms()).0,
    )
    .await
    .unwrap();
    assert_eq!(scope_spend, spent);
}

/// `[limits.key]` in the configuration holds every key that sets no limits of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_default_limits_apply_to_keys_without_their_own() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.limits.key.requests_per_minute = Some(2);
    })
    .await;
    let tenant = app.tenant("defaults@example.com").await;
    away_from_a_minute_boundary().await;
    let statuses: Vec<u16> = join_all((0..3).map(|_| async {
        app.chat(Some(&tenant.key), &hello())
            .await
            .status()
            .as_u16()
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    // A key's own limits win over the default.
    limit_key(
        &app,
        &tenant,
        Limits {
            requests_per_minute: Some(100),
            ..Limits::default()
        },
    )
    .await;
    assert_eq!(app.chat(Some(&tenant.key), &hello()).await.status(), 200);
}

/// A streamed answer costs what its usage chunk says: it is priced in analytics and charged to
/// the budget (streams used to be recorded at $0, tokens and all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_answers_are_priced_and_charged_to_the_budget() {
    // Tokens per minute are counted per clock minute: a stream settled in the next minute no
    // longer counts in the one its answer's headers report. Start well inside a minute.
    let second = gateway::clock::now_ms() / 1000 % 60;
    if second > 50 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - second as u64)).await;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("stream-budget@example.com").await;
    let key_id = key_id(&app, tenant.account_id).await;
    app.state
        .set_key_limits(
            tenant.account_id,
            key_id,
            &Limits {
                monthly_budget_usd: Some(1.0),
                tokens_per_minute: Some(100_000),
                ..Limits::default()
            },
        )
        .await
        .unwrap();
    let mut body = sized_request();
    body["stream"] = json!(true);
    let response = app.chat(Some(&tenant.key), &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-limit-tokens"], "100000");
    let text = response.text().await.unwrap();
    assert!(text.contains("[DONE]"));
    // The stream's usage is recorded when the server drops it, just after its last bytes.
    let priced = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        spent_nanos(&app, tenant.account_id).await == ACTUAL_NANOS
    });
    assert!(priced.await, "the stream is priced at list price");
    // The next answer's headers count the stream's 29 tokens, not its estimate.
    let next = app.chat(Some(&tenant.key), &hello()).await;
    let remaining: u64 = next.headers()["x-ratelimit-remaining-tokens"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let hello_estimate = 24 / 4 + 3 + 3;
    assert_eq!(remaining, 100_000 - 29 - hello_estimate);
}
