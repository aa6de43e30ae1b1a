//! The request log: every `/v1` request of the account, newest first, metadata only, filtered
//! by key, model, status, tier, cache, time range and request id, a page at a time, each request
//! opening to what the gateway did with it (and to all its attempts). The filters are a plain GET form and the pages plain links: it works
//! without JavaScript, and the first page updates itself while open.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::error::{PortalError, error_view};
use crate::i18n::{t, t_string, use_i18n};
use crate::layout::PortalPage;

/// The filters as the URL carries them: empty is "all".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogQuery {
    /// A key's id.
    pub key: String,
    pub model: String,
    /// `ok`, `errors` or a status code.
    pub status: String,
    pub tier: String,
    /// `hit` or `miss`.
    pub cache: String,
    /// One request's id as its answer named it (`x-request-id`: `req_…`).
    pub request: String,
    /// How far back: `1h`, `24h`, `7d`…; empty is all the plan keeps.
    pub range: String,
    /// The last request of the previous page: `<created_at>.<id>`.
    pub before: String,
}

impl LogQuery {
    fn of_url(query: &leptos_router::params::ParamsMap) -> LogQuery {
        let get = |name: &str| query.get(name).unwrap_or_default();
        LogQuery {
            key: get("key"),
            model: get("model"),
            status: get("status"),
            tier: get("tier"),
            cache: get("cache"),
            request: get("request"),
            range: get("range"),
            before: get("before"),
        }
    }

    /// The URL of this log with `before` set (the next page), the filters kept.
    fn href_before(&self, before: &str) -> String {
        let pairs = [
            ("key", self.key.as_str()),
            ("model", self.model.as_str()),
            ("status", self.status.as_str()),
            ("tier", self.tier.as_str()),
            ("cache", self.cache.as_str()),
            ("request", self.request.as_str()),
            ("range", self.range.as_str()),
            ("before", before),
        ];
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs.iter().filter(|(_, value)| !value.is_empty()) {
            query.append_pair(name, value);
        }
        format!("/requests?{}", query.finish())
    }
}

/// One request as the log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    pub id: i64,
    /// `2026-12-07 02:40:31` (UTC).
    pub at: String,
    /// The key's name and prefix, or `—` for a request no key is known for.
    pub key: String,
    pub provider: String,
    pub model: String,
    pub tier: Option<String>,
    pub status: i16,
    pub error_code: Option<String>,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub latency_ms: i32,
    /// Of the latency, waiting for providers up to the answer's head (see [`LatencySplit`]).
    pub upstream_ms: Option<i32>,
    /// A stream's first byte, since the request arrived.
    pub first_byte_ms: Option<i32>,
    pub cost_usd: f64,
    pub saving_usd: f64,
    pub baseline_model: Option<String>,
    pub baseline_cost_usd: Option<f64>,
    pub cache_hit: bool,
    pub route_reason: Option<String>,
    /// Counted against the monthly quota (the first event of each admitted request).
    pub counted: bool,
    /// `req_…`, the `x-request-id` its answer carried (none for events older than ids).
    pub request_id: Option<String>,
    /// Every event of the request, this one included, oldest first, when it made more than one
    /// (a failed attempt, a fallback, a cascade's first answer).
    pub attempts: Vec<Attempt>,
}

/// One upstream attempt of a request, as its detail lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub id: i64,
    pub model: String,
    pub status: i16,
    pub error_code: Option<String>,
    /// Since the request arrived, when this attempt ended.
    pub latency_ms: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogPage {
    pub rows: Vec<LogRow>,
    /// `before` for the next page, when there may be one.
    pub next: Option<String>,
    /// The account's keys, `(id, name and prefix)`, for the filter.
    pub keys: Vec<(i32, String)>,
    /// How far back the log goes (the plan's retention).
    pub retention_days: u32,
    /// The time ranges the plan keeps, shortest first.
    pub ranges: Vec<String>,
}

#[server(prefix = "/api", endpoint = "request_log")]
pub async fn request_log(#[server(flatten)] query: LogQuery) -> Result<LogPage, PortalError> {
    use gateway::analytics::{self, LOG_PAGE, LogFilter, StatusFilter};

    let account_id = crate::server::require(gateway::accounts::members::Action::ReadAnalytics)
        .await?
        .account_id;
    let state = crate::server::state()?;
    // The range asked for within what the plan keeps (all of it when none is asked): the log
    // never shows what retention has dropped.
    let now = gateway::clock::now_ms();
    let asked = Some(query.range.trim()).filter(|range| !range.is_empty());
    let Some(analytics::Reach {
        retention_days,
        window,
        ..
    }) = analytics::reach(&state.db, &state.settings.plans, account_id, asked, now).await?
    else {
        return Err(PortalError::NotLoggedIn);
    };
    let text = |value: &str| Some(value.trim().to_owned()).filter(|value| !value.is_empty());
    let filter = LogFilter {
        since: window.since,
        key_id: text(&query.key).and_then(|key| key.parse().ok()),
        model: text(&query.model),
        status: StatusFilter::parse(&query.status),
        tier: text(&query.tier),
        cache_hit: match query.cache.as_str() {
            "hit" => Some(true),
            "miss" => Some(false),
            _ => None,
        },
        // An id that is no request's (mistyped) finds nothing rather than everything.
        request_id: text(&query.request)
            .map(|request| gateway::usage::RequestId::parse(&request).map_or(-1, |id| id.0)),
        before: query
            .before
            .split_once('.')
            .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?))),
    };
    let events = analytics::log_page(&state.db, account_id, &filter, LOG_PAGE).await?;
    let request_ids: Vec<i64> = events.iter().filter_map(|event| event.request_id).collect();
    let mut attempts: std::collections::HashMap<i64, Vec<Attempt>> = Default::default();
    for event in analytics::events_of_requests(&state.db, account_id, &request_ids).await? {
        let Some(request_id) = event.request_id else {
            continue;
        };
        attempts.entry(request_id).or_default().push(Attempt {
            id: event.id,
            model: shown_model(&event.provider, &event.model),
            status: event.status,
            error_code: event.error_code,
            latency_ms: event.latency_ms,
        });
    }
    let keys: Vec<(i32, String)> = gateway::accounts::list_gateway_keys(&state.db, account_id)
        .await?
        .into_iter()
        .map(|key| (key.id, format!("{} ({}…)", key.name, key.prefix)))
        .collect();
    let key_name = |id: Option<i32>| {
        id.and_then(|id| keys.iter().find(|(key, _)| *key == id))
            .map_or_else(|| "—".to_owned(), |(_, name)| name.clone())
    };
    let next = (events.len() as u64 == LOG_PAGE)
        .then(|| {
            events
                .last()
                .map(|last| format!("{}.{}", last.created_at, last.id))
        })
        .flatten();
    let rows = events
        .into_iter()
        .map(|event| LogRow {
            id: event.id,
            at: gateway_types::time::format_utc(event.created_at),
            key: key_name(event.key_id),
            provider: event.provider,
            model: event.model,
            tier: event.tier,
            status: event.status,
            error_code: event.error_code,
            prompt_tokens: event.prompt_tokens,
            completion_tokens: event.completion_tokens,
            latency_ms: event.latency_ms,
            upstream_ms: event.upstream_ms,
            first_byte_ms: event.first_byte_ms,
            cost_usd: event.cost_usd,
            saving_usd: event.saving_usd,
            baseline_model: event.baseline_model,
            baseline_cost_usd: event.baseline_cost_usd,
            cache_hit: event.cache_hit,
            route_reason: event.route_reason,
            counted: event.counted,
            request_id: event
                .request_id
                .map(|id| gateway::usage::RequestId(id).to_string()),
            attempts: event
                .request_id
                .and_then(|id| attempts.get(&id))
                .filter(|all| all.len() > 1)
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    Ok(LogPage {
        rows,
        next,
        keys,
        retention_days,
        // The analytics page's ranges, and the last hour before them.
        ranges: std::iter::once(&"1h")
            .chain(analytics::RANGES)
            .filter(|range| analytics::range_allowed(range, retention_days))
            .map(|range| (*range).to_owned())
            .collect(),
    })
}

#[component]
pub fn RequestsPage() -> impl IntoView {
    let query = use_query_map();
    let current = move || query.with(LogQuery::of_url);
    // The newest page updates itself while open; an older page stays as it was.
    let tick = crate::live::ticks(std::time::Duration::from_secs(5));
    let log = Resource::new(
        move || {
            let current = current();
            let live = if current.before.is_empty() {
                tick.get()
            } else {
                0
            };
            (current, live)
        },
        |(query, _)| request_log(query),
    );
    let i18n = use_i18n();
    view! {
        <PortalPage title=move || t_string!(i18n, log.title)>
            <p class="muted">{t!(i18n, log.intro)}</p>
            <Transition fallback=move || view! { <p>{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    let query = current();
                    match log.await {
                        Ok(log) => log_view(log, query).into_any(),
                        Err(err) => error_view(err),
                    }
                })}
            </Transition>
        </PortalPage>
    }
}

fn log_view(log: LogPage, query: LogQuery) -> impl IntoView {
    let i18n = use_i18n();
    let LogPage {
        rows,
        next,
        keys,
        retention_days,
        ranges,
    } = log;
    let selected = |value: &str, current: &str| value == current;
    let status_options = [
        ("", "all"),
        ("ok", "ok"),
        ("errors", "errors"),
        ("400", "400"),
        ("401", "401"),
        ("403", "403"),
        ("404", "404"),
        ("429", "429"),
        ("500", "500"),
        ("502", "502"),
        ("503", "503"),
    ];
    let next_href = next.map(|before| query.href_before(&before));
    view! {
        <form method="get" action="/requests" class="filters" data-testid="log-filters">
            <label>{t!(i18n, log.key)}
                <select name="key">
                    <option value="">{t!(i18n, log.all)}</option>
                    {keys.into_iter().map(|(id, name)| {
                        let id = id.to_string();
                        view! { <option value=id.clone() selected=selected(&id, &query.key)>{name}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>{t!(i18n, log.model)}
                <input name="model" value=query.model.clone() placeholder="openai/gpt-4o-mini"/>
            </label>
            <label>{t!(i18n, log.status)}
                <select name="status">
                    {status_options.into_iter().map(|(value, label)| view! {
                        <option value=value selected=selected(value, &query.status)>{match label {
                            "all" => t!(i18n, log.all).into_any(),
                            "ok" => t!(i18n, log.successful).into_any(),
                            "errors" => t!(i18n, log.errors).into_any(),
                            code => code.into_any(),
                        }}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>{t!(i18n, log.tier)}
                <select name="tier">
                    <option value="">{t!(i18n, log.all)}</option>
                    {["cheap", "standard", "strong"].into_iter().map(|tier| view! {
                        <option value=tier selected=selected(tier, &query.tier)>{crate::routing::tier_name(tier.to_owned())}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>{t!(i18n, log.cache)}
                <select name="cache">
                    <option value="">{t!(i18n, log.all)}</option>
                    <option value="hit" selected=selected("hit", &query.cache)>{t!(i18n, log.cache_hit)}</option>
                    <option value="miss" selected=selected("miss", &query.cache)>{t!(i18n, log.cache_miss)}</option>
                </select>
            </label>
            <label>{t!(i18n, log.range)}
                <select name="range">
                    <option value="">{t!(i18n, log.all)}</option>
                    {ranges.into_iter().map(|range| {
                        let label = crate::format::range_label(i18n.get_locale(), &range);
                        let current = selected(&range, &query.range);
                        view! { <option value=range selected=current>{label}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>{t!(i18n, log.request_id)}
                <input name="request" value=query.request.clone() placeholder="req_…" size="22"/>
            </label>
            <button type="submit">{t!(i18n, log.filter)}</button>
        </form>
        <p class="muted">{t!(i18n, log.kept, days = retention_days)}</p>
        {if rows.is_empty() {
            view! { <p class="empty" data-testid="log-empty">{t!(i18n, log.none)}</p> }.into_any()
        } else {
            view! {
                <ol class="log" data-testid="log">
                    {rows.into_iter().map(log_row).collect_view()}
                </ol>
            }
            .into_any()
        }}
        {next_href.map(|href| view! { <a href=href rel="next" data-testid="log-older">{t!(i18n, log.older)}</a> })}
    }
}

/// Where an answer's time went: until its head (the whole answer, or a stream's first byte) the
/// provider's wait and the gateway's work; after it, a stream's remaining chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySplit {
    pub provider_ms: i32,
    pub gateway_ms: i32,
    /// A stream: its first byte, and the time it ran after it.
    pub stream: Option<(i32, i32)>,
}

impl LatencySplit {
    /// `None` for an event recorded before the split was (or where it was not) measured.
    pub fn of(
        latency_ms: i32,
        upstream_ms: Option<i32>,
        first_byte_ms: Option<i32>,
    ) -> Option<Self> {
        let head = first_byte_ms
            .unwrap_or(latency_ms)
            .clamp(0, latency_ms.max(0));
        // Clock readings a millisecond apart may round past each other: never a negative part.
        let provider_ms = upstream_ms?.clamp(0, head);
        Some(LatencySplit {
            provider_ms,
            gateway_ms: head - provider_ms,
            stream: first_byte_ms.map(|_| (head, latency_ms.max(0) - head)),
        })
    }
}

fn latency_view(row: &LogRow) -> impl IntoView + use<> {
    let i18n = use_i18n();
    let ms = |value: i32| format!("{value} ms");
    let total = ms(row.latency_ms);
    match LatencySplit::of(row.latency_ms, row.upstream_ms, row.first_byte_ms) {
        None => total.into_any(),
        Some(LatencySplit { provider_ms, gateway_ms, stream: None }) => view! {
            {total} " · " {t!(i18n, log.latency_split, provider = ms(provider_ms), gateway = ms(gateway_ms))}
        }
        .into_any(),
        Some(LatencySplit { provider_ms, gateway_ms, stream: Some((first, rest)) }) => view! {
            {total} " · " {t!(i18n, log.latency_stream, first = ms(first), provider = ms(provider_ms), gateway = ms(gateway_ms), rest = ms(rest))}
        }
        .into_any(),
    }
}

/// `provider/model`, or `—` for a request refused before routing (it names no model it went to).
fn shown_model(provider: &str, model: &str) -> String {
    if model.is_empty() {
        "—".to_owned()
    } else if provider.is_empty() {
        model.to_owned()
    } else {
        format!("{provider}/{model}")
    }
}

fn log_row(row: LogRow) -> impl IntoView {
    let i18n = use_i18n();
    let failed = row.status >= 400;
    let model = shown_model(&row.provider, &row.model);
    view! {
        <li data-testid="log-row" data-status=row.status.to_string() class:failed=failed>
            <details>
                <summary>
                    <span class="status">{row.status}</span>
                    <span class="model">{model}</span>
                    <span class="key">{row.key.clone()}</span>
                    <span class="at">{row.at.clone()}</span>
                    <span class="num">{format!("{} ms", row.latency_ms)}</span>
                    <span class="num">{crate::format::money_view(row.cost_usd)}</span>
                </summary>
                <dl class="preview">
                    <dt>{t!(i18n, log.latency)}</dt><dd data-testid="log-latency">{latency_view(&row)}</dd>
                    <dt>{t!(i18n, log.route_reason)}</dt><dd>{row.route_reason.clone().unwrap_or_else(|| "—".into())}</dd>
                    <dt>{t!(i18n, log.tier)}</dt><dd>{match row.tier.clone() { Some(tier) => crate::routing::tier_name(tier), None => "—".into_any() }}</dd>
                    <dt>{t!(i18n, log.error)}</dt><dd>{row.error_code.clone().unwrap_or_else(|| "—".into())}</dd>
                    <dt>{t!(i18n, log.tokens)}</dt><dd>{format!("{} → {}", row.prompt_tokens, row.completion_tokens)}</dd>
                    <dt>{t!(i18n, log.baseline)}</dt><dd>{match (row.baseline_model.clone(), row.baseline_cost_usd) {
                        (Some(model), Some(cost)) => view! { {model} " · " {crate::format::money_view(cost)} }.into_any(),
                        (Some(model), None) => model.into_any(),
                        _ => "—".into_any(),
                    }}</dd>
                    <dt>{t!(i18n, log.saved)}</dt><dd>{crate::format::money_view(row.saving_usd)}</dd>
                    <dt>{t!(i18n, log.cache)}</dt><dd>{if row.cache_hit { t!(i18n, log.cache_hit).into_any() } else { t!(i18n, log.cache_miss).into_any() }}</dd>
                    <dt>{t!(i18n, log.counted)}</dt><dd>{if row.counted { t!(i18n, log.yes).into_any() } else { t!(i18n, log.no).into_any() }}</dd>
                    <dt>{t!(i18n, log.request_id)}</dt><dd><code data-testid="log-request-id">{row.request_id.clone().unwrap_or_else(|| "—".into())}</code></dd>
                </dl>
                {(!row.attempts.is_empty()).then(|| {
                    let this = row.id;
                    view! {
                        <p class="muted">{t!(i18n, log.attempts)}</p>
                        <ol class="attempts" data-testid="log-attempts">
                            {row.attempts.iter().map(|attempt| {
                                let (current, failed) = (attempt.id == this, attempt.status >= 400);
                                view! {
                                <li class:current=current class:failed=failed>
                                    <span class="status">{attempt.status}</span> " "
                                    <span class="model">{attempt.model.clone()}</span>
                                    {attempt.error_code.clone().map(|code| view! { " · " <code>{code}</code> })}
                                    " · " {format!("{} ms", attempt.latency_ms)}
                                </li>
                                }
                            }).collect_view()}
                        </ol>
                    }
                })}
            </details>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::LatencySplit;

    #[test]
    fn a_latency_splits_into_provider_gateway_and_streaming() {
        let split = |provider_ms, gateway_ms, stream| LatencySplit {
            provider_ms,
            gateway_ms,
            stream,
        };
        // A whole answer: what was not the provider's wait was the gateway's.
        assert_eq!(
            LatencySplit::of(812, Some(790), None),
            Some(split(790, 22, None))
        );
        // A stream: the split is of the time to its first byte; the rest is streaming.
        assert_eq!(
            LatencySplit::of(2_000, Some(110), Some(120)),
            Some(split(110, 10, Some((120, 1_880))))
        );
        // Readings that round past each other never make a negative part.
        assert_eq!(LatencySplit::of(5, Some(6), None), Some(split(5, 0, None)));
        assert_eq!(
            LatencySplit::of(5, Some(1), Some(7)),
            Some(split(1, 4, Some((5, 0))))
        );
        // Not measured (events from before the split): nothing to split.
        assert_eq!(LatencySplit::of(40, None, None), None);
    }
}
