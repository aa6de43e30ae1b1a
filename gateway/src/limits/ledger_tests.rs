use std::sync::Arc;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database};

use super::*;
use crate::limits::estimate::Estimate;

async fn ledger() -> (Arc<Ledger>, DatabaseConnection, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
    let db = Database::connect(url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    db.execute_unprepared("INSERT INTO accounts (id, email, password_hash, plan, created_at, updated_at) VALUES (1, 'a@example.com', 'x', 'pro', 0, 0)")
        .await
        .unwrap();
    (Arc::new(Ledger::new(db.clone())), db, dir)
}

fn cost(worst_case_nanos: i64, tokens: u64) -> Estimate {
    Estimate {
        worst_case_nanos,
        tokens,
    }
}

#[tokio::test]
async fn requests_per_minute_admit_exactly_the_limit_with_openai_headers() {
    let (ledger, _db, _dir) = ledger().await;
    let limits = Limits {
        requests_per_minute: Some(3),
        ..Limits::default()
    };
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let admitted = ledger
            .admit(&[(Scope::Key(7), &limits)], cost(0, 0))
            .await
            .unwrap();
        let (limit, left, reset) = admitted.headers.requests.unwrap();
        assert_eq!(limit, 3);
        assert!((0..=60_000).contains(&reset));
        remaining.push(left);
    }
    assert_eq!(remaining, [2, 1, 0]);
    let Err((refusal, headers)) = ledger.admit(&[(Scope::Key(7), &limits)], cost(0, 0)).await
    else {
        panic!("the fourth request of the minute must be refused");
    };
    assert!(matches!(refusal, Refusal::Requests { limit: 3, .. }));
    assert_eq!(headers.requests.unwrap().1, 0);
    // Another key has its own minute.
    assert!(
        ledger
            .admit(&[(Scope::Key(8), &limits)], cost(0, 0))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_budget_is_never_overspent_by_concurrent_requests() {
    let (ledger, _db, _dir) = ledger().await;
    let limits = Limits {
        // 95 nano-dollars: nine worst cases of 10 fit, the tenth does not.
        monthly_budget_usd: Some(95e-9),
        ..Limits::default()
    };
    let limits = Arc::new(limits);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (ledger, limits) = (ledger.clone(), limits.clone());
            tokio::spawn(async move {
                ledger
                    .admit(&[(Scope::Key(1), &limits)], cost(10, 0))
                    .await
                    .ok()
                    .map(|admission| admission.reservation)
            })
        })
        .collect();
    let mut held = Vec::new();
    for task in tasks {
        if let Some(reservation) = task.await.unwrap() {
            held.push(reservation);
        }
    }
    assert_eq!(held.len(), 9, "exactly the worst cases that fit");
    // Each cost 4 nano-dollars: the reservations give back 6 each.
    for reservation in held.drain(..) {
        reservation.charge(4e-9, 0);
    }
    let mut more = 0;
    while let Ok(admission) = ledger.admit(&[(Scope::Key(1), &limits)], cost(10, 0)).await {
        admission.reservation.charge(4e-9, 0);
        more += 1;
    }
    // 36 spent, then 4 a request while a worst case of 10 still fits: 36 + 4n + 10 <= 95 for
    // n = 0..=12, thirteen requests.
    assert_eq!(more, 13);
    let Err((
        Refusal::Budget {
            committed_nanos,
            budget_nanos,
            ..
        },
        _,
    )) = ledger.admit(&[(Scope::Key(1), &limits)], cost(10, 0)).await
    else {
        panic!("the budget must refuse");
    };
    assert_eq!((committed_nanos, budget_nanos), (88, 95));
}

#[tokio::test]
async fn the_months_spend_is_read_from_the_database_once() {
    let (ledger, db, _dir) = ledger().await;
    let now = now_ms();
    db.execute_unprepared("INSERT INTO gateway_keys (id, account_id, name, prefix, key_digest, created_at) VALUES (5, 1, 'k', 'gw_', 'd', 0)")
        .await
        .unwrap();
    for (cost, at) in [(0.75, now), (0.5, now - 40 * 86_400_000)] {
        db.execute_unprepared(&format!("INSERT INTO usage_events (account_id, key_id, provider, model, prompt_tokens, completion_tokens, latency_ms, status, created_at, cost_usd, saving_usd, counted, cache_hit) VALUES (1, 5, 'openai', 'm', 1, 1, 1, 200, {at}, {cost}, 0, 1, 0)"))
            .await
            .unwrap();
    }
    let limits = Limits {
        monthly_budget_usd: Some(1.0),
        ..Limits::default()
    };
    // 0.75 of this month is spent (last month's 0.5 is not): a 0.30 worst case does not fit.
    let refused = ledger
        .admit(&[(Scope::Key(5), &limits)], cost(300_000_000, 0))
        .await;
    assert!(matches!(
        refused,
        Err((
            Refusal::Budget {
                committed_nanos: 750_000_000,
                ..
            },
            _
        ))
    ));
    // The account's budget counts every key of the account.
    let account = ledger
        .admit(&[(Scope::Account(1), &limits)], cost(250_000_000, 0))
        .await;
    assert!(account.is_ok());
}

#[tokio::test]
async fn tokens_per_minute_count_what_was_used_once_known() {
    let (ledger, _db, _dir) = ledger().await;
    let limits = Limits {
        tokens_per_minute: Some(100),
        ..Limits::default()
    };
    let scopes = [(Scope::Key(2), &limits)];
    let first = ledger.admit(&scopes, cost(0, 20)).await.unwrap();
    assert_eq!(first.headers.tokens.unwrap().1, 80);
    first.reservation.charge(0.0, 70);
    drop(first);
    let Err((
        Refusal::Tokens {
            used, requested, ..
        },
        headers,
    )) = ledger.admit(&scopes, cost(0, 40)).await
    else {
        panic!("70 used + 40 asked is over 100");
    };
    assert_eq!((used, requested), (70, 40));
    assert_eq!(headers.tokens.unwrap().1, 30);
    assert!(ledger.admit(&scopes, cost(0, 30)).await.is_ok());
}

#[tokio::test]
async fn the_account_refuses_even_when_the_key_has_room_and_nothing_is_taken() {
    let (ledger, _db, _dir) = ledger().await;
    let key_limits = Limits {
        requests_per_minute: Some(10),
        ..Limits::default()
    };
    let account_limits = Limits {
        requests_per_minute: Some(1),
        ..Limits::default()
    };
    let scopes = [
        (Scope::Key(3), &key_limits),
        (Scope::Account(1), &account_limits),
    ];
    let first = ledger.admit(&scopes, cost(0, 0)).await.unwrap();
    assert_eq!(
        first.headers.requests.unwrap(),
        (10, 9, first.headers.requests.unwrap().2)
    );
    let Err((Refusal::Requests { scope, .. }, _)) = ledger.admit(&scopes, cost(0, 0)).await else {
        panic!("the account allows one request a minute");
    };
    assert_eq!(scope, Scope::Account(1));
    // The refused request took nothing from the key.
    let key_only = [(Scope::Key(3), &key_limits)];
    let next = ledger.admit(&key_only, cost(0, 0)).await.unwrap();
    assert_eq!(next.headers.requests.unwrap().1, 8);
}

#[tokio::test]
async fn the_alert_is_sent_once_when_spend_reaches_the_threshold() {
    let (_, db, _dir) = ledger().await;
    let (sender, mut alerts) = tokio::sync::mpsc::unbounded_channel();
    let ledger = Arc::new(Ledger::new(db).alerts_to(sender));
    let limits = Limits {
        monthly_budget_usd: Some(100e-9),
        alert_at_percent: Some(50),
        ..Limits::default()
    };
    for _ in 0..8 {
        let admission = ledger
            .admit(&[(Scope::Key(4), &limits)], cost(10, 0))
            .await
            .unwrap();
        admission.reservation.charge(10e-9, 0);
    }
    let alert = alerts.try_recv().expect("one alert at 50 of 100");
    assert_eq!(alert.scope, Scope::Key(4));
    assert_eq!(
        (
            alert.spent_nanos,
            alert.budget_nanos,
            alert.alert_at_percent
        ),
        (50, 100, 50)
    );
    assert!(alerts.try_recv().is_err(), "only once a month");
}

#[tokio::test]
async fn a_new_month_forgets_the_last_months_spend_and_alerts() {
    let (ledger, _db, _dir) = ledger().await;
    let (month, next_month) = month_bounds_utc(now_ms());
    ledger
        .seeds
        .lock()
        .insert((Scope::Key(9), month - 1), Default::default());
    ledger.alerted.lock().insert((Scope::Key(9), month - 1));
    ledger.seed(Scope::Key(9), month).await.unwrap();
    assert_eq!(
        ledger.seeds.lock().len(),
        1,
        "only this month's seed is kept"
    );
    assert!(ledger.alerted.lock().is_empty());
    // Months ahead (a clock moving forward) are not dropped by an earlier one.
    ledger
        .seeds
        .lock()
        .insert((Scope::Key(9), next_month), Default::default());
    ledger.seed(Scope::Key(10), month).await.unwrap();
    assert_eq!(ledger.seeds.lock().len(), 3);
}
