//! Analytics: requests, tokens, cost and savings, latency, errors and cache hits over time.
//! [`report`] reads them on the server, [`page`] draws them, [`export`] streams them as CSV.

#[cfg(feature = "ssr")]
pub mod export;
pub mod page;
pub mod report;

pub use page::AnalyticsPage;
