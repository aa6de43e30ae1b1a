//! The portal's session store: tower-sessions records in the `portal_sessions` table, through
//! sea-orm on SQLite and PostgreSQL alike.
//!
//! Written here rather than taken from tower-sessions-sqlx-store: that crate turns on sqlx's
//! default features, whose query macros compile a second sqlx with SQLite (C) for the host,
//! minutes of every fresh build for four queries.

use async_trait::async_trait;
use gateway::clock::now_ms;
use gateway::entities::portal_session::{self, Column, Entity as PortalSession};
use gateway::sea_orm::sea_query::OnConflict;
use gateway::sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: DatabaseConnection,
}

impl DbSessionStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    fn row(record: &Record) -> session_store::Result<portal_session::ActiveModel> {
        let json = serde_json::to_string(record)
            .map_err(|err| session_store::Error::Encode(err.to_string()))?;
        Ok(portal_session::ActiveModel {
            id: Set(record.id.to_string()),
            record: Set(json),
            expires_at: Set(unix_millis(record.expiry_date)),
        })
    }
}

fn unix_millis(at: time::OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

fn backend(err: gateway::sea_orm::DbErr) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

#[async_trait]
impl SessionStore for DbSessionStore {
    /// Inserts under a fresh id, drawing another while the id is taken (ids are 128 random
    /// bits, so in practice never), so a new session can never overwrite someone else's.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let inserted = PortalSession::insert(Self::row(record)?)
                .on_conflict(OnConflict::column(Column::Id).do_nothing().to_owned())
                .exec_without_returning(&self.db)
                .await
                .map_err(backend)?;
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        PortalSession::insert(Self::row(record)?)
            .on_conflict(
                OnConflict::column(Column::Id)
                    .update_columns([Column::Record, Column::ExpiresAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row = PortalSession::find_by_id(id.to_string())
            .filter(Column::ExpiresAt.gt(now_ms()))
            .one(&self.db)
            .await
            .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        serde_json::from_str(&row.record)
            .map(Some)
            .map_err(|err| session_store::Error::Decode(err.to_string()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        PortalSession::delete_by_id(id.to_string())
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        PortalSession::delete_many()
            .filter(Column::ExpiresAt.lte(now_ms()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
