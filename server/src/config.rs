//! Configuration, layered: built-in defaults, then an optional TOML file (`--config FILE` or
//! `GATEWAY_CONFIG`), then environment variables. Keys in the file are the variable names in
//! lower case (`database_url = "…"`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use gateway::providers::{PROVIDERS, ProviderKind};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Config {
    /// `sqlite://path?mode=rwc` (default `./data/gateway.db`) or `postgres://…`.
    pub database_url: String,
    pub gateway_addr: String,
    /// base64 of 32 bytes. When absent, one is kept in `<data dir>/master.key`.
    pub gateway_master_key: Option<String>,
    /// Where generated files (the master key, the default SQLite database) live.
    pub gateway_data_dir: PathBuf,
    /// The URL people reach the portal at; `https://…` makes session cookies `Secure`.
    pub gateway_public_url: Option<String>,
    /// Directory holding the built portal assets (`pkg/`), as scripts/build.sh (or cargo-leptos) lays it out.
    pub leptos_site_root: String,
    /// Default upstream of each provider, from `<PROVIDER>_BASE_URL` (the variable named in the
    /// provider table); a provider without one keeps the table's default.
    #[serde(skip)]
    pub provider_base_urls: BTreeMap<ProviderKind, String>,
    pub upstream_timeout_secs: u64,
    /// What each plan allows (`[plans.free]`, `[plans.pro]`, `[plans.enterprise]` in the file).
    pub plans: gateway::plans::PlanTable,
    /// Stripe billing; off unless the secret key, the webhook secret and both prices are set.
    pub stripe_secret_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    pub stripe_price_pro: Option<String>,
    pub stripe_price_enterprise: Option<String>,
    /// Stripe's API, overridable for tests and proxies.
    pub stripe_api_base: String,
    /// `redis://…`: the response cache lives in Redis (shared by servers) instead of memory.
    pub redis_url: Option<String>,
    /// `/metrics` asks for `Authorization: Bearer <this>`; unset, it answers only clients on the
    /// server's own machine (loopback).
    pub metrics_token: Option<String>,
    /// Prefix of this installation's Redis keys.
    pub redis_key_prefix: String,
    pub cache_ttl_secs: u64,
    pub cache_max_entries: usize,
    /// Most bytes of answers the in-memory cache keeps.
    pub cache_max_bytes: usize,
    /// The semantic router's files (`embeddings.bin`, `semantic.json`); the shipped ones by default.
    pub router_model_dir: PathBuf,
    /// How often each server asks the database which accounts other servers changed (revoked
    /// keys, new provider keys, plan changes) and drops them from its memory.
    pub account_change_poll_ms: u64,
    /// How long a client may take to send a request's headers (slowloris guard).
    pub header_read_timeout_secs: u64,
    /// Open connections at most; more are closed as they arrive.
    pub max_connections: usize,
    /// Open connections from one client address at most; 0: a quarter of `max_connections`, or
    /// all of them behind a reverse proxy (`client_ip_header` set), where every connection comes
    /// from the proxy's address.
    pub max_connections_per_address: usize,
    /// On shutdown, how long open requests (streams) may take to finish before the server stops.
    pub shutdown_grace_secs: u64,
    /// Hosts, addresses and networks (`localhost, 10.0.0.0/8`) tenants' provider base URLs may
    /// lead to although they are private, and hosts they may reach over plain http. Hosts of the
    /// operator's own `<PROVIDER>_BASE_URL`s are always allowed.
    pub allowed_private_upstreams: String,
    /// Safety valves (0 turns one off): log-in attempts per client address and per account per
    /// minute, sign-ups per address per hour, `/v1` requests per second and open streams per key.
    pub logins_per_address_per_minute: u32,
    pub logins_per_account_per_minute: u32,
    pub signups_per_address_per_hour: u32,
    pub invitations_per_account_per_hour: u32,
    pub key_requests_per_second: u32,
    pub key_concurrent_streams: u32,
    /// The proxy provider calls go through (`http://proxy:3128`), or `none`. Needed to start when
    /// `HTTPS_PROXY`, `ALL_PROXY` or `HTTP_PROXY` is in the environment: those are never used
    /// silently, since through a proxy the SSRF guard cannot check where tenants' names lead.
    pub upstream_proxy: Option<String>,
    /// How long a client may take to send a request body.
    pub body_read_timeout_secs: u64,
    /// Behind a reverse proxy: the header it puts the client's address in (`x-forwarded-for`,
    /// whose last entry is used, or `x-real-ip`); else the connection's own address counts.
    pub client_ip_header: Option<String>,
    /// `smtp://host:port`, `smtp://user:pass@host:587?tls=required` or `smtps://user:pass@host`:
    /// where e-mails go (verification, password reset, invitations, budget alerts). Unset: they
    /// are written to the log.
    pub smtp_url: Option<String>,
    /// The sender of those e-mails.
    pub mail_from: String,
    /// Budgets and rate limits for keys (`[limits.key]`) and accounts (`[limits.account]`) that
    /// set none of their own in the portal or the CLI.
    #[serde(default)]
    pub limits: LimitsConfig,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LimitsConfig {
    #[serde(default)]
    pub key: gateway::limits::Limits,
    #[serde(default)]
    pub account: gateway::limits::Limits,
}

impl Default for Config {
    fn default() -> Self {
        let engine = gateway::settings::GatewaySettings::default();
        let abuse = &engine.abuse;
        Self {
            database_url: "sqlite://data/gateway.db?mode=rwc".into(),
            gateway_addr: "127.0.0.1:3000".into(),
            gateway_master_key: None,
            gateway_data_dir: PathBuf::from("data"),
            gateway_public_url: None,
            leptos_site_root: "target/site".into(),
            provider_base_urls: BTreeMap::new(),
            upstream_timeout_secs: engine.upstream_timeout.as_secs(),
            plans: engine.plans,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_price_pro: None,
            stripe_price_enterprise: None,
            stripe_api_base: "https://api.stripe.com".into(),
            redis_url: None,
            metrics_token: None,
            redis_key_prefix: "llm-gateway".into(),
            cache_ttl_secs: engine.cache.ttl.as_secs(),
            cache_max_entries: engine.cache.max_entries,
            cache_max_bytes: engine.cache.max_bytes,
            router_model_dir: engine.router_model_dir,
            account_change_poll_ms: engine.change_poll_interval.as_millis() as u64,
            header_read_timeout_secs: 10,
            max_connections: 10_000,
            max_connections_per_address: 0,
            shutdown_grace_secs: 30,
            allowed_private_upstreams: String::new(),
            logins_per_address_per_minute: abuse.logins_per_address_per_minute,
            logins_per_account_per_minute: abuse.logins_per_account_per_minute,
            signups_per_address_per_hour: abuse.signups_per_address_per_hour,
            invitations_per_account_per_hour: abuse.invitations_per_account_per_hour,
            key_requests_per_second: abuse.key_requests_per_second,
            key_concurrent_streams: abuse.key_concurrent_streams,
            body_read_timeout_secs: engine.body_read_timeout.as_secs(),
            upstream_proxy: None,
            client_ip_header: None,
            smtp_url: None,
            mail_from: engine.mail_from.clone(),
            limits: LimitsConfig::default(),
        }
    }
}

// Secrets stay out of logs and error messages.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("gateway_addr", &self.gateway_addr)
            .field(
                "gateway_master_key",
                &self.gateway_master_key.as_ref().map(|_| "<redacted>"),
            )
            .field("gateway_data_dir", &self.gateway_data_dir)
            .field("gateway_public_url", &self.gateway_public_url)
            .field("leptos_site_root", &self.leptos_site_root)
            .field("provider_base_urls", &self.provider_base_urls)
            .field("upstream_timeout_secs", &self.upstream_timeout_secs)
            .field("plans", &self.plans)
            .field(
                "stripe_secret_key",
                &self.stripe_secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "stripe_webhook_secret",
                &self.stripe_webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("stripe_price_pro", &self.stripe_price_pro)
            .field("stripe_price_enterprise", &self.stripe_price_enterprise)
            .field("stripe_api_base", &self.stripe_api_base)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("cache_ttl_secs", &self.cache_ttl_secs)
            .field("cache_max_entries", &self.cache_max_entries)
            .field("cache_max_bytes", &self.cache_max_bytes)
            .field("router_model_dir", &self.router_model_dir)
            .field("account_change_poll_ms", &self.account_change_poll_ms)
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field(
                "max_connections_per_address",
                &self.max_connections_per_address,
            )
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("allowed_private_upstreams", &self.allowed_private_upstreams)
            .field(
                "logins_per_address_per_minute",
                &self.logins_per_address_per_minute,
            )
            .field(
                "logins_per_account_per_minute",
                &self.logins_per_account_per_minute,
            )
            .field(
                "signups_per_address_per_hour",
                &self.signups_per_address_per_hour,
            )
            .field(
                "invitations_per_account_per_hour",
                &self.invitations_per_account_per_hour,
            )
            .field("key_requests_per_second", &self.key_requests_per_second)
            .field("key_concurrent_streams", &self.key_concurrent_streams)
            .field("body_read_timeout_secs", &self.body_read_timeout_secs)
            .field(
                "upstream_proxy",
                &self.upstream_proxy.as_ref().map(|p| redact_url(p)),
            )
            .field("client_ip_header", &self.client_ip_header)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from)
            .field("limits", &self.limits)
            .finish()
    }
}

/// Drops the password from a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

const ENV_KEYS: &[&str] = &[
    "database_url",
    "gateway_addr",
    "gateway_master_key",
    "gateway_data_dir",
    "gateway_public_url",
    "leptos_site_root",
    "upstream_timeout_secs",
    "stripe_secret_key",
    "stripe_webhook_secret",
    "stripe_price_pro",
    "stripe_price_enterprise",
    "stripe_api_base",
    "redis_url",
    "metrics_token",
    "redis_key_prefix",
    "cache_ttl_secs",
    "cache_max_entries",
    "cache_max_bytes",
    "router_model_dir",
    "account_change_poll_ms",
    "header_read_timeout_secs",
    "max_connections",
    "max_connections_per_address",
    "shutdown_grace_secs",
    "allowed_private_upstreams",
    "logins_per_address_per_minute",
    "logins_per_account_per_minute",
    "signups_per_address_per_hour",
    "invitations_per_account_per_hour",
    "key_requests_per_second",
    "key_concurrent_streams",
    "body_read_timeout_secs",
    "upstream_proxy",
    "client_ip_header",
    "smtp_url",
    "mail_from",
];

impl Config {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("GATEWAY_CONFIG").map(PathBuf::from));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        let base_url_keys: Vec<String> = PROVIDERS
            .iter()
            .map(|spec| spec.base_url_env.to_ascii_lowercase())
            .collect();
        let env_keys: Vec<&str> = ENV_KEYS
            .iter()
            .copied()
            .chain(base_url_keys.iter().map(String::as_str))
            .collect();
        figment = figment.merge(Env::raw().only(&env_keys));
        let mut config: Config = figment.extract().context("invalid configuration")?;
        for (spec, key) in PROVIDERS.iter().zip(&base_url_keys) {
            if let Ok(value) = figment.find_value(key) {
                let url: String = value
                    .deserialize()
                    .with_context(|| format!("invalid {}", spec.base_url_env))?;
                config.provider_base_urls.insert(spec.kind, url);
            }
        }
        config.read_secret_files(|name| std::env::var_os(name).map(PathBuf::from))?;
        config.egress_policy()?;
        Ok(config)
    }

    /// Secrets may come from files, as compose and Kubernetes mount them: `NAME_FILE` holds the
    /// path, read when `NAME` itself is not set (a trailing newline is not part of the value).
    fn read_secret_files(
        &mut self,
        file_of: impl Fn(&str) -> Option<PathBuf>,
    ) -> anyhow::Result<()> {
        let read = |name: &str| -> anyhow::Result<Option<String>> {
            let Some(path) = file_of(&format!("{name}_FILE")) else {
                return Ok(None);
            };
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{name}_FILE: cannot read {}", path.display()))?;
            Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
        };
        for (name, slot) in [
            ("GATEWAY_MASTER_KEY", &mut self.gateway_master_key),
            ("STRIPE_SECRET_KEY", &mut self.stripe_secret_key),
            ("STRIPE_WEBHOOK_SECRET", &mut self.stripe_webhook_secret),
            ("METRICS_TOKEN", &mut self.metrics_token),
            ("REDIS_URL", &mut self.redis_url),
            ("SMTP_URL", &mut self.smtp_url),
        ] {
            if slot.is_none() {
                *slot = read(name)?;
            }
        }
        if std::env::var_os("DATABASE_URL").is_none()
            && let Some(url) = read("DATABASE_URL")?
        {
            self.database_url = url;
        }
        Ok(())
    }

    /// Where e-mailed links point: `GATEWAY_PUBLIC_URL`, else the listen address.
    pub fn link_base(&self) -> String {
        self.gateway_public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.gateway_addr))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    pub fn secure_cookies(&self) -> bool {
        self.gateway_public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_come_from_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "gw.toml",
                "[plans.free]\nrequests_per_month = 100\ngateway_keys = 1\nproviders = 1\nretention_days = 3\nstreaming = true\nresponse_cache = false\n",
            )?;
            let config = Config::load(Some(Path::new("gw.toml"))).expect("loads");
            assert_eq!(
                config.plans.free.requests_per_month,
                gateway::plans::Limit(Some(100))
            );
            assert!(config.plans.free.streaming);
            assert_eq!(config.plans.pro, gateway::plans::PlanTable::default().pro);
            Ok(())
        });
    }

    #[test]
    fn a_proxy_in_the_environment_is_used_only_when_the_operator_says_so() {
        let environment = |name: &str| (name == "https_proxy").then(|| "http://squid:3128".into());
        let refused = Config::default().upstream_proxy(environment).unwrap_err();
        let refused = refused.to_string();
        assert!(
            refused.contains("https_proxy is set") && refused.contains("UPSTREAM_PROXY"),
            "{refused}"
        );
        let direct = Config {
            upstream_proxy: Some("none".into()),
            ..Config::default()
        };
        assert_eq!(direct.upstream_proxy(environment).unwrap(), None);
        let through = Config {
            upstream_proxy: Some("http://squid:3128".into()),
            ..Config::default()
        };
        assert_eq!(
            through.upstream_proxy(environment).unwrap().as_deref(),
            Some("http://squid:3128")
        );
        let nothing_set = |_: &str| None;
        assert_eq!(Config::default().upstream_proxy(nothing_set).unwrap(), None);
        let invalid = Config {
            upstream_proxy: Some("squid".into()),
            ..Config::default()
        };
        assert!(invalid.upstream_proxy(nothing_set).is_err());
    }

    #[test]
    fn secrets_may_come_from_files() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("master.key", "c2VjcmV0\n")?;
            jail.create_file("db.url", "postgres://gw:pw@db/gw\n")?;
            jail.set_env("GATEWAY_MASTER_KEY_FILE", "master.key");
            jail.set_env("DATABASE_URL_FILE", "db.url");
            jail.set_env("METRICS_TOKEN", "from-env");
            jail.set_env("METRICS_TOKEN_FILE", "nowhere");
            let config = Config::load(None).expect("loads");
            assert_eq!(config.gateway_master_key.as_deref(), Some("c2VjcmV0"));
            assert_eq!(config.database_url, "postgres://gw:pw@db/gw");
            // The variable itself wins over its file.
            assert_eq!(config.metrics_token.as_deref(), Some("from-env"));
            jail.set_env("STRIPE_SECRET_KEY_FILE", "missing.txt");
            let refused = Config::load(None).unwrap_err().to_string();
            assert!(refused.contains("STRIPE_SECRET_KEY_FILE"), "{refused}");
            Ok(())
        });
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://gw:s3cret@db:5432/gw"),
            "postgres://gw:***@db:5432/gw"
        );
        assert_eq!(
            redact_url("sqlite://data/gateway.db"),
            "sqlite://data/gateway.db"
        );
        let config = Config {
            gateway_master_key: Some("c2VjcmV0".into()),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "gw.toml",
                "gateway_addr = \"127.0.0.1:4000\"\nopenai_base_url = \"http://file\"",
            )?;
            jail.set_env("OPENAI_BASE_URL", "http://env");
            let config = Config::load(Some(Path::new("gw.toml"))).expect("loads");
            assert_eq!(config.gateway_addr, "127.0.0.1:4000");
            let engine = config.engine_settings().unwrap();
            assert_eq!(engine.default_base_url(ProviderKind::OpenAi), "http://env");
            assert_eq!(
                engine.default_base_url(ProviderKind::Groq),
                ProviderKind::Groq.default_base_url()
            );
            assert_eq!(config.database_url, Config::default().database_url);
            assert_eq!(config.plans, gateway::plans::PlanTable::default());
            Ok(())
        });
    }
}
