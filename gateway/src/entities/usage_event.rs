use sea_orm::entity::prelude::*;

/// One proxied request, metadata only: never prompt or completion text.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i32,
    pub key_id: Option<i32>,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    /// From arrival to the end of the answer (a stream's last byte).
    pub latency_ms: i32,
    /// Of that, waiting for providers up to the answer's head (the rest is the gateway's, and
    /// for a stream the time after its first byte); `None` where it was not measured.
    pub upstream_ms: Option<i32>,
    /// A stream's first byte to the client, from arrival.
    pub first_byte_ms: Option<i32>,
    pub status: i16,
    pub error_code: Option<String>,
    pub created_at: i64,
    /// The tier auto-routing chose (or the pinned model's tier).
    pub tier: Option<String>,
    /// What the account (or key) compares against: the model it would have used without the
    /// gateway (its routing policy's baseline, else its first provider's flagship).
    pub baseline_model: Option<String>,
    /// List-price cost of the request, in US dollars (0 when the model has no price).
    pub cost_usd: f64,
    /// What the gateway's choice saved: baseline cost minus actual cost for a request it routed
    /// (negative when routed above the baseline), the served model's cost for a cache hit, 0 for
    /// a pinned model or an unpriced one.
    pub saving_usd: f64,
    /// The gateway chose the model (`auto`): the only requests routing claims a saving for.
    pub routed: bool,
    /// The served model has a list price; unpriced requests count in requests and tokens only.
    pub priced: bool,
    /// The same tokens on the baseline model, when it has a price.
    pub baseline_cost_usd: Option<f64>,
    /// Counts against the monthly quota (one event per admitted request).
    pub counted: bool,
    /// Served from the response cache.
    pub cache_hit: bool,
    /// Why the request went where it went (as `x-gateway-route-reason` said).
    pub route_reason: Option<String>,
    /// The `/v1` request this event belongs to (its `x-request-id`), shared by its attempts and
    /// fallbacks; `None` for events written before ids were kept.
    pub request_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
