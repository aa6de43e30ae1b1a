use sea_orm::entity::prelude::*;

/// One change to an account, numbered by the database (see `crate::directory`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub version: i64,
    pub account_id: i32,
    /// When it was written (ms), for pruning old entries only.
    pub changed_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
