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

/// `(email, role, id)` of each invitation the browser's organisation has waiting.
async fn pending(browser: &Browser<'_>) -> Vec<(String, String, i64)> {
    let rows: serde_json::Value = browser
        .post_form("pending_invitations", &[])
        .await
        .json()
        .await
        .unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["email"].as_str().unwrap().to_owned(),
                row["role"].as_str().unwrap().to_owned(),
                row["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The token of the newest of `count` e-mails to `email`.
async fn newest_token(catcher: &SmtpCatcher, email: &str, count: usize) -> String {
    let mail = catcher.wait_for(email, count).await.pop().unwrap();
    let link = mail.link("http").unwrap();
    link.split("token=").nth(1).unwrap().to_owned()
}

/// The Members page: invitations waiting are listed until accepted or withdrawn (a withdrawn
/// link no longer works); a member's role changes, and with it what they may do; another
/// organisation can do neither to them.
async fn pending_invitations_are_listed_and_withdrawn_and_roles_change(backend: Backend) {
    let (app, catcher) = app_with_smtp(backend).await;
    app.create_account("owner@example.com").await;
    let owner = log_in(&app, "owner@example.com", PASSWORD).await;
    for (email, role) in [
        ("later@example.com", "viewer"),
        ("never@example.com", "admin"),
    ] {
        let invited = owner
            .post_form("invite_member", &[("email", email), ("role", role)])
            .await;
        assert!(invited.status().is_success());
    }
    // Invited again: the newer invitation replaces the older one (listed once).
    let again = owner
        .post_form(
            "invite_member",
            &[("email", "never@example.com"), ("role", "admin")],
        )
        .await;
    assert!(again.status().is_success());
    let waiting = pending(&owner).await;
    assert_eq!(
        waiting
            .iter()
            .map(|(e, r, _)| (e.as_str(), r.as_str()))
            .collect::<Vec<_>>(),
        [
            ("later@example.com", "viewer"),
            ("never@example.com", "admin")
        ]
    );

    // Another organisation cannot withdraw it, nor see it.
    app.create_account("eve@example.com").await;
    let eve = log_in(&app, "eve@example.com", PASSWORD).await;
    assert!(pending(&eve).await.is_empty());
    let never_id = waiting[1].2.to_string();
    let refused = eve
        .post_form("withdraw_invitation", &[("id", &never_id)])
        .await;
    assert_eq!(refused.status(), 404);

    // Withdrawn: gone from the list, and its link no longer works.
    let withdrawn = owner
        .post_form("withdraw_invitation", &[("id", &never_id)])
        .await;
    assert!(withdrawn.status().is_success(), "{}", withdrawn.status());
    assert_eq!(pending(&owner).await.len(), 1);
    // The newer of its two e-mails: the link the owner withdrew.
    let token = newest_token(&catcher, "never@example.com", 2).await;
    let stranger = Browser::new(&app);
    let details = body(
        stranger
            .post_form("invitation_details", &[("token", &token)])
            .await,
    )
    .await;
    assert!(details.contains("LinkUsed"), "{details}");
    let again = owner
        .post_form("withdraw_invitation", &[("id", &never_id)])
        .await;
    assert_eq!(again.status(), 404);

    // Accepted: no longer pending. Then the viewer becomes a member and may create keys.
    let token = newest_token(&catcher, "later@example.com", 1).await;
    let later = Browser::new(&app);
    let accepted = later
        .post_form(
            "accept_invitation",
            &[("token", &token), ("password", "tall oak river 2026")],
        )
        .await;
    assert!(accepted.status().is_success(), "{}", accepted.status());
    assert!(
        pending(&owner)
            .await
            .iter()
            .all(|(email, _, _)| email != "later@example.com")
    );
    assert_eq!(
        later
            .post_form("create_key", &[("name", "x")])
            .await
            .status(),
        403
    );
    let members: serde_json::Value = owner
        .post_form("list_members", &[])
        .await
        .json()
        .await
        .unwrap();
    let later_id = members
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["email"] == "later@example.com")
        .unwrap()["id"]
        .to_string();
    assert_eq!(
        eve.post_form("set_member_role", &[("id", &later_id), ("role", "member")])
            .await
            .status(),
        404
    );
    let changed = owner
        .post_form("set_member_role", &[("id", &later_id), ("role", "member")])
        .await;
    assert!(changed.status().is_success(), "{}", changed.status());
    assert_eq!(
        later
            .post_form("create_key", &[("name", "x")])
            .await
            .status(),
        200
    );
}

on_both_backends!(
    pending_invitations_are_listed_and_withdrawn_and_roles_change,
    a_member_resets_their_own_password,
    each_role_may_do_what_its_role_allows_and_no_more,
    removing_a_member_revokes_their_keys_and_ends_their_session,
    invitations_are_refused_for_taken_addresses_and_the_owner_role,
);
