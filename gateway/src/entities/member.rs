use sea_orm::entity::prelude::*;

/// A person in an organisation other than its owner: their own login and a role.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "members")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub account_id: i32,
    #[sea_orm(unique)]
    pub email: String,
    pub password_hash: String,
    /// `admin`, `member` or `viewer` (the owner is the account itself).
    pub role: String,
    pub locale: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
