//! What the engine is given from the configuration: [`Config::engine_settings`] and the parts
//! checked on their own at start-up (the upstream proxy, the SSRF guard, Stripe).

use anyhow::Context as _;

use crate::config::{Config, LimitsConfig};

/// The environment variables HTTP clients (reqwest, curl) take a proxy from.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

impl Config {
    /// The proxy for provider calls: `UPSTREAM_PROXY`, unless it says `none`. A proxy variable in
    /// the environment without `UPSTREAM_PROXY` stops the start rather than being obeyed (the SSRF
    /// guard would not see where names lead) or silently ignored (calls would fail unexplained).
    pub fn upstream_proxy(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<String>> {
        match self.upstream_proxy.as_deref().map(str::trim) {
            Some(none) if none.eq_ignore_ascii_case("none") => Ok(None),
            Some(proxy) if !proxy.is_empty() => {
                let parsed = proxy.parse::<axum::http::Uri>().ok();
                anyhow::ensure!(
                    parsed.is_some_and(|uri| uri.scheme().is_some() && uri.host().is_some()),
                    "invalid UPSTREAM_PROXY: expected a URL such as http://proxy:3128, or none"
                );
                Ok(Some(proxy.to_owned()))
            }
            _ => {
                for name in PROXY_VARIABLES {
                    if env(name).is_some_and(|value| !value.trim().is_empty()) {
                        anyhow::bail!(
                            "{name} is set, but the gateway checks where tenants' provider URLs lead only when it connects itself: set UPSTREAM_PROXY to the proxy's URL to send provider calls through it anyway, or UPSTREAM_PROXY=none to connect directly"
                        );
                    }
                }
                Ok(None)
            }
        }
    }

    /// The cap on one address's open connections (see `max_connections_per_address`).
    pub fn connections_per_address(&self, max_connections: usize) -> usize {
        match self.max_connections_per_address {
            0 if self.client_ip_header.is_some() => max_connections,
            0 => (max_connections / 4).max(1),
            set => set.min(max_connections),
        }
    }

    /// The SSRF guard: the operator's exceptions, and the operator's own provider URLs, each
    /// opening its scheme, host and port for its provider kind.
    pub fn egress_policy(&self) -> anyhow::Result<gateway::egress::EgressPolicy> {
        let entries: Vec<&str> = self
            .allowed_private_upstreams
            .split([',', ' ', '\n'])
            .filter(|entry| !entry.trim().is_empty())
            .collect();
        let mut policy = gateway::egress::EgressPolicy::allowing(&entries)
            .map_err(|err| anyhow::anyhow!("invalid ALLOWED_PRIVATE_UPSTREAMS: {err}"))?;
        for (&kind, url) in &self.provider_base_urls {
            policy.open_base_url(kind, url);
        }
        Ok(policy)
    }

    /// Billing is on only with all four Stripe settings.
    pub fn stripe_settings(&self) -> Option<gateway::settings::StripeSettings> {
        let present = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Some(gateway::settings::StripeSettings {
            secret_key: present(&self.stripe_secret_key)?,
            webhook_secret: present(&self.stripe_webhook_secret)?,
            price_pro: present(&self.stripe_price_pro)?,
            price_enterprise: present(&self.stripe_price_enterprise)?,
            api_base: self.stripe_api_base.clone(),
        })
    }

    pub fn engine_settings(&self) -> anyhow::Result<gateway::settings::GatewaySettings> {
        Ok(gateway::settings::GatewaySettings {
            provider_base_urls: self
                .provider_base_urls
                .iter()
                .map(|(&kind, url)| (kind, url.trim_end_matches('/').to_owned()))
                .collect(),
            upstream_timeout: std::time::Duration::from_secs(self.upstream_timeout_secs.max(1)),
            plans: self.plans.clone(),
            stripe: self.stripe_settings(),
            public_url: self.gateway_public_url.clone(),
            cache: gateway::settings::CacheSettings {
                ttl: std::time::Duration::from_secs(self.cache_ttl_secs.max(1)),
                max_entries: self.cache_max_entries.max(1),
                max_bytes: self.cache_max_bytes.max(1024 * 1024),
            },
            router_model_dir: self.router_model_dir.clone(),
            change_poll_interval: std::time::Duration::from_millis(
                self.account_change_poll_ms.max(100),
            ),
            egress: self.egress_policy()?,
            abuse: gateway::abuse::AbuseSettings {
                logins_per_address_per_minute: self.logins_per_address_per_minute,
                logins_per_account_per_minute: self.logins_per_account_per_minute,
                signups_per_address_per_hour: self.signups_per_address_per_hour,
                invitations_per_account_per_hour: self.invitations_per_account_per_hour,
                key_requests_per_second: self.key_requests_per_second,
                key_concurrent_streams: self.key_concurrent_streams,
            },
            body_read_timeout: std::time::Duration::from_secs(self.body_read_timeout_secs.max(1)),
            upstream_proxy: self.upstream_proxy(|name| std::env::var(name).ok())?,
            client_ip_header: self
                .client_ip_header
                .as_deref()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_ascii_lowercase),
            smtp_url: self.smtp_url.clone().filter(|url| !url.trim().is_empty()),
            mail_from: self.mail_from.clone(),
            link_base: self.link_base(),
            default_limits: {
                let LimitsConfig { key, account } = &self.limits;
                for (which, limits) in [("key", key), ("account", account)] {
                    limits
                        .validate()
                        .with_context(|| format!("[limits.{which}] in the configuration"))?;
                }
                gateway::settings::DefaultLimits {
                    key: key.clone(),
                    account: account.clone(),
                }
            },
            ..Default::default()
        })
    }
}
