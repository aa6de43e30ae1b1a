//! The portal over HTTP: sessions, redirects, server functions, CSRF refusal.

use crate::helpers::{Backend, PASSWORD, spawn_app};

crate::on_both_backends!(sign_up_log_out_log_in, form_errors_are_precise, cross_site_posts_are_refused);

#[tokio::test]
async fn health_and_anonymous_redirects() {
    let app = spawn_app(Backend::Sqlite).await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    for page in ["/", "/keys", "/providers"] {
        let response = app.http.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{page}");
        assert_eq!(response.headers()["location"], "/login", "{page}");
    }
    let login = app.http.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains("Log in to LLM Gateway"));
    assert!(html.contains("/pkg/llm-gateway.js"), "the page loads the hydration script");
}

async fn post_form(app: &crate::helpers::TestApp, function: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/api/{function}")))
        .header("origin", format!("http://{}", app.addr))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn sign_up_log_out_log_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let signed_up = post_form(&app, "sign_up", &[("email", "Ada@Example.com"), ("password", PASSWORD)]).await;
    assert!(signed_up.status().is_success() || signed_up.status().is_redirection(), "{}", signed_up.status());
    let cookie = signed_up.headers().get("set-cookie").expect("a session cookie").to_str().unwrap().to_owned();
    assert!(cookie.starts_with("gw_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag ({cookie})");

    let dashboard = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(dashboard.status(), 200);
    assert!(dashboard.text().await.unwrap().contains("Dashboard"));

    post_form(&app, "log_out", &[]).await;
    let after_logout = app.http.get(app.url("/keys")).send().await.unwrap();
    assert_eq!(after_logout.status(), 303);

    let wrong = post_form(&app, "log_in", &[("email", "ada@example.com"), ("password", "not the password")]).await;
    assert!(wrong.text().await.unwrap().contains("Wrong email or password."));
    assert_eq!(app.http.get(app.url("/keys")).send().await.unwrap().status(), 303);

    post_form(&app, "log_in", &[("email", "ada@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(app.http.get(app.url("/keys")).send().await.unwrap().status(), 200);

    // Server functions answer for the logged-in account only.
    let created = post_form(&app, "create_key", &[("name", "ci")]).await;
    assert!(created.status().is_success() || created.status().is_redirection());
    let account = gateway::accounts::account_by_email(&app.state.db, "ada@example.com").await.unwrap();
    let keys = gateway::accounts::list_gateway_keys(&app.state.db, account.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "ci");
}

async fn form_errors_are_precise(backend: Backend) {
    let app = spawn_app(backend).await;
    let weak = post_form(&app, "sign_up", &[("email", "ada@example.com"), ("password", "short")]).await;
    assert!(weak.text().await.unwrap().contains("at least 10 characters"));
    let bad_email = post_form(&app, "sign_up", &[("email", "not-an-email"), ("password", PASSWORD)]).await;
    assert!(bad_email.text().await.unwrap().contains("valid email"));
    post_form(&app, "sign_up", &[("email", "ada@example.com"), ("password", PASSWORD)]).await;
    let other = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let duplicate = other
        .post(app.url("/api/sign_up"))
        .form(&[("email", "ADA@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(duplicate.text().await.unwrap().contains("already exists"));
    // Not logged in: server functions refuse.
    let anonymous = other.post(app.url("/api/list_keys")).send().await.unwrap();
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
    assert!(gateway::accounts::find_account(&app.state.db, "ada@example.com").await.unwrap().is_none());
}
