//! Plans and Stripe billing: the monthly quota under concurrency, Free without streaming, key and
//! provider limits (and a downgrade), Checkout, the Billing Portal and signed webhooks against the
//! fake Stripe.

use futures::future::join_all;
use gateway::accounts::{self, AccountError, Plan};
use gateway::plans::Limit;
use serde_json::json;
use testkit::stripe::{FakeStripe, event, signature_header, unix_now};

use crate::helpers::{
    Backend, OPENAI_KEY, TestApp, expect_openai_error, hello, spawn_app, spawn_app_with,
};

crate::on_both_backends!(
    the_monthly_quota_is_exact_under_concurrency,
    free_does_not_stream,
    key_and_provider_limits_follow_the_plan,
    checkout_webhooks_and_the_billing_portal,
    webhooks_refuse_unsigned_forged_stale_and_replayed_events,
);

const STRIPE_KEY: &str = "sk_test_gateway";
const WEBHOOK_SECRET: &str = "whsec_gateway_test";
const PRICE_PRO: &str = "price_pro_monthly";
const PRICE_ENTERPRISE: &str = "price_enterprise_monthly";

async fn free_tenant(app: &TestApp, email: &str) -> (i32, String) {
    let account_id = app.create_account_on(email, Plan::Free).await;
    app.add_openai(account_id, OPENAI_KEY).await;
    let key = app.create_key(account_id).await;
    (account_id, key)
}

async fn the_monthly_quota_is_exact_under_concurrency(backend: Backend) {
    const LIMIT: u64 = 20;
    let app = spawn_app_with(backend, |config| {
        config.plans.free.requests_per_month = Limit(Some(LIMIT))
    })
    .await;
    let (account_id, key) = free_tenant(&app, "quota@example.com").await;

    let body = hello();
    let responses = join_all((0..50).map(|_| app.chat(Some(&key), &body))).await;
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    let refused: Vec<_> = responses
        .into_iter()
        .filter(|r| r.status() == 429)
        .collect();
    assert_eq!(
        (ok, refused.len()),
        (LIMIT as usize, 30),
        "no overshoot, nothing else"
    );
    let first = refused.into_iter().next().unwrap();
    let retry_after: i64 = first.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry_after > 0 && retry_after <= 31 * 86_400,
        "{retry_after}"
    );
    let error = expect_openai_error(first, 429).await;
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("insufficient_quota"), Some("monthly_quota_exceeded"))
    );
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("all 20 requests of the Free plan") && message.contains("resets on 20"),
        "{message}"
    );
    assert_eq!(
        app.fake_openai.requests().len(),
        LIMIT as usize,
        "refused requests never reach the provider"
    );

    // The count is rebuilt from the usage events: a fresh process refuses too.
    app.flush_usage().await;
    let month_start = gateway::plans::month_bounds_utc(gateway::clock::now_ms()).0;
    assert_eq!(
        accounts::count_requests(&app.state.db, account_id, month_start)
            .await
            .unwrap(),
        LIMIT
    );
    let restarted = gateway::quota::QuotaCounter::default();
    let limit = Limit(Some(LIMIT));
    assert!(
        restarted
            .admit(&app.state.db, account_id, limit)
            .await
            .unwrap()
            .is_err()
    );
    assert!(
        restarted
            .admit(&app.state.db, account_id, Limit(Some(LIMIT + 1)))
            .await
            .unwrap()
            .is_ok()
    );

    // An upgrade lifts the limit at once.
    app.state.set_plan(account_id, Plan::Pro).await.unwrap();
    assert_eq!(app.chat(Some(&key), &hello()).await.status(), 200);
}

async fn free_does_not_stream(backend: Backend) {
    let app = spawn_app(backend).await;
    let (account_id, key) = free_tenant(&app, "stream@example.com").await;
    let mut streaming = hello();
    streaming["stream"] = json!(true);
    let error = expect_openai_error(app.chat(Some(&key), &streaming).await, 403).await;
    assert_eq!(error["code"], "plan_does_not_include_streaming");
    assert_eq!(error["param"], "stream");
    assert!(
        error["message"].as_str().unwrap().contains("needs Pro"),
        "{error}"
    );
    assert!(app.fake_openai.requests().is_empty());
    assert_eq!(
        app.chat(Some(&key), &hello()).await.status(),
        200,
        "without stream it is served"
    );

    app.state.set_plan(account_id, Plan::Pro).await.unwrap();
    let response = app.chat(Some(&key), &streaming).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().ends_with("data: [DONE]\n\n"));
}

async fn key_and_provider_limits_follow_the_plan(backend: Backend) {
    let app = spawn_app(backend).await;
    let plans = &app.state.settings.plans;
    let (account_id, first_key) = free_tenant(&app, "limits@example.com").await;
    let second_key = app.create_key(account_id).await;
    let third = accounts::create_gateway_key(&app.state.db, plans, account_id, "third").await;
    let Err(AccountError::PlanLimit(message)) = third else {
        panic!("a third key on Free must be refused")
    };
    assert!(
        message
            .to_string()
            .contains("Free plan includes 2 gateway keys"),
        "{message}"
    );

    let base = app.fake_openai.base_url_for("anthropic");
    accounts::add_provider(
        &app.state.db,
        plans,
        &app.state.master_key,
        &app.state.settings.egress,
        account_id,
        "anthropic",
        OPENAI_KEY,
        Some(&base),
    )
    .await
    .unwrap();
    // Replacing a provider's key is not a new provider.
    accounts::add_provider(
        &app.state.db,
        plans,
        &app.state.master_key,
        &app.state.settings.egress,
        account_id,
        "openai",
        OPENAI_KEY,
        None,
    )
    .await
    .unwrap();
    let groq = app.fake_openai.base_url_for("groq");
    let Err(AccountError::PlanLimit(message)) = accounts::add_provider(
        &app.state.db,
        plans,
        &app.state.master_key,
        &app.state.settings.egress,
        account_id,
        "groq",
        OPENAI_KEY,
        Some(&groq),
    )
    .await
    else {
        panic!("a third provider on Free must be refused")
    };
    assert!(
        message
            .to_string()
            .contains("Free plan includes 2 providers"),
        "{message}"
    );

    // Pro: more keys and providers.
    accounts::set_plan(&app.state.db, account_id, Plan::Pro)
        .await
        .unwrap();
    let third_key = accounts::create_gateway_key(&app.state.db, plans, account_id, "third")
        .await
        .unwrap()
        .secret;
    app.state
        .add_provider(account_id, "groq", OPENAI_KEY, Some(&groq))
        .await
        .unwrap();
    assert_eq!(app.chat(Some(&third_key), &json!({"model": "groq/llama-3.1-8b-instant", "messages": [{"role": "user", "content": "hi"}]})).await.status(), 200);

    // A downgrade keeps everything but serves only what the plan includes: the oldest keys and
    // the first providers.
    app.state.set_plan(account_id, Plan::Free).await.unwrap();
    assert_eq!(
        accounts::list_gateway_keys(&app.state.db, account_id)
            .await
            .unwrap()
            .len(),
        3
    );
    for key in [&first_key, &second_key] {
        assert_eq!(app.chat(Some(key), &hello()).await.status(), 200);
    }
    let beyond = expect_openai_error(app.chat(Some(&third_key), &hello()).await, 403).await;
    assert_eq!(beyond["code"], "key_beyond_plan");
    let groq_request = json!({"model": "groq/llama-3.1-8b-instant", "messages": [{"role": "user", "content": "hi"}]});
    let unused = expect_openai_error(app.chat(Some(&first_key), &groq_request).await, 400).await;
    assert_eq!(unused["code"], "provider_not_configured");
}

/// An app with billing on, pointed at a fake Stripe that delivers to it.
async fn billed_app(backend: Backend) -> (TestApp, FakeStripe) {
    let stripe = FakeStripe::start(STRIPE_KEY).await.unwrap();
    let api_base = stripe.base_url();
    let app = spawn_app_with(backend, |config| {
        config.stripe_secret_key = Some(STRIPE_KEY.into());
        config.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
        config.stripe_price_pro = Some(PRICE_PRO.into());
        config.stripe_price_enterprise = Some(PRICE_ENTERPRISE.into());
        config.stripe_api_base = api_base;
    })
    .await;
    stripe.set_webhook(&app.url("/webhooks/stripe"), WEBHOOK_SECRET);
    (app, stripe)
}

async fn plan_of(app: &TestApp, account_id: i32) -> gateway::entities::account::Model {
    accounts::account_by_id(&app.state.db, account_id)
        .await
        .unwrap()
        .unwrap()
}

async fn checkout_webhooks_and_the_billing_portal(backend: Backend) {
    let (app, stripe) = billed_app(backend).await;
    let (account_id, key) = free_tenant(&app, "buyer@example.com").await;
    let billing = app.state.billing.clone().expect("billing is on");
    let account = plan_of(&app, account_id).await;

    let url = billing
        .checkout_url(&app.state.db, &account, Plan::Pro, "http://portal.example")
        .await
        .unwrap();
    assert!(
        url.starts_with(&stripe.base_url()) && url.contains("/checkout/cs_test_"),
        "{url}"
    );
    let calls = stripe.calls();
    assert_eq!(
        calls.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
        ["/v1/customers", "/v1/checkout/sessions"]
    );
    assert_eq!(calls[0].field("email"), Some("buyer@example.com"));
    assert_eq!(
        calls[0].field("metadata[account_id]"),
        Some(account_id.to_string().as_str())
    );
    let session = &calls[1];
    assert_eq!(session.field("mode"), Some("subscription"));
    assert_eq!(session.field("line_items[0][price]"), Some(PRICE_PRO));
    assert_eq!(
        session.field("client_reference_id"),
        Some(account_id.to_string().as_str())
    );
    assert_eq!(
        session.field("success_url"),
        Some("http://portal.example/billing/success?session_id={CHECKOUT_SESSION_ID}")
    );
    assert_eq!(
        session.field("cancel_url"),
        Some("http://portal.example/billing/cancel")
    );
    assert!(
        session
            .field("customer")
            .is_some_and(|c| c.starts_with("cus_"))
    );
    assert!(
        calls
            .iter()
            .all(|c| c.idempotency_key.is_some()
                && c.stripe_version.as_deref() == Some("2023-10-16"))
    );
    let customer = plan_of(&app, account_id)
        .await
        .stripe_customer_id
        .expect("the customer is remembered");

    // Paying on the hosted page: Stripe sends the events, and the plan is Pro at once.
    let paid = app.http.post(url.clone() + "/pay").send().await.unwrap();
    assert_eq!(paid.status(), 303);
    assert!(
        paid.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("http://portal.example/billing/success?session_id=cs_test_")
    );
    let account = plan_of(&app, account_id).await;
    assert_eq!(account.plan, "pro");
    assert_eq!(account.billing_status.as_deref(), Some("active"));
    assert!(
        account
            .stripe_subscription_id
            .as_deref()
            .is_some_and(|s| s.starts_with("sub_"))
    );
    let mut streaming = hello();
    streaming["stream"] = json!(true);
    assert_eq!(
        app.chat(Some(&key), &streaming).await.status(),
        200,
        "Pro streams"
    );

    // The Billing Portal: cancelling keeps Pro until the period ends.
    let portal = billing
        .portal_url(&account, "http://portal.example/billing")
        .await
        .unwrap();
    assert_eq!(
        stripe.calls().last().unwrap().field("customer"),
        Some(customer.as_str())
    );
    let cancelled = app.http.post(portal + "/cancel").send().await.unwrap();
    assert_eq!(
        cancelled.headers()["location"],
        "http://portal.example/billing"
    );
    let account = plan_of(&app, account_id).await;
    assert_eq!(account.plan, "pro");
    assert!(
        account.cancel_at_period_end
            && account
                .current_period_end
                .is_some_and(|end| end > gateway::clock::now_ms())
    );

    // The period ends: Stripe deletes the subscription, the plan drops to Free.
    let subscription = stripe.subscription(&customer, PRICE_PRO, "canceled", json!({}));
    assert_eq!(
        stripe
            .send_event("customer.subscription.deleted", subscription)
            .await,
        200
    );
    let account = plan_of(&app, account_id).await;
    assert_eq!(
        (account.plan.as_str(), account.stripe_subscription_id),
        ("free", None)
    );
    assert_eq!(
        expect_openai_error(app.chat(Some(&key), &streaming).await, 403).await["code"],
        "plan_does_not_include_streaming"
    );

    // A new subscription (Enterprise), then a failed renewal payment: the plan stays while Stripe
    // retries (past_due), and goes when Stripe gives up (unpaid).
    let enterprise = stripe.subscription(&customer, PRICE_ENTERPRISE, "active", json!({}));
    let subscription_id = enterprise["id"].as_str().unwrap().to_owned();
    assert_eq!(
        stripe
            .send_event("customer.subscription.created", enterprise)
            .await,
        200
    );
    assert_eq!(plan_of(&app, account_id).await.plan, "enterprise");
    let invoice = stripe.invoice_payment_failed(&customer, &subscription_id);
    assert_eq!(
        stripe.send_event("invoice.payment_failed", invoice).await,
        200
    );
    let account = plan_of(&app, account_id).await;
    assert_eq!(
        (account.plan.as_str(), account.billing_status.as_deref()),
        ("enterprise", Some("payment_failed"))
    );
    let past_due = stripe.subscription(&customer, PRICE_ENTERPRISE, "past_due", json!({}));
    let mut past_due_same = past_due.clone();
    past_due_same["id"] = json!(subscription_id.clone());
    assert_eq!(
        stripe
            .send_event("customer.subscription.updated", past_due_same.clone())
            .await,
        200
    );
    let account = plan_of(&app, account_id).await;
    assert_eq!(
        (account.plan.as_str(), account.billing_status.as_deref()),
        ("enterprise", Some("past_due"))
    );
    assert_eq!(
        app.chat(Some(&key), &streaming).await.status(),
        200,
        "still served in the grace period"
    );
    let mut unpaid = past_due_same;
    unpaid["status"] = json!("unpaid");
    assert_eq!(
        stripe
            .send_event("customer.subscription.updated", unpaid)
            .await,
        200
    );
    let account = plan_of(&app, account_id).await;
    assert_eq!(
        (account.plan.as_str(), account.billing_status.as_deref()),
        ("free", Some("unpaid"))
    );
    assert_eq!(
        expect_openai_error(app.chat(Some(&key), &streaming).await, 403).await["code"],
        "plan_does_not_include_streaming"
    );

    // A subscription whose price this installation does not know (rotated in Stripe, mistyped
    // in the configuration) leaves the plan as it is, instead of dropping a paying account.
    accounts::set_plan(&app.state.db, account_id, Plan::Pro)
        .await
        .unwrap();
    let rotated = stripe.subscription(&customer, "price_rotated_unknown", "active", json!({}));
    assert_eq!(
        stripe
            .send_event("customer.subscription.updated", rotated)
            .await,
        200
    );
    assert_eq!(plan_of(&app, account_id).await.plan, "pro");
}

async fn deliver(app: &TestApp, payload: &str, signature: Option<String>) -> (u16, String) {
    let mut request = app
        .http
        .post(app.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(payload.to_owned());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn webhooks_refuse_unsigned_forged_stale_and_replayed_events(backend: Backend) {
    let (app, stripe) = billed_app(backend).await;
    let (account_id, _) = free_tenant(&app, "events@example.com").await;
    let subscription = stripe.subscription(
        "cus_events",
        PRICE_PRO,
        "active",
        json!({"account_id": account_id.to_string()}),
    );
    let now = unix_now();
    let payload = event(
        "evt_upgrade",
        "customer.subscription.created",
        now,
        subscription.clone(),
    )
    .to_string();

    let refused = [
        deliver(&app, &payload, None).await,
        deliver(
            &app,
            &payload,
            Some(signature_header(payload.as_bytes(), "whsec_forged", now)),
        )
        .await,
        deliver(
            &app,
            &payload,
            Some(signature_header(
                payload.as_bytes(),
                WEBHOOK_SECRET,
                now - 600,
            )),
        )
        .await,
        deliver(
            &app,
            &payload.replace("evt_upgrade", "evt_tampered"),
            Some(signature_header(payload.as_bytes(), WEBHOOK_SECRET, now)),
        )
        .await,
        deliver(&app, &payload, Some("t=abc,v1=zz".into())).await,
    ];
    for (status, body) in &refused {
        assert_eq!(*status, 400, "{body}");
    }
    assert_eq!(
        plan_of(&app, account_id).await.plan,
        "free",
        "nothing applied"
    );

    let signed = || {
        Some(signature_header(
            payload.as_bytes(),
            WEBHOOK_SECRET,
            unix_now(),
        ))
    };
    let (status, body) = deliver(&app, &payload, signed()).await;
    assert_eq!(
        (status, body.contains("applied: plan pro")),
        (200, true),
        "{body}"
    );
    assert_eq!(
        plan_of(&app, account_id)
            .await
            .stripe_customer_id
            .as_deref(),
        Some("cus_events")
    );

    // A replay of the same event id does nothing, even after the plan changed since.
    accounts::set_plan(&app.state.db, account_id, Plan::Enterprise)
        .await
        .unwrap();
    let (status, body) = deliver(&app, &payload, signed()).await;
    assert_eq!(
        (status, body.contains("already handled")),
        (200, true),
        "{body}"
    );
    assert_eq!(plan_of(&app, account_id).await.plan, "enterprise");

    // An older event arriving late is ignored; events that change no plan are acknowledged.
    let mut late = subscription.clone();
    late["status"] = json!("past_due");
    let late = event("evt_late", "customer.subscription.updated", now - 60, late).to_string();
    let (status, body) = deliver(
        &app,
        &late,
        Some(signature_header(
            late.as_bytes(),
            WEBHOOK_SECRET,
            unix_now(),
        )),
    )
    .await;
    assert_eq!((status, body.contains("older than")), (200, true), "{body}");
    assert_eq!(plan_of(&app, account_id).await.plan, "enterprise");
    let other = event(
        "evt_other",
        "invoice.paid",
        now,
        json!({"customer": "cus_events"}),
    )
    .to_string();
    let (status, _) = deliver(
        &app,
        &other,
        Some(signature_header(
            other.as_bytes(),
            WEBHOOK_SECRET,
            unix_now(),
        )),
    )
    .await;
    assert_eq!(status, 200);
    let malformed = r#"{"not": "an event"}"#;
    let (status, _) = deliver(
        &app,
        malformed,
        Some(signature_header(
            malformed.as_bytes(),
            WEBHOOK_SECRET,
            unix_now(),
        )),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn without_stripe_the_webhook_is_off() {
    let app = spawn_app(Backend::Sqlite).await;
    assert!(app.state.billing.is_none());
    let (status, _) = deliver(
        &app,
        "{}",
        Some(signature_header(b"{}", WEBHOOK_SECRET, unix_now())),
    )
    .await;
    assert_eq!(status, 404);
}

/// Two servers on one database and one Redis share the monthly count: together they serve the
/// limit exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_sharing_redis_share_the_quota_exactly() {
    const LIMIT: u64 = 20;
    let prefix = format!(
        "gw-quota-test-{}-{}",
        std::process::id(),
        gateway::clock::now_ms()
    );
    let shared = |config: &mut server::config::Config| {
        config.plans.free.requests_per_month = Limit(Some(LIMIT));
        config.redis_url = Some("redis://127.0.0.1:6379".into());
        config.redis_key_prefix = prefix.clone();
    };
    let app = spawn_app_with(Backend::Postgres, shared).await;
    let peer = app.spawn_peer(|_| {}).await;
    assert!(app.state.quota.is_shared() && peer.state.quota.is_shared());
    let (_, key) = free_tenant(&app, "shared@example.com").await;
    // Five requests through the first server; then forty spread over both, at once.
    for _ in 0..5 {
        assert_eq!(app.chat(Some(&key), &hello()).await.status(), 200);
    }

    let body = hello();
    let send = |url: String| {
        let http = app.http.clone();
        let key = key.clone();
        let body = body.clone();
        async move {
            http.post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let requests = (0..40).map(|i| {
        let url = if i % 2 == 0 {
            app.url("/v1/chat/completions")
        } else {
            peer.url("/v1/chat/completions")
        };
        send(url)
    });
    let statuses = join_all(requests).await;
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(served as u64, LIMIT - 5, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count() as u64,
        40 - (LIMIT - 5)
    );
    assert_eq!(app.fake_openai.requests().len() as u64, LIMIT);
}

/// A TCP relay to the Redis on 127.0.0.1:6379 that can stop passing bytes, keeping its
/// connections open: a Redis that hangs rather than one that is down.
struct StallingRedis {
    port: u16,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StallingRedis {
    async fn start() -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stalled.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect("127.0.0.1:6379").await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                for (mut from, mut to, flag) in [
                    (
                        Box::new(client_read) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                        Box::new(server_write) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                        flag.clone(),
                    ),
                    (Box::new(server_read), Box::new(client_write), flag.clone()),
                ] {
                    tokio::spawn(async move {
                        let mut buffer = vec![0u8; 16 * 1024];
                        while let Ok(read) = from.read(&mut buffer).await {
                            if read == 0 {
                                break;
                            }
                            while flag.load(Ordering::SeqCst) {
                                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                            }
                            if to.write_all(&buffer[..read]).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            }
        });
        Self { port, stalled }
    }

    fn stall(&self, stalled: bool) {
        self.stalled
            .store(stalled, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A Redis that stops answering must not hang `/v1`: the quota check gives up after its timeout
/// and counts on this server alone, and the shared count resumes when Redis answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_never_hangs_requests() {
    let redis = StallingRedis::start().await;
    let prefix = format!(
        "gw-stall-test-{}-{}",
        std::process::id(),
        gateway::clock::now_ms()
    );
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.redis_url = Some(format!("redis://127.0.0.1:{}", redis.port));
        config.redis_key_prefix = prefix.clone();
    })
    .await;
    assert!(app.state.quota.is_shared());
    let (_, key) = free_tenant(&app, "stall@example.com").await;
    assert_eq!(app.chat(Some(&key), &hello()).await.status(), 200);

    let ready = |app: &TestApp| {
        let request = app.http.get(app.url("/readyz"));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, readiness) = ready(&app).await;
    assert_eq!(status, 200, "{readiness}");
    assert_eq!(readiness["redis"], "ok");

    redis.stall(true);
    // Not ready while Redis does not answer (in about a second), alive all the same.
    let (status, readiness) = ready(&app).await;
    assert_eq!(status, 503, "{readiness}");
    assert_eq!(
        (readiness["redis"].as_str(), readiness["database"].as_str()),
        (Some("unreachable"), Some("ok"))
    );
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for _ in 0..3 {
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            app.chat(Some(&key), &hello()),
        )
        .await
        .expect("a request with Redis stalled is answered, not hung");
        assert_eq!(answer.status(), 200);
    }

    redis.stall(false);
    // What the relay held back reaches Redis late; then each request counts there again.
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "one shared count: {keys:?}");
    let connection_for_count = connection.clone();
    let count_key = keys[0].clone();
    let count = || {
        let mut connection = connection_for_count.clone();
        let key = count_key.clone();
        async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<i64>(&mut connection)
                .await
                .unwrap()
        }
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = count().await;
    assert_eq!(app.chat(Some(&key), &hello()).await.status(), 200);
    assert_eq!(count().await, before + 1, "the shared count resumed");
    let _: () = redis::cmd("DEL")
        .arg(keys)
        .query_async(&mut connection)
        .await
        .unwrap();
}

/// The Plan page shows what each plan costs, read from Stripe's prices and kept (a page view
/// does not wait for Stripe each time); a price Stripe does not know shows as unknown and the
/// page still works; without Stripe there are no prices to show.
#[tokio::test]
async fn the_plan_page_shows_the_prices_stripe_has() {
    use testkit::stripe_prices::FakePrice;
    let (app, stripe) = billed_app(Backend::Sqlite).await;
    stripe.add_price(FakePrice {
        id: PRICE_PRO.into(),
        unit_amount: 2000,
        currency: "usd".into(),
        interval: "month".into(),
    });
    let browser = crate::portal::Browser::new(&app);
    browser.sign_up("buyer@example.com").await;
    let prices = || async {
        let overview = browser.post_form("billing_overview", &[]).await;
        assert_eq!(overview.status(), 200);
        let overview: serde_json::Value = overview.json().await.unwrap();
        overview["plans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|plan| {
                (
                    plan["id"].as_str().unwrap().to_owned(),
                    plan["price"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let shown = prices().await;
    assert_eq!(
        shown,
        [
            (
                "free".to_owned(),
                json!({"unit_amount": 0, "currency": "usd", "interval": null})
            ),
            (
                "pro".to_owned(),
                json!({"unit_amount": 2000, "currency": "usd", "interval": "month"})
            ),
            // Stripe answered 404 for the Enterprise price: no price rather than a wrong one.
            ("enterprise".to_owned(), json!(null)),
        ]
    );
    let page = browser.get("/billing").await.text().await.unwrap();
    assert!(page.contains("$20 / month"), "{page}");
    // Read once, then kept: a price put on sale now shows when the kept prices are read again
    // (a minute later, as one was missing), not on this page view.
    stripe.add_price(FakePrice {
        id: PRICE_ENTERPRISE.into(),
        unit_amount: 50000,
        currency: "usd".into(),
        interval: "month".into(),
    });
    assert_eq!(prices().await, shown);

    let unbilled = spawn_app(Backend::Sqlite).await;
    let browser = crate::portal::Browser::new(&unbilled);
    browser.sign_up("selfhost@example.com").await;
    let overview: serde_json::Value = browser
        .post_form("billing_overview", &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(
        overview["plans"]
            .as_array()
            .unwrap()
            .iter()
            .all(|plan| plan["price"].is_null()),
        "{overview}"
    );
}
