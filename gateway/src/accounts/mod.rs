//! Accounts, gateway keys and provider credentials: the operations the portal and the CLI share.
//! Every query is scoped by account id, so one tenant never reaches another's rows.
//!
//! Each change to an account's keys or providers bumps `accounts.updated_at`, which running
//! servers watch to evict their caches (see [`crate::directory`]).
//! Keys, provider credentials and routing overrides are in [`keys`], [`providers`] and
//! [`routing`]; their functions are re-exported here. A running server makes these changes
//! through [`crate::state::GatewayState`]'s operations, which also evict what it keeps in memory.

mod keys;
mod limits;
pub mod members;
mod providers;
mod routing;
pub mod tokens;
pub mod verification;

pub use keys::{
    CreatedKey, create_gateway_key, create_member_key, find_key_by_prefix, list_gateway_keys,
    revoke_gateway_key,
};
pub use limits::{AccountLimits, account_limits, set_account_limits, set_key_limits};
pub(crate) use providers::provider_credentials;
pub use providers::{
    ProviderView, add_provider, delete_provider, list_providers, reseal_provider_keys,
};
pub use routing::{
    RoutingPolicies, latest_threshold_change, routing_policies, set_account_routing_policy,
    set_key_routing_policy,
};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Set, SqlErr, TransactionTrait,
};

use crate::clock::now_ms;
use crate::crypto::{self, CryptoError};
use crate::entities::account;
use crate::providers::ProviderKind;
use crate::routing::policy::PolicyError;

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 1024;
pub const MAX_KEY_NAME_LEN: usize = 100;

pub use crate::plans::Plan;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Enter a valid email address.")]
    InvalidEmail,
    #[error("An account with this email already exists.")]
    EmailTaken,
    #[error("{0}")]
    WeakPassword(Weakness),
    #[error("Wrong email or password.")]
    WrongCredentials,
    /// The right password for an account whose address is not confirmed yet. Answered exactly as
    /// [`Self::WrongCredentials`] (else signing up an address and logging in with the password
    /// chosen would tell whether it had an account); the portal sends the link again.
    #[error("Wrong email or password.")]
    Unconfirmed(i32),
    #[error("no account with email {0}")]
    UnknownEmail(String),
    #[error("no such key")]
    KeyNotFound,
    #[error("the prefix {prefix:?} matches {count} keys; give more characters")]
    AmbiguousKeyPrefix { prefix: String, count: usize },
    #[error("Key names are at most {MAX_KEY_NAME_LEN} characters.")]
    KeyNameTooLong,
    #[error("Unknown provider {0:?}; expected one of: {list}.", list = ProviderKind::ALL.iter().map(|k| k.id()).collect::<Vec<_>>().join(", "))]
    UnknownProvider(String),
    #[error("Enter the provider's API key.")]
    MissingApiKey,
    /// A `gw_` key of this gateway as a provider key: every call would come back here.
    #[error(
        "This is a gateway key (gw_…), not the provider's: enter the key the provider gave you."
    )]
    ProviderKeyIsGatewayKey,
    #[error("The base URL must be an http:// or https:// URL: {0}")]
    InvalidBaseUrl(String),
    #[error("The gateway will not connect to {url}: {refusal}.")]
    BaseUrlRefused {
        url: String,
        refusal: crate::egress::EgressRefusal,
    },
    #[error("no such provider")]
    ProviderNotFound,
    /// A plan's limit on keys or providers.
    #[error("{0}")]
    PlanLimit(PlanLimitHit),
    /// A verification, reset or invitation link that cannot be used.
    #[error("{0}")]
    Link(tokens::TokenError),
    /// Inviting, changing or removing members.
    #[error("{0}")]
    Members(members::MemberProblem),
    #[error("Your role ({0}) does not allow this. Ask an owner or an admin of your organisation.")]
    NotAllowed(&'static str),
    #[error(
        "Confirm your e-mail address first: follow the link we sent to {0}, or ask for a new one."
    )]
    EmailNotVerified(String),
    #[error("Invalid limits: {0}")]
    InvalidLimits(#[from] crate::limits::LimitsError),
    #[error("Invalid routing policy: {0}")]
    InvalidPolicy(#[from] PolicyError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// Why a password was refused. The portal words it in the person's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Weakness {
    #[error("Choose a password of at least {MIN_PASSWORD_LEN} characters.")]
    TooShort,
    #[error("Passwords are at most {MAX_PASSWORD_LEN} characters.")]
    TooLong,
    #[error("This password repeats too few characters; choose a less predictable one.")]
    Repetitive,
    #[error("This password is too easy to guess; avoid common words and your email.")]
    Guessable,
}

/// A plan allows no more gateway keys or providers. `included` is the plan's limit as shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanLimitHit {
    #[error(
        "The {plan} plan includes {included} gateway keys and this account has {in_use} active. Revoke a key, or upgrade for more."
    )]
    GatewayKeys {
        plan: &'static str,
        included: String,
        in_use: u64,
    },
    #[error(
        "The {plan} plan includes {included} providers and this account has {in_use}. Remove one, or upgrade for more."
    )]
    Providers {
        plan: &'static str,
        included: String,
        in_use: u64,
    },
}

/// Normalises and checks an email address: trimmed, lower-cased, one `@` with text around it.
pub fn normalize_email(email: &str) -> Result<String, AccountError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(AccountError::InvalidEmail)
    }
}

/// Length first (NIST 800-63B), plus a refusal of the obviously guessable.
pub fn check_password_strength(password: &str, email: &str) -> Result<(), AccountError> {
    let weak = |why: Weakness| Err(AccountError::WeakPassword(why));
    let length = password.chars().count();
    if length < MIN_PASSWORD_LEN {
        return weak(Weakness::TooShort);
    }
    if length > MAX_PASSWORD_LEN {
        return weak(Weakness::TooLong);
    }
    let distinct: std::collections::HashSet<char> = password.chars().collect();
    if distinct.len() < 4 {
        return weak(Weakness::Repetitive);
    }
    let lowered = password.to_lowercase();
    let local_part = email.split('@').next().unwrap_or_default();
    let common = [
        "password", "123456", "qwerty", "letmein", "welcome", "iloveyou", "admin",
    ];
    if common.iter().any(|word| lowered.contains(word))
        || (local_part.len() >= 4 && lowered.contains(local_part))
    {
        return weak(Weakness::Guessable);
    }
    Ok(())
}

/// An account whose address counts as confirmed: made by the operator (CLI) or by tests.
pub async fn create_account(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
    plan: Plan,
) -> Result<account::Model, AccountError> {
    let email = normalize_email(email)?;
    check_password_strength(password, &email)?;
    if find_account(db, &email).await?.is_some()
        || members::find_member(db, &email).await?.is_some()
    {
        return Err(AccountError::EmailTaken);
    }
    let password_hash = crypto::hash_password(password.to_owned()).await?;
    let new = NewAccount {
        email,
        password_hash,
        plan,
        email_verified_at: Some(now_ms()),
        lang: crate::mail::Lang::En,
    };
    insert_account(db, new).await
}

/// A row for `accounts`: the address normalised, the password hashed.
pub(crate) struct NewAccount {
    pub email: String,
    pub password_hash: String,
    pub plan: Plan,
    pub email_verified_at: Option<i64>,
    pub lang: crate::mail::Lang,
}

/// Inserts the account; `EmailTaken` when the address has one already (two sign-ups racing for
/// one address: the unique index decides).
pub(crate) async fn insert_account(
    db: &impl ConnectionTrait,
    new: NewAccount,
) -> Result<account::Model, AccountError> {
    let now = now_ms();
    let inserted = account::ActiveModel {
        email: Set(new.email),
        password_hash: Set(new.password_hash),
        plan: Set(new.plan.id().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        email_verified_at: Set(new.email_verified_at),
        locale: Set(Some(new.lang.code().to_owned())),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(account) => Ok(account),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(AccountError::EmailTaken)
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn find_account(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<account::Model>, AccountError> {
    let Ok(email) = normalize_email(email) else {
        return Ok(None);
    };
    Ok(account::Entity::find()
        .filter(account::Column::Email.eq(email))
        .one(db)
        .await?)
}

pub async fn account_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<account::Model, AccountError> {
    find_account(db, email)
        .await?
        .ok_or_else(|| AccountError::UnknownEmail(email.trim().to_owned()))
}

pub async fn account_by_id(
    db: &impl ConnectionTrait,
    account_id: i32,
) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find_by_id(account_id).one(db).await
}

/// Checks email and password. An unknown email costs the same hashing work as a wrong password,
/// so response times do not reveal which emails have accounts.
pub async fn authenticate_password(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
) -> Result<account::Model, AccountError> {
    static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let account = find_account(db, email).await?;
    let stored = match &account {
        Some(account) => account.password_hash.clone(),
        None => DUMMY_HASH
            .get_or_try_init(|| crypto::hash_password("no such account".into()))
            .await?
            .clone(),
    };
    let verified = crypto::verify_password(password.to_owned(), stored).await;
    match account {
        Some(account) if verified => Ok(account),
        _ => Err(AccountError::WrongCredentials),
    }
}

/// Marks the account changed so that every running server drops what it cached about it.
/// It stamps `updated_at` and adds the change to the journal, whose database-assigned numbers the
/// servers follow (`crate::directory`).
pub async fn touch_account(db: &impl ConnectionTrait, account_id: i32) -> Result<(), DbErr> {
    let now = now_ms();
    account::Entity::update_many()
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(account_id))
        .exec(db)
        .await?;
    crate::entities::account_change::ActiveModel {
        account_id: sea_orm::Set(account_id),
        changed_at: sea_orm::Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn set_plan(
    db: &DatabaseConnection,
    account_id: i32,
    plan: Plan,
) -> Result<(), AccountError> {
    let txn = db.begin().await?;
    account::Entity::update_many()
        .col_expr(account::Column::Plan, Expr::value(plan.id()))
        .filter(account::Column::Id.eq(account_id))
        .exec(&txn)
        .await?;
    touch_account(&txn, account_id).await?;
    txn.commit().await?;
    Ok(())
}

/// Marks the account changed and, on PostgreSQL, locks its row until the transaction ends, so
/// that concurrent additions are counted one after another; returns its plan.
pub(super) async fn lock_account_for_change(
    txn: &impl ConnectionTrait,
    account_id: i32,
) -> Result<Plan, AccountError> {
    touch_account(txn, account_id).await?;
    let Some(account) = account_by_id(txn, account_id).await? else {
        return Err(AccountError::UnknownEmail(format!("account {account_id}")));
    };
    Ok(Plan::parse(&account.plan).unwrap_or(Plan::Free))
}

/// Requests recorded for the account since `since_ms` (one counted event per request).
pub async fn count_requests(
    db: &DatabaseConnection,
    account_id: i32,
    since_ms: i64,
) -> Result<u64, DbErr> {
    crate::quota::counted_requests(db, account_id, since_ms).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        for weak in ["short", "aaaaaaaaaaaa", "mypassword123", "ada.lovelace!!"] {
            let err = check_password_strength(weak, "ada.lovelace@example.com").unwrap_err();
            assert!(matches!(err, AccountError::WeakPassword(_)), "{weak}");
        }
        check_password_strength("correct horse battery", "ada@example.com").unwrap();
    }
}
