//! E-mail through a real SMTP conversation with a catcher on 127.0.0.1: address verification at
//! sign-up, password reset, budget alerts; one-time links expired, reused and forged.

use gateway::limits::Limits;
use gateway::sea_orm::{ConnectionTrait, Statement};
use testkit::smtp::SmtpCatcher;

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app_with};
use crate::on_both_backends;
use crate::portal::Browser;

async fn app_with_smtp(backend: Backend) -> (TestApp, SmtpCatcher) {
    let catcher = SmtpCatcher::start().await.unwrap();
    let url = catcher.url();
    let app = spawn_app_with(backend, |config| {
        config.smtp_url = Some(url);
        config.mail_from = "LLM Gateway <noreply@gateway.test>".into();
    })
    .await;
    (app, catcher)
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap_or_default().to_owned()
}

async fn text(response: reqwest::Response) -> String {
    response.text().await.unwrap()
}

async fn sign_up_is_confirmed_by_a_one_time_link_before_keys(backend: Backend) {
    let (app, catcher) = app_with_smtp(backend).await;
    let mut browser = Browser::new(&app);
    browser.language = Some("es-MX,es;q=0.9,en;q=0.5");
    // With a mail server even the first account follows its link.
    let signed_up = browser
        .post_form(
            "sign_up",
            &[("email", "sofia@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(signed_up.headers().get("set-cookie").is_none());
    assert_eq!(
        signed_up.json::<serde_json::Value>().await.unwrap()["ready"],
        false
    );

    let mails = catcher.wait_for("sofia@example.com", 1).await;
    assert_eq!(mails.len(), 1, "one confirmation e-mail");
    let mail = &mails[0];
    assert_eq!(mail.from, "noreply@gateway.test");
    assert!(
        mail.subject().contains("Confirma tu dirección"),
        "{}",
        mail.subject()
    );
    assert_eq!(mail.header("Content-Language").as_deref(), Some("es"));
    let link = mail
        .link(&format!("{}/verify?token=", app.state.settings.link_base))
        .expect("a link to /verify");

    // Unconfirmed: the right password is answered like a wrong one, and a fresh link goes out
    // (the first one stops working).
    let early = text(
        browser
            .post_form(
                "log_in",
                &[("email", "sofia@example.com"), ("password", PASSWORD)],
            )
            .await,
    )
    .await;
    assert!(early.contains("WrongCredentials"), "{early}");
    let mails = catcher.wait_for("sofia@example.com", 2).await;
    let newest = mails[1]
        .link(&format!("{}/verify?token=", app.state.settings.link_base))
        .expect("a fresh link to /verify");
    let stale = text(
        browser
            .post_form("confirm_email", &[("token", &token_of(&link))])
            .await,
    )
    .await;
    assert!(
        stale.contains("LinkUsed") || stale.contains("LinkInvalid"),
        "{stale}"
    );
    let link = newest;
    let refused = text(browser.post_form("create_key", &[("name", "first")]).await).await;
    assert!(refused.contains("NotLoggedIn"), "{refused}");

    // A forged token, then the real one, then the real one again.
    let forged = "0".repeat(64);
    let answer = text(
        browser
            .post_form("confirm_email", &[("token", &forged)])
            .await,
    )
    .await;
    assert!(answer.contains("LinkInvalid"), "{answer}");
    let confirmed = browser
        .post_form("confirm_email", &[("token", &token_of(&link))])
        .await;
    assert!(confirmed.status().is_success(), "{}", text(confirmed).await);
    let again = text(
        browser
            .post_form("confirm_email", &[("token", &token_of(&link))])
            .await,
    )
    .await;
    assert!(again.contains("LinkUsed"), "{again}");
    let created = browser.post_form("create_key", &[("name", "first")]).await;
    assert!(created.status().is_success(), "{}", text(created).await);
    assert!(text(created).await.contains("gw_"));
}

async fn password_reset_links_work_once_and_expire(backend: Backend) {
    let (app, catcher) = app_with_smtp(backend).await;
    app.create_account("reset@example.com").await;
    // A session opened with the old password, which the reset ends.
    let earlier = Browser::new(&app);
    earlier
        .post_form(
            "log_in",
            &[("email", "reset@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(
        text(earlier.post_form("list_keys", &[]).await)
            .await
            .starts_with('[')
    );
    let export = "/analytics/export.csv?range=7d";
    assert_eq!(earlier.get(export).await.status(), 200);
    let browser = Browser::new(&app);
    let ask = |email: &'static str| {
        let browser = &browser;
        async move {
            text(
                browser
                    .post_form("request_password_reset", &[("email", email)])
                    .await,
            )
            .await
        }
    };
    // Known and unknown addresses get the same answer; only the known one gets mail.
    let known = ask("reset@example.com").await;
    let unknown = ask("nobody@example.com").await;
    assert_eq!(known, unknown);
    let mails = catcher.wait_for("reset@example.com", 1).await;
    assert_eq!(mails.len(), 1);
    assert!(
        catcher
            .messages()
            .iter()
            .all(|m| !m.to.contains(&"nobody@example.com".to_owned()))
    );
    assert!(
        mails[0]
            .subject()
            .contains("Reset your LLM Gateway password")
    );
    let first = token_of(&mails[0].link("http").unwrap());

    // A second request replaces the first link.
    ask("reset@example.com").await;
    let mails = catcher.wait_for("reset@example.com", 2).await;
    let second = token_of(&mails[1].link("http").unwrap());
    // The page says at once whether its link still works: the replaced link, a made-up one.
    let page = |token: String| {
        let browser = &browser;
        async move { text(browser.get(&format!("/reset?token={token}")).await).await }
    };
    assert!(!page(second.clone()).await.contains("This link"));
    assert!(
        page(first.clone())
            .await
            .contains("This link has already been used")
    );
    assert!(
        page("0".repeat(64))
            .await
            .contains("This link is not valid")
    );
    let reset = |token: String, password: &'static str| {
        let browser = &browser;
        async move {
            text(
                browser
                    .post_form(
                        "reset_password",
                        &[("token", &token), ("password", password)],
                    )
                    .await,
            )
            .await
        }
    };
    assert!(
        reset(first, "a brand new passphrase 7")
            .await
            .contains("LinkUsed")
    );
    // A weak password is refused without spending the link.
    assert!(
        reset(second.clone(), "short")
            .await
            .contains("PasswordTooShort")
    );
    let done = browser
        .post_form(
            "reset_password",
            &[("token", &second), ("password", "a brand new passphrase 7")],
        )
        .await;
    assert!(
        done.status().is_success() || done.status().is_redirection(),
        "{}",
        text(done).await
    );
    assert!(
        reset(second, "another passphrase 99")
            .await
            .contains("LinkUsed")
    );
    // The CSV export, outside the server functions, refuses the old session as well.
    let refused = earlier.get(export).await;
    assert_eq!(
        refused.status(),
        303,
        "the export ends with the old password"
    );
    assert_eq!(refused.headers()["location"], "/login");
    let ended = text(earlier.post_form("list_keys", &[]).await).await;
    assert!(
        ended.contains("NotLoggedIn"),
        "the old session ends: {ended}"
    );
    let db = &app.state.db;
    assert!(
        gateway::accounts::authenticate_password(
            db,
            "reset@example.com",
            "a brand new passphrase 7"
        )
        .await
        .is_ok()
    );
    assert!(
        gateway::accounts::authenticate_password(db, "reset@example.com", PASSWORD)
            .await
            .is_err()
    );

    // An expired link says so.
    ask("reset@example.com").await;
    let mails = catcher.wait_for("reset@example.com", 3).await;
    let third = token_of(&mails[2].link("http").unwrap());
    db.execute(Statement::from_string(
        db.get_database_backend(),
        "UPDATE email_tokens SET expires_at = 1 WHERE used_at IS NULL".to_owned(),
    ))
    .await
    .unwrap();
    assert!(
        reset(third, "yet another passphrase 5")
            .await
            .contains("LinkExpired")
    );
}

async fn a_budget_alert_is_mailed_once_when_the_threshold_is_reached(backend: Backend) {
    let (app, catcher) = app_with_smtp(backend).await;
    let tenant = app.tenant("alerts@example.com").await;
    // 8,850 nano-dollars a request (19 + 10 tokens of gpt-4o-mini): the second request reaches
    // half of a 30,000 budget.
    let limits = Limits {
        monthly_budget_usd: Some(30_000e-9),
        alert_at_percent: Some(50),
        ..Limits::default()
    };
    // An admin of the organisation is told too; a viewer is not.
    for (email, role) in [
        ("fin@example.com", gateway::accounts::members::Role::Admin),
        ("peek@example.com", gateway::accounts::members::Role::Viewer),
    ] {
        let db = &app.state.db;
        let token = gateway::accounts::members::invite(db, tenant.account_id, email, role)
            .await
            .unwrap()
            .token;
        gateway::accounts::members::accept_invitation(
            db,
            &token,
            "tall oak river 2026",
            Default::default(),
        )
        .await
        .unwrap();
    }
    app.state
        .set_account_limits(tenant.account_id, &limits)
        .await
        .unwrap();
    let body = serde_json::json!({"model": "openai/gpt-4o-mini", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..3 {
        let status = app.chat(Some(&tenant.key), &body).await.status();
        assert!(status == 200 || status == 429, "{status}");
    }
    let mails = catcher.wait_for("alerts@example.com", 1).await;
    assert_eq!(mails.len(), 1, "exactly one alert");
    assert!(
        mails[0].subject().contains("50% of the monthly budget"),
        "{}",
        mails[0].subject()
    );
    assert!(mails[0].text().contains("Your organisation has spent"));
    // Later requests of the month send nothing more.
    app.chat(Some(&tenant.key), &body).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(catcher.wait_for("alerts@example.com", 2).await.len(), 1);
    assert_eq!(catcher.wait_for("fin@example.com", 1).await.len(), 1);
    assert!(catcher.wait_for("peek@example.com", 1).await.is_empty());
}

/// Sign-up does not tell which addresses have accounts: an address with an account and a new one
/// get the same answer, neither opens a session, the password chosen logs in to neither until the
/// link is followed, and only the e-mail differs — which goes to the address's owner.
async fn sign_up_does_not_tell_who_has_an_account(backend: Backend) {
    let (app, catcher) = app_with_smtp(backend).await;
    app.create_account("taken@example.com").await;
    let chosen = "another sturdy passphrase 7";
    let sign_up = |email: &'static str| {
        let app = &app;
        async move {
            let browser = Browser::new(app);
            let response = browser
                .post_form("sign_up", &[("email", email), ("password", chosen)])
                .await;
            let status = response.status();
            let cookie = response.headers().get("set-cookie").cloned();
            let body = text(response).await.replace(email, "ADDRESS");
            let log_in = browser
                .post_form("log_in", &[("email", email), ("password", chosen)])
                .await;
            let log_in = (log_in.status(), text(log_in).await);
            (status, cookie, body, log_in)
        }
    };
    let taken = sign_up("taken@example.com").await;
    let fresh = sign_up("fresh@example.com").await;
    assert_eq!(taken.0, 200);
    assert!(
        taken.1.is_none() && fresh.1.is_none(),
        "no session either way"
    );
    assert_eq!((taken.0, &taken.2), (fresh.0, &fresh.2));
    assert_eq!(taken.3, fresh.3);
    assert!(taken.3.1.contains("WrongCredentials"), "{}", taken.3.1);

    // The owner is told, with no link that changes anything; the account keeps its password.
    let owner = catcher.wait_for("taken@example.com", 1).await;
    assert!(
        owner[0].subject().contains("already have"),
        "{}",
        owner[0].subject()
    );
    let body = owner[0].text();
    let base = &app.state.settings.link_base;
    assert!(body.contains(&format!("{base}/login")) && body.contains(&format!("{base}/forgot")));
    assert!(!body.contains("token="), "{body}");
    gateway::accounts::authenticate_password(&app.state.db, "taken@example.com", PASSWORD)
        .await
        .expect("the account keeps its password");

    // The new address gets its link (and another after the early log-in); a later sign-up of the
    // still unconfirmed address takes over: its password, and only its link works.
    let fresh_mails = catcher.wait_for("fresh@example.com", 2).await;
    let verify = format!("{base}/verify?token=");
    let first = fresh_mails[0].link(&verify).expect("a confirmation link");
    let owner_browser = Browser::new(&app);
    owner_browser
        .post_form(
            "sign_up",
            &[("email", "fresh@example.com"), ("password", PASSWORD)],
        )
        .await;
    let mails = catcher.wait_for("fresh@example.com", 3).await;
    let latest = mails[2].link(&verify).expect("a confirmation link");
    let stale = text(
        owner_browser
            .post_form("confirm_email", &[("token", &token_of(&first))])
            .await,
    )
    .await;
    assert!(
        stale.contains("LinkUsed") || stale.contains("LinkInvalid"),
        "{stale}"
    );
    let confirmed = owner_browser
        .post_form("confirm_email", &[("token", &token_of(&latest))])
        .await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(
        owner_browser.get("/keys").await.status(),
        200,
        "the link logs in"
    );
    let db = &app.state.db;
    assert!(
        gateway::accounts::authenticate_password(db, "fresh@example.com", chosen)
            .await
            .is_err()
    );
    gateway::accounts::authenticate_password(db, "fresh@example.com", PASSWORD)
        .await
        .expect("the latest sign-up's password");
}

on_both_backends!(
    sign_up_does_not_tell_who_has_an_account,
    sign_up_is_confirmed_by_a_one_time_link_before_keys,
    password_reset_links_work_once_and_expire,
    a_budget_alert_is_mailed_once_when_the_threshold_is_reached,
);

/// The language switch's cookie outranks the browser's Accept-Language for e-mails too.
#[tokio::test]
async fn mail_follows_the_language_switch_over_the_browser() {
    let (app, catcher) = app_with_smtp(Backend::Sqlite).await;
    let signed_up = app
        .http
        .post(app.url("/api/sign_up"))
        .header("origin", format!("http://{}", app.addr))
        .header("accept-language", "en-US,en;q=0.9")
        .header("cookie", "i18n_pref_locale=es")
        .form(&[("email", "lucia@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(
        signed_up.status().is_success() || signed_up.status().is_redirection(),
        "{}",
        signed_up.status()
    );
    let mails = catcher.wait_for("lucia@example.com", 1).await;
    assert_eq!(mails[0].header("Content-Language").as_deref(), Some("es"));
    assert!(
        mails[0].subject().contains("Confirma tu dirección"),
        "{}",
        mails[0].subject()
    );
}
