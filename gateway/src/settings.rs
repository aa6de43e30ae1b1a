//! Knobs of the engine. The server crate fills them from its layered configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::providers::ProviderKind;

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Default upstream base URL of each provider, as that provider's own SDK calls it. A provider
    /// credential may carry its own base URL, which wins.
    pub provider_base_urls: BTreeMap<ProviderKind, String>,
    /// The longest a single upstream call may take.
    pub upstream_timeout: Duration,
    /// Retries of connect errors, timeouts, 429 and 5xx, with jittered exponential backoff.
    pub retry: RetrySettings,
    /// How often running servers look for accounts changed by another process (CLI, another node).
    pub change_poll_interval: Duration,
    pub usage: UsageSettings,
    /// What each plan allows.
    pub plans: crate::plans::PlanTable,
    /// Stripe billing; `None` (self-hosting) hides payment and leaves plans to the CLI.
    pub stripe: Option<StripeSettings>,
    /// Where people reach the portal (`GATEWAY_PUBLIC_URL`), for links that leave and come back
    /// (Stripe's return pages); else taken from the request.
    pub public_url: Option<String>,
    pub cache: CacheSettings,
    /// How often events past their plan's retention are deleted.
    pub retention_interval: Duration,
    /// Where the semantic router's files are (`embeddings.bin`, `semantic.json`).
    pub router_model_dir: std::path::PathBuf,
    /// Where tenants' provider base URLs may lead (the SSRF guard).
    pub egress: crate::egress::EgressPolicy,
    /// Safety valves: log-in attempts, requests per second and open streams per key.
    pub abuse: crate::abuse::AbuseSettings,
    /// Longest a client may take to send a `/v1` request body (then 408).
    /// A proxy every provider call goes through, set by the operator. Without one, proxy
    /// variables in the environment (`HTTPS_PROXY`, `ALL_PROXY`) are ignored: through a proxy the
    /// SSRF guard cannot see the address a name leads to.
    pub upstream_proxy: Option<String>,
    pub body_read_timeout: Duration,
    /// The header a reverse proxy puts the client's address in (lower case); `None`: the
    /// connection's address.
    pub client_ip_header: Option<String>,
    /// Budgets and rate limits for keys and accounts that set none of their own.
    pub default_limits: DefaultLimits,
    /// `SMTP_URL`; `None`: e-mails are written to the log.
    pub smtp_url: Option<String>,
    /// The sender of every e-mail (`MAIL_FROM`).
    pub mail_from: String,
    /// Where links in e-mails lead: the public URL, else the address the server listens on. Never
    /// taken from a request's `Host`, which the requester chooses.
    pub link_base: String,
}

/// The config file's `[limits.key]` and `[limits.account]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DefaultLimits {
    pub key: crate::limits::Limits,
    pub account: crate::limits::Limits,
}

#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// How long a cached answer is served.
    pub ttl: Duration,
    /// Most answers the in-memory cache keeps (least recently used go first).
    pub max_entries: usize,
    /// Most bytes of answers the in-memory cache keeps; one answer at most a sixteenth of them.
    pub max_bytes: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            max_entries: 10_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UsageSettings {
    /// Events waiting to be written; past this they are dropped (and counted), never awaited.
    pub queue_capacity: usize,
    /// Most events written in one transaction (in statements of up to 256 rows).
    pub batch_size: usize,
    /// Longest an event waits before it is written.
    pub flush_interval: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            provider_base_urls: BTreeMap::new(),
            upstream_timeout: Duration::from_secs(120),
            retry: RetrySettings::default(),
            change_poll_interval: Duration::from_secs(1),
            usage: UsageSettings::default(),
            plans: crate::plans::PlanTable::default(),
            stripe: None,
            public_url: None,
            cache: CacheSettings::default(),
            retention_interval: Duration::from_secs(3600),
            router_model_dir: crate::routing::semantic::default_model_dir(),
            egress: crate::egress::EgressPolicy::default(),
            abuse: crate::abuse::AbuseSettings::default(),
            body_read_timeout: Duration::from_secs(60),
            upstream_proxy: None,
            client_ip_header: None,
            default_limits: DefaultLimits::default(),
            smtp_url: None,
            mail_from: "LLM Gateway <noreply@localhost>".into(),
            link_base: "http://127.0.0.1:3000".into(),
        }
    }
}

impl Default for UsageSettings {
    fn default() -> Self {
        Self {
            // Three seconds of 16,000 events/s (a few hundred bytes each), the most one core
            // served in the streams benchmark with the cache on.
            queue_capacity: 50_000,
            // A transaction's statements are round trips to the database's thread, each waiting
            // its turn among the requests: with 500 a batch, taken one event at a time, 43 % of
            // 9,000 events/s were dropped (streams benchmark, cache on); with 4,096, taken as
            // many as wait, none.
            batch_size: 4_096,
            flush_interval: Duration::from_secs(1),
        }
    }
}

impl GatewaySettings {
    /// The client's address: from the proxy's header when one is configured (the last entry of
    /// a list, the one the proxy itself added), else the connection's. `None` when unknown.
    pub fn client_address(
        &self,
        headers: &http::HeaderMap,
        peer: Option<std::net::SocketAddr>,
    ) -> Option<std::net::IpAddr> {
        let Some(name) = &self.client_ip_header else {
            return peer.map(|peer| peer.ip());
        };
        let value = headers.get(name.as_str())?.to_str().ok()?;
        let last = value.rsplit(',').next()?.trim();
        last.parse().ok().or_else(|| {
            last.parse::<std::net::SocketAddr>()
                .ok()
                .map(|addr| addr.ip())
        })
    }

    /// The configured base URL of a provider, else its table default.
    pub fn default_base_url(&self, kind: ProviderKind) -> &str {
        self.provider_base_urls
            .get(&kind)
            .map_or(kind.default_base_url(), String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct RetrySettings {
    /// Attempts per model, the first included.
    pub attempts: u32,
    /// First backoff; each retry doubles it, and a random part of it is waited (full jitter).
    pub base_backoff: Duration,
    /// No retry starts after this much time has passed since the request arrived; a
    /// `Retry-After` longer than what is left moves on to the next model instead.
    pub deadline: Duration,
    /// The longest `Retry-After` honoured by waiting; a provider asking for more gets its error
    /// passed on (with the header), or the next fallback model tried, at once.
    pub max_retry_wait: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_backoff: Duration::from_millis(250),
            deadline: Duration::from_secs(30),
            max_retry_wait: Duration::from_secs(5),
        }
    }
}

/// Stripe billing (`STRIPE_*`); the secret key and webhook secret are never printed.
#[derive(Clone)]
pub struct StripeSettings {
    pub secret_key: String,
    pub webhook_secret: String,
    pub price_pro: String,
    pub price_enterprise: String,
    /// `https://api.stripe.com/` (a fake in tests).
    pub api_base: String,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("price_pro", &self.price_pro)
            .field("price_enterprise", &self.price_enterprise)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}
