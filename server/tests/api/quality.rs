//! Quality checks on the account's own traffic (issue 32): sampled `auto` answers re-asked of the
//! baseline after the client has its answer, graded by a judge (the fake provider plays both),
//! and nothing but the verdict stored.

use std::time::Duration;

use gateway::entities::{quality_verdict, usage_event};
use gateway::routing::RoutingPolicy;
use gateway::routing::policy::QualityChecks;
use gateway::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{Backend, Tenant, TestApp, eventually, spawn_app};

async fn with_checks(app: &TestApp, email: &str, sample_rate: f64, budget: f64) -> Tenant {
    with_target(app, email, sample_rate, budget, None).await
}

async fn with_target(
    app: &TestApp,
    email: &str,
    sample_rate: f64,
    budget: f64,
    target_adequacy: Option<f64>,
) -> Tenant {
    let tenant = app.tenant(email).await;
    let policy = RoutingPolicy {
        quality_checks: Some(QualityChecks {
            sample_rate,
            judge_model: None,
            monthly_budget_usd: budget,
            target_adequacy,
        }),
        ..Default::default()
    };
    app.state
        .set_account_routing_policy(tenant.account_id, &policy)
        .await
        .unwrap();
    tenant
}

async fn verdicts(app: &TestApp, account_id: i32) -> Vec<quality_verdict::Model> {
    quality_verdict::Entity::find()
        .filter(quality_verdict::Column::AccountId.eq(account_id))
        .all(&app.state.db)
        .await
        .unwrap()
}

/// Sends one auto request and waits for the check it starts to be stored.
async fn first_verdict(app: &TestApp, tenant: &Tenant) -> quality_verdict::Model {
    assert_eq!(
        app.chat(Some(&tenant.key), &auto("Thanks!")).await.status(),
        200
    );
    assert!(
        eventually(Duration::from_secs(20), || async {
            !verdicts(app, tenant.account_id).await.is_empty()
        })
        .await,
        "a check is stored"
    );
    verdicts(app, tenant.account_id).await.remove(0)
}

fn auto(text: &str) -> serde_json::Value {
    json!({"model": "auto", "messages": [{"role": "user", "content": text}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_answer_is_judged_after_the_client_has_it_and_only_the_verdict_is_stored() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = with_checks(&app, "judged@example.com", 1.0, 10.0).await;
    app.fake_openai.set_judge_pause(Duration::from_secs(2));
    let secret = "Thanks so much, Wilhelmina Quackenbush!";
    let response = app.chat(Some(&tenant.key), &auto(secret)).await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    let (served, tier) = (header("x-gateway-model"), header("x-gateway-tier"));
    assert_ne!(
        tier, "strong",
        "a request served below the baseline's tier: {served}"
    );
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(answer["choices"][0]["message"]["content"].is_string());
    // The client has its answer while the judge is still thinking.
    assert!(verdicts(&app, tenant.account_id).await.is_empty());

    assert!(
        eventually(Duration::from_secs(20), || async {
            verdicts(&app, tenant.account_id).await.len() == 1
        })
        .await,
        "a verdict is stored once the judge has answered"
    );
    let verdict = &verdicts(&app, tenant.account_id).await[0];
    assert_eq!(verdict.served_model, served);
    assert_eq!(verdict.baseline_model, "openai/gpt-4o");
    assert_eq!(verdict.judge_model, "openai/gpt-4o");
    assert_eq!(
        (verdict.cheap_score, verdict.baseline_score),
        (Some(8.0), Some(9.0))
    );
    assert_eq!(verdict.adequate, Some(true));
    assert_eq!(verdict.outcome, "judged");
    assert_eq!(verdict.tier.as_deref(), Some(tier.as_str()));
    assert!(verdict.eval_cost_usd > 0.0);

    // The baseline was asked the same question, whole, and the judge saw both answers.
    let sent = app.fake_openai.requests();
    let baseline = sent
        .iter()
        .find(|r| r.body["model"] == "gpt-4o" && r.body["messages"][0]["content"] == secret)
        .expect("the baseline was re-asked");
    assert!(baseline.body.get("stream").is_none());
    let judged = app.fake_openai.judge_requests();
    assert_eq!(judged.len(), 1);
    let shown = judged[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(shown.contains(secret) && shown.contains("Assistant A's Answer"));

    // The checks are not the customer's traffic: one usage event, the client's own.
    app.flush_usage().await;
    let events = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(tenant.account_id))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);

    // The Analytics page shows the measured quality beside the savings.
    let browser = crate::portal::Browser::new(&app);
    browser
        .post_form(
            "log_in",
            &[
                ("email", "judged@example.com"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    let page = crate::portal::without_markers(
        &browser
            .get("/analytics?range=24h")
            .await
            .text()
            .await
            .unwrap(),
    );
    let section = &page[page
        .find("data-testid=\"quality\"")
        .expect("a quality section")..];
    assert!(
        section.contains("Measured quality")
            && section.contains("of the 1 sampled answers were adequate")
            && section.contains("100.0 % ("),
        "{section}"
    );

    // Nothing but metadata reached the disk: not the prompt, not an answer.
    let dir = app.database.sqlite_dir().unwrap();
    for file in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        for text in [secret, "Hello from the fake", "Both answers are helpful"] {
            assert!(
                !bytes.windows(text.len()).any(|w| w == text.as_bytes()),
                "{text} stored"
            );
        }
    }
}

#[tokio::test]
async fn a_streamed_answer_is_assembled_as_it_passes_and_judged() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = with_checks(&app, "streamed@example.com", 1.0, 10.0).await;
    let mut streamed = auto("Thanks!");
    streamed["stream"] = json!(true);
    let response = app.chat(Some(&tenant.key), &streamed).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(
        eventually(Duration::from_secs(20), || async {
            verdicts(&app, tenant.account_id).await.len() == 1
        })
        .await
    );
    assert_eq!(
        verdicts(&app, tenant.account_id).await[0].adequate,
        Some(true)
    );
    // The judge read the answer the client read, put together from its chunks.
    let judged = app.fake_openai.judge_requests();
    let shown = judged[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(
        shown.contains("[The Start of Assistant A's Answer]\nHello from the fake OpenAI server."),
        "{shown}"
    );
}

#[tokio::test]
async fn a_judge_without_ratings_leaves_no_verdict_never_adequate() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = with_checks(&app, "unreadable@example.com", 1.0, 10.0).await;
    app.fake_openai
        .set_judge_reply("Both answers are fine, I would not rate them.");
    let verdict = &first_verdict(&app, &tenant).await;
    assert_eq!(verdict.adequate, None);
    assert_eq!(verdict.outcome, "judge_unreadable");
    assert!(verdict.eval_cost_usd > 0.0, "the calls were made and cost");
}

#[tokio::test]
async fn a_judge_that_fails_leaves_no_verdict_and_the_spend_it_caused() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = with_checks(&app, "judge-down@example.com", 1.0, 10.0).await;
    app.fake_openai.set_judge_failing(true);
    let verdict = &first_verdict(&app, &tenant).await;
    assert_eq!((verdict.adequate, verdict.cheap_score), (None, None));
    assert_eq!(verdict.outcome, "judge_failed");
    assert!(
        verdict.eval_cost_usd > 0.0,
        "the baseline's answer was paid for"
    );
}

#[tokio::test]
async fn only_what_is_asked_for_is_checked_within_the_budget() {
    let app = spawn_app(Backend::Sqlite).await;
    // Off (rate 0), and no budget: nothing is re-asked.
    let off = with_checks(&app, "off@example.com", 0.0, 10.0).await;
    let broke = with_checks(&app, "broke@example.com", 1.0, 0.0).await;
    // A pinned model is the caller's choice: not checked, whatever the rate.
    let pinned = with_checks(&app, "pinned@example.com", 1.0, 10.0).await;
    for tenant in [&off, &broke] {
        assert_eq!(
            app.chat(Some(&tenant.key), &auto("Thanks!")).await.status(),
            200
        );
    }
    let gpt = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Thanks!"}]});
    assert_eq!(app.chat(Some(&pinned.key), &gpt).await.status(), 200);

    // Half the requests of a sampled account, give or take chance (and the few skipped when four
    // checks already run).
    let half = with_checks(&app, "half@example.com", 0.5, 10.0).await;
    for n in 0..40 {
        let response = app
            .chat(Some(&half.key), &auto(&format!("Thanks {n}!")))
            .await;
        assert_eq!(response.status(), 200);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let judged = verdicts(&app, half.account_id).await.len();
    assert!((5..=32).contains(&judged), "{judged} of 40 at 50 %");
    assert_eq!(
        app.fake_openai.judge_requests().len(),
        judged,
        "only the sampled half"
    );
    for tenant in [&off, &broke, &pinned] {
        assert!(verdicts(&app, tenant.account_id).await.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibration_lowers_the_threshold_when_the_cheap_answers_fall_short() {
    use gateway::entities::threshold_change;
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = with_target(&app, "target@example.com", 1.0, 100.0, Some(0.95)).await;
    // The judge finds every cheaper answer far below the baseline's.
    app.fake_openai
        .set_judge_reply("A misses the point.\nAssistant A: [[2]]\nAssistant B: [[9]]");
    let shipped = app.state.router.thresholds().strong;
    let mut sent = 0;
    while verdicts(&app, tenant.account_id).await.len()
        < gateway::quality::calibration::MIN_VERDICTS as usize
    {
        assert!(sent < 200, "verdicts come in");
        let response = app
            .chat(Some(&tenant.key), &auto(&format!("Thanks {sent}!")))
            .await;
        assert_eq!(response.status(), 200);
        sent += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.flush_usage().await;
    // One more verdict after the usage is written: the move needs the traffic's cheap share.
    assert_eq!(
        app.chat(Some(&tenant.key), &auto("Thanks again!"))
            .await
            .status(),
        200
    );
    let moved = eventually(Duration::from_secs(20), || async {
        !threshold_change::Entity::find()
            .filter(threshold_change::Column::AccountId.eq(tenant.account_id))
            .all(&app.state.db)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    assert!(moved, "a move once enough verdicts came in");
    let change = threshold_change::Entity::find()
        .filter(threshold_change::Column::AccountId.eq(tenant.account_id))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert!((change.old_threshold - f64::from(shipped)).abs() < 1e-6);
    assert!(
        change.new_threshold < change.old_threshold
            && change.old_threshold - change.new_threshold <= 0.05 + 1e-9,
        "down by one bounded step: {change:?}"
    );
    assert!(change.adequacy < 0.95 && change.judged >= 20);
    // The next requests route with it, once the directory has followed the change journal (the
    // move is written by a background task; reading the directory at once raced the watcher).
    let followed = eventually(Duration::from_secs(10), || async {
        let account = app
            .state
            .directory
            .account(tenant.account_id)
            .await
            .unwrap();
        account.calibrated_threshold == Some(change.new_threshold)
    })
    .await;
    assert!(followed, "the directory holds the calibrated threshold");
    // The Routing page shows the move and why.
    let browser = crate::portal::Browser::new(&app);
    browser
        .post_form(
            "log_in",
            &[
                ("email", "target@example.com"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    let page = crate::portal::without_markers(&browser.get("/routing").await.text().await.unwrap());
    let moves = &page[page
        .find("data-testid=\"threshold-moves\"")
        .expect("the moves")..];
    let expected = format!("{:.3} → {:.3}", change.old_threshold, change.new_threshold);
    assert!(
        moves.contains(&expected) && moves.contains("target 95.0 %"),
        "{moves}"
    );
}
