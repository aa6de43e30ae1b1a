//! Knobs of the engine. The server crate fills them from its layered configuration.

use std::time::Duration;

use crate::providers::ProviderKind;

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Default upstream base URL of each provider, as that provider's own SDK calls it. A provider
    /// credential may carry its own base URL, which wins.
    pub openai_base_url: String,
    /// The longest a single upstream call may take.
    pub upstream_timeout: Duration,
    /// How often running servers look for accounts changed by another process (CLI, another node).
    pub change_poll_interval: Duration,
    pub usage: UsageSettings,
}

#[derive(Debug, Clone)]
pub struct UsageSettings {
    /// Events waiting to be written; past this they are dropped (and counted), never awaited.
    pub queue_capacity: usize,
    /// Most events written in one statement.
    pub batch_size: usize,
    /// Longest an event waits before it is written.
    pub flush_interval: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            openai_base_url: ProviderKind::OpenAi.default_base_url().to_owned(),
            upstream_timeout: Duration::from_secs(120),
            change_poll_interval: Duration::from_secs(1),
            usage: UsageSettings::default(),
        }
    }
}

impl Default for UsageSettings {
    fn default() -> Self {
        Self { queue_capacity: 10_000, batch_size: 500, flush_interval: Duration::from_secs(1) }
    }
}

impl GatewaySettings {
    pub fn default_base_url(&self, kind: ProviderKind) -> &str {
        match kind {
            ProviderKind::OpenAi => &self.openai_base_url,
        }
    }
}
