use sea_orm::entity::prelude::*;

/// Hourly roll-up of usage events per account, key, provider, model and tier: what the analytics
/// charts read, so a 90-day view does not scan every event. `l00`…`l15` count requests per latency
/// bucket (`usage::rollup::LATENCY_BOUNDS_MS`), for percentiles.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_hourly")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: i64,
    /// 0 when the event had no key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub model: String,
    /// "" when the model's tier is unknown.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tier: String,
    pub requests: i64,
    pub errors: i64,
    pub cache_hits: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub saving_usd: f64,
    /// Requests a saving is claimed for (routed, or served from the cache) and what they would
    /// have cost without the gateway (cost + saving): the share and the base of "saved x %".
    pub saving_requests: i64,
    pub saving_base_usd: f64,
    /// Requests whose model has no price: in requests and tokens, never in costs or savings.
    pub unpriced_requests: i64,
    pub l00: i64,
    pub l01: i64,
    pub l02: i64,
    pub l03: i64,
    pub l04: i64,
    pub l05: i64,
    pub l06: i64,
    pub l07: i64,
    pub l08: i64,
    pub l09: i64,
    pub l10: i64,
    pub l11: i64,
    pub l12: i64,
    pub l13: i64,
    pub l14: i64,
    pub l15: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
