//! Everything a request handler needs, shared by the proxy and the portal.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::crypto::MasterKey;
use crate::directory::Directory;
use crate::settings::GatewaySettings;
use crate::usage::{UsageRecorder, UsageWriter};

#[derive(Clone)]
pub struct GatewayState {
    pub db: DatabaseConnection,
    pub master_key: MasterKey,
    pub directory: Arc<Directory>,
    pub usage: UsageRecorder,
    pub http: reqwest::Client,
    pub settings: Arc<GatewaySettings>,
    pub quota: Arc<crate::quota::QuotaCounter>,
    /// The response cache (in memory unless the server swapped in Redis).
    pub cache: Arc<crate::cache::ResponseCache>,
    /// Present when Stripe is configured.
    pub billing: Option<Arc<crate::billing::Billing>>,
    /// Scores `auto` requests: the semantic model, or the surface classifier when it cannot load.
    pub router: Arc<crate::routing::Router>,
}

/// Background tasks owned by a running gateway, stopped by [`BackgroundTasks::shutdown`].
pub struct BackgroundTasks {
    usage_writer: UsageWriter,
    change_watcher: tokio::task::JoinHandle<()>,
    retention: tokio::task::JoinHandle<()>,
}

impl GatewayState {
    pub fn start(
        db: DatabaseConnection,
        master_key: MasterKey,
        settings: GatewaySettings,
    ) -> Result<(Self, BackgroundTasks), reqwest::Error> {
        let settings = Arc::new(settings);
        let directory = Arc::new(Directory::new(
            db.clone(),
            master_key.clone(),
            settings.clone(),
        ));
        let change_watcher = directory.spawn_change_watcher();
        let (usage, usage_writer) = UsageRecorder::start(db.clone(), settings.usage.clone());
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .user_agent(concat!("llm-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let quota = Arc::default();
        let cache = Arc::new(crate::cache::ResponseCache::in_memory(
            settings.cache.max_entries,
            settings.cache.ttl,
        ));
        let billing = settings
            .stripe
            .clone()
            .map(|stripe| Arc::new(crate::billing::Billing::new(stripe)));
        let router = Arc::new(crate::routing::Router::load(&settings.router_model_dir));
        let state = Self {
            router,
            db,
            master_key,
            directory,
            usage,
            http,
            settings,
            quota,
            cache,
            billing,
        };
        let retention = crate::analytics::spawn_retention_job(
            state.db.clone(),
            state.settings.plans.clone(),
            state.settings.retention_interval,
        );
        Ok((
            state,
            BackgroundTasks {
                usage_writer,
                change_watcher,
                retention,
            },
        ))
    }

    /// Call after any change to an account made in this process, so that it bites at once.
    pub fn account_changed(&self, account_id: i32) {
        self.directory.evict_account(account_id);
    }
}

impl BackgroundTasks {
    /// Writes the queued usage events and stops the background tasks.
    pub async fn shutdown(self, state: &GatewayState) {
        self.change_watcher.abort();
        self.retention.abort();
        self.usage_writer.shutdown(&state.usage).await;
    }
}
