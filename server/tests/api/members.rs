//! Organisations: invitations by e-mail, what each role may do in every server function, and
//! removing a member (their keys are revoked, their session ends). No one sees another
//! organisation's data.

use testkit::smtp::SmtpCatcher;

use crate::helpers::{Backend, OPENAI_KEY, PASSWORD, TestApp, hello, spawn_app_with};
use crate::on_both_backends;
use crate::portal::Browser;

async fn app_with_smtp(backend: Backend) -> (TestApp, SmtpCatcher) {
    let catcher = SmtpCatcher::start().await.unwrap();
    let url = catcher.url();
    let app = spawn_app_with(backend, |config| config.smtp_url = Some(url)).await;
    (app, catcher)
}

async fn body(response: reqwest::Response) -> String {
    response.text().await.unwrap()
}

async fn log_in<'a>(app: &'a TestApp, email: &str, password: &str) -> Browser<'a> {
    let browser = Browser::new(app);
    browser
        .post_form("log_in", &[("email", email), ("password", password)])
        .await;
    browser
}

/// Invites `email` as `role` from the owner's browser and accepts in a new one.
async fn join<'a>(
    app: &'a TestApp,
    catcher: &SmtpCatcher,
    owner: &Browser<'_>,
    email: &'static str,
    role: &str,
) -> Browser<'a> {
    let invited = body(
        owner
            .post_form("invite_member", &[("email", email), ("role", role)])
            .await,
    )
    .await;
    assert!(invited.contains(email), "{invited}");
    let mail = catcher
        .wait_for(email, 1)
        .await
        .pop()
        .expect("an invitation e-mail");
    assert!(mail.subject().contains("invited you"), "{}", mail.subject());
    let link = mail.link("http").expect("a link");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let browser = Browser::new(app);
    let details = body(
        browser
            .post_form("invitation_details", &[("token", &token)])
            .await,
    )
    .await;
    assert!(
        details.contains(role) && details.contains(email),
        "{details}"
    );
    let accepted = browser
        .post_form(
            "accept_invitation",
            &[("token", &token), ("password", "tall oak river 2026")],
        )
        .await;
    assert!(
        accepted.status().is_success() || accepted.status().is_redirection(),
        "{}",
        body(accepted).await
    );
    let again = body(
        browser
            .post_form(
                "accept_invitation",
                &[("token", &token), ("password", "tall oak river 2026")],
            )
            .await,
    )
    .await;
    assert!(again.contains("LinkUsed"), "{again}");
    browser
}

async fn each_role_may_do_what_its_role_allows_and_no_more(backend: Backend) {
    let (app, catcher) = app_with_smtp(backend).await;
    let owner_account = app.create_account("owner@example.com").await;
    app.add_openai(owner_account, OPENAI_KEY).await;
    let owner = log_in(&app, "owner@example.com", PASSWORD).await;
    let admin = join(&app, &catcher, &owner, "admin@example.com", "admin").await;
    let member = join(&app, &catcher, &owner, "member@example.com", "member").await;
    let viewer = join(&app, &catcher, &owner, "viewer@example.com", "viewer").await;
    let people = [
        ("owner", &owner),
        ("admin", &admin),
        ("member", &member),
        ("viewer", &viewer),
    ];
    // Each sees who is signed in: their own address, not the owner's.
    for (email, browser) in [
        ("owner@example.com", &owner),
        ("viewer@example.com", &viewer),
    ] {
        let stats = browser.post_form("dashboard_stats", &[]).await;
        let stats: serde_json::Value = stats.json().await.unwrap();
        assert_eq!(stats["email"], email);
    }

    // (server function, form, roles allowed)
    let checks: &[(&str, &[(&str, &str)], &[&str])] = &[
        ("list_members", &[], &["owner", "admin"]),
        ("list_providers", &[], &["owner", "admin"]),
        ("load_routing", &[("scope", "account")], &["owner", "admin"]),
        (
            "set_limits",
            &[
                ("scope", "account"),
                ("budget_usd", ""),
                ("alert_at_percent", ""),
                ("requests_per_minute", "1000"),
                ("tokens_per_minute", ""),
            ],
            &["owner", "admin"],
        ),
        ("billing_overview", &[], &["owner"]),
        (
            "create_key",
            &[("name", "mine")],
            &["owner", "admin", "member"],
        ),
        ("list_keys", &[], &["owner", "admin", "member"]),
        (
            "analytics_report",
            &[("range", "7d")],
            &["owner", "admin", "member", "viewer"],
        ),
        (
            "dashboard_stats",
            &[],
            &["owner", "admin", "member", "viewer"],
        ),
    ];
    for (function, form, allowed) in checks {
        for (role, browser) in people {
            let response = browser.post_form(function, form).await;
            let text = body(response).await;
            let refused = text.contains("NotAllowed");
            assert_eq!(
                !refused,
                allowed.contains(&role),
                "{role} calling {function}: {text}"
            );
            if refused {
                assert!(
                    text.contains(&format!(r#"{{"NotAllowed":{{"role":"{role}"}}}}"#)),
                    "{text}"
                );
            }
        }
    }

    // A member sees and revokes only their own keys; admins see everyone's.
    let member_keys: serde_json::Value =
        serde_json::from_str(&body(member.post_form("list_keys", &[]).await).await).unwrap();
    assert_eq!(member_keys.as_array().unwrap().len(), 1, "{member_keys}");
    let all_keys: serde_json::Value =
        serde_json::from_str(&body(admin.post_form("list_keys", &[]).await).await).unwrap();
    assert_eq!(
        all_keys.as_array().unwrap().len(),
        3,
        "owner's, admin's and member's: {all_keys}"
    );
    let owners_key = all_keys
        .as_array()
        .unwrap()
        .iter()
        .find(|key| !member_keys.as_array().unwrap().contains(key))
        .unwrap()["id"]
        .to_string();
    let refused = body(member.post_form("revoke_key", &[("id", &owners_key)]).await).await;
    assert!(refused.contains("KeyNotFound"), "{refused}");

    // Another organisation's admin sees none of this one.
    app.create_account("other-owner@example.com").await;
    let outsider = log_in(&app, "other-owner@example.com", PASSWORD).await;
    let theirs = body(outsider.post_form("list_members", &[]).await).await;
    assert!(
        !theirs.contains("member@example.com") && theirs.contains("other-owner"),
        "{theirs}"
    );
    let refused = body(
        outsider
            .post_form("revoke_key", &[("id", &owners_key)])
            .await,
    )
    .await;
    assert!(refused.contains("KeyNotFound"), "{refused}");
}

async fn removing_a_member_revokes_their_keys_and_ends_their_session(backend: Backend) {
    let (app, catcher) = app_with_smtp(backend).await;
    let owner_account = app.create_account("boss@example.com").await;
    app.add_openai(owner_account, OPENAI_KEY).await;
    let owner = log_in(&app, "boss@example.com", PASSWORD).await;
    let member = join(&app, &catcher, &owner, "leaver@example.com", "member").await;
    let created: serde_json::Value = serde_json::from_str(
        &body(member.post_form("create_key", &[("name", "leaver")]).await).await,
    )
    .unwrap();
    let key = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.chat(Some(&key), &hello()).await.status(), 200);
    let owners_key = app.create_key(owner_account).await;

    let members: serde_json::Value =
        serde_json::from_str(&body(owner.post_form("list_members", &[]).await).await).unwrap();
    let member_id = members
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["email"] == "leaver@example.com")
        .unwrap()["id"]
        .to_string();
    let removed = owner
        .post_form("remove_member", &[("id", &member_id)])
        .await;
    assert!(removed.status().is_success(), "{}", body(removed).await);

    assert_eq!(
        app.chat(Some(&key), &hello()).await.status(),
        401,
        "the member's key is revoked"
    );
    assert_eq!(
        app.chat(Some(&owners_key), &hello()).await.status(),
        200,
        "others' keys stay"
    );
    let after = body(member.post_form("list_keys", &[]).await).await;
    assert!(after.contains("NotLoggedIn"), "{after}");
    let login = body(
        member
            .post_form(
                "log_in",
                &[
                    ("email", "leaver@example.com"),
                    ("password", "tall oak river 2026"),
                ],
            )
            .await,
    )
    .await;
    assert!(login.contains("WrongCredentials"), "{login}");
}

async fn invitations_are_refused_for_taken_addresses_and_the_owner_role(backend: Backend) {
    let catcher = SmtpCatcher::start().await.unwrap();
    let url = catcher.url();
    let app = spawn_app_with(backend, |config| {
        config.smtp_url = Some(url);
        config.invitations_per_account_per_hour = 3;
    })
    .await;
    app.create_account("first@example.com").await;
    app.create_account("second@example.com").await;
    let owner = log_in(&app, "first@example.com", PASSWORD).await;
    // The inviter gets the same answer for an address with a login elsewhere as for a new one:
    // who has an account is not theirs to learn.
    let mut answers = Vec::new();
    for email in ["second@example.com", "fresh@example.com"] {
        let response = owner
            .post_form("invite_member", &[("email", email), ("role", "member")])
            .await;
        let status = response.status();
        answers.push((status, body(response).await.replace(email, "<address>")));
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].0.is_success(), "{answers:?}");
    // Whoever follows the link to the taken address is told, and nothing is created.
    let mail = catcher
        .wait_for("second@example.com", 1)
        .await
        .pop()
        .unwrap();
    let link = mail.link("http").expect("a link");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let invitee = Browser::new(&app);
    let details = body(
        invitee
            .post_form("invitation_details", &[("token", &token)])
            .await,
    )
    .await;
    assert!(details.contains("AddressTaken"), "{details}");
    let accepted = body(
        invitee
            .post_form(
                "accept_invitation",
                &[("token", &token), ("password", "tall oak river 2026")],
            )
            .await,
    )
    .await;
    assert!(accepted.contains("AddressTaken"), "{accepted}");

    // Invitations are e-mails to addresses of the inviter's choosing: a few per hour.
    let third = owner
        .post_form(
            "invite_member",
            &[("email", "third@example.com"), ("role", "member")],
        )
        .await;
    assert!(third.status().is_success());
    let fourth = owner
        .post_form(
            "invite_member",
            &[("email", "fourth@example.com"), ("role", "member")],
        )
        .await;
    assert_eq!(fourth.status(), 429);
    assert!(body(fourth).await.contains("TooManyInvitations"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        catcher
            .messages()
            .iter()
            .all(|mail| mail.to.iter().all(|to| !to.starts_with("fourth@"))),
        "no mail over the limit"
    );
    let as_owner = body(
        owner
            .post_form(
                "invite_member",
                &[("email", "third@example.com"), ("role", "owner")],
            )
            .await,
    )
    .await;
    assert!(as_owner.contains("ChooseRole"), "{as_owner}");
    let forged = body(
        Browser::new(&app)
            .post_form("invitation_details", &[("token", &"a".repeat(64))])
            .await,
    )
    .await;
    assert!(forged.contains("LinkInvalid"), "{forged}");
}

/// A member who forgot their password resets it by e-mail; the owner's password stays.
async fn a_member_resets_their_own_password(backend: Backend) {
    let (app, catcher) = app_with_smtp(backend).await;
    app.create_account("lead@example.com").await;
    let owner = log_in(&app, "lead@example.com", PASSWORD).await;
    join(&app, &catcher, &owner, "forgetful@example.com", "viewer").await;
    let asked = Browser::new(&app)
        .post_form(
            "request_password_reset",
            &[("email", "forgetful@example.com")],
        )
        .await;
    assert!(asked.status().is_success());
    let mails = catcher.wait_for("forgetful@example.com", 2).await;
    let link = mails.last().unwrap().link("http").unwrap();
    assert!(link.contains("/reset?token="), "{link}");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let reset = Browser::new(&app)
        .post_form(
            "reset_password",
            &[("token", &token), ("password", "quiet harbour 1984")],
        )
        .await;
    assert!(
        reset.status().is_success() || reset.status().is_redirection(),
        "{}",
        body(reset).await
    );
    let member = log_in(&app, "forgetful@example.com", "quiet harbour 1984").await;
    assert!(
        body(member.post_form("dashboard_stats", &[]).await)
            .await
            .contains("requests_this_month")
    );
    let owner_again = log_in(&app, "lead@example.com", PASSWORD).await;
    assert!(
        !body(owner_again.post_form("list_members", &[]).await)
            .await
            .contains("NotLoggedIn")
    );
}

on_both_backends!(
    a_member_resets_their_own_password,
    each_role_may_do_what_its_role_allows_and_no_more,
    removing_a_member_revokes_their_keys_and_ends_their_session,
    invitations_are_refused_for_taken_addresses_and_the_owner_role,
);
