use sea_orm_migration::{prelude::*, schema::*};

/// Members of an organisation (the account is the billing unit and its owner logs in with the
/// account's own address): each with a role and a login of their own. Keys remember which member
/// created them, so removing a member revokes their keys.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
    AccountId,
    Email,
    PasswordHash,
    Role,
    Locale,
    CreatedAt,
}

#[derive(DeriveIden)]
enum GatewayKeys {
    Table,
    CreatedByMember,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Members::Table)
                    .col(pk_auto(Members::Id))
                    .col(integer(Members::AccountId))
                    .col(string_uniq(Members::Email))
                    .col(string(Members::PasswordHash))
                    .col(string(Members::Role))
                    .col(string_null(Members::Locale))
                    .col(big_integer(Members::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Members::Table, Members::AccountId)
                            .to(Alias::new("accounts"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(GatewayKeys::Table)
                    .add_column(&mut integer_null(GatewayKeys::CreatedByMember))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(GatewayKeys::Table)
                    .drop_column(GatewayKeys::CreatedByMember)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Members::Table).to_owned())
            .await
    }
}
