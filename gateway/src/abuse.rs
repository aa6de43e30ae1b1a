//! Safety valves against abuse, kept in each server's memory (no database or Redis round trip):
//! log-in and sign-up attempts per address and per account, requests per second per gateway key
//! (even on plans without a monthly limit), and streams open at once per key.
//!
//! They are not the plans' limits (those are `crate::quota`): they exist so that one leaked key or
//! one password-guessing script cannot take a server's capacity or an account's password.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use parking_lot::Mutex;

/// How much each valve lets through. Zero turns a valve off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseSettings {
    /// Log-in attempts per client address per minute.
    pub logins_per_address_per_minute: u32,
    /// Log-in attempts per account (e-mail) per minute, whatever the address.
    pub logins_per_account_per_minute: u32,
    /// Sign-ups per client address per hour.
    pub signups_per_address_per_hour: u32,
    /// Invitation e-mails per organisation per hour.
    pub invitations_per_account_per_hour: u32,
    /// `/v1` requests per second per gateway key.
    pub key_requests_per_second: u32,
    /// Streams open at once per gateway key.
    pub key_concurrent_streams: u32,
}

impl Default for AbuseSettings {
    fn default() -> Self {
        Self {
            logins_per_address_per_minute: 30,
            logins_per_account_per_minute: 10,
            signups_per_address_per_hour: 20,
            invitations_per_account_per_hour: 20,
            key_requests_per_second: 100,
            key_concurrent_streams: 64,
        }
    }
}

/// A valve said no: try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole seconds to wait, at least one (for `Retry-After` and messages).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)
    }
}

/// Keys past this many are pruned of the ones whose allowance is full again.
const PRUNE_ABOVE: usize = 10_000;

/// One keyed rate limiter (GCRA, from `governor`), off when its rate is zero.
struct Valve<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> Valve<K> {
    fn new(quota: Option<Quota>) -> Self {
        Self {
            limiter: quota.map(governor::RateLimiter::keyed),
        }
    }

    fn check(&self, key: &K) -> Result<(), Throttled> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > PRUNE_ABOVE {
            limiter.retain_recent();
        }
        limiter.check_key(key).map_err(|not_until| Throttled {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }
}

fn per_minute(n: u32) -> Option<Quota> {
    NonZeroU32::new(n).map(Quota::per_minute)
}

/// Things held open at once per key (streams per gateway key, connections per client address).
/// A place is held by a [`Place`] that gives it back when dropped, so a stream the client abandons
/// frees its place as surely as one that ends. Keys holding nothing are forgotten: the map stays
/// as small as what is open.
pub struct Places<K: Hash + Eq + Clone>(Arc<Mutex<HashMap<K, u32>>>);

impl<K: Hash + Eq + Clone> Default for Places<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<K: Hash + Eq + Clone> Places<K> {
    /// One more place for `key`, or `None` when it holds `max` already.
    pub fn take(&self, key: K, max: u32) -> Option<Place<K>> {
        {
            let mut open = self.0.lock();
            let held = open.entry(key.clone()).or_default();
            if *held >= max {
                return None;
            }
            *held += 1;
        }
        Some(Place {
            places: self.0.clone(),
            key,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.lock().is_empty()
    }
}

/// One place of [`Places`]; dropping it frees the place.
pub struct Place<K: Hash + Eq + Clone> {
    places: Arc<Mutex<HashMap<K, u32>>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Drop for Place<K> {
    fn drop(&mut self) {
        let mut open = self.places.lock();
        if let Some(held) = open.get_mut(&self.key) {
            *held -= 1;
            if *held == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// One open stream's place among its key's; `None` inside when the valve is off.
pub struct StreamSlot {
    _place: Option<Place<i32>>,
}

/// All valves of one server.
pub struct AbuseGuard {
    settings: AbuseSettings,
    logins_by_address: Valve<IpAddr>,
    logins_by_account: Valve<String>,
    signups_by_address: Valve<IpAddr>,
    invitations_by_account: Valve<i32>,
    requests_by_key: Valve<i32>,
    streams: Places<i32>,
}

/// Which valve refused a log-in, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptRefusal {
    Address(Throttled),
    Account(Throttled),
}

impl AbuseGuard {
    pub fn new(settings: AbuseSettings) -> Self {
        Self {
            logins_by_address: Valve::new(per_minute(settings.logins_per_address_per_minute)),
            logins_by_account: Valve::new(per_minute(settings.logins_per_account_per_minute)),
            signups_by_address: Valve::new(
                NonZeroU32::new(settings.signups_per_address_per_hour).map(Quota::per_hour),
            ),
            invitations_by_account: Valve::new(
                NonZeroU32::new(settings.invitations_per_account_per_hour).map(Quota::per_hour),
            ),
            requests_by_key: Valve::new(
                NonZeroU32::new(settings.key_requests_per_second).map(Quota::per_second),
            ),
            streams: Places::default(),
            settings,
        }
    }

    /// Counts one log-in attempt, by address first (a script trying many accounts) and then by
    /// account (many addresses trying one account). Unknown and known e-mails count alike, so
    /// the answer tells nothing about which exist.
    pub fn admit_login(&self, address: IpAddr, email: &str) -> Result<(), AttemptRefusal> {
        self.logins_by_address
            .check(&address)
            .map_err(AttemptRefusal::Address)?;
        self.logins_by_account
            .check(&email.trim().to_lowercase())
            .map_err(AttemptRefusal::Account)
    }

    pub fn admit_signup(&self, address: IpAddr) -> Result<(), Throttled> {
        self.signups_by_address.check(&address)
    }

    /// Counts one invitation e-mail of an organisation: inviting is sending mail to addresses
    /// of the inviter's choosing.
    pub fn admit_invitation(&self, account_id: i32) -> Result<(), Throttled> {
        self.invitations_by_account.check(&account_id)
    }

    /// Counts one `/v1` request of a gateway key.
    pub fn admit_request(&self, key_id: i32) -> Result<(), Throttled> {
        self.requests_by_key.check(&key_id)
    }

    /// Takes a place for one more stream of `key_id`, or `None` when the key has as many open
    /// as it may.
    pub fn open_stream(&self, key_id: i32) -> Option<StreamSlot> {
        match self.settings.key_concurrent_streams {
            0 => Some(StreamSlot { _place: None }),
            limit => self.streams.take(key_id, limit).map(|place| StreamSlot {
                _place: Some(place),
            }),
        }
    }

    pub fn max_concurrent_streams(&self) -> u32 {
        self.settings.key_concurrent_streams
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(settings: AbuseSettings) -> AbuseGuard {
        AbuseGuard::new(settings)
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 9));

    #[test]
    fn log_ins_are_limited_per_address_and_per_account() {
        let guard = guard(AbuseSettings {
            logins_per_address_per_minute: 3,
            logins_per_account_per_minute: 2,
            ..AbuseSettings::default()
        });
        assert!(guard.admit_login(HOME, "ada@example.com").is_ok());
        assert!(guard.admit_login(AWAY, "ADA@example.com ").is_ok());
        // The account's two attempts are used, from whatever address.
        let Err(AttemptRefusal::Account(throttled)) = guard.admit_login(HOME, "ada@example.com")
        else {
            panic!("the account's third attempt in a minute must be refused");
        };
        assert!(throttled.retry_after_secs() >= 1 && throttled.retry_after_secs() <= 30);
        // HOME has used two of its three: one more account, then the address is refused.
        assert!(guard.admit_login(HOME, "bob@example.com").is_ok());
        assert!(matches!(
            guard.admit_login(HOME, "carol@example.com"),
            Err(AttemptRefusal::Address(_))
        ));
        assert!(guard.admit_login(AWAY, "carol@example.com").is_ok());
    }

    #[test]
    fn requests_per_key_are_limited_per_second() {
        let guard = guard(AbuseSettings {
            key_requests_per_second: 5,
            ..AbuseSettings::default()
        });
        let admitted = (0..20).filter(|_| guard.admit_request(1).is_ok()).count();
        // A burst of 5, plus whatever the second refilled while the loop ran (nothing, in practice).
        assert!((5..=6).contains(&admitted), "{admitted}");
        assert!(
            guard.admit_request(2).is_ok(),
            "other keys are not affected"
        );
        let refused = guard.admit_request(1).unwrap_err();
        assert!(refused.retry_after <= Duration::from_millis(200));
        assert_eq!(refused.retry_after_secs(), 1);
    }

    #[test]
    fn a_valve_set_to_zero_is_off() {
        let guard = guard(AbuseSettings {
            key_requests_per_second: 0,
            key_concurrent_streams: 0,
            ..AbuseSettings::default()
        });
        assert!((0..1000).all(|_| guard.admit_request(1).is_ok()));
        let slots: Vec<_> = (0..1000).map(|_| guard.open_stream(1)).collect();
        assert!(slots.iter().all(Option::is_some));
    }

    #[test]
    fn stream_slots_are_given_back_when_dropped() {
        let guard = guard(AbuseSettings {
            key_concurrent_streams: 2,
            ..AbuseSettings::default()
        });
        let first = guard.open_stream(7).unwrap();
        let second = guard.open_stream(7).unwrap();
        assert!(guard.open_stream(7).is_none());
        assert!(guard.open_stream(8).is_some(), "per key");
        drop(first);
        let third = guard.open_stream(7).expect("a slot came back");
        drop((second, third));
        assert!(guard.streams.is_empty(), "no entry left behind");
    }

    #[test]
    fn sign_ups_are_limited_per_address() {
        let guard = guard(AbuseSettings {
            signups_per_address_per_hour: 2,
            invitations_per_account_per_hour: 2,
            ..AbuseSettings::default()
        });
        assert!(guard.admit_signup(HOME).is_ok());
        assert!(guard.admit_signup(HOME).is_ok());
        let refused = guard.admit_signup(HOME).unwrap_err();
        assert!(
            refused.retry_after > Duration::from_secs(60 * 29),
            "{refused:?}"
        );
        assert!(guard.admit_signup(AWAY).is_ok());
    }
}
