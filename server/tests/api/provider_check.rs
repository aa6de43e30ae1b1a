//! The Providers page's *Test* button: the provider's models list asked for with the saved key
//! and base URL, through the same path (egress rules, timeouts) as a request.

use serde_json::Value;

use crate::helpers::{Backend, OPENAI_KEY, spawn_app};
use crate::portal::Browser;

/// What `test_provider` answers for the account's provider row of `kind`.
async fn check(
    browser: &Browser<'_>,
    app: &crate::helpers::TestApp,
    account_id: i32,
    kind: &str,
) -> (u16, Value) {
    let row = gateway::accounts::list_providers(&app.state.db, account_id)
        .await
        .unwrap()
        .into_iter()
        .find(|row| row.provider == kind)
        .expect("the provider was added");
    let response = browser
        .post_form("test_provider", &[("id", &row.id.to_string())])
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn each_provider_kind_answers_with_its_models_list_and_a_bad_key_is_named() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::new(&app);
    let account = browser.sign_up("ada@example.com").await;
    // Pro: five providers.
    gateway::accounts::set_plan(&app.state.db, account.id, gateway::plans::Plan::Pro)
        .await
        .unwrap();
    let listed = [
        ("openai", 3),
        ("groq", 2),
        ("ollama", 1),
        ("anthropic", 2),
        ("gemini", 2),
    ];
    for (kind, _) in listed {
        let base_url = app.fake_openai.base_url_for(kind);
        app.state
            .add_provider(account.id, kind, OPENAI_KEY, Some(&base_url))
            .await
            .unwrap();
    }
    for (kind, models) in listed {
        let (status, answer) = check(&browser, &app, account.id, kind).await;
        assert_eq!(status, 200, "{kind}: {answer}");
        assert_eq!(answer["Works"]["models"], models, "{kind}: {answer}");
    }
    // Each went out as that provider's API wants it: its path and its way of sending the key.
    let sent: Vec<(String, Option<String>)> = app
        .fake_openai
        .requests()
        .into_iter()
        .map(|request| {
            (
                format!("{}{}", request.provider, request.path),
                request.credential,
            )
        })
        .collect();
    let bearer = Some(format!("Bearer {OPENAI_KEY}"));
    assert_eq!(
        sent,
        [
            ("openai/models".to_owned(), bearer.clone()),
            ("groq/models".to_owned(), bearer.clone()),
            ("ollama/models".to_owned(), bearer),
            (
                "anthropic/v1/models".to_owned(),
                Some(OPENAI_KEY.to_owned())
            ),
            (
                "gemini/v1beta/models".to_owned(),
                Some(OPENAI_KEY.to_owned())
            ),
        ]
    );

    // A key the provider refuses: named as such, with the provider's status (Gemini's invalid
    // key is a 400 that means 401).
    for kind in ["openai", "anthropic", "gemini"] {
        let base_url = app.fake_openai.base_url_for(kind);
        app.state
            .add_provider(account.id, kind, "sk-wrong-key-000000", Some(&base_url))
            .await
            .unwrap();
        let (status, answer) = check(&browser, &app, account.id, kind).await;
        assert_eq!(status, 200, "{kind}: {answer}");
        assert_eq!(answer["KeyRefused"]["status"], 401, "{kind}: {answer}");
    }
}

#[tokio::test]
async fn an_unreachable_base_url_says_so_and_another_tenant_cannot_test_the_row() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::new(&app);
    let account = browser.sign_up("ada@example.com").await;
    // A port nothing listens on (bound, then released).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    app.state
        .add_provider(
            account.id,
            "openai",
            OPENAI_KEY,
            Some(&format!("http://{closed}/v1")),
        )
        .await
        .unwrap();
    let (status, answer) = check(&browser, &app, account.id, "openai").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["Unreachable"]["provider"], "OpenAI", "{answer}");

    // A base URL that answers, but not with a models list (a web page, say).
    let page = format!("{}/../no-such-api", app.fake_openai.base_url_for("openai"));
    app.state
        .add_provider(account.id, "openai", OPENAI_KEY, Some(&page))
        .await
        .unwrap();
    let (_, answer) = check(&browser, &app, account.id, "openai").await;
    assert!(answer.get("Failed").is_some(), "{answer}");

    // Another tenant names the row: no such provider for them, and nothing is sent.
    let before = app.fake_openai.requests().len();
    let row = gateway::accounts::list_providers(&app.state.db, account.id)
        .await
        .unwrap()
        .remove(0);
    let other = Browser::new(&app);
    other.sign_up("eve@example.com").await;
    let refused = other
        .post_form("test_provider", &[("id", &row.id.to_string())])
        .await;
    assert_eq!(refused.status(), 404);
    assert_eq!(app.fake_openai.requests().len(), before);
    // Logged out: 401.
    let visitor = Browser::new(&app);
    let refused = visitor
        .post_form("test_provider", &[("id", &row.id.to_string())])
        .await;
    assert_eq!(refused.status(), 401);
}
