//! The request log: an account's usage events newest first, filtered, a page at a time. Pages
//! are cut by position (the last event shown), never by offset, so the thousandth page costs
//! what the first does; metadata only, as every event is.

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::entities::usage_event;

/// Events on one page of the log.
pub const LOG_PAGE: u64 = 50;

/// Which answers a log shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// 2xx.
    Ok,
    /// 4xx and 5xx.
    Errors,
    /// One status code.
    Code(i16),
}

impl StatusFilter {
    /// `ok`, `errors` or a status code; anything else is no filter.
    pub fn parse(text: &str) -> Option<StatusFilter> {
        match text.trim() {
            "ok" => Some(StatusFilter::Ok),
            "errors" => Some(StatusFilter::Errors),
            code => code
                .parse::<i16>()
                .ok()
                .filter(|code| (100..600).contains(code))
                .map(StatusFilter::Code),
        }
    }
}

/// What the log is narrowed to. `since` bounds it (the plan's retention); `before` is the last
/// event of the previous page, `(created_at, id)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub since: i64,
    pub key_id: Option<i32>,
    pub model: Option<String>,
    pub status: Option<StatusFilter>,
    pub tier: Option<String>,
    pub cache_hit: Option<bool>,
    /// One request's events (its `x-request-id`).
    pub request_id: Option<i64>,
    pub before: Option<(i64, i64)>,
}

/// One page of the account's log, newest first: at most `limit` events.
pub async fn log_page(
    db: &DatabaseConnection,
    account_id: i32,
    filter: &LogFilter,
    limit: u64,
) -> Result<Vec<usage_event::Model>, DbErr> {
    use usage_event::Column;
    let mut query = usage_event::Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::CreatedAt.gte(filter.since));
    if let Some(key_id) = filter.key_id {
        query = query.filter(Column::KeyId.eq(key_id));
    }
    if let Some(model) = &filter.model {
        query = query.filter(Column::Model.eq(model.as_str()));
    }
    query = match filter.status {
        None => query,
        Some(StatusFilter::Ok) => query.filter(Column::Status.lt(400)),
        Some(StatusFilter::Errors) => query.filter(Column::Status.gte(400)),
        Some(StatusFilter::Code(code)) => query.filter(Column::Status.eq(code)),
    };
    if let Some(tier) = &filter.tier {
        query = query.filter(Column::Tier.eq(tier.as_str()));
    }
    if let Some(cache_hit) = filter.cache_hit {
        query = query.filter(Column::CacheHit.eq(cache_hit));
    }
    if let Some(request_id) = filter.request_id {
        query = query.filter(Column::RequestId.eq(request_id));
    }
    if let Some((created_at, id)) = filter.before {
        query = query.filter(
            Condition::any().add(Column::CreatedAt.lt(created_at)).add(
                Condition::all()
                    .add(Column::CreatedAt.eq(created_at))
                    .add(Column::Id.lt(id)),
            ),
        );
    }
    query
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Every event of the account's requests `request_ids` (each request's attempts, fallbacks and
/// answer), oldest first: what a page of the log shows when a request opens. One query, on the
/// request id's index.
pub async fn events_of_requests(
    db: &DatabaseConnection,
    account_id: i32,
    request_ids: &[i64],
) -> Result<Vec<usage_event::Model>, DbErr> {
    if request_ids.is_empty() {
        return Ok(Vec::new());
    }
    usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .filter(usage_event::Column::RequestId.is_in(request_ids.iter().copied()))
        .order_by_asc(usage_event::Column::CreatedAt)
        .order_by_asc(usage_event::Column::Id)
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_are_read_strictly() {
        assert_eq!(StatusFilter::parse("ok"), Some(StatusFilter::Ok));
        assert_eq!(StatusFilter::parse("errors"), Some(StatusFilter::Errors));
        assert_eq!(StatusFilter::parse("401"), Some(StatusFilter::Code(401)));
        assert_eq!(StatusFilter::parse("99"), None);
        assert_eq!(StatusFilter::parse("all"), None);
        assert_eq!(StatusFilter::parse(""), None);
    }
}
