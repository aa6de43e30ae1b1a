//! The SSRF guard seen from outside: a tenant cannot point the gateway at its own network, and a
//! redirect never takes a provider key elsewhere.

use gateway::accounts::AccountError;
use gateway::entities::usage_event;
use gateway::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{Backend, OPENAI_KEY, expect_openai_error, hello, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_base_url_opens_its_port_for_its_provider_only() {
    // OPENAI_BASE_URL is the fake on this machine, and nothing else is allowed: a tenant may use
    // exactly that URL's way, not another port of the host nor the way for another provider.
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.allowed_private_upstreams.clear()
    })
    .await;
    let account_id = app.create_account("neighbour@example.com").await;
    let opened = app.fake_openai.base_url();
    app.state
        .add_provider(account_id, "openai", OPENAI_KEY, Some(&opened))
        .await
        .expect("the operator's own way");
    for (provider, inside) in [
        ("openai", app.url("/v1")), // the gateway's own port on the same host
        ("openai", "http://127.0.0.1:5432/v1".to_owned()),
        ("groq", opened.clone()),
        ("ollama", opened.replace("http://", "https://")),
    ] {
        let refused = app
            .state
            .add_provider(account_id, provider, OPENAI_KEY, Some(&inside))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, AccountError::BaseUrlRefused { .. }),
            "{provider} {inside}: {refused}"
        );
    }
    let key = app.create_key(account_id).await;
    let served = app.chat(Some(&key), &hello()).await;
    assert_eq!(served.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_base_urls_are_refused_at_saving_and_at_connecting() {
    // The operator configured no provider URL on this machine, so nothing private is allowed.
    let strict = spawn_app_with(Backend::Sqlite, |config| {
        config.provider_base_urls.clear();
        config.allowed_private_upstreams.clear();
    })
    .await;
    let account_id = strict.create_account("mallory@example.com").await;
    let inside = strict.fake_openai.base_url();
    let refused = strict
        .state
        .add_provider(account_id, "openai", OPENAI_KEY, Some(&inside))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, AccountError::BaseUrlRefused { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("ALLOWED_PRIVATE_UPSTREAMS"),
        "the message says what the operator can do: {refused}"
    );
    let metadata = strict
        .state
        .add_provider(
            account_id,
            "openai",
            OPENAI_KEY,
            Some("https://169.254.169.254/v1"),
        )
        .await
        .unwrap_err();
    assert!(
        metadata.to_string().contains("cloud metadata"),
        "{metadata}"
    );

    // Saved through a server whose operator allowed this machine, the URL is still refused at
    // connecting by the server that does not allow it: every call, unsent.
    let lenient = strict
        .spawn_peer(|config| config.allowed_private_upstreams = "127.0.0.1".into())
        .await;
    lenient
        .state
        .add_provider(account_id, "openai", OPENAI_KEY, Some(&inside))
        .await
        .expect("allowed by the operator");
    let key = strict.create_key(account_id).await;
    let error = expect_openai_error(strict.chat(Some(&key), &hello()).await, 502).await;
    assert_eq!(error["code"], "upstream_address_refused");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1 is a loopback address"),
        "{error}"
    );
    assert!(
        strict.fake_openai.requests().is_empty(),
        "nothing reached the inside"
    );
    // The lenient server calls it.
    let served = strict
        .http
        .post(lenient.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(strict.fake_openai.requests().len(), 1);

    strict.flush_usage().await;
    let refused_events = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .filter(usage_event::Column::Status.eq(502))
        .all(&strict.state.db)
        .await
        .unwrap();
    assert_eq!(refused_events.len(), 1, "the refused call is in analytics");
    assert_eq!(
        refused_events[0].error_code.as_deref(),
        Some("upstream_address_refused")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_redirect_is_not_followed() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("ada@example.com").await;
    let body =
        json!({"model": "openai/fake-redirect", "messages": [{"role": "user", "content": "x"}]});
    let error = expect_openai_error(app.chat(Some(&tenant.key), &body).await, 502).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("307 Temporary Redirect, which the gateway does not follow"),
        "{error}"
    );
    // Followed, the redirect would have been a second request to the fake, key and all.
    assert_eq!(app.fake_openai.requests().len(), 1);
}
