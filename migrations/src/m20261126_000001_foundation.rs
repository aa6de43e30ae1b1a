use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Email,
    PasswordHash,
    Plan,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GatewayKeys {
    Table,
    Id,
    AccountId,
    Name,
    Prefix,
    KeyDigest,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ProviderCredentials {
    Table,
    Id,
    AccountId,
    Provider,
    BaseUrl,
    KeyCiphertext,
    KeyHint,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    Id,
    AccountId,
    KeyId,
    Provider,
    Model,
    PromptTokens,
    CompletionTokens,
    LatencyMs,
    Status,
    ErrorCode,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(pk_auto(Accounts::Id))
                    .col(string_uniq(Accounts::Email))
                    .col(string(Accounts::PasswordHash))
                    .col(string(Accounts::Plan))
                    .col(big_integer(Accounts::CreatedAt))
                    // Bumped by every change to the account's keys, providers or plan, so that
                    // running servers can evict their caches (see gateway::directory).
                    .col(big_integer(Accounts::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_updated_at")
                    .table(Accounts::Table)
                    .col(Accounts::UpdatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(GatewayKeys::Table)
                    .col(pk_auto(GatewayKeys::Id))
                    .col(integer(GatewayKeys::AccountId))
                    .col(string(GatewayKeys::Name))
                    .col(string(GatewayKeys::Prefix))
                    .col(string_uniq(GatewayKeys::KeyDigest))
                    .col(big_integer(GatewayKeys::CreatedAt))
                    .col(big_integer_null(GatewayKeys::LastUsedAt))
                    .col(big_integer_null(GatewayKeys::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(GatewayKeys::Table, GatewayKeys::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_gateway_keys_account")
                    .table(GatewayKeys::Table)
                    .col(GatewayKeys::AccountId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProviderCredentials::Table)
                    .col(pk_auto(ProviderCredentials::Id))
                    .col(integer(ProviderCredentials::AccountId))
                    .col(string(ProviderCredentials::Provider))
                    .col(string_null(ProviderCredentials::BaseUrl))
                    .col(binary(ProviderCredentials::KeyCiphertext))
                    .col(string(ProviderCredentials::KeyHint))
                    .col(big_integer(ProviderCredentials::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProviderCredentials::Table, ProviderCredentials::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_provider_credentials_account_provider")
                    .table(ProviderCredentials::Table)
                    .col(ProviderCredentials::AccountId)
                    .col(ProviderCredentials::Provider)
                    .unique()
                    .to_owned(),
            )
            .await?;

        let usage_id = crate::big_auto_id(manager, UsageEvents::Id);
        manager
            .create_table(
                Table::create()
                    .table(UsageEvents::Table)
                    .col(usage_id)
                    .col(integer(UsageEvents::AccountId))
                    .col(integer_null(UsageEvents::KeyId))
                    .col(string(UsageEvents::Provider))
                    .col(string(UsageEvents::Model))
                    .col(integer(UsageEvents::PromptTokens))
                    .col(integer(UsageEvents::CompletionTokens))
                    .col(integer(UsageEvents::LatencyMs))
                    .col(small_integer(UsageEvents::Status))
                    .col(string_null(UsageEvents::ErrorCode))
                    .col(big_integer(UsageEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(UsageEvents::Table, UsageEvents::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_usage_events_account_time")
                    .table(UsageEvents::Table)
                    .col(UsageEvents::AccountId)
                    .col(UsageEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UsageEvents::Table.into_iden(),
            ProviderCredentials::Table.into_iden(),
            GatewayKeys::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
