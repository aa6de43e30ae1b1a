//! Accounts, gateway keys and provider credentials: the operations the portal and the CLI share.
//! Every query is scoped by account id, so one tenant never reaches another's rows.
//!
//! Each change to an account's keys or providers bumps `accounts.updated_at`, which running
//! servers watch to evict their caches (see [`crate::directory`]).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, SqlErr, TransactionTrait,
};

use crate::clock::now_ms;
use crate::crypto::{self, CryptoError, GATEWAY_KEY_SHOWN_LEN, MasterKey};
use crate::entities::{account, gateway_key, provider_credential};
use crate::providers::ProviderKind;
use crate::routing::RoutingPolicy;
use crate::routing::policy::PolicyError;

pub const MIN_PASSWORD_LEN: usize = 10;
const MAX_PASSWORD_LEN: usize = 1024;
const MAX_KEY_NAME_LEN: usize = 100;

pub use crate::plans::Plan;
use crate::plans::PlanTable;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Enter a valid email address.")]
    InvalidEmail,
    #[error("An account with this email already exists.")]
    EmailTaken,
    #[error("{0}")]
    WeakPassword(String),
    #[error("Wrong email or password.")]
    WrongCredentials,
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
    #[error("The base URL must be an http:// or https:// URL: {0}")]
    InvalidBaseUrl(String),
    #[error("no such provider")]
    ProviderNotFound,
    /// A plan's limit on keys or providers.
    #[error("{0}")]
    PlanLimit(String),
    #[error("Invalid routing policy: {0}")]
    InvalidPolicy(#[from] PolicyError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
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
    let weak = |why: &str| Err(AccountError::WeakPassword(why.to_owned()));
    let length = password.chars().count();
    if length < MIN_PASSWORD_LEN {
        return weak(&format!(
            "Choose a password of at least {MIN_PASSWORD_LEN} characters."
        ));
    }
    if length > MAX_PASSWORD_LEN {
        return weak(&format!(
            "Passwords are at most {MAX_PASSWORD_LEN} characters."
        ));
    }
    let distinct: std::collections::HashSet<char> = password.chars().collect();
    if distinct.len() < 4 {
        return weak("This password repeats too few characters; choose a less predictable one.");
    }
    let lowered = password.to_lowercase();
    let local_part = email.split('@').next().unwrap_or_default();
    let common = [
        "password", "123456", "qwerty", "letmein", "welcome", "iloveyou", "admin",
    ];
    if common.iter().any(|word| lowered.contains(word))
        || (local_part.len() >= 4 && lowered.contains(local_part))
    {
        return weak("This password is too easy to guess; avoid common words and your email.");
    }
    Ok(())
}

pub async fn create_account(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
    plan: Plan,
) -> Result<account::Model, AccountError> {
    let email = normalize_email(email)?;
    check_password_strength(password, &email)?;
    if find_account(db, &email).await?.is_some() {
        return Err(AccountError::EmailTaken);
    }
    let password_hash = crypto::hash_password(password.to_owned()).await?;
    let now = now_ms();
    let inserted = account::ActiveModel {
        email: Set(email),
        password_hash: Set(password_hash),
        plan: Set(plan.id().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(account) => Ok(account),
        // Two sign-ups racing for one email: the unique index decides.
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
pub async fn touch_account(db: &impl ConnectionTrait, account_id: i32) -> Result<(), DbErr> {
    account::Entity::update_many()
        .col_expr(account::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(account::Column::Id.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn set_plan(
    db: &DatabaseConnection,
    account_id: i32,
    plan: Plan,
) -> Result<(), AccountError> {
    account::Entity::update_many()
        .col_expr(account::Column::Plan, Expr::value(plan.id()))
        .col_expr(account::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(account::Column::Id.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The account's routing overrides, and those of each active key that has its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingPolicies {
    pub account: RoutingPolicy,
    pub keys: std::collections::HashMap<i32, RoutingPolicy>,
}

impl RoutingPolicies {
    /// What applies to requests made with `key_id`.
    pub fn effective(&self, key_id: i32) -> RoutingPolicy {
        RoutingPolicy::merged(&self.account, self.keys.get(&key_id))
    }
}

pub async fn routing_policies(
    db: &impl ConnectionTrait,
    account_id: i32,
) -> Result<RoutingPolicies, AccountError> {
    let Some(account) = account_by_id(db, account_id).await? else {
        return Ok(RoutingPolicies::default());
    };
    let mut policies = RoutingPolicies {
        account: RoutingPolicy::parse(account.routing_policy.as_deref().unwrap_or_default())?,
        ..Default::default()
    };
    let keys = gateway_key::Entity::find()
        .filter(gateway_key::Column::AccountId.eq(account_id))
        .filter(gateway_key::Column::RevokedAt.is_null())
        .filter(gateway_key::Column::RoutingPolicy.is_not_null())
        .all(db)
        .await?;
    for key in keys {
        policies.keys.insert(
            key.id,
            RoutingPolicy::parse(key.routing_policy.as_deref().unwrap_or_default())?,
        );
    }
    Ok(policies)
}

/// Replaces the account's routing overrides (the empty policy clears them).
pub async fn set_account_routing_policy(
    db: &DatabaseConnection,
    account_id: i32,
    policy: &RoutingPolicy,
) -> Result<(), AccountError> {
    policy.validate()?;
    account::Entity::update_many()
        .col_expr(
            account::Column::RoutingPolicy,
            Expr::value(policy.to_stored()),
        )
        .col_expr(account::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(account::Column::Id.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces one key's routing overrides; the key must be the account's and active.
pub async fn set_key_routing_policy(
    db: &DatabaseConnection,
    account_id: i32,
    key_id: i32,
    policy: &RoutingPolicy,
) -> Result<(), AccountError> {
    policy.validate()?;
    update_active_key(
        db,
        account_id,
        key_id,
        gateway_key::Column::RoutingPolicy,
        Expr::value(policy.to_stored()),
    )
    .await
}

/// Sets one column of one of the account's active keys, and marks the account changed.
async fn update_active_key(
    db: &DatabaseConnection,
    account_id: i32,
    key_id: i32,
    column: gateway_key::Column,
    value: sea_orm::sea_query::SimpleExpr,
) -> Result<(), AccountError> {
    let txn = db.begin().await?;
    let updated = gateway_key::Entity::update_many()
        .col_expr(column, value)
        .filter(gateway_key::Column::Id.eq(key_id))
        .filter(gateway_key::Column::AccountId.eq(account_id))
        .filter(gateway_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AccountError::KeyNotFound);
    }
    touch_account(&txn, account_id).await?;
    txn.commit().await?;
    Ok(())
}

/// A new gateway key: `secret` is shown once and never stored.
pub struct CreatedKey {
    pub secret: String,
    pub key: gateway_key::Model,
}

/// Marks the account changed and, on PostgreSQL, locks its row until the transaction ends, so
/// that concurrent additions are counted one after another; returns its plan.
async fn lock_account_for_change(
    txn: &impl ConnectionTrait,
    account_id: i32,
) -> Result<Plan, AccountError> {
    touch_account(txn, account_id).await?;
    let Some(account) = account_by_id(txn, account_id).await? else {
        return Err(AccountError::UnknownEmail(format!("account {account_id}")));
    };
    Ok(Plan::parse(&account.plan).unwrap_or(Plan::Free))
}

pub async fn create_gateway_key(
    db: &DatabaseConnection,
    plans: &PlanTable,
    account_id: i32,
    name: &str,
) -> Result<CreatedKey, AccountError> {
    let name = name.trim();
    if name.chars().count() > MAX_KEY_NAME_LEN {
        return Err(AccountError::KeyNameTooLong);
    }
    let name = if name.is_empty() { "default" } else { name };
    let secret = crypto::generate_gateway_key();
    let txn = db.begin().await?;
    let plan = lock_account_for_change(&txn, account_id).await?;
    let limit = plans.limits(plan).gateway_keys;
    let active = gateway_key::Entity::find()
        .filter(gateway_key::Column::AccountId.eq(account_id))
        .filter(gateway_key::Column::RevokedAt.is_null())
        .count(&txn)
        .await?;
    if !limit.allows_one_more(active) {
        return Err(AccountError::PlanLimit(format!(
            "The {} plan includes {} gateway keys and this account has {active} active. Revoke a key, or upgrade for more.",
            plan.display_name(),
            limit.describe()
        )));
    }
    let key = gateway_key::ActiveModel {
        account_id: Set(account_id),
        name: Set(name.to_owned()),
        prefix: Set(secret[..GATEWAY_KEY_SHOWN_LEN].to_owned()),
        key_digest: Set(crypto::key_digest(&secret)),
        created_at: Set(now_ms()),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(CreatedKey { secret, key })
}

/// The account's keys, newest first, revoked ones included (they show as revoked).
pub async fn list_gateway_keys(
    db: &DatabaseConnection,
    account_id: i32,
) -> Result<Vec<gateway_key::Model>, DbErr> {
    gateway_key::Entity::find()
        .filter(gateway_key::Column::AccountId.eq(account_id))
        .order_by_desc(gateway_key::Column::CreatedAt)
        .order_by_desc(gateway_key::Column::Id)
        .all(db)
        .await
}

pub async fn revoke_gateway_key(
    db: &DatabaseConnection,
    account_id: i32,
    key_id: i32,
) -> Result<(), AccountError> {
    update_active_key(
        db,
        account_id,
        key_id,
        gateway_key::Column::RevokedAt,
        Expr::value(now_ms()),
    )
    .await
}

/// Finds the one active key of the account that `prefix` (any leading part of the key, as the
/// portal shows it, or the whole key) designates.
pub async fn find_key_by_prefix(
    db: &DatabaseConnection,
    account_id: i32,
    prefix: &str,
) -> Result<gateway_key::Model, AccountError> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Err(AccountError::KeyNotFound);
    }
    let active: Vec<_> = list_gateway_keys(db, account_id)
        .await?
        .into_iter()
        .filter(|key| key.revoked_at.is_none())
        .collect();
    if crypto::looks_like_gateway_key(prefix) {
        let digest = crypto::key_digest(prefix);
        return active
            .into_iter()
            .find(|key| key.key_digest == digest)
            .ok_or(AccountError::KeyNotFound);
    }
    // Past the stored prefix nothing more can be compared, so a longer partial key is matched on
    // the part that is stored.
    let comparable = &prefix[..prefix.len().min(GATEWAY_KEY_SHOWN_LEN)];
    let mut matches: Vec<_> = active
        .into_iter()
        .filter(|key| key.prefix.starts_with(comparable))
        .collect();
    match matches.len() {
        0 => Err(AccountError::KeyNotFound),
        1 => Ok(matches.remove(0)),
        count => Err(AccountError::AmbiguousKeyPrefix {
            prefix: prefix.to_owned(),
            count,
        }),
    }
}

/// A provider credential as the portal shows it: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderView {
    pub id: i32,
    pub provider: String,
    pub base_url: Option<String>,
    pub key_hint: String,
    pub created_at: i64,
}

fn validate_base_url(base_url: Option<&str>) -> Result<Option<String>, AccountError> {
    let Some(raw) = base_url.map(str::trim).filter(|url| !url.is_empty()) else {
        return Ok(None);
    };
    let parsed =
        reqwest::Url::parse(raw).map_err(|_| AccountError::InvalidBaseUrl(raw.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AccountError::InvalidBaseUrl(raw.to_owned()));
    }
    Ok(Some(raw.trim_end_matches('/').to_owned()))
}

/// Stores (or replaces) the account's key for a provider, encrypted under the master key.
pub async fn add_provider(
    db: &DatabaseConnection,
    plans: &PlanTable,
    master_key: &MasterKey,
    account_id: i32,
    provider: &str,
    api_key: &str,
    base_url: Option<&str>,
) -> Result<ProviderView, AccountError> {
    let kind = ProviderKind::parse(provider.trim())
        .ok_or_else(|| AccountError::UnknownProvider(provider.trim().to_owned()))?;
    let api_key = api_key.trim();
    if api_key.is_empty() && kind.requires_api_key() {
        return Err(AccountError::MissingApiKey);
    }
    let base_url = validate_base_url(base_url)?;
    let txn = db.begin().await?;
    let plan = lock_account_for_change(&txn, account_id).await?;
    let replaced = provider_credential::Entity::delete_many()
        .filter(provider_credential::Column::AccountId.eq(account_id))
        .filter(provider_credential::Column::Provider.eq(kind.id()))
        .exec(&txn)
        .await?;
    let limit = plans.limits(plan).providers;
    if replaced.rows_affected == 0 {
        let configured = provider_credential::Entity::find()
            .filter(provider_credential::Column::AccountId.eq(account_id))
            .count(&txn)
            .await?;
        if !limit.allows_one_more(configured) {
            return Err(AccountError::PlanLimit(format!(
                "The {} plan includes {} providers and this account has {configured}. Remove one, or upgrade for more.",
                plan.display_name(),
                limit.describe()
            )));
        }
    }
    let stored = provider_credential::ActiveModel {
        account_id: Set(account_id),
        provider: Set(kind.id().to_owned()),
        base_url: Set(base_url),
        key_ciphertext: Set(master_key.encrypt(api_key.as_bytes())),
        key_hint: Set(if api_key.is_empty() {
            "no key".to_owned()
        } else {
            crypto::mask_secret(api_key)
        }),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(provider_view(stored))
}

fn provider_view(stored: provider_credential::Model) -> ProviderView {
    ProviderView {
        id: stored.id,
        provider: stored.provider,
        base_url: stored.base_url,
        key_hint: stored.key_hint,
        created_at: stored.created_at,
    }
}

pub async fn list_providers(
    db: &impl ConnectionTrait,
    account_id: i32,
) -> Result<Vec<ProviderView>, DbErr> {
    Ok(provider_credentials(db, account_id)
        .await?
        .into_iter()
        .map(provider_view)
        .collect())
}

pub(crate) async fn provider_credentials(
    db: &impl ConnectionTrait,
    account_id: i32,
) -> Result<Vec<provider_credential::Model>, DbErr> {
    provider_credential::Entity::find()
        .filter(provider_credential::Column::AccountId.eq(account_id))
        .order_by_asc(provider_credential::Column::Id)
        .all(db)
        .await
}

pub async fn delete_provider(
    db: &DatabaseConnection,
    account_id: i32,
    provider_id: i32,
) -> Result<(), AccountError> {
    let txn = db.begin().await?;
    let deleted = provider_credential::Entity::delete_many()
        .filter(provider_credential::Column::Id.eq(provider_id))
        .filter(provider_credential::Column::AccountId.eq(account_id))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(AccountError::ProviderNotFound);
    }
    touch_account(&txn, account_id).await?;
    txn.commit().await?;
    Ok(())
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

    #[test]
    fn base_urls_must_be_http() {
        assert_eq!(
            validate_base_url(Some(" http://127.0.0.1:9/v1/ "))
                .unwrap()
                .as_deref(),
            Some("http://127.0.0.1:9/v1")
        );
        assert_eq!(validate_base_url(Some("")).unwrap(), None);
        assert!(validate_base_url(Some("ftp://x")).is_err());
        assert!(validate_base_url(Some("not a url")).is_err());
    }
}
