//! `/v1/chat/completions` end to end: keys, errors, upstream mapping, usage, caching, isolation.

use std::time::Duration;

use gateway::accounts;
use gateway::entities::{gateway_key, usage_event};
use gateway::sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, OPENAI_KEY, eventually, expect_openai_error, hello, spawn_app, spawn_app_with,
};

crate::on_both_backends!(
    answers_with_the_providers_completion,
    refuses_missing_malformed_unknown_and_revoked_keys,
    bad_bodies_are_400_in_openai_shape,
    an_account_without_provider_gets_a_clear_error,
    upstream_errors_keep_their_meaning,
    records_metadata_only_usage,
    queued_usage_is_written_on_shutdown,
    keys_are_served_from_memory_after_first_use,
    a_burst_of_first_requests_loads_the_key_and_account_once,
    a_load_overtaken_by_an_eviction_is_used_once_not_kept,
    revocation_in_the_portal_bites_at_once,
    revocation_by_another_process_bites_within_seconds,
    revocation_by_a_process_whose_clock_is_behind_still_bites,
    tenants_never_share_provider_keys,
    auto_routes_by_difficulty_and_records_the_saving,
    the_semantic_router_tells_chit_chat_from_hard_maths_and_code,
    without_its_model_the_router_falls_back_and_says_so,
    metrics_show_the_gateways_overhead_without_the_providers_time,
);

async fn answers_with_the_providers_completion(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;

    let response = app.chat(Some(&tenant.key), &hello()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-gateway-model"], "openai/gpt-4o-mini");
    assert_eq!(response.headers()["x-gateway-provider"], "openai");
    assert_eq!(
        response.headers()["x-gateway-route-reason"],
        "pinned: requested model"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from the fake OpenAI server."
    );
    assert_eq!(body["usage"]["total_tokens"], 29);

    let sent = app.fake_openai.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].authorization(),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(sent[0].body["model"], "gpt-4o-mini");
    assert_eq!(sent[0].body["messages"][0]["content"], "Say hello");

    // `auto` and no model at all are routed among the account's models.
    for body in [
        json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
        json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 0.3}),
    ] {
        let response = app.chat(Some(&tenant.key), &body).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["x-gateway-route-reason"]
                .to_str()
                .unwrap()
                .starts_with("auto")
        );
        assert!(
            response.headers()["x-gateway-model"]
                .to_str()
                .unwrap()
                .starts_with("openai/")
        );
    }
    let last = app.fake_openai.requests().pop().unwrap();
    assert_eq!(
        last.body["temperature"], 0.3,
        "unknown parameters are forwarded"
    );
}

async fn refuses_missing_malformed_unknown_and_revoked_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;

    let missing = expect_openai_error(app.chat(None, &hello()).await, 401).await;
    assert_eq!(missing["code"], "missing_api_key");

    let malformed = app
        .http
        .post(app.url("/v1/chat/completions"))
        .header("Authorization", "Token abc")
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_openai_error(malformed, 401).await["code"],
        "invalid_api_key"
    );

    let not_a_key =
        expect_openai_error(app.chat(Some("sk-not-a-gateway-key"), &hello()).await, 401).await;
    assert_eq!(not_a_key["code"], "invalid_api_key");

    let unknown_key = gateway::crypto::generate_gateway_key();
    let unknown = expect_openai_error(app.chat(Some(&unknown_key), &hello()).await, 401).await;
    assert_eq!(unknown["code"], "invalid_api_key");

    let key = accounts::find_key_by_prefix(&app.state.db, tenant.account_id, &tenant.key)
        .await
        .unwrap();
    app.state
        .revoke_gateway_key(tenant.account_id, key.id)
        .await
        .unwrap();
    let revoked = expect_openai_error(app.chat(Some(&tenant.key), &hello()).await, 401).await;
    assert_eq!(revoked["code"], "revoked_api_key");

    // A wrong secret behind another tenant's key prefix: refused like any unknown key.
    let other = app.tenant("eve@example.com").await;
    let forged = format!(
        "{}{}",
        &other.key[..gateway::crypto::GATEWAY_KEY_SHOWN_LEN],
        &unknown_key[gateway::crypto::GATEWAY_KEY_SHOWN_LEN..]
    );
    let forged = expect_openai_error(app.chat(Some(&forged), &hello()).await, 401).await;
    assert_eq!(forged["code"], "invalid_api_key");
    assert_eq!(
        forged["message"], unknown["message"],
        "nothing tells it apart"
    );

    assert!(
        app.fake_openai.requests().is_empty(),
        "nothing reached the provider"
    );
    // The refusals that name a key of an account are in that account's request log, under the
    // key; the others belong to no account and are nowhere.
    app.flush_usage().await;
    let filed = |account_id: i32| {
        let db = app.state.db.clone();
        async move {
            usage_event::Entity::find()
                .filter(usage_event::Column::AccountId.eq(account_id))
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|event| (event.key_id, event.status, event.error_code, event.counted))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        filed(tenant.account_id).await,
        [(Some(key.id), 401, Some("revoked_api_key".into()), false)]
    );
    let other_key = accounts::find_key_by_prefix(&app.state.db, other.account_id, &other.key)
        .await
        .unwrap();
    assert_eq!(
        filed(other.account_id).await,
        [(
            Some(other_key.id),
            401,
            Some("invalid_api_key".into()),
            false
        )]
    );
    assert_eq!(
        usage_event::Entity::find()
            .all(&app.state.db)
            .await
            .unwrap()
            .len(),
        2
    );
    // A refused key was not used: its "last used" does not move.
    let other_key = accounts::find_key_by_prefix(&app.state.db, other.account_id, &other.key)
        .await
        .unwrap();
    assert_eq!(other_key.last_used_at, None);
}

async fn bad_bodies_are_400_in_openai_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;
    let post_raw = |body: &'static str| {
        app.http
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&tenant.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let error = expect_openai_error(
        post_raw("{\"model\": \"gpt-4o\", \"messages\": [")
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(error["code"], "invalid_json");

    let error = expect_openai_error(
        app.chat(Some(&tenant.key), &json!({"model": "gpt-4o"}))
            .await,
        400,
    )
    .await;
    assert_eq!(error["param"], "messages");
    assert_eq!(error["code"], "missing_required_parameter");

    let error = expect_openai_error(
        app.chat(
            Some(&tenant.key),
            &json!({"model": "gpt-4o", "messages": [{"content": "no role"}]}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(error["param"], "messages[0].role");

    let error = expect_openai_error(
        app.chat(
            Some(&tenant.key),
            &json!({"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(error["code"], "model_not_found");

    let text = app
        .http
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&tenant.key)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    expect_openai_error(text, 415).await;

    let unknown = app
        .http
        .get(app.url("/v1/nothing-here"))
        .bearer_auth(&tenant.key)
        .send()
        .await
        .unwrap();
    expect_openai_error(unknown, 404).await;

    assert!(
        app.fake_openai.requests().is_empty(),
        "bad requests are not forwarded"
    );
}

async fn an_account_without_provider_gets_a_clear_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let account_id = app.create_account("ada@example.com").await;
    let key = app.create_key(account_id).await;
    let error = expect_openai_error(app.chat(Some(&key), &hello()).await, 400).await;
    assert_eq!(error["code"], "provider_not_configured");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("No provider is configured")
    );
}

async fn upstream_errors_keep_their_meaning(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;
    let with_model =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "x"}]});

    let response = app
        .chat(Some(&tenant.key), &with_model("openai/fake-error-429"))
        .await;
    assert_eq!(response.headers()["retry-after"], "20");
    let error = expect_openai_error(response, 429).await;
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("openai: Rate limit reached")
    );

    let error = expect_openai_error(
        app.chat(Some(&tenant.key), &with_model("openai/fake-error-500"))
            .await,
        502,
    )
    .await;
    assert_eq!(error["type"], "server_error");

    let error = expect_openai_error(
        app.chat(Some(&tenant.key), &with_model("openai/fake-missing-model"))
            .await,
        404,
    )
    .await;
    assert_eq!(error["code"], "model_not_found");

    let error = expect_openai_error(
        app.chat(Some(&tenant.key), &with_model("openai/fake-garbage"))
            .await,
        502,
    )
    .await;
    assert_eq!(error["code"], "upstream_invalid_response");

    // A provider key the provider refuses: its 401 comes back as such, without our key's details.
    let other = app.create_account("bob@example.com").await;
    app.add_openai(other, "sk-wrong-key-for-this-provider")
        .await;
    let other_key = app.create_key(other).await;
    let error = expect_openai_error(app.chat(Some(&other_key), &hello()).await, 401).await;
    assert_eq!(error["code"], "invalid_api_key");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("openai: Incorrect API key")
    );

    // An unreachable provider is a 502.
    let unreachable = app.create_account("carol@example.com").await;
    accounts::add_provider(
        &app.state.db,
        &app.state.settings.plans,
        &app.state.master_key,
        &app.state.settings.egress,
        unreachable,
        "openai",
        OPENAI_KEY,
        Some("http://127.0.0.1:9/v1"),
    )
    .await
    .unwrap();
    let unreachable_key = app.create_key(unreachable).await;
    let error = expect_openai_error(app.chat(Some(&unreachable_key), &hello()).await, 502).await;
    assert_eq!(error["code"], "upstream_unreachable");
    assert!(!error["message"].as_str().unwrap().contains(OPENAI_KEY));
}

async fn records_metadata_only_usage(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;
    assert_eq!(app.chat(Some(&tenant.key), &hello()).await.status(), 200);
    let failed =
        json!({"model": "openai/fake-error-429", "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(app.chat(Some(&tenant.key), &failed).await.status(), 429);
    app.flush_usage().await;

    let events = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(tenant.account_id))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    let ok = events
        .iter()
        .find(|e| e.status == 200)
        .expect("the successful request");
    assert_eq!(
        (ok.provider.as_str(), ok.model.as_str()),
        ("openai", "gpt-4o-mini")
    );
    assert_eq!((ok.prompt_tokens, ok.completion_tokens), (19, 10));
    assert!(ok.key_id.is_some() && ok.created_at > 0 && ok.latency_ms >= 0);
    let limited = events
        .iter()
        .find(|e| e.status == 429)
        .expect("the rate-limited request");
    assert_eq!(limited.error_code.as_deref(), Some("rate_limit_exceeded"));

    let key = gateway_key::Entity::find_by_id(ok.key_id.unwrap())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert!(
        key.last_used_at.is_some(),
        "last use is written with the batch"
    );
}

async fn keys_are_served_from_memory_after_first_use(backend: Backend) {
    // The change watcher would evict the new account for a few seconds after its creation (it
    // looks back 3 poll intervals, to allow for clock skew between servers): turned off here so
    // that only the request path can reach the database.
    let app = spawn_app_with(backend, |config| config.account_change_poll_ms = 3_600_000).await;
    let tenant = app.tenant("ada@example.com").await;
    assert_eq!(app.chat(Some(&tenant.key), &hello()).await.status(), 200);

    // Remove the key row behind the server's back (without marking the account changed): only a
    // server that no longer asks the database keeps accepting it.
    gateway_key::Entity::delete_many()
        .filter(gateway_key::Column::AccountId.eq(tenant.account_id))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(app.chat(Some(&tenant.key), &hello()).await.status(), 200);

    // A key never seen before still goes to the database, and is refused.
    let other = app.tenant("bob@example.com").await;
    gateway_key::Entity::delete_many()
        .filter(gateway_key::Column::AccountId.eq(other.account_id))
        .exec(&app.state.db)
        .await
        .unwrap();
    expect_openai_error(app.chat(Some(&other.key), &hello()).await, 401).await;
}

/// A restart under load: every client's first request arrives at once. The key and its account
/// are loaded by one of them; the others wait for it rather than queue for the database.
async fn a_burst_of_first_requests_loads_the_key_and_account_once(backend: Backend) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use gateway::directory::Directory;

    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;
    // Two fresh directories on the app's database, each counting the queries it makes.
    let counted_directory = || {
        let queries = Arc::new(AtomicUsize::new(0));
        let mut db = app.state.db.clone();
        let counter = queries.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let directory =
            Directory::new(db, app.state.master_key.clone(), app.state.settings.clone());
        (directory, queries)
    };
    let (alone, alone_queries) = counted_directory();
    assert_eq!(first_use(&alone, &tenant.key).await, tenant.account_id);
    let one_load = alone_queries.load(Ordering::SeqCst);
    assert!(
        one_load >= 2,
        "a key and an account are read: {one_load} queries"
    );

    let (burst, burst_queries) = counted_directory();
    let served = futures::future::join_all((0..64).map(|_| first_use(&burst, &tenant.key))).await;
    assert!(served.iter().all(|id| *id == tenant.account_id));
    assert_eq!(
        burst_queries.load(Ordering::SeqCst),
        one_load,
        "64 first uses at once"
    );
    // And afterwards, from memory.
    first_use(&burst, &tenant.key).await;
    assert_eq!(burst_queries.load(Ordering::SeqCst), one_load);
}

/// An account that changes while its key is being loaded: the eviction lands between the load's
/// read and its caching. What the load read serves its own request but is not kept (kept, a key
/// revoked at that moment was served until the account's next change).
async fn a_load_overtaken_by_an_eviction_is_used_once_not_kept(backend: Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock, Weak};

    use gateway::directory::Directory;

    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;
    // A fresh directory whose first query is followed, once it has read, by an eviction of the
    // account: as if the account changed at that very moment.
    let racing: Arc<OnceLock<Weak<Directory>>> = Arc::default();
    let evicted = Arc::new(AtomicBool::new(false));
    let mut db = app.state.db.clone();
    {
        let (racing, evicted) = (racing.clone(), evicted.clone());
        let account_id = tenant.account_id;
        db.set_metric_callback(move |_| {
            if let Some(directory) = racing.get().and_then(Weak::upgrade)
                && !evicted.swap(true, Ordering::SeqCst)
            {
                directory.evict_account(account_id);
            }
        });
    }
    let directory = Arc::new(Directory::new(
        db,
        app.state.master_key.clone(),
        app.state.settings.clone(),
    ));
    racing.set(Arc::downgrade(&directory)).unwrap();
    assert_eq!(first_use(&directory, &tenant.key).await, tenant.account_id);
    assert!(evicted.load(Ordering::SeqCst), "the eviction came mid-load");

    // Removed from the database behind the directory's back, the key is refused at its next use:
    // the directory did not keep what it read before the eviction.
    gateway_key::Entity::delete_many()
        .filter(gateway_key::Column::AccountId.eq(tenant.account_id))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert!(
        directory.authenticate(&tenant.key).await.is_err(),
        "a key read before an eviction was cached"
    );
}

/// A key's first use: the key, then its account (what every `/v1` request asks the directory).
async fn first_use(directory: &gateway::directory::Directory, key: &str) -> i32 {
    let found = directory.authenticate(key).await.unwrap();
    directory
        .account(found.account_id)
        .await
        .unwrap()
        .account_id
}

async fn revocation_in_the_portal_bites_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;
    assert_eq!(app.chat(Some(&tenant.key), &hello()).await.status(), 200);
    let key = accounts::find_key_by_prefix(&app.state.db, tenant.account_id, &tenant.key[..12])
        .await
        .unwrap();
    app.state
        .revoke_gateway_key(tenant.account_id, key.id)
        .await
        .unwrap();
    expect_openai_error(app.chat(Some(&tenant.key), &hello()).await, 401).await;
}

async fn revocation_by_another_process_bites_within_seconds(backend: Backend) {
    revoke_in_another_process(backend, false).await;
}

/// The process that revoked the key has a clock an hour behind: its timestamps say the change is
/// old. Servers follow the database's change numbers, not timestamps, so it still bites.
async fn revocation_by_a_process_whose_clock_is_behind_still_bites(backend: Backend) {
    revoke_in_another_process(backend, true).await;
}

async fn revoke_in_another_process(backend: Backend, clock_behind: bool) {
    use gateway::entities::{account, account_change};
    use gateway::sea_orm::sea_query::Expr;
    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;
    assert_eq!(app.chat(Some(&tenant.key), &hello()).await.status(), 200);
    // As the CLI does it: in the database only, this server is not told.
    let key = accounts::find_key_by_prefix(&app.state.db, tenant.account_id, &tenant.key[..12])
        .await
        .unwrap();
    accounts::revoke_gateway_key(&app.state.db, tenant.account_id, key.id)
        .await
        .unwrap();
    if clock_behind {
        // What the slow clock would have written.
        let an_hour_ago = gateway::clock::now_ms() - 3_600_000;
        account::Entity::update_many()
            .col_expr(account::Column::UpdatedAt, Expr::value(an_hour_ago))
            .filter(account::Column::Id.eq(tenant.account_id))
            .exec(&app.state.db)
            .await
            .unwrap();
        account_change::Entity::update_many()
            .col_expr(account_change::Column::ChangedAt, Expr::value(an_hour_ago))
            .exec(&app.state.db)
            .await
            .unwrap();
    }
    let refused = eventually(Duration::from_secs(5), || async {
        app.chat(Some(&tenant.key), &hello()).await.status() == 401
    })
    .await;
    assert!(refused, "the change watcher evicts keys revoked elsewhere");
}

async fn tenants_never_share_provider_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.tenant("ada@example.com").await;
    let bob_id = app.create_account("bob@example.com").await;
    app.add_openai(bob_id, "sk-tenant-b-0123456789").await;
    let bob_key = app.create_key(bob_id).await;

    assert_eq!(app.chat(Some(&bob_key), &hello()).await.status(), 200);
    assert_eq!(app.chat(Some(&ada.key), &hello()).await.status(), 200);
    let sent: Vec<String> = app
        .fake_openai
        .requests()
        .into_iter()
        .filter_map(|r| r.credential)
        .collect();
    assert_eq!(
        sent,
        vec![
            "Bearer sk-tenant-b-0123456789".to_owned(),
            format!("Bearer {OPENAI_KEY}")
        ]
    );

    // Bob cannot revoke or even find Ada's key.
    let ada_key = accounts::find_key_by_prefix(&app.state.db, ada.account_id, &ada.key)
        .await
        .unwrap();
    assert!(
        accounts::revoke_gateway_key(&app.state.db, bob_id, ada_key.id)
            .await
            .is_err()
    );
    assert!(
        accounts::find_key_by_prefix(&app.state.db, bob_id, &ada.key)
            .await
            .is_err()
    );
    let ada_provider = accounts::list_providers(&app.state.db, ada.account_id)
        .await
        .unwrap()[0]
        .id;
    assert!(
        accounts::delete_provider(&app.state.db, bob_id, ada_provider)
            .await
            .is_err()
    );
    assert_eq!(app.chat(Some(&ada.key), &hello()).await.status(), 200);
}

async fn queued_usage_is_written_on_shutdown(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;
    for _ in 0..3 {
        assert_eq!(app.chat(Some(&tenant.key), &hello()).await.status(), 200);
    }
    // No flush: shutting down must write what is queued.
    app.shut_down().await;
    let written = accounts::count_requests(&app.state.db, tenant.account_id, 0)
        .await
        .unwrap();
    assert_eq!(written, 3);
}

async fn auto_routes_by_difficulty_and_records_the_saving(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;
    let simple = json!({"model": "auto", "messages": [{"role": "user", "content": "Thanks!"}]});
    let hard = json!({
        "model": "auto",
        "messages": [
            {"role": "system", "content": "You are an agent that plans multi-step data migrations and calls tools."},
            {"role": "user", "content": "Migrate the orders table."},
            {"role": "assistant", "content": "Which database?"},
            {"role": "user", "content": "PostgreSQL 15. Write the plan, then verify row counts."}
        ],
        "tools": [{"type": "function", "function": {"name": "run_sql"}}, {"type": "function", "function": {"name": "count_rows"}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "plan", "schema": {"type": "object"}}},
        "max_tokens": 4000
    });
    let simple_response = app.chat(Some(&tenant.key), &simple).await;
    let hard_response = app.chat(Some(&tenant.key), &hard).await;
    assert_eq!(
        (
            simple_response.status().as_u16(),
            hard_response.status().as_u16()
        ),
        (200, 200)
    );
    let tier = |r: &reqwest::Response| r.headers()["x-gateway-tier"].to_str().unwrap().to_owned();
    assert_eq!(
        tier(&simple_response),
        "cheap",
        "{:?}",
        simple_response.headers()
    );
    assert_eq!(
        tier(&hard_response),
        "strong",
        "{:?}",
        hard_response.headers()
    );
    assert_ne!(
        simple_response.headers()["x-gateway-model"],
        hard_response.headers()["x-gateway-model"]
    );

    // A pinned model is used exactly as asked, even for the hard request.
    let mut pinned = hard.clone();
    pinned["model"] = json!("gpt-4o-mini");
    let response = app.chat(Some(&tenant.key), &pinned).await;
    assert_eq!(response.headers()["x-gateway-model"], "openai/gpt-4o-mini");
    assert_eq!(
        app.fake_openai.requests().pop().unwrap().body["model"],
        "gpt-4o-mini"
    );

    // Usage records the tier, the baseline (the account's strongest model) and the saving.
    app.flush_usage().await;
    let events = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(tenant.account_id))
        .all(&app.state.db)
        .await
        .unwrap();
    // The routed ones (the pinned request's model is of the cheap tier too).
    let cheap = events
        .iter()
        .find(|e| e.tier.as_deref() == Some("cheap") && e.routed)
        .expect("the simple request");
    assert_eq!(cheap.baseline_model.as_deref(), Some("openai/gpt-4o"));
    assert!(cheap.cost_usd > 0.0 && cheap.saving_usd > 0.0, "{cheap:?}");
    let strong = events
        .iter()
        .find(|e| e.tier.as_deref() == Some("strong") && e.routed)
        .expect("the hard request");
    assert!(
        strong.saving_usd < cheap.saving_usd,
        "{strong:?} vs {cheap:?}"
    );
}

fn chit_chat() -> Value {
    json!({"model": "auto", "messages": [{"role": "user", "content": "Hi there! How are you doing today? Have a nice weekend."}]})
}

fn hard_maths_and_code() -> Value {
    json!({"model": "auto", "messages": [{"role": "user", "content":
        "Let f(x) = x^3 - 6x^2 + 11x - 6. Find all real roots, prove that f is strictly increasing on (3, infinity), \
         and compute the integral of f from 0 to 4. Then write a Python function that finds the roots of any cubic \
         polynomial numerically with Newton's method and analyse its convergence rate."}]})
}

async fn the_semantic_router_tells_chit_chat_from_hard_maths_and_code(backend: Backend) {
    let app = spawn_app(backend).await;
    assert!(
        app.state.router.is_semantic(),
        "{}",
        app.state.router.status()
    );
    let tenant = app.tenant("ada@example.com").await;
    let easy = app.chat(Some(&tenant.key), &chit_chat()).await;
    let hard = app.chat(Some(&tenant.key), &hard_maths_and_code()).await;
    assert_eq!((easy.status().as_u16(), hard.status().as_u16()), (200, 200));
    let header = |r: &reqwest::Response, name: &str| r.headers()[name].to_str().unwrap().to_owned();
    let (easy_tier, hard_tier) = (
        header(&easy, "x-gateway-tier"),
        header(&hard, "x-gateway-tier"),
    );
    assert_eq!(easy_tier, "cheap", "{:?}", easy.headers());
    assert_ne!(hard_tier, "cheap", "{:?}", hard.headers());
    assert_ne!(
        header(&easy, "x-gateway-model"),
        header(&hard, "x-gateway-model")
    );
    // The reason names the semantic signal and the score; it is recorded with the usage.
    let reason = header(&hard, "x-gateway-route-reason");
    assert!(
        reason.starts_with("auto: difficulty") && reason.contains("topic"),
        "{reason}"
    );
    app.flush_usage().await;
    let events = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(tenant.account_id))
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.route_reason.as_deref() == Some(reason.as_str())),
        "{events:?}"
    );
}

async fn without_its_model_the_router_falls_back_and_says_so(backend: Backend) {
    let empty = tempfile::tempdir().unwrap();
    let corrupt = tempfile::tempdir().unwrap();
    // The shipped table, cut short.
    let table =
        std::fs::read(gateway::routing::semantic::default_model_dir().join("embeddings.bin"))
            .unwrap();
    std::fs::write(
        corrupt.path().join("embeddings.bin"),
        &table[..table.len() / 2],
    )
    .unwrap();
    std::fs::copy(
        gateway::routing::semantic::default_model_dir().join("semantic.json"),
        corrupt.path().join("semantic.json"),
    )
    .unwrap();
    for (dir, problem) in [(empty.path(), "missing"), (corrupt.path(), "corrupt")] {
        let app = spawn_app_with(backend, |config| {
            config.router_model_dir = dir.to_path_buf()
        })
        .await;
        assert!(!app.state.router.is_semantic());
        assert!(
            app.state.router.status().contains(problem),
            "{}",
            app.state.router.status()
        );
        let tenant = app.tenant("ada@example.com").await;
        // Requests are still routed, by the surface classifier, and the reason says so.
        let response = app.chat(Some(&tenant.key), &chit_chat()).await;
        assert_eq!(response.status(), 200);
        let reason = response.headers()["x-gateway-route-reason"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            reason.starts_with("auto: semantic model unavailable, surface classifier: difficulty"),
            "{reason}"
        );
        assert_eq!(response.headers()["x-gateway-tier"], "cheap");
    }
}

/// The value of the `/metrics` line that starts with `series` (its name and labels).
fn metric(text: &str, series: &str) -> f64 {
    let Some(line) = text.lines().find(|line| line.starts_with(series)) else {
        panic!("no {series} in\n{text}");
    };
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn metrics_show_the_gateways_overhead_without_the_providers_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.tenant("ada@example.com").await;

    // The fake provider takes 3 s over this one: none of that is the gateway's.
    let started = std::time::Instant::now();
    let slow = json!({"model": "openai/fake-slow", "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(app.chat(Some(&tenant.key), &slow).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_secs(3));
    let mut streamed = hello();
    streamed["stream"] = json!(true);
    let response = app.chat(Some(&tenant.key), &streamed).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("data: [DONE]"));
    // A refused request is the gateway's work alone.
    assert_eq!(app.chat(Some("gw_wrong"), &hello()).await.status(), 401);

    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let name = "llm_gateway_overhead_seconds";
    let chat = r#"route="/v1/chat/completions""#;
    assert_eq!(
        metric(
            &text,
            &format!(r#"{name}_count{{{chat},streaming="false"}}"#)
        ),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            &format!(r#"{name}_count{{{chat},streaming="true"}}"#)
        ),
        1.0
    );
    // Well under the provider's 3 s, with room for a loaded machine: a full parallel run once
    // took 0.42 s over the two requests (the first request loads its account from PostgreSQL).
    assert!(
        metric(&text, &format!(r#"{name}_sum{{{chat},streaming="false"}}"#)) < 1.5,
        "the slow provider's 3 s were counted as overhead:\n{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!(r#"{name}_count{{route="/v1/embeddings",streaming="false"}}"#)
        ),
        0.0
    );
}

/// A provider whose base URL points back at the gateway, with a gateway key as its provider key:
/// each hop says how far the request has come, the fourth is refused with 508, and every hop
/// passes the 508 on without retrying, so the client gets a clear error after four calls instead
/// of an endless chain multiplied by retries.
/// A provider key stored straight in the database, past the checks `add_provider` makes (as
/// one stored before a check existed, or another gateway's key the check cannot know).
async fn store_provider_unchecked(
    app: &crate::helpers::TestApp,
    account_id: i32,
    provider: &str,
    base_url: &str,
    key: &str,
) {
    use gateway::sea_orm::Set;
    gateway::entities::provider_credential::ActiveModel {
        account_id: Set(account_id),
        provider: Set(provider.into()),
        base_url: Set(Some(base_url.into())),
        key_ciphertext: Set(app.state.master_key.encrypt(key.as_bytes())),
        key_hint: Set("gw_…".into()),
        created_at: Set(0),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_pointing_back_at_the_gateway_ends_after_a_few_hops() {
    let app = spawn_app(Backend::Sqlite).await;
    let account_id = app.create_account("loop@example.com").await;
    let key = app.create_key(account_id).await;
    // A gateway key is refused as a provider key: it is how a loop is made.
    let refused = app
        .state
        .add_provider(account_id, "anthropic", &key, Some(&app.url("")))
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        gateway::accounts::AccountError::ProviderKeyIsGatewayKey
    ));
    // One stored before that check (or another gateway's key that the check cannot know) still
    // ends after a few hops: the guard does not rely on the check.
    store_provider_unchecked(&app, account_id, "openai", &app.url("/v1"), &key).await;

    let response = app
        .chat(
            Some(&key),
            &json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let error = expect_openai_error(response, 508).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("has passed through 4 gateways"),
        "{error}"
    );

    app.flush_usage().await;
    let events = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 4, "one call per hop, none retried");

    // A client cannot smuggle its way past the limit either.
    let refused = app
        .http
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-llm-gateway-hops", "4")
        .json(&json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let error = expect_openai_error(refused, 508).await;
    assert_eq!(error["code"], "gateway_loop");

    // Through Anthropic's API too: every upstream call carries the hop count.
    store_provider_unchecked(&app, account_id, "anthropic", &app.url(""), &key).await;
    app.state.directory.evict_account(account_id);
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        app.chat(
            Some(&key),
            &json!({"model": "anthropic/claude-3-5-haiku-latest", "messages": [{"role": "user", "content": "hi"}]}),
        ),
    )
    .await
    .expect("the loop ends");
    let error = expect_openai_error(response, 508).await;
    assert!(
        error["message"].as_str().unwrap().contains("gateways"),
        "{error}"
    );
    // Counting tokens calls Anthropic too, outside the monthly quota: the same hop count ends it.
    let counted = tokio::time::timeout(
        Duration::from_secs(20),
        app.http
            .post(app.url("/v1/messages/count_tokens"))
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "anthropic/claude-3-5-haiku-latest", "messages": [{"role": "user", "content": "hi"}]}))
            .send(),
    )
    .await
    .expect("the loop ends")
    .unwrap();
    assert_eq!(counted.status(), 508);
    let error: serde_json::Value = counted.json().await.unwrap();
    assert_eq!(error["type"], "error", "Anthropic's error shape: {error}");
}
