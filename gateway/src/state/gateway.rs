//! The shared state, how it is built, and the background tasks it starts.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::billing::Billing;
use crate::cache::ResponseCache;
use crate::crypto::MasterKey;
use crate::directory::Directory;
use crate::metrics::GatewayMetrics;
use crate::quota::QuotaCounter;
use crate::routing::Router;
use crate::settings::GatewaySettings;
use crate::usage::{UsageRecorder, UsageWriter};

/// Cloned per request by every handler and layer: one reference count, not one per part.
#[derive(Clone)]
pub struct GatewayState(Arc<SharedState>);

impl std::ops::Deref for GatewayState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The parts of a [`GatewayState`].
pub struct SharedState {
    pub db: DatabaseConnection,
    pub master_key: MasterKey,
    pub directory: Arc<Directory>,
    pub usage: UsageRecorder,
    pub http: Upstreams,
    pub settings: Arc<GatewaySettings>,
    pub quota: Arc<QuotaCounter>,
    /// The response cache: in memory, or in Redis when the builder was given one.
    pub cache: Arc<ResponseCache>,
    /// Present when Stripe is configured.
    pub billing: Option<Arc<Billing>>,
    /// Scores `auto` requests: the semantic model, or the surface classifier when it cannot load.
    pub router: Arc<Router>,
    /// What the gateway adds to each request, for `/metrics`.
    pub metrics: Arc<GatewayMetrics>,
    /// Log-in attempts, requests per second and open streams per key (`crate::abuse`).
    pub abuse: crate::abuse::AbuseGuard,
    /// Budgets and rate limits of keys and accounts (`crate::limits`).
    pub ledger: Arc<crate::limits::Ledger>,
    /// E-mails: verification, password reset, invitations, budget alerts.
    pub mailer: Arc<crate::mail::Mailer>,
    /// The Redis servers share, when one is configured (its users hold their own handles; this
    /// one is for the readiness check).
    pub redis: Option<redis::aio::ConnectionManager>,
}

/// Background tasks owned by a running gateway, stopped by [`BackgroundTasks::shutdown`].
pub struct BackgroundTasks {
    usage_writer: UsageWriter,
    change_watcher: tokio::task::JoinHandle<()>,
    retention: tokio::task::JoinHandle<()>,
    budget_alerts: tokio::task::JoinHandle<()>,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("e-mail: {0}")]
    Mail(#[from] crate::mail::MailError),
}

/// The HTTP clients provider calls go out on.
#[derive(Clone)]
pub struct Upstreams {
    guarded: reqwest::Client,
    opened: reqwest::Client,
}

impl Upstreams {
    /// The client for `endpoint`: the guarded one unless the operator opened its base URL.
    pub fn for_endpoint(&self, endpoint: &crate::providers::ProviderEndpoint) -> &reqwest::Client {
        if endpoint.opened {
            &self.opened
        } else {
            &self.guarded
        }
    }
}

/// Builds a [`GatewayState`] once, with everything it shares with other servers decided before
/// it starts: `GatewayState::builder(db, master_key, settings).redis(…).start()`.
pub struct GatewayBuilder {
    db: DatabaseConnection,
    master_key: MasterKey,
    settings: GatewaySettings,
    redis: Option<(redis::aio::ConnectionManager, String)>,
}

/// The longest the portal's provider check waits for the provider's models list.
const PROVIDER_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

impl GatewayState {
    /// A call to `endpoint` on the client that may reach it (see [`Upstreams::for_endpoint`]),
    /// with the upstream timeout and `hops` gateways passed through, this one included.
    pub(crate) fn upstream_call<'a>(
        &'a self,
        endpoint: &'a crate::providers::ProviderEndpoint,
        hops: u32,
    ) -> crate::providers::UpstreamCall<'a> {
        crate::providers::UpstreamCall {
            http: self.http.for_endpoint(endpoint),
            endpoint,
            timeout: self.settings.upstream_timeout,
            hops,
        }
    }

    /// Calls the models list of the account's `kind` provider with its saved key and base URL:
    /// the portal's *Test* button. `None` when the account has no such provider.
    pub async fn check_provider(
        &self,
        account_id: i32,
        kind: crate::providers::ProviderKind,
    ) -> Result<Option<Result<usize, crate::error::UpstreamError>>, crate::directory::DirectoryError>
    {
        let account = self.directory.account(account_id).await?;
        let Some(endpoint) = account
            .providers
            .iter()
            .find(|endpoint| endpoint.kind == kind)
        else {
            return Ok(None);
        };
        let mut call = self.upstream_call(endpoint, 1);
        // Someone is waiting on the page: a check says soon what a request would find.
        call.timeout = call.timeout.min(PROVIDER_CHECK_TIMEOUT);
        Ok(Some(
            crate::providers::Provider::for_kind(kind)
                .list_models(&call)
                .await,
        ))
    }

    pub fn builder(
        db: DatabaseConnection,
        master_key: MasterKey,
        settings: GatewaySettings,
    ) -> GatewayBuilder {
        GatewayBuilder {
            db,
            master_key,
            settings,
            redis: None,
        }
    }
}

impl GatewayBuilder {
    /// Servers sharing this Redis share the response cache and the monthly request count; keys
    /// start with `key_prefix`.
    pub fn redis(mut self, manager: redis::aio::ConnectionManager, key_prefix: &str) -> Self {
        self.redis = Some((manager, key_prefix.to_owned()));
        self
    }

    /// Starts the background tasks (usage writer, change watcher, retention, budget alerts) and
    /// returns the state.
    pub fn start(self) -> Result<(GatewayState, BackgroundTasks), StartError> {
        let Self {
            db,
            master_key,
            settings,
            redis,
        } = self;
        let settings = Arc::new(settings);
        let directory = Arc::new(Directory::new(
            db.clone(),
            master_key.clone(),
            settings.clone(),
        ));
        let client = || -> Result<reqwest::ClientBuilder, StartError> {
            let builder = reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .pool_idle_timeout(std::time::Duration::from_secs(90))
                .user_agent(concat!("llm-gateway/", env!("CARGO_PKG_VERSION")))
                // A redirect would carry the provider key to wherever the provider says.
                .redirect(reqwest::redirect::Policy::none());
            // Through a proxy the proxy resolves the names, not the guard: only the operator's
            // own proxy is used, never one that happens to be in the environment.
            Ok(match &settings.upstream_proxy {
                Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.as_str())?),
                None => builder.no_proxy(),
            })
        };
        let http = Upstreams {
            // Every name is resolved through the SSRF guard, at every connection.
            guarded: client()?
                .dns_resolver(Arc::new(crate::egress::GuardedResolver(Arc::new(
                    settings.egress.clone(),
                ))))
                .build()?,
            // Only for base URLs the operator opened exactly (scheme, host, port, kind).
            opened: client()?.build()?,
        };
        let mailer = Arc::new(crate::mail::Mailer::new(
            settings.smtp_url.as_deref(),
            &settings.mail_from,
        )?);
        let (alerts, alerts_received) = tokio::sync::mpsc::unbounded_channel();
        let budget_alerts = tokio::spawn(crate::limits::alerts::deliver(
            db.clone(),
            mailer.clone(),
            settings.link_base.clone(),
            alerts_received,
        ));
        let ledger = crate::limits::Ledger::new(db.clone()).alerts_to(alerts);
        let shared_redis = redis.as_ref().map(|(manager, _)| manager.clone());
        let (cache, quota, ledger) = match redis {
            Some((manager, prefix)) => (
                ResponseCache::redis(manager.clone(), &prefix, settings.cache.ttl),
                QuotaCounter::shared(manager.clone(), &prefix),
                ledger.shared(manager, &prefix),
            ),
            None => (
                ResponseCache::in_memory(
                    settings.cache.max_entries,
                    settings.cache.max_bytes,
                    settings.cache.ttl,
                ),
                QuotaCounter::default(),
                ledger,
            ),
        };
        let billing = settings
            .stripe
            .clone()
            .map(|stripe| Arc::new(Billing::new(stripe)));
        let router = Arc::new(Router::load(&settings.router_model_dir));
        let abuse = crate::abuse::AbuseGuard::new(settings.abuse.clone());
        let change_watcher = directory.spawn_change_watcher();
        let (usage, usage_writer) = UsageRecorder::start(db.clone(), settings.usage.clone());
        let retention = crate::analytics::spawn_retention_job(
            db.clone(),
            settings.plans.clone(),
            settings.retention_interval,
        );
        let state = GatewayState(Arc::new(SharedState {
            router,
            db,
            master_key,
            directory,
            usage,
            http,
            settings,
            quota: Arc::new(quota),
            cache: Arc::new(cache),
            billing,
            metrics: Arc::default(),
            abuse,
            ledger: Arc::new(ledger),
            mailer,
            redis: shared_redis,
        }));
        Ok((
            state,
            BackgroundTasks {
                usage_writer,
                change_watcher,
                retention,
                budget_alerts,
            },
        ))
    }
}

impl BackgroundTasks {
    /// Writes the queued usage events and stops the background tasks.
    pub async fn shutdown(self, state: &GatewayState) {
        self.change_watcher.abort();
        self.retention.abort();
        self.budget_alerts.abort();
        self.usage_writer.shutdown(&state.usage).await;
    }
}
