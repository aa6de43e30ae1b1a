//! In-memory directory of gateway keys and account configurations, so the proxy's hot path makes
//! no database round trip: a key is looked up once, then served from memory.
//!
//! Changes made in this process evict at once ([`Directory::evict_account`]). Changes made by
//! another process (the CLI, another server on the same PostgreSQL) bump `accounts.updated_at`;
//! a watcher polls for those once per `change_poll_interval` (one indexed query, not one per
//! request) and evicts the same way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::accounts::{self, Plan};
use crate::clock::now_ms;
use crate::crypto::{self, MasterKey};
use crate::entities::{account, gateway_key};
use crate::error::AuthError;
use crate::providers::{ProviderEndpoint, ProviderKind, ProviderSecret};
use crate::settings::GatewaySettings;

/// Who a valid gateway key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedKey {
    pub key_id: i32,
    pub account_id: i32,
}

/// What the proxy needs to know about an account, decrypted and ready.
#[derive(Debug)]
pub struct AccountConfig {
    pub account_id: i32,
    pub plan: Plan,
    /// In the order they were added.
    pub providers: Vec<ProviderEndpoint>,
    pub routing: accounts::RoutingPolicies,
    /// When the plan limits keys and the account has more (after a downgrade): the oldest
    /// active keys within the limit, the only ones served.
    pub keys_within_plan: Option<std::collections::HashSet<i32>>,
}

impl AccountConfig {
    pub fn key_within_plan(&self, key_id: i32) -> bool {
        self.keys_within_plan
            .as_ref()
            .is_none_or(|keys| keys.contains(&key_id))
    }
}

pub struct Directory {
    db: DatabaseConnection,
    master_key: MasterKey,
    settings: Arc<GatewaySettings>,
    keys: RwLock<HashMap<String, AuthenticatedKey>>,
    accounts: RwLock<HashMap<i32, Arc<AccountConfig>>>,
}

impl Directory {
    pub fn new(
        db: DatabaseConnection,
        master_key: MasterKey,
        settings: Arc<GatewaySettings>,
    ) -> Self {
        Self {
            db,
            master_key,
            settings,
            keys: RwLock::default(),
            accounts: RwLock::default(),
        }
    }

    /// Resolves `Bearer gw_…` to its key. Only the first use of a key reaches the database.
    pub async fn authenticate(&self, presented_key: &str) -> Result<AuthenticatedKey, AuthError> {
        if !crypto::looks_like_gateway_key(presented_key) {
            return Err(AuthError::Unknown);
        }
        let digest = crypto::key_digest(presented_key);
        if let Some(found) = self.keys.read().get(&digest) {
            return Ok(*found);
        }
        let stored = gateway_key::Entity::find()
            .filter(gateway_key::Column::KeyDigest.eq(digest.as_str()))
            .one(&self.db)
            .await
            .map_err(|e| AuthError::Lookup(e.to_string()))?;
        let Some(stored) = stored else {
            return Err(AuthError::Unknown);
        };
        if stored.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        let found = AuthenticatedKey {
            key_id: stored.id,
            account_id: stored.account_id,
        };
        self.keys.write().insert(digest, found);
        Ok(found)
    }

    /// The account's plan and decrypted provider endpoints, cached until the account changes.
    pub async fn account(&self, account_id: i32) -> Result<Arc<AccountConfig>, DirectoryError> {
        if let Some(config) = self.accounts.read().get(&account_id) {
            return Ok(config.clone());
        }
        let Some(stored) = accounts::account_by_id(&self.db, account_id).await? else {
            return Err(DirectoryError::AccountGone);
        };
        let mut providers = Vec::new();
        for credential in accounts::provider_credentials(&self.db, account_id).await? {
            let Some(kind) = ProviderKind::parse(&credential.provider) else {
                tracing::warn!(provider = %credential.provider, account_id, "skipping a credential of an unknown provider");
                continue;
            };
            let secret = self
                .master_key
                .decrypt(&credential.key_ciphertext)
                .map_err(|_| DirectoryError::Undecryptable)?;
            let secret = String::from_utf8(secret).map_err(|_| DirectoryError::Undecryptable)?;
            let base_url = credential
                .base_url
                .unwrap_or_else(|| self.settings.default_base_url(kind).to_owned());
            // Names are checked at each connection by the client's resolver; what needs no
            // resolving (the scheme, an address) is checked once here, for URLs saved before the
            // operator narrowed the policy as for any other.
            let egress_refusal = reqwest::Url::parse(&base_url)
                .ok()
                .and_then(|url| self.settings.egress.check_static(&url).err());
            providers.push(ProviderEndpoint {
                kind,
                base_url,
                api_key: ProviderSecret::new(secret),
                egress_refusal,
            });
        }
        // A downgrade keeps every provider and key, but only the plan's number of them is used:
        // the first added.
        let plan = Plan::parse(&stored.plan).unwrap_or(Plan::Free);
        let limits = self.settings.plans.limits(plan);
        if let Some(limit) = limits.providers.0 {
            providers.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        let keys_within_plan = match limits.gateway_keys.0 {
            None => None,
            Some(limit) => {
                let mut active: Vec<_> = accounts::list_gateway_keys(&self.db, account_id)
                    .await?
                    .into_iter()
                    .filter(|k| k.revoked_at.is_none())
                    .collect();
                active.sort_by_key(|key| (key.created_at, key.id));
                let within = usize::try_from(limit).unwrap_or(usize::MAX);
                (active.len() > within)
                    .then(|| active.iter().take(within).map(|key| key.id).collect())
            }
        };
        let routing = accounts::routing_policies(&self.db, account_id)
            .await
            .map_err(|err| match err {
                accounts::AccountError::Database(err) => DirectoryError::Database(err),
                other => DirectoryError::Policy(other.to_string()),
            })?;
        let config = Arc::new(AccountConfig {
            account_id,
            plan,
            providers,
            routing,
            keys_within_plan,
        });
        self.accounts.write().insert(account_id, config.clone());
        Ok(config)
    }

    /// Forgets everything cached about an account: its keys (so a revocation bites on the next
    /// request) and its configuration.
    pub fn evict_account(&self, account_id: i32) {
        self.keys
            .write()
            .retain(|_, key| key.account_id != account_id);
        self.accounts.write().remove(&account_id);
    }

    /// Polls for accounts changed by other processes and evicts them, until the returned handle
    /// is aborted.
    pub fn spawn_change_watcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let directory = Arc::clone(self);
        let interval = directory.settings.change_poll_interval;
        tokio::spawn(async move {
            // Clocks of other processes may differ a little, and a change may commit a moment
            // after it was stamped: look back further than one interval.
            let overlap = (interval * 3).max(Duration::from_secs(2)).as_millis() as i64;
            let mut since = now_ms() - overlap;
            // No poll at start: nothing is in memory yet that a change could have made stale.
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let started = now_ms();
                match directory.changed_accounts_since(since).await {
                    Ok(changed) => {
                        for account_id in changed {
                            directory.evict_account(account_id);
                        }
                        since = started - overlap;
                    }
                    Err(err) => tracing::warn!(error = %err, "could not poll for account changes"),
                }
            }
        })
    }

    async fn changed_accounts_since(&self, since_ms: i64) -> Result<Vec<i32>, DbErr> {
        account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .filter(account::Column::UpdatedAt.gte(since_ms))
            .into_tuple()
            .all(&self.db)
            .await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("the account no longer exists")]
    AccountGone,
    #[error("a provider key could not be decrypted with the configured master key")]
    Undecryptable,
    #[error("a stored routing policy is unreadable: {0}")]
    Policy(String),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}
