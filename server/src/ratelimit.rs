//! Token buckets (GCRA, via `governor`): one keyed by client IP that runs
//! before authentication, one keyed by principal after it. An empty bucket
//! is answered with 429, `Retry-After` and the JSON error body.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::config::RateLimitConfig;
use super::error::{Error, Result};

/// The two limiters; a limiter whose rate is 0 in the config is absent.
pub struct Limits {
    by_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    by_principal: Option<DefaultKeyedRateLimiter<String>>,
    principal_burst: u32,
    /// Time the principal's bucket takes to gain one token.
    principal_interval: Duration,
    clock: DefaultClock,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(
    per_second: u32,
    burst: u32,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl Limits {
    /// Builds the limiters from the config.
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            by_ip: limiter(config.ip_per_second, config.ip_burst),
            by_principal: limiter(config.principal_per_second, config.principal_burst),
            principal_burst: if config.principal_burst == 0 {
                config.principal_per_second
            } else {
                config.principal_burst
            },
            principal_interval: Duration::from_secs(1)
                .checked_div(config.principal_per_second)
                .unwrap_or(Duration::ZERO),
            clock: DefaultClock::default(),
        }
    }

    /// Takes a token from the IP's bucket.
    pub fn check_ip(&self, ip: IpAddr) -> Result<()> {
        match &self.by_ip {
            Some(l) => self.outcome(l.check_key(&ip)),
            None => Ok(()),
        }
    }

    /// Takes a token from the principal's bucket.
    pub fn check_principal(&self, principal: &str) -> Result<()> {
        match &self.by_principal {
            Some(l) => self.outcome(l.check_key(&principal.to_string())),
            None => Ok(()),
        }
    }

    /// The rest of a request that counts as `n` (a batch of `n` items):
    /// authentication took one token already, this takes `n - 1` more at
    /// once, or nothing and 429. Every item is charged. A batch larger
    /// than the burst could never find that many tokens at once: it is
    /// refused (413) with the largest batch the limit allows, rather than
    /// answered 429 for ever.
    pub fn check_principal_batch(&self, principal: &str, n: usize) -> Result<()> {
        let Some(l) = &self.by_principal else {
            return Ok(());
        };
        let n32 = u32::try_from(n).unwrap_or(u32::MAX);
        if n32 > self.principal_burst {
            return Err(Error::BatchTooLarge {
                items: n,
                max: self.principal_burst,
            });
        }
        let Some(extra) = NonZeroU32::new(n32.saturating_sub(1)) else {
            return Ok(());
        };
        match l.check_key_n(&principal.to_string(), extra) {
            // A client that comes back after `Retry-After` pays the
            // authentication token again before the batch is counted: the
            // wait covers it too, or such a client would never get through.
            Ok(r) => self.outcome_after(r, self.principal_interval),
            Err(_) => Err(Error::BatchTooLarge {
                items: n,
                max: self.principal_burst,
            }),
        }
    }

    /// Forgets buckets that are full again, bounding memory.
    pub fn shrink(&self) {
        if let Some(l) = &self.by_ip {
            l.retain_recent();
        }
        if let Some(l) = &self.by_principal {
            l.retain_recent();
        }
    }

    fn outcome<T>(
        &self,
        r: std::result::Result<T, governor::NotUntil<<DefaultClock as Clock>::Instant>>,
    ) -> Result<()> {
        self.outcome_after(r, Duration::ZERO)
    }

    /// [`outcome`](Self::outcome), with `more` added to the wait.
    fn outcome_after<T>(
        &self,
        r: std::result::Result<T, governor::NotUntil<<DefaultClock as Clock>::Instant>>,
        more: Duration,
    ) -> Result<()> {
        match r {
            Ok(_) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now()) + more;
                // Round up: a client that waits the advertised time must get through.
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(Error::RateLimited {
                    retry_after_secs: secs.max(1),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse() {
        let limits = Limits::new(&RateLimitConfig {
            ip_per_second: 1,
            ip_burst: 2,
            principal_per_second: 0,
            principal_burst: 0,
        });
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(limits.check_ip(ip).is_ok());
        assert!(limits.check_ip(ip).is_ok());
        match limits.check_ip(ip) {
            Err(Error::RateLimited { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("expected rate limit, got {other:?}"),
        }
        // Another IP has its own bucket; a disabled limiter never refuses.
        assert!(limits.check_ip([127, 0, 0, 2].into()).is_ok());
        for _ in 0..100 {
            assert!(limits.check_principal("p").is_ok());
        }
    }
}
