use sea_orm::entity::prelude::*;

/// One sampled request's quality check: scores and verdict, models, and what the check cost.
/// Never the prompt or the answers.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "quality_verdicts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i32,
    pub key_id: Option<i32>,
    pub created_at: i64,
    /// `provider/model` that answered the client.
    pub served_model: String,
    /// `provider/model` the same request was re-asked of.
    pub baseline_model: String,
    pub judge_model: String,
    pub tier: Option<String>,
    pub route_reason: Option<String>,
    /// The judge's 1-10 ratings of the served answer and of the baseline's.
    pub cheap_score: Option<f64>,
    pub baseline_score: Option<f64>,
    /// The served answer scored within a point of the baseline's; `None`: no verdict.
    pub adequate: Option<bool>,
    /// `judged`, or why there is no verdict (`judge_unreadable`, `baseline_failed`, ...).
    pub outcome: String,
    /// The baseline's and the judge's calls at list prices: evaluation spend, kept apart from
    /// the account's traffic.
    pub eval_cost_usd: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
