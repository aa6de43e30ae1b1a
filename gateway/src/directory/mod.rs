//! In-memory directory of gateway keys and account configurations, so the proxy's hot path makes
//! no database round trip: a key is looked up once, then served from memory.
//!
//! Changes made in this process evict at once ([`Directory::evict_account`]). Changes made by
//! another process (the CLI, another server on the same PostgreSQL) are journaled in
//! `account_changes` under numbers the database hands out; a watcher reads the numbers it has not
//! seen once per `change_poll_interval` (one indexed query, not one per request) and evicts the
//! same way. No writer's clock is involved, so a server whose clock is behind cannot hide a
//! revocation.

mod single_flight;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::accounts::{self, Plan};
use crate::crypto::{self, MasterKey};
use crate::entities::{account_change, gateway_key};
use crate::error::AuthError;
use crate::providers::{ProviderEndpoint, ProviderKind, ProviderSecret};
use crate::settings::GatewaySettings;
use single_flight::SingleFlight;

/// Who a valid gateway key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedKey {
    pub key_id: i32,
    pub account_id: i32,
}

/// A presented key refused, and the key it names when the gateway knows it (a revoked key, or a
/// wrong secret behind a key's prefix): the refusal belongs in that account's request log.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyRefused {
    pub error: AuthError,
    pub named: Option<AuthenticatedKey>,
}

impl From<AuthError> for KeyRefused {
    fn from(error: AuthError) -> Self {
        KeyRefused { error, named: None }
    }
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
    /// Budgets and rate limits of the account and of its keys that have their own.
    pub limits: accounts::AccountLimits,
    /// The routing threshold calibration has moved to (`crate::quality::calibration`), if any.
    pub calibrated_threshold: Option<f64>,
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
    /// A key's or an account's first use by many requests at once loads it once.
    key_loads: SingleFlight<String>,
    account_loads: SingleFlight<i32>,
    /// Evictions so far. A load caches what it read only if no eviction came while it read: one
    /// that did may have been for a change the load's queries were too early to see (a key
    /// revoked meanwhile would otherwise be served until the account's next change).
    evictions: AtomicU64,
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
            key_loads: SingleFlight::new(),
            account_loads: SingleFlight::new(),
            evictions: AtomicU64::new(0),
        }
    }

    /// Resolves `Bearer gw_…` to its key. Only the first use of a key reaches the database.
    pub async fn authenticate(&self, presented_key: &str) -> Result<AuthenticatedKey, KeyRefused> {
        if !crypto::looks_like_gateway_key(presented_key) {
            return Err(AuthError::Unknown.into());
        }
        let digest = crypto::key_digest(presented_key);
        let cached = || self.keys.read().get(&digest).copied();
        self.key_loads
            .get(&digest, cached, || self.load_key(presented_key, &digest))
            .await
    }

    async fn load_key(
        &self,
        presented_key: &str,
        digest: &str,
    ) -> Result<AuthenticatedKey, KeyRefused> {
        let lookup = |e: DbErr| KeyRefused::from(AuthError::Lookup(e.to_string()));
        let evictions = self.evictions.load(Ordering::Acquire);
        let stored = gateway_key::Entity::find()
            .filter(gateway_key::Column::KeyDigest.eq(digest))
            .one(&self.db)
            .await
            .map_err(lookup)?;
        let Some(stored) = stored else {
            // A wrong secret behind the prefix of a key: refused as any unknown key, and filed
            // under that key's account, whose request log shows it.
            let prefix = &presented_key[..crypto::GATEWAY_KEY_SHOWN_LEN];
            let named = gateway_key::Entity::find()
                .filter(gateway_key::Column::Prefix.eq(prefix))
                .one(&self.db)
                .await
                .map_err(lookup)?;
            return Err(KeyRefused {
                error: AuthError::Unknown,
                named: named.map(|key| AuthenticatedKey {
                    key_id: key.id,
                    account_id: key.account_id,
                }),
            });
        };
        let found = AuthenticatedKey {
            key_id: stored.id,
            account_id: stored.account_id,
        };
        if stored.revoked_at.is_some() {
            return Err(KeyRefused {
                error: AuthError::Revoked,
                named: Some(found),
            });
        }
        let mut keys = self.keys.write();
        if self.evictions.load(Ordering::Acquire) == evictions {
            keys.insert(digest.to_owned(), found);
        }
        Ok(found)
    }

    /// The account's plan and decrypted provider endpoints, cached until the account changes.
    pub async fn account(&self, account_id: i32) -> Result<Arc<AccountConfig>, DirectoryError> {
        let cached = || self.accounts.read().get(&account_id).cloned();
        self.account_loads
            .get(&account_id, cached, || self.load_account(account_id))
            .await
    }

    async fn load_account(&self, account_id: i32) -> Result<Arc<AccountConfig>, DirectoryError> {
        let evictions = self.evictions.load(Ordering::Acquire);
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
            let base_url = crate::providers::BaseUrl::new(
                credential
                    .base_url
                    .unwrap_or_else(|| self.settings.default_base_url(kind).to_owned()),
            );
            // Names are checked at each connection by the client's resolver; what needs no
            // resolving (the scheme, an address) is checked once here, for URLs saved before the
            // operator narrowed the policy as for any other.
            let reach = base_url
                .parsed()
                .map(|url| self.settings.egress.check_static(kind, url));
            providers.push(ProviderEndpoint {
                kind,
                base_url,
                api_key: ProviderSecret::new(secret),
                egress_refusal: reach.clone().and_then(Result::err),
                opened: matches!(reach, Some(Ok(crate::egress::Reach::Opened))),
            });
        }
        // A downgrade keeps every provider and key, but only the plan's number of them is used:
        // the first added.
        let plan = Plan::stored(&stored.plan);
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
            .map_err(DirectoryError::from_stored)?;
        let limits = accounts::account_limits(&self.db, account_id)
            .await
            .map_err(DirectoryError::from_stored)?;
        let calibrated_threshold = accounts::latest_threshold_change(&self.db, account_id)
            .await?
            .map(|change| change.new_threshold);
        let config = Arc::new(AccountConfig {
            account_id,
            plan,
            providers,
            routing,
            keys_within_plan,
            limits,
            calibrated_threshold,
        });
        let mut accounts = self.accounts.write();
        if self.evictions.load(Ordering::Acquire) == evictions {
            accounts.insert(account_id, config.clone());
        }
        Ok(config)
    }

    /// Forgets everything cached about an account: its keys (so a revocation bites on the next
    /// request) and its configuration.
    pub fn evict_account(&self, account_id: i32) {
        // Counted under both locks, where loads look before they cache.
        let mut keys = self.keys.write();
        let mut accounts = self.accounts.write();
        self.evictions.fetch_add(1, Ordering::AcqRel);
        keys.retain(|_, key| key.account_id != account_id);
        accounts.remove(&account_id);
    }

    /// Polls for accounts changed by other processes and evicts them, until the returned handle
    /// is aborted.
    pub fn spawn_change_watcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let directory = Arc::clone(self);
        let interval = directory.settings.change_poll_interval;
        tokio::spawn(async move {
            // Changes journaled before this server started concern nothing it has in memory;
            // the last few are read again anyway, in case one of them was still committing.
            let mut cursor = loop {
                match latest_change(&directory.db).await {
                    Ok(latest) => break ChangeCursor::at(latest - STARTUP_LOOKBACK),
                    Err(err) => {
                        tracing::warn!(error = %err, "could not read the account change journal");
                        tokio::time::sleep(interval).await;
                    }
                }
            };
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                match changes_after(&directory.db, cursor.floor).await {
                    Ok(changes) => {
                        for account_id in cursor.advance(&changes, std::time::Instant::now()) {
                            directory.evict_account(account_id);
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "could not poll for account changes"),
                }
            }
        })
    }
}

async fn latest_change(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let latest: Option<Option<i64>> = account_change::Entity::find()
        .select_only()
        .column_as(account_change::Column::Version.max(), "latest")
        .into_tuple()
        .one(db)
        .await?;
    Ok(latest.flatten().unwrap_or(0))
}

/// Journal entries after `floor`, oldest first: (version, account).
async fn changes_after(db: &DatabaseConnection, floor: i64) -> Result<Vec<(i64, i32)>, DbErr> {
    account_change::Entity::find()
        .select_only()
        .column(account_change::Column::Version)
        .column(account_change::Column::AccountId)
        .filter(account_change::Column::Version.gt(floor))
        .order_by_asc(account_change::Column::Version)
        .limit(MAX_CHANGES_PER_POLL)
        .into_tuple()
        .all(db)
        .await
}

const MAX_CHANGES_PER_POLL: u64 = 10_000;

/// Journal entries read again at start (see `spawn_change_watcher`).
const STARTUP_LOOKBACK: i64 = 100;

/// How long a missing journal number is waited for. Numbers are handed out when a change is
/// written but become visible when it commits, so a later number may show first; a number that
/// never shows belonged to a transaction that rolled back.
const GAP_PATIENCE: Duration = Duration::from_secs(30);

/// Gaps past this many are not tracked one by one (a sequence that jumped): given up at once.
const MAX_TRACKED_GAPS: i64 = 10_000;

/// Where a server is in the change journal: every number up to `floor` has been seen (or given
/// up on); above it, the numbers seen already and the gaps still awaited.
#[derive(Debug, Default)]
struct ChangeCursor {
    floor: i64,
    seen_above_floor: std::collections::BTreeSet<i64>,
    gaps: std::collections::BTreeMap<i64, std::time::Instant>,
}

impl ChangeCursor {
    fn at(latest: i64) -> Self {
        Self {
            floor: latest,
            ..Self::default()
        }
    }

    /// Takes a poll's entries (all of those after `floor`); returns the accounts to evict, each
    /// entry's once.
    fn advance(&mut self, changes: &[(i64, i32)], now: std::time::Instant) -> Vec<i32> {
        let mut evict = Vec::new();
        let highest_before = self.seen_above_floor.last().copied().unwrap_or(self.floor);
        for &(version, account_id) in changes {
            if version <= self.floor || !self.seen_above_floor.insert(version) {
                continue;
            }
            self.gaps.remove(&version);
            evict.push(account_id);
        }
        let highest = self.seen_above_floor.last().copied().unwrap_or(self.floor);
        // Numbers skipped by this poll's newest entries: awaited from now on.
        if highest - highest_before <= MAX_TRACKED_GAPS {
            for version in highest_before + 1..highest {
                if !self.seen_above_floor.contains(&version) {
                    self.gaps.entry(version).or_insert(now);
                }
            }
        }
        self.gaps
            .retain(|_, noticed| now.duration_since(*noticed) < GAP_PATIENCE);
        self.floor = match self.gaps.keys().next() {
            Some(&first_gap) => first_gap - 1,
            None => highest,
        };
        let floor = self.floor;
        self.seen_above_floor.retain(|&version| version > floor);
        evict.sort_unstable();
        evict.dedup();
        evict
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

impl DirectoryError {
    /// A stored setting that failed to load: the database's failure, or a setting it holds that
    /// no longer reads.
    fn from_stored(err: accounts::AccountError) -> Self {
        match err {
            accounts::AccountError::Database(err) => DirectoryError::Database(err),
            other => DirectoryError::Policy(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn each_journal_entry_evicts_once() {
        let now = Instant::now();
        let mut cursor = ChangeCursor::at(10);
        assert_eq!(cursor.advance(&[(11, 1), (12, 2), (13, 1)], now), [1, 2]);
        assert_eq!(cursor.floor, 13);
        assert!(cursor.advance(&[], now).is_empty());
        // Entries at or below the floor (a slow poll's late answer) are not taken again.
        assert!(cursor.advance(&[(12, 2)], now).is_empty());
    }

    /// A change numbered 11 commits after one numbered 12: the server sees 12 first and must
    /// not step over 11, or that change (a revocation, say) would never be seen.
    #[test]
    fn a_number_that_commits_late_is_still_seen() {
        let start = Instant::now();
        let mut cursor = ChangeCursor::at(10);
        assert_eq!(cursor.advance(&[(12, 2)], start), [2]);
        assert_eq!(cursor.floor, 10, "11 is awaited");
        // The next poll reads from 11 again; 12 is not evicted twice.
        assert_eq!(cursor.advance(&[(12, 2)], start), Vec::<i32>::new());
        assert_eq!(cursor.advance(&[(11, 1), (12, 2), (13, 3)], start), [1, 3]);
        assert_eq!(cursor.floor, 13);
        assert!(cursor.gaps.is_empty() && cursor.seen_above_floor.is_empty());
    }

    /// A number that never shows (its transaction rolled back) is given up on after a while.
    #[test]
    fn a_rolled_back_number_is_given_up_on() {
        let start = Instant::now();
        let mut cursor = ChangeCursor::at(0);
        assert_eq!(cursor.advance(&[(2, 7)], start), [7]);
        assert_eq!(cursor.floor, 0);
        let later = start + GAP_PATIENCE + Duration::from_secs(1);
        assert!(cursor.advance(&[(2, 7)], later).is_empty());
        assert_eq!(cursor.floor, 2);
    }

    #[test]
    fn a_jump_in_the_numbers_is_not_tracked_number_by_number() {
        let now = Instant::now();
        let mut cursor = ChangeCursor::at(0);
        assert_eq!(cursor.advance(&[(1_000_000, 3)], now), [3]);
        assert_eq!(cursor.floor, 1_000_000);
        assert!(cursor.gaps.is_empty());
    }
}
