//! The monthly request quota, counted in memory so a request costs no database round trip.
//!
//! Each account's count for the current month is read from the database once (the usage events
//! counted against the quota since the month began), then kept in an atomic counter: admission is
//! one compare-and-swap, so concurrent requests can never overshoot the limit. Every admitted
//! request records exactly one counted usage event, which is what the count is rebuilt from after
//! a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter};
use tokio::sync::OnceCell;

use crate::clock::now_ms;
use crate::entities::usage_event;
use crate::plans::{Limit, month_bounds_utc};

/// One account's count for one month.
struct MonthCount {
    month_start: i64,
    next_month: i64,
    used: OnceCell<AtomicU64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    pub limit: u64,
    /// When the count starts again, in milliseconds since the epoch.
    pub resets_at: i64,
}

/// Each server's count, and optionally one count shared by every server through Redis.
#[derive(Default)]
pub struct QuotaCounter {
    accounts: Mutex<HashMap<i32, Arc<MonthCount>>>,
    shared: Option<SharedCount>,
}

/// The count in Redis, for several servers: check and increment happen in one Lua script, so
/// no two servers can both take the last request. The key is seeded from the database's count
/// the first time any server sees the account that month.
struct SharedCount {
    manager: redis::aio::ConnectionManager,
    prefix: String,
}

const ADMIT_SCRIPT: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3])
local used = tonumber(redis.call('GET', KEYS[1]))
local limit = tonumber(ARGV[2])
if limit >= 0 and used >= limit then return -1 end
return redis.call('INCR', KEYS[1])
";

impl SharedCount {
    async fn admit(
        &self,
        account_id: i32,
        month: &MonthCount,
        seed: u64,
        limit: Limit,
    ) -> Result<bool, redis::RedisError> {
        let key = format!("{}:quota:{account_id}:{}", self.prefix, month.month_start);
        // Kept a day past the month, then Redis forgets it.
        let ttl_ms = (month.next_month - now_ms()).max(0) + 86_400_000;
        let limit = limit
            .0
            .map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
        let mut connection = self.manager.clone();
        let used: i64 = redis::Script::new(ADMIT_SCRIPT)
            .key(key)
            .arg(seed)
            .arg(limit)
            .arg(ttl_ms)
            .invoke_async(&mut connection)
            .await?;
        // -1: the limit is reached; else the count after this request.
        Ok(used >= 0)
    }
}

impl QuotaCounter {
    /// A count shared by every server using this Redis (keys under `prefix`).
    pub fn shared(manager: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self {
            accounts: Mutex::default(),
            shared: Some(SharedCount {
                manager,
                prefix: prefix.to_owned(),
            }),
        }
    }

    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Counts one request against the account's monthly limit, or refuses it. Only the first
    /// request of an account in a month (per process) reads the database.
    pub async fn admit(
        &self,
        db: &DatabaseConnection,
        account_id: i32,
        limit: Limit,
    ) -> Result<Result<(), QuotaExceeded>, DbErr> {
        let month = self.month_of(account_id, now_ms());
        let used = month
            .used
            .get_or_try_init(|| async {
                counted_requests(db, account_id, month.month_start)
                    .await
                    .map(AtomicU64::new)
            })
            .await?;
        if let Some(shared) = &self.shared {
            match shared
                .admit(account_id, &month, used.load(Ordering::Acquire), limit)
                .await
            {
                Ok(true) => {
                    // The local count follows, as the fallback should Redis fail.
                    used.fetch_add(1, Ordering::AcqRel);
                    return Ok(Ok(()));
                }
                Ok(false) => {
                    return Ok(Err(QuotaExceeded {
                        limit: limit.0.unwrap_or_default(),
                        resets_at: month.next_month,
                    }));
                }
                Err(err) => {
                    tracing::warn!(error = %err, account_id, "quota: Redis failed; counting on this server alone")
                }
            }
        }
        let admitted = used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            limit.allows_one_more(used).then_some(used + 1)
        });
        Ok(match admitted {
            Ok(_) => Ok(()),
            Err(_) => Err(QuotaExceeded {
                limit: limit.0.unwrap_or_default(),
                resets_at: month.next_month,
            }),
        })
    }

    fn month_of(&self, account_id: i32, now: i64) -> Arc<MonthCount> {
        let mut accounts = self.accounts.lock();
        match accounts.get(&account_id) {
            Some(month) if now < month.next_month && now >= month.month_start => month.clone(),
            _ => {
                let (month_start, next_month) = month_bounds_utc(now);
                let month = Arc::new(MonthCount {
                    month_start,
                    next_month,
                    used: OnceCell::new(),
                });
                accounts.insert(account_id, month.clone());
                month
            }
        }
    }
}

/// Requests counted against the quota since `since_ms`: one usage event per admitted request.
pub async fn counted_requests(
    db: &DatabaseConnection,
    account_id: i32,
    since_ms: i64,
) -> Result<u64, DbErr> {
    usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .filter(usage_event::Column::CreatedAt.gte(since_ms))
        .filter(usage_event::Column::Counted.eq(true))
        .count(db)
        .await
}
