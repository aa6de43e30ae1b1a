//! The portal over HTTP: sessions, redirects, server functions, CSRF refusal.

use parking_lot::Mutex;

use crate::helpers::{Backend, OPENAI_KEY, PASSWORD, TestApp, spawn_app};

crate::on_both_backends!(
    sign_up_log_out_log_in,
    form_errors_are_precise,
    cross_site_posts_are_refused,
    routing_overrides_from_the_portal
);

/// A client that keeps the session cookie, as a browser would.
struct Browser<'a> {
    app: &'a TestApp,
    session: Mutex<Option<String>>,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            session: Mutex::new(None),
        }
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.session.lock().clone() {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        }
    }

    fn remember(&self, response: &reqwest::Response) {
        for set_cookie in response.headers().get_all("set-cookie") {
            let set_cookie = set_cookie.to_str().unwrap();
            let Some(pair) = set_cookie
                .split(';')
                .next()
                .filter(|pair| pair.starts_with("gw_session="))
            else {
                continue;
            };
            let removed = set_cookie.contains("Max-Age=0") || pair == "gw_session=";
            *self.session.lock() = (!removed).then(|| pair.to_owned());
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let response = self
            .with_cookie(self.app.http.get(self.app.url(path)))
            .send()
            .await
            .unwrap();
        self.remember(&response);
        response
    }

    async fn post_form(&self, function: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let request = self
            .app
            .http
            .post(self.app.url(&format!("/api/{function}")))
            .header("origin", format!("http://{}", self.app.addr))
            .form(form);
        let response = self.with_cookie(request).send().await.unwrap();
        self.remember(&response);
        response
    }
}

#[tokio::test]
async fn health_and_anonymous_redirects() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::new(&app);
    assert_eq!(browser.get("/healthz").await.status(), 200);
    for page in ["/", "/keys", "/providers"] {
        let response = browser.get(page).await;
        assert_eq!(response.status(), 303, "{page}");
        assert_eq!(response.headers()["location"], "/login", "{page}");
    }
    let login = browser.get("/login").await;
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains("Log in to LLM Gateway"));
    assert!(
        html.contains("/pkg/llm-gateway.js") && html.contains("\"llm-gateway\", false"),
        "the page loads the WASM build"
    );
}

async fn sign_up_log_out_log_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    let signed_up = browser
        .post_form(
            "sign_up",
            &[("email", "Ada@Example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(
        signed_up.status().is_success() || signed_up.status().is_redirection(),
        "{}",
        signed_up.status()
    );
    let cookie = signed_up
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("gw_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure flag ({cookie})"
    );

    let dashboard = browser.get("/").await;
    assert_eq!(dashboard.status(), 200);
    assert!(dashboard.text().await.unwrap().contains("Dashboard"));

    browser.post_form("log_out", &[]).await;
    assert_eq!(browser.get("/keys").await.status(), 303);

    let wrong = browser
        .post_form(
            "log_in",
            &[
                ("email", "ada@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Wrong email or password.")
    );
    assert_eq!(browser.get("/keys").await.status(), 303);

    browser
        .post_form(
            "log_in",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(browser.get("/keys").await.status(), 200);

    // Server functions act for the logged-in account only.
    let created = browser.post_form("create_key", &[("name", "ci")]).await;
    assert!(created.status().is_success() || created.status().is_redirection());
    let account = gateway::accounts::account_by_email(&app.state.db, "ada@example.com")
        .await
        .unwrap();
    let keys = gateway::accounts::list_gateway_keys(&app.state.db, account.id)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "ci");
}

async fn form_errors_are_precise(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    let weak = browser
        .post_form(
            "sign_up",
            &[("email", "ada@example.com"), ("password", "short")],
        )
        .await;
    assert!(
        weak.text()
            .await
            .unwrap()
            .contains("at least 10 characters")
    );
    let bad_email = browser
        .post_form(
            "sign_up",
            &[("email", "not-an-email"), ("password", PASSWORD)],
        )
        .await;
    assert!(bad_email.text().await.unwrap().contains("valid email"));
    browser
        .post_form(
            "sign_up",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;

    let other = Browser::new(&app);
    let duplicate = other
        .post_form(
            "sign_up",
            &[("email", "ADA@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(duplicate.text().await.unwrap().contains("already exists"));
    // Not logged in: server functions refuse.
    let anonymous = other.post_form("list_keys", &[]).await;
    assert!(anonymous.text().await.unwrap().contains("NotLoggedIn"));
}

async fn cross_site_posts_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let forged = app
        .http
        .post(app.url("/api/sign_up"))
        .header("origin", "http://evil.example")
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let fetch_metadata = app
        .http
        .post(app.url("/api/sign_up"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(fetch_metadata.status(), 403);
    assert!(
        gateway::accounts::find_account(&app.state.db, "ada@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

/// The overrides page's server functions: save for the account and for a key, refuse bad input
/// and other tenants' keys, preview; `/v1` follows at once.
async fn routing_overrides_from_the_portal(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    browser
        .post_form(
            "sign_up",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    let account = gateway::accounts::account_by_email(&app.state.db, "ada@example.com")
        .await
        .unwrap();
    app.add_openai(account.id, OPENAI_KEY).await;
    let key = app.create_key(account.id).await;
    let key_id = gateway::accounts::find_key_by_prefix(&app.state.db, account.id, &key)
        .await
        .unwrap()
        .id;
    let stranger = app.tenant("eve@example.com").await;
    let stranger_key_id =
        gateway::accounts::find_key_by_prefix(&app.state.db, stranger.account_id, &stranger.key)
            .await
            .unwrap()
            .id;

    let form = |scope: &str, min_tier: &str, threshold: &str| {
        let fields = [
            "auto_routing",
            "cache",
            "forced_model",
            "max_tier",
            "providers",
            "rule_tools",
            "rule_images",
            "rule_json",
            "long_prompt_tokens",
            "rule_long_prompt",
        ];
        let mut pairs: Vec<(String, String)> = fields
            .iter()
            .map(|f| (f.to_string(), String::new()))
            .collect();
        pairs.push(("scope".into(), scope.into()));
        pairs.push(("min_tier".into(), min_tier.into()));
        pairs.push(("threshold".into(), threshold.into()));
        pairs
    };
    let post = |pairs: Vec<(String, String)>| {
        let browser = &browser;
        async move {
            let borrowed: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            browser
                .post_form("save_routing", &borrowed)
                .await
                .text()
                .await
                .unwrap()
        }
    };

    let page = browser.get("/routing").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Save routing")
            && html.contains("Preview route")
            && html.contains(&format!("key:{key_id}")),
        "{html}"
    );

    post(form("account", "strong", "")).await;
    let stored = gateway::accounts::routing_policies(&app.state.db, account.id)
        .await
        .unwrap();
    assert_eq!(
        stored.account.min_tier,
        Some(gateway::catalog::Tier::Strong)
    );
    let routed = app
        .chat(
            Some(&key),
            &serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(routed.headers()["x-gateway-tier"], "strong");

    // The key's own setting wins over the account's.
    post(form(&format!("key:{key_id}"), "cheap", "")).await;
    let routed = app
        .chat(
            Some(&key),
            &serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(routed.headers()["x-gateway-tier"], "cheap");
    let preview = browser
        .post_form(
            "preview_route",
            &[("scope", &format!("key:{key_id}")), ("sample", "hi")],
        )
        .await;
    let preview = preview.text().await.unwrap();
    assert!(
        preview.contains("openai/gpt-4.1-nano") && preview.contains("cheap"),
        "{preview}"
    );
    let preview = browser
        .post_form("preview_route", &[("scope", "account"), ("sample", "hi")])
        .await
        .text()
        .await
        .unwrap();
    assert!(preview.contains("strong"), "{preview}");

    // Bad input is explained and nothing is stored; another tenant's key is unknown here.
    let refused = post(form("account", "", "high")).await;
    assert!(refused.contains("Threshold"), "{refused}");
    let refused = post(form(&format!("key:{stranger_key_id}"), "strong", "")).await;
    assert!(refused.contains("Unknown key"), "{refused}");
    assert!(
        gateway::accounts::routing_policies(&app.state.db, stranger.account_id)
            .await
            .unwrap()
            .keys
            .is_empty()
    );
    assert_eq!(
        gateway::accounts::routing_policies(&app.state.db, account.id)
            .await
            .unwrap(),
        stored_with_key(&stored, key_id)
    );
}

fn stored_with_key(
    account: &gateway::accounts::RoutingPolicies,
    key_id: i32,
) -> gateway::accounts::RoutingPolicies {
    let mut expected = account.clone();
    expected.keys.insert(
        key_id,
        gateway::routing::RoutingPolicy {
            min_tier: Some(gateway::catalog::Tier::Cheap),
            ..Default::default()
        },
    );
    expected
}
