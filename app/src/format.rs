//! Money, counts and shares as every page of the portal shows them, in the reader's language: one
//! rule, so the same amount reads the same on the dashboard, in analytics and on the limits page.

use leptos::prelude::*;

use crate::i18n::{Locale, use_i18n};

/// [`money`] in a page, following the language switch.
pub fn money_view(value: f64) -> impl IntoView {
    let i18n = use_i18n();
    move || money(value, i18n.get_locale())
}

/// A count (requests, tokens) in a page with the language's thousands separator, following the
/// language switch: `12,345` / `12.345`.
pub fn count_view(value: f64) -> impl IntoView {
    let i18n = use_i18n();
    move || number(value, 0, i18n.get_locale())
}

/// [`saved_percent`] in a page, following the language switch.
pub fn saved_percent_view(saving_usd: f64, saving_base_usd: f64) -> impl IntoView {
    let i18n = use_i18n();
    move || saved_percent(saving_usd, saving_base_usd, i18n.get_locale())
}

/// Dollars with the precision small amounts need: `$12.30`, `$0.0123`, `$0.000035` in English;
/// `12,30 US$` in Spanish (decimal comma, a point between thousands, the symbol after).
pub fn money(value: f64, locale: Locale) -> String {
    let magnitude = value.abs();
    let decimals = if magnitude >= 1.0 {
        2
    } else if magnitude >= 0.01 || magnitude == 0.0 {
        4
    } else {
        6
    };
    dollars(&number(value, decimals, locale), locale)
}

/// Dollar digits with the language's symbol: `$12.30`, `12,30 US$`.
fn dollars(digits: &str, locale: Locale) -> String {
    match locale {
        Locale::es => format!("{digits}\u{a0}US$"),
        _ => format!("${digits}"),
    }
}

/// The saving as a share of what the requests it is claimed for would have cost without the
/// gateway: `42.5%` (`42,5 %`), or `–` when nothing is claimed.
pub fn saved_percent(saving_usd: f64, saving_base_usd: f64, locale: Locale) -> String {
    if saving_base_usd <= 0.0 {
        return "–".to_owned();
    }
    let share = number(saving_usd / saving_base_usd * 100.0, 1, locale);
    match locale {
        Locale::es => format!("{share}\u{a0}%"),
        _ => format!("{share}%"),
    }
}

/// `value` with `decimals` places and the language's separators (`1,234.5` / `1.234,5`).
pub fn number(value: f64, decimals: usize, locale: Locale) -> String {
    let fixed = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let (thousands, point) = match locale {
        Locale::es => ('.', ','),
        _ => (',', '.'),
    };
    let mut grouped = String::with_capacity(fixed.len() + whole.len() / 3 + 1);
    if value < 0.0 && fixed.chars().any(|c| c.is_ascii_digit() && c != '0') {
        grouped.push('-');
    }
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(thousands);
        }
        grouped.push(digit);
    }
    if !fraction.is_empty() {
        grouped.push(point);
        grouped.push_str(fraction);
    }
    grouped
}

/// A plan's price: `$20 / month`, `20 US$ / mes`; another currency by its code
/// (`18 EUR / month`). Whole amounts without decimals, others with two (Stripe counts in the
/// minor unit, except for currencies that have none).
/// `unit_amount` in the currency's minor unit, `currency` ISO 4217, `interval` Stripe's.
pub fn price(unit_amount: i64, currency: &str, interval: Option<&str>, locale: Locale) -> String {
    const ZERO_DECIMAL: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    let currency = currency.to_ascii_lowercase();
    let amount = if ZERO_DECIMAL.contains(&currency.as_str()) {
        unit_amount as f64
    } else {
        unit_amount as f64 / 100.0
    };
    let decimals = if amount.fract() == 0.0 { 0 } else { 2 };
    let digits = number(amount, decimals, locale);
    let amount = match currency.as_str() {
        "usd" => dollars(&digits, locale),
        other => format!("{digits}\u{a0}{}", other.to_ascii_uppercase()),
    };
    let per = |interval: &str| match (interval, locale) {
        ("day", Locale::es) => "día".to_owned(),
        ("week", Locale::es) => "semana".to_owned(),
        ("month", Locale::es) => "mes".to_owned(),
        ("year", Locale::es) => "año".to_owned(),
        (other, _) => other.to_owned(),
    };
    match interval {
        Some(interval) => format!("{amount} / {}", per(interval)),
        None => amount,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_as_the_plan_page_shows_them() {
        assert_eq!(price(2000, "usd", Some("month"), Locale::en), "$20 / month");
        assert_eq!(
            price(2000, "usd", Some("month"), Locale::es),
            "20\u{a0}US$ / mes"
        );
        assert_eq!(
            price(1999, "usd", Some("year"), Locale::en),
            "$19.99 / year"
        );
        assert_eq!(
            price(1999, "eur", Some("year"), Locale::es),
            "19,99\u{a0}EUR / año"
        );
        assert_eq!(
            price(500000, "usd", Some("month"), Locale::en),
            "$5,000 / month"
        );
        assert_eq!(
            price(3000, "jpy", Some("month"), Locale::en),
            "3,000\u{a0}JPY / month"
        );
        assert_eq!(price(0, "usd", None, Locale::en), "$0");
    }

    #[test]
    fn money_keeps_the_precision_small_amounts_need_in_each_language() {
        assert_eq!(money(12.3, Locale::en), "$12.30");
        assert_eq!(money(1234.5, Locale::en), "$1,234.50");
        assert_eq!(money(0.0123, Locale::en), "$0.0123");
        assert_eq!(money(0.0000346, Locale::en), "$0.000035");
        assert_eq!(money(0.0, Locale::en), "$0.0000");
        assert_eq!(money(-2.5, Locale::en), "$-2.50");
        assert_eq!(money(1234.5, Locale::es), "1.234,50\u{a0}US$");
        assert_eq!(money(0.0123, Locale::es), "0,0123\u{a0}US$");
        assert_eq!(money(1_234_567.0, Locale::es), "1.234.567,00\u{a0}US$");
    }

    #[test]
    fn shares_say_nothing_when_nothing_is_claimed() {
        assert_eq!(saved_percent(0.75, 1.0, Locale::en), "75.0%");
        assert_eq!(saved_percent(0.0, 1.0, Locale::en), "0.0%");
        assert_eq!(saved_percent(-0.5, 1.0, Locale::en), "-50.0%");
        assert_eq!(saved_percent(0.0, 0.0, Locale::en), "–");
        assert_eq!(saved_percent(0.425, 1.0, Locale::es), "42,5\u{a0}%");
        assert_eq!(number(-0.00001, 2, Locale::en), "0.00");
    }
}

/// A time range's name (`1h`, `24h`, `7d`, `30d`, `90d`, `365d`) in `locale`.
pub fn range_label(locale: Locale, range: &str) -> &'static str {
    use crate::i18n::td_string;
    match range {
        "1h" => td_string!(locale, analytics.range_1h),
        "24h" => td_string!(locale, analytics.range_24h),
        "7d" => td_string!(locale, analytics.range_7d),
        "30d" => td_string!(locale, analytics.range_30d),
        "90d" => td_string!(locale, analytics.range_90d),
        _ => td_string!(locale, analytics.range_365d),
    }
}
