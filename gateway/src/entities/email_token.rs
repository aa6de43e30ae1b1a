use sea_orm::entity::prelude::*;

/// A one-time link (address verification, password reset, invitation): only the SHA-256 of its
/// token is kept; it works once, until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub account_id: i32,
    pub purpose: String,
    #[sea_orm(unique)]
    pub token_digest: String,
    /// What the link carries besides its account (an invitation's e-mail and role, as JSON).
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
