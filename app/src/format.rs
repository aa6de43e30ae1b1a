//! Money and shares as every page of the portal shows them: one rule, so the same amount reads
//! the same on the dashboard, in analytics and on the limits page.

/// The saving as a share of what the requests it is claimed for would have cost without the
/// gateway: `42.5%`, or `–` when nothing is claimed.
pub fn saved_percent(saving_usd: f64, saving_base_usd: f64) -> String {
    if saving_base_usd > 0.0 {
        format!("{:.1}%", saving_usd / saving_base_usd * 100.0)
    } else {
        "–".to_owned()
    }
}

/// Dollars with the precision small amounts need: `$12.30`, `$0.0123`, `$0.000035`.
pub fn money(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1.0 {
        format!("${value:.2}")
    } else if magnitude >= 0.01 || magnitude == 0.0 {
        format!("${value:.4}")
    } else {
        format!("${value:.6}")
    }
}
