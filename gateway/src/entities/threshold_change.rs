use sea_orm::entity::prelude::*;

/// One move of an account's routing threshold by calibration, and what it was based on.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "threshold_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i32,
    pub changed_at: i64,
    pub old_threshold: f64,
    pub new_threshold: f64,
    /// Verdicts since the previous move, the adequate share of the traffic they imply, the share
    /// of the traffic served below the baseline, and the target.
    pub judged: i64,
    pub adequacy: f64,
    pub cheap_share: f64,
    pub target: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
