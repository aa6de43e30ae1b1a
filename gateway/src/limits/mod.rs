//! Spend budgets and rate limits of a gateway key and of its account (the organisation): a
//! monthly budget in US dollars at catalog list prices, with an alert threshold and a hard stop,
//! and requests and tokens per minute.
//!
//! Admission is exact under concurrency: an admitted request *reserves* its worst-case cost (its
//! prompt counted at one token per byte, plus `max_tokens` or the model's output limit, at list
//! price) and the tokens it will probably use; when it ends the reservation is replaced by what it
//! actually cost. Committed spend (spent + reserved) never passes the budget, so no burst of
//! concurrent requests can overspend it. The counters live in memory ([`ledger`]) or, for servers
//! sharing Redis, in one Lua script per admission ([`shared`]); a month's spend is read from the
//! database once per scope, never per request.

pub mod alerts;
mod decision;
pub mod estimate;
pub mod ledger;
mod refusal;
mod settings;
mod shared;

pub use ledger::{Ledger, Reservation};
pub use refusal::{RateHeaders, Refusal, Scope, openai_duration};
pub use settings::{Limits, LimitsError, NANOS_PER_USD, usd_to_nanos};
