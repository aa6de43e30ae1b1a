//! Savings a customer can believe (issue 32): measured against the baseline the account chose
//! (by default its first provider's flagship, not the dearest model it could reach), claimed only
//! where the gateway chose, never for a pinned or an unpriced model.

use gateway::analytics;
use gateway::routing::RoutingPolicy;
use serde_json::json;

use crate::helpers::{Backend, OPENAI_KEY, TestApp, spawn_app};

fn ask(model: &str) -> serde_json::Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Thanks!"}]})
}

async fn events(app: &TestApp, account_id: i32) -> Vec<gateway::entities::usage_event::Model> {
    app.flush_usage().await;
    analytics::events_since(&app.state.db, account_id, 0)
        .await
        .unwrap()
}

async fn month(app: &TestApp, account_id: i32) -> analytics::Totals {
    let now = gateway::clock::now_ms();
    analytics::report(
        &app.state.db,
        account_id,
        now - analytics::DAY_MS,
        now + 1,
        analytics::DAY_MS,
        &Default::default(),
    )
    .await
    .unwrap()
    .totals
}

#[tokio::test]
async fn adding_a_dearer_provider_does_not_inflate_the_baseline() {
    let app = spawn_app(Backend::Sqlite).await;
    let account_id = app.create_account("first@example.com").await;
    app.add_openai(account_id, OPENAI_KEY).await;
    // Anthropic added second: before, every baseline became claude-opus-4-0 (94 % "saved").
    app.state
        .add_provider(
            account_id,
            "anthropic",
            "sk-ant-second-provider-0123456789",
            None,
        )
        .await
        .unwrap();
    let key = app.create_key(account_id).await;
    assert_eq!(
        app.chat(Some(&key), &ask("openai/gpt-4o-mini"))
            .await
            .status(),
        200
    );
    let stored = events(&app, account_id).await;
    assert_eq!(stored[0].baseline_model.as_deref(), Some("openai/gpt-4o"));
    assert_eq!(
        stored[0].saving_usd, 0.0,
        "pinned: the gateway chose nothing"
    );
}

#[tokio::test]
async fn savings_are_claimed_only_where_the_gateway_chose() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("claims@example.com").await;
    for model in ["auto", "gpt-4o", "gpt-4o-mini", "openai/gpt-9-ultra"] {
        assert_eq!(
            app.chat(Some(&tenant.key), &ask(model)).await.status(),
            200,
            "{model}"
        );
    }
    let stored = events(&app, tenant.account_id).await;
    let by_model = |model: &str| stored.iter().find(|e| e.model == model).unwrap();
    let routed = stored.iter().find(|e| e.routed).expect("the auto request");
    assert!(routed.saving_usd > 0.0);
    assert!(
        (routed.saving_usd - (routed.baseline_cost_usd.unwrap() - routed.cost_usd)).abs() < 1e-15
    );
    for pinned in ["gpt-4o", "gpt-4o-mini"] {
        let event = by_model(pinned);
        assert!(!event.routed && event.saving_usd == 0.0, "{event:?}");
        assert!(
            event.baseline_cost_usd.is_some(),
            "the export still shows it"
        );
    }
    let unpriced = by_model("gpt-9-ultra");
    assert!(!unpriced.priced);
    assert_eq!((unpriced.cost_usd, unpriced.saving_usd), (0.0, 0.0));

    let totals = month(&app, tenant.account_id).await;
    assert_eq!(totals.requests, 4);
    assert_eq!(totals.saving_requests, 1, "{totals:?}");
    assert_eq!(totals.unpriced_requests, 1);
    assert!((totals.saving_usd - routed.saving_usd).abs() < 1e-15);
    assert!((totals.saving_base_usd - routed.baseline_cost_usd.unwrap()).abs() < 1e-15);
}

#[tokio::test]
async fn a_baseline_changed_mid_month_applies_from_then_on() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("changes@example.com").await;
    assert_eq!(
        app.chat(Some(&tenant.key), &ask("auto")).await.status(),
        200
    );
    let chosen = RoutingPolicy {
        baseline_model: Some("openai/gpt-4.1-mini".into()),
        ..Default::default()
    };
    app.state
        .set_account_routing_policy(tenant.account_id, &chosen)
        .await
        .unwrap();
    assert_eq!(
        app.chat(Some(&tenant.key), &ask("auto")).await.status(),
        200
    );
    let stored = events(&app, tenant.account_id).await;
    let baselines: Vec<_> = stored.iter().map(|e| e.baseline_model.clone()).collect();
    assert_eq!(
        baselines,
        [
            Some("openai/gpt-4o".into()),
            Some("openai/gpt-4.1-mini".into())
        ]
    );
    // Each request keeps the saving against its own baseline; the month adds them up.
    let totals = month(&app, tenant.account_id).await;
    let sum: f64 = stored.iter().map(|e| e.saving_usd).sum();
    assert!((totals.saving_usd - sum).abs() < 1e-15);
    assert!(
        stored[1].saving_usd < stored[0].saving_usd,
        "a cheaper baseline, a smaller saving"
    );

    // A baseline the catalog cannot price is refused with the field named.
    let unknown = RoutingPolicy {
        baseline_model: Some("openai/gpt-9-ultra".into()),
        ..Default::default()
    };
    assert!(unknown.validate().is_err());
}

#[tokio::test]
async fn a_cache_hit_saves_what_it_avoided() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("cached@example.com").await;
    let policy = RoutingPolicy {
        cache: Some(true),
        ..Default::default()
    };
    app.state
        .set_account_routing_policy(tenant.account_id, &policy)
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            app.chat(Some(&tenant.key), &ask("gpt-4o-mini"))
                .await
                .status(),
            200
        );
    }
    let stored = events(&app, tenant.account_id).await;
    let (miss, hit) = (&stored[0], &stored[1]);
    assert!(!miss.cache_hit && hit.cache_hit);
    assert_eq!(miss.saving_usd, 0.0, "pinned");
    assert_eq!(hit.cost_usd, 0.0);
    assert!(
        (hit.saving_usd - miss.cost_usd).abs() < 1e-15,
        "the served model's cost, not the baseline's: {hit:?}"
    );
}
