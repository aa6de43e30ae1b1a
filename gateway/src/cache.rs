//! The response cache: exact-match answers for repeated chat requests, scoped to one account.
//!
//! The key is a SHA-256 of the account, the model that serves the request and the request body
//! normalized (object keys sorted, `stream`, `stream_options` and the `models` fallbacks left out:
//! they change how an answer travels, not what it is). In memory (bounded, least recently used)
//! by default; in Redis when `REDIS_URL` is set, so several servers share it. A cache failure is a
//! miss, never an error.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::openai::Usage;

/// How long one Redis command may take before the quota and the cache fall back to this server
/// alone (a quota check is a short Lua script, a cache read one GET): without it a stalled Redis
/// would hang every `/v1` request at admission.
pub const REDIS_RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
pub const REDIS_CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A reconnecting Redis connection, shared by the cache and the quota counter.
pub async fn connect_redis(url: &str) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(REDIS_RESPONSE_TIMEOUT)
        .set_connection_timeout(REDIS_CONNECTION_TIMEOUT);
    redis::aio::ConnectionManager::new_with_config(client, config).await
}

/// What a hit gives back: the completion as the provider's answer was sent, and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    /// The chat completion JSON as it was returned to the first caller.
    pub body: String,
    pub provider: String,
    pub model: String,
    pub usage: Usage,
}

/// Answers in this server's memory, bounded by count and by bytes, least recently used first out.
pub struct MemoryStore {
    entries: lru::LruCache<String, (Instant, CachedAnswer)>,
    bytes: usize,
    max_bytes: usize,
}

impl MemoryStore {
    /// What an entry holds: its key and the answer's texts (the rest is small and fixed).
    fn size(key: &str, answer: &CachedAnswer) -> usize {
        key.len() + answer.body.len() + answer.model.len() + answer.provider.len() + 64
    }

    fn remove(&mut self, key: &str) {
        if let Some((_, answer)) = self.entries.pop(key) {
            self.bytes -= Self::size(key, &answer);
        }
    }

    fn put(&mut self, key: String, answer: CachedAnswer) {
        let size = Self::size(&key, &answer);
        // One answer may take at most a sixteenth of the room: a few huge answers must not push
        // out every other.
        if size > self.max_bytes / 16 {
            return;
        }
        self.remove(&key);
        while self.bytes + size > self.max_bytes || self.entries.len() == self.entries.cap().get() {
            let Some((old_key, (_, old))) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= Self::size(&old_key, &old);
        }
        self.bytes += size;
        self.entries.put(key, (Instant::now(), answer));
    }
}

pub enum CacheStore {
    Memory(Mutex<MemoryStore>),
    /// Keys are prefixed with a namespace, so installations can share one Redis.
    Redis {
        manager: redis::aio::ConnectionManager,
        prefix: String,
    },
}

pub struct ResponseCache {
    store: CacheStore,
    ttl: Duration,
}

/// The request's cache key: account, serving model and normalized body. Transport fields
/// (streaming, the model list) are left out at the top level; nothing is copied to do so.
pub fn cache_key(account_id: i32, provider: &str, model: &str, body: &Value) -> String {
    const TRANSPORT: [&str; 4] = ["stream", "stream_options", "models", "model"];
    let mut canonical = String::new();
    match body {
        Value::Object(fields) => write_object(
            fields
                .iter()
                .filter(|(key, _)| !TRANSPORT.contains(&key.as_str())),
            &mut canonical,
        ),
        other => write_canonical(other, &mut canonical),
    }
    let mut hasher = Sha256::new();
    hasher.update(format!("{account_id}\n{provider}\n{model}\n").as_bytes());
    hasher.update(canonical.as_bytes());
    format!("cache:{account_id}:{}", hex::encode(hasher.finalize()))
}

/// JSON with object keys sorted at every level (whatever order the map keeps them in).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(fields) => write_object(fields.iter(), out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_object<'a>(fields: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut String) {
    let mut fields: Vec<_> = fields.collect();
    fields.sort_unstable_by_key(|(key, _)| *key);
    out.push('{');
    for (i, (key, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A key quoted and escaped exactly as JSON writes it; serialising a str cannot fail.
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
        out.push(':');
        write_canonical(value, out);
    }
    out.push('}');
}

impl ResponseCache {
    /// The cache in this server's memory: at most `capacity` answers and `max_bytes` of them.
    pub fn in_memory(capacity: usize, max_bytes: usize, ttl: Duration) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            store: CacheStore::Memory(Mutex::new(MemoryStore {
                entries: lru::LruCache::new(capacity),
                bytes: 0,
                max_bytes,
            })),
            ttl,
        }
    }

    /// The cache in Redis, under `prefix` (so installations can share one Redis).
    pub fn redis(manager: redis::aio::ConnectionManager, prefix: &str, ttl: Duration) -> Self {
        Self {
            store: CacheStore::Redis {
                manager,
                prefix: prefix.to_owned(),
            },
            ttl,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.store {
            CacheStore::Memory(_) => "memory",
            CacheStore::Redis { .. } => "redis",
        }
    }

    pub async fn get(&self, key: &str) -> Option<CachedAnswer> {
        match &self.store {
            CacheStore::Memory(store) => {
                let mut store = store.lock();
                let fresh = store
                    .entries
                    .get(key)
                    .filter(|(stored, _)| stored.elapsed() < self.ttl)
                    .map(|(_, answer)| answer.clone());
                if fresh.is_none() {
                    store.remove(key);
                }
                fresh
            }
            CacheStore::Redis { manager, prefix } => {
                let mut connection = manager.clone();
                let stored: Result<Option<String>, _> = redis::cmd("GET")
                    .arg(format!("{prefix}:{key}"))
                    .query_async(&mut connection)
                    .await;
                match stored {
                    Ok(stored) => stored.and_then(|json| serde_json::from_str(&json).ok()),
                    Err(err) => {
                        tracing::warn!(error = %err, "response cache: Redis GET failed; treating as a miss");
                        None
                    }
                }
            }
        }
    }

    pub async fn put(&self, key: String, answer: CachedAnswer) {
        match &self.store {
            CacheStore::Memory(store) => store.lock().put(key, answer),
            CacheStore::Redis { manager, prefix } => {
                let mut connection = manager.clone();
                let Ok(json) = serde_json::to_string(&answer) else {
                    return;
                };
                let stored: Result<(), _> = redis::cmd("SET")
                    .arg(format!("{prefix}:{key}"))
                    .arg(json)
                    .arg("PX")
                    .arg(self.ttl.as_millis().max(1) as u64)
                    .query_async(&mut connection)
                    .await;
                if let Err(err) = stored {
                    tracing::warn!(error = %err, "response cache: Redis SET failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(text: &str) -> CachedAnswer {
        CachedAnswer {
            body: text.into(),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            usage: Usage::default(),
        }
    }

    #[test]
    fn keys_ignore_transport_and_order_but_not_content_or_account() {
        let a = json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2, "stream": true});
        let b = json!({"temperature": 0.2, "messages": [{"content": "hi", "role": "user"}], "stream": false, "stream_options": {"include_usage": true}});
        assert_eq!(
            cache_key(1, "openai", "gpt-4o-mini", &a),
            cache_key(1, "openai", "gpt-4o-mini", &b)
        );
        assert_ne!(
            cache_key(1, "openai", "gpt-4o-mini", &a),
            cache_key(2, "openai", "gpt-4o-mini", &a),
            "accounts never share"
        );
        assert_ne!(
            cache_key(1, "openai", "gpt-4o-mini", &a),
            cache_key(1, "openai", "gpt-4o", &a)
        );
        let c = json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 0.3});
        assert_ne!(
            cache_key(1, "openai", "gpt-4o-mini", &a),
            cache_key(1, "openai", "gpt-4o-mini", &c)
        );
    }

    #[tokio::test]
    async fn memory_is_bounded_least_recently_used_and_expires() {
        let cache = ResponseCache::in_memory(2, 1 << 20, Duration::from_millis(200));
        cache.put("a".into(), answer("A")).await;
        cache.put("b".into(), answer("B")).await;
        assert_eq!(cache.get("a").await.unwrap().body, "A"); // a is now the most recent
        cache.put("c".into(), answer("C")).await; // evicts b
        assert!(cache.get("b").await.is_none());
        assert!(cache.get("a").await.is_some() && cache.get("c").await.is_some());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(cache.get("a").await.is_none(), "expired");
    }

    #[tokio::test]
    async fn memory_is_bounded_by_bytes_too() {
        // Room for sixteen answers of 10 KiB; one of 100 KiB is more than a sixteenth.
        let cache = ResponseCache::in_memory(1000, 16 * 10_400, Duration::from_secs(60));
        let big = "x".repeat(10 * 1024);
        for key in [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q",
        ] {
            cache.put(key.into(), answer(&big)).await;
        }
        let CacheStore::Memory(store) = &cache.store else {
            unreachable!("in memory")
        };
        let (bytes, count, max) = {
            let store = store.lock();
            (store.bytes, store.entries.len(), store.max_bytes)
        };
        assert!(bytes <= max, "{bytes} > {max}");
        assert!(count < 17, "the oldest went: {count}");
        assert!(cache.get("q").await.is_some(), "the newest stays");
        assert!(cache.get("a").await.is_none(), "the oldest went");
        cache
            .put("huge".into(), answer(&"y".repeat(100 * 1024)))
            .await;
        assert!(cache.get("huge").await.is_none(), "too big to keep");
    }
}
