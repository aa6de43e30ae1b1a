//! Server-only helpers shared by the portal's server functions.

use gateway::state::GatewayState;
use leptos::prelude::use_context;
use tower_sessions::Session;

use crate::error::{PortalError, Problem};

/// Session entry holding the logged-in account's (organisation's) id.
pub const ACCOUNT_ID: &str = "account_id";
/// Session entry holding the member's id when a member (not the owner) is logged in.
pub const MEMBER_ID: &str = "member_id";
/// Session entry holding the fingerprint of the password the session was opened with.
pub const AUTH_STAMP: &str = "auth_stamp";

pub fn state() -> Result<GatewayState, PortalError> {
    use_context::<GatewayState>().ok_or_else(|| {
        tracing::error!("GatewayState missing from the Leptos context");
        PortalError::Internal
    })
}

pub async fn session() -> Result<Session, PortalError> {
    leptos_axum::extract::<Session>().await.map_err(|err| {
        tracing::error!(error = %err, "no session layer in front of the portal");
        PortalError::Internal
    })
}

/// The logged-in account, or `NotLoggedIn`.
pub async fn require_account() -> Result<i32, PortalError> {
    Ok(signed_in().await?.account_id)
}

/// The logged-in person, if their role allows `action`.
pub async fn require(
    action: gateway::accounts::members::Action,
) -> Result<gateway::accounts::members::Actor, PortalError> {
    let actor = signed_in().await?;
    if !actor.role.allows(action) {
        return Err(gateway::accounts::AccountError::NotAllowed(actor.role.id()).into());
    }
    Ok(actor)
}

async fn signed_in() -> Result<gateway::accounts::members::Actor, PortalError> {
    actor_of_session(&session().await?, &state()?.db).await
}

/// The person `session` names, read with one query. A removed member, or a session opened
/// before the password changed (a reset), is logged out. Server functions and the routes
/// outside them (the CSV export) check a session with this.
pub async fn actor_of_session(
    session: &Session,
    db: &gateway::sea_orm::DatabaseConnection,
) -> Result<gateway::accounts::members::Actor, PortalError> {
    let store_failed = |err: tower_sessions::session::Error| {
        tracing::error!(error = %err, "session store failed");
        PortalError::Internal
    };
    let Some(account_id) = session.get::<i32>(ACCOUNT_ID).await.map_err(store_failed)? else {
        return Err(PortalError::NotLoggedIn);
    };
    let member_id = session.get::<i32>(MEMBER_ID).await.map_err(store_failed)?;
    let opened_with = session
        .get::<String>(AUTH_STAMP)
        .await
        .map_err(store_failed)?;
    let found = gateway::accounts::members::signed_in(db, account_id, member_id).await?;
    match found {
        Some((actor, stamp)) if opened_with.as_ref() == Some(&stamp) => Ok(actor),
        _ => {
            let _ = session.flush().await;
            Err(PortalError::NotLoggedIn)
        }
    }
}

/// Starts a logged-in session under a fresh id (no session fixation).
pub async fn log_in(account_id: i32) -> Result<(), PortalError> {
    log_in_as(account_id, None).await
}

/// A session for the owner (`member_id` `None`) or a member of the organisation.
pub async fn log_in_as(account_id: i32, member_id: Option<i32>) -> Result<(), PortalError> {
    let session = session().await?;
    let stamp = gateway::accounts::members::auth_stamp(&state()?.db, account_id, member_id)
        .await?
        .ok_or(PortalError::NotLoggedIn)?;
    let stored = async {
        session.cycle_id().await?;
        session.insert(ACCOUNT_ID, account_id).await?;
        session.insert(AUTH_STAMP, stamp).await?;
        match member_id {
            Some(member_id) => session.insert(MEMBER_ID, member_id).await,
            None => session.remove::<i32>(MEMBER_ID).await.map(|_| ()),
        }
    };
    stored.await.map_err(|err| {
        tracing::error!(error = %err, "could not store the session");
        PortalError::Internal
    })
}

/// The client's address as the log-in limits count it (see `GatewaySettings::client_address`).
async fn client_address(state: &GatewayState) -> std::net::IpAddr {
    use axum::extract::ConnectInfo;
    let peer = leptos_axum::extract::<ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|ConnectInfo(peer)| peer);
    let headers = leptos_axum::extract::<axum::http::HeaderMap>()
        .await
        .unwrap_or_default();
    // Unknown addresses share one allowance rather than escape the limit.
    state
        .settings
        .client_address(&headers, peer)
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// A 429 with the problem the form shows.
pub fn too_many(problem: Problem) -> PortalError {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::TOO_MANY_REQUESTS);
    }
    PortalError::Refused(problem)
}

/// Counts a log-in attempt against the address's and the account's allowance.
pub async fn admit_log_in(state: &GatewayState, email: &str) -> Result<(), PortalError> {
    use gateway::abuse::AttemptRefusal;
    let address = client_address(state).await;
    state
        .abuse
        .admit_login(address, email)
        .map_err(|refusal| match refusal {
            AttemptRefusal::Address(throttled) => too_many(Problem::TooManyLogInsFromNetwork {
                seconds: throttled.retry_after_secs(),
            }),
            AttemptRefusal::Account(throttled) => too_many(Problem::TooManyLogInsForAccount {
                seconds: throttled.retry_after_secs(),
            }),
        })
}

/// Counts a sign-up against the address's allowance.
pub async fn admit_sign_up(state: &GatewayState) -> Result<(), PortalError> {
    let address = client_address(state).await;
    state.abuse.admit_signup(address).map_err(|throttled| {
        too_many(Problem::TooManySignUps {
            minutes: throttled.retry_after_secs().div_ceil(60),
        })
    })
}

/// The baseline savings are measured against, for the account or one of its keys, as
/// `provider/model`, and whether it is the default (the first provider's flagship) rather than
/// chosen. `None` before the account has a provider.
pub async fn baseline_of(
    state: &GatewayState,
    account_id: i32,
    key_id: Option<i32>,
) -> Result<(Option<String>, bool), PortalError> {
    let account = state.directory.account(account_id).await.map_err(|err| {
        tracing::error!(error = %err, account_id, "could not load the account");
        PortalError::Internal
    })?;
    let policy = match key_id {
        Some(id) => account.routing.effective(id),
        None => account.routing.account.clone(),
    };
    let baseline =
        gateway::routing::baseline_model(&policy, &account.providers).map(|model| model.name());
    Ok((baseline, policy.baseline_model.is_none()))
}
