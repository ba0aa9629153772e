//! Token buckets (GCRA, via `governor`): one keyed by client IP that runs
//! before authentication, one keyed by principal after it. An empty bucket
//! is answered with 429, `Retry-After` and the JSON error body.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::config::RateLimitConfig;
use super::error::{Error, Result};

/// The two limiters; a limiter whose rate is 0 in the config is absent.
pub struct Limits {
    by_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    by_principal: Option<DefaultKeyedRateLimiter<String>>,
    principal_burst: u32,
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
    /// once, or nothing and 429. A batch larger than the burst could never
    /// find that many; it counts as the whole burst instead, so it waits for
    /// a full bucket and leaves it empty.
    pub fn check_principal_batch(&self, principal: &str, n: usize) -> Result<()> {
        let Some(l) = &self.by_principal else {
            return Ok(());
        };
        let n = u32::try_from(n)
            .unwrap_or(u32::MAX)
            .min(self.principal_burst);
        let Some(extra) = NonZeroU32::new(n.saturating_sub(1)) else {
            return Ok(());
        };
        match l.check_key_n(&principal.to_string(), extra) {
            Ok(r) => self.outcome(r),
            // Unreachable with n capped at the burst; refuse rather than pass.
            Err(_) => Err(Error::RateLimited {
                retry_after_secs: 1,
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
        match r {
            Ok(_) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
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
