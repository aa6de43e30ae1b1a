//! Budgets and rate limits counted in Redis, for servers that share it: one Lua script reads every
//! scope's counters, applies the rule of [`super::decision::decide`] and charges them, so no two
//! servers can both take the last dollar or the last request of a minute.

use std::sync::LazyLock;

use redis::aio::ConnectionManager;

use super::decision::{Ask, BudgetAlert, Grant, Used, Window, decide, send_alert};
use super::estimate::Estimate;
use super::refusal::{RateHeaders, Refusal, Scope};

/// Arguments per scope: month's spend as the database has it (-1: no budget), budget, requests
/// and tokens per minute (-1: none). Counters: committed spend, this minute's requests, tokens.
const ADMIT_SCRIPT: &str = r"
local n = tonumber(ARGV[1])
local worst = tonumber(ARGV[4])
local tokens = tonumber(ARGV[5])
local seen = {}
local admitted = 1
for i = 0, n - 1 do
  local seed, budget = tonumber(ARGV[6 + i * 4]), tonumber(ARGV[7 + i * 4])
  local rpm, tpm = tonumber(ARGV[8 + i * 4]), tonumber(ARGV[9 + i * 4])
  local committed = -1
  if budget >= 0 and seed >= 0 then
    redis.call('SET', KEYS[1 + i * 3], seed, 'NX', 'PX', ARGV[3])
    committed = tonumber(redis.call('GET', KEYS[1 + i * 3]))
    if committed + worst > budget then admitted = 0 end
  end
  local requests = tonumber(redis.call('GET', KEYS[2 + i * 3]) or '0')
  if rpm >= 0 and requests + 1 > rpm then admitted = 0 end
  local used = tonumber(redis.call('GET', KEYS[3 + i * 3]) or '0')
  if tpm >= 0 and used + tokens > tpm then admitted = 0 end
  seen[#seen + 1] = committed
  seen[#seen + 1] = requests
  seen[#seen + 1] = used
end
if admitted == 1 then
  for i = 0, n - 1 do
    local seed, budget = tonumber(ARGV[6 + i * 4]), tonumber(ARGV[7 + i * 4])
    local rpm, tpm = tonumber(ARGV[8 + i * 4]), tonumber(ARGV[9 + i * 4])
    if budget >= 0 and seed >= 0 then redis.call('INCRBY', KEYS[1 + i * 3], worst) end
    if rpm >= 0 then
      redis.call('INCR', KEYS[2 + i * 3])
      redis.call('PEXPIRE', KEYS[2 + i * 3], ARGV[2])
    end
    if tpm >= 0 then
      redis.call('INCRBY', KEYS[3 + i * 3], tokens)
      redis.call('PEXPIRE', KEYS[3 + i * 3], ARGV[2])
    end
  end
end
return {admitted, unpack(seen)}
";

/// Adds each delta to its counter if the counter still exists (a month or a minute that has
/// passed is not brought back); tokens never go below zero. Returns each counter after (-1: gone).
const SETTLE_SCRIPT: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = -1
  if ARGV[i] ~= 'skip' and redis.call('EXISTS', key) == 1 then
    local value = redis.call('INCRBY', key, ARGV[i])
    if value < 0 then
      redis.call('SET', key, 0, 'KEEPTTL')
      value = 0
    end
    out[i] = value
  end
end
return out
";

/// Hashed once: each call sends EVALSHA, and the script only when Redis does not know it.
static ADMIT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(ADMIT_SCRIPT));
static SETTLE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SETTLE_SCRIPT));

#[derive(Clone)]
pub(super) struct SharedLedger {
    manager: ConnectionManager,
    prefix: String,
}

impl SharedLedger {
    pub fn new(manager: ConnectionManager, prefix: &str) -> Self {
        Self {
            manager,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, scope: Scope, counter: &str, period: i64) -> String {
        format!("{}:limits:{}:{counter}:{period}", self.prefix, scope.id())
    }

    pub async fn admit(
        &self,
        asks: &[Ask<'_>],
        estimate: Estimate,
        window: &Window,
    ) -> Result<Result<(Vec<Grant>, RateHeaders), (Refusal, RateHeaders)>, redis::RedisError> {
        let month_ttl = (window.next_month - crate::clock::now_ms()).max(0) + 86_400_000;
        let mut script = ADMIT.prepare_invoke();
        script
            .arg(asks.len())
            .arg(2 * super::decision::MINUTE_MS)
            .arg(month_ttl)
            .arg(estimate.worst_case_nanos)
            .arg(estimate.tokens);
        for ask in asks {
            script
                .key(self.key(ask.scope, "spend", window.month_start))
                .key(self.key(ask.scope, "requests", window.minute))
                .key(self.key(ask.scope, "tokens", window.minute));
            let budget = ask.limits.budget_nanos();
            script
                .arg(ask.seed_nanos.filter(|_| budget.is_some()).unwrap_or(-1))
                .arg(budget.unwrap_or(-1))
                .arg(ask.limits.requests_per_minute.map_or(-1, i64::from))
                .arg(ask.limits.tokens_per_minute.map_or(-1, i64::from));
        }
        let mut connection = self.manager.clone();
        let reply: Vec<i64> = script.invoke_async(&mut connection).await?;
        let used: Vec<Used> = reply[1..]
            .chunks_exact(3)
            .map(|seen| Used {
                committed: (seen[0] >= 0).then_some(seen[0]),
                requests: seen[1].max(0) as u64,
                tokens: seen[2].max(0) as u64,
            })
            .collect();
        if used.len() != asks.len() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::TypeError,
                "unexpected reply from the limits script",
            )));
        }
        // The script applied the same rule; `decide` turns what it saw into grants or a refusal.
        let decided = decide(asks, &used, estimate, window);
        if (reply[0] == 1) != decided.is_ok() {
            tracing::error!("limits: the Lua script and the local rule disagree");
        }
        Ok(decided)
    }

    /// Applies a reservation's settlement; returns each grant's committed spend after (-1: none).
    pub async fn settle(
        &self,
        grants: &[Grant],
        month_start: i64,
        minute: i64,
        nanos: i64,
        tokens: u64,
    ) -> Result<Vec<i64>, redis::RedisError> {
        let mut script = SETTLE.prepare_invoke();
        for grant in grants {
            script.key(self.key(grant.scope, "spend", month_start));
            match grant.reserved_nanos {
                Some(reserved) => script.arg(nanos - reserved),
                None => script.arg("skip"),
            };
            script.key(self.key(grant.scope, "tokens", minute));
            match grant.counted_tokens {
                Some(counted) => script.arg(tokens as i64 - counted as i64),
                None => script.arg("skip"),
            };
        }
        let mut connection = self.manager.clone();
        let after: Vec<i64> = script.invoke_async(&mut connection).await?;
        Ok(after.iter().step_by(2).copied().collect())
    }

    /// Sends the budget alert of a scope if its spend reached the threshold and no server has sent
    /// it this month.
    pub async fn alert_once(
        &self,
        grant: &Grant,
        month_start: i64,
        spent: i64,
        alerts: Option<&tokio::sync::mpsc::UnboundedSender<BudgetAlert>>,
    ) {
        let Some((at, _)) = grant.alert else { return };
        if spent < at || alerts.is_none() {
            return;
        }
        let mut connection = self.manager.clone();
        let first: Result<Option<String>, _> = redis::cmd("SET")
            .arg(self.key(grant.scope, "alerted", month_start))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(40 * 86_400_000_i64)
            .query_async(&mut connection)
            .await;
        if matches!(first, Ok(Some(_))) {
            send_alert(alerts, grant, month_start, spent);
        }
    }
}
