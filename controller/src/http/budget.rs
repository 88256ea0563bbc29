//! The per-client budget of `/v1/verify` and `/v1/rotate`: a token bucket of private-key
//! operations (`--rate-limit` per second, at most `--rate-limit-burst` saved up).
//!
//! A request pays for its work, not for being a request: once its body is parsed it costs one
//! operation per started 64 KiB or per [`PARSE_TIME_PER_OP`] the parsing took, whichever is
//! more (a small YAML body full of aliases can take far longer than its size suggests), plus, for each object, an upper bound of the RSA
//! private-key operations unsealing it can take (every value against every key, plus the
//! diagnosis of a failure). It is admitted when the bucket holds that much, or is full for a
//! request larger than the bucket; then the bucket may go into debt, so one big request makes
//! the next ones of the same client wait as long as its work would have taken at the sustained
//! rate. What the bound overestimated is refunded once the work is done. A client in debt is
//! refused before its body is parsed.
//!
//! `Retry-After` is the time until the same request would be admitted. A client in debt is
//! refused before its request is read, so then it is the time until the budget admits the
//! client's last refused request (what a client retrying sends again), or at least the
//! smallest request (one value); a larger new request may get a second, exact `Retry-After`. A
//! refused request is charged its parsing, so repeating it early only delays it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most clients tracked at once; past that, full buckets are forgotten first.
const MAX_CLIENTS: usize = 65_536;

/// Bytes of body that cost one operation to parse.
pub const PARSE_BYTES_PER_OP: usize = 64 * 1024;

/// Parsing time that costs one operation: about one RSA-4096 private-key operation.
pub const PARSE_TIME_PER_OP: Duration = Duration::from_millis(2);

/// Operations to parse a body of `len` bytes that took `took`.
pub fn parse_cost(len: usize, took: Duration) -> u64 {
    let by_size = u64::try_from(len / PARSE_BYTES_PER_OP)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let by_time = u64::try_from(took.as_nanos() / PARSE_TIME_PER_OP.as_nanos()).unwrap_or(u64::MAX);
    by_size.max(by_time)
}

/// Upper bound of the private-key operations to unseal an object with `values` sealed values
/// against `keys` keys: each value may be tried against every key, and one failing value is
/// diagnosed against the other two scopes' labels.
pub fn unseal_bound(values: usize, keys: usize) -> u64 {
    let keys = u64::try_from(keys.max(1)).unwrap_or(u64::MAX);
    let values = u64::try_from(values).unwrap_or(u64::MAX);
    values.saturating_add(2).saturating_mul(keys)
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// What this client's last refused request needed (0 after an admitted one).
    refused_need: f64,
}

/// Token buckets per client.
pub struct Budget {
    /// Operations per second (0: unlimited).
    rate: f64,
    capacity: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Budget {
    /// `rate` operations per second (≤ 0: unlimited), at most `burst` saved up (at least 1).
    pub fn new(rate: f64, burst: u32) -> Self {
        Budget {
            rate: if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                0.0
            },
            capacity: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The bucket size, in operations.
    pub fn capacity(&self) -> u64 {
        self.capacity as u64
    }

    fn with<T>(&self, client: IpAddr, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_CLIENTS && !map.contains_key(&client) {
            let (rate, capacity) = (self.rate, self.capacity);
            map.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < capacity);
            if map.len() >= MAX_CLIENTS {
                map.clear();
            }
        }
        let b = map.entry(client).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
            refused_need: 0.0,
        });
        let refill = now.duration_since(b.at).as_secs_f64() * self.rate;
        b.tokens = (b.tokens + refill).min(self.capacity);
        b.at = now;
        f(b)
    }

    fn wait(&self, missing: f64) -> Duration {
        Duration::try_from_secs_f64(missing.max(0.0) / self.rate).unwrap_or(Duration::MAX)
    }

    /// `Err(retry after)` while `client` is in debt; nothing is charged. The request is not
    /// read yet, so the wait is until the budget admits what this client's last refused request
    /// needed (a client retrying it), or at least `smallest` operations.
    pub fn check_debt(&self, client: IpAddr, smallest: u64) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        self.with(client, |b| {
            if b.tokens < 0.0 {
                let need = b.refused_need.max(smallest as f64).min(self.capacity);
                Err(self.wait(need - b.tokens))
            } else {
                Ok(())
            }
        })
    }

    /// Charges `parse + ops` if the bucket holds it (or is full); otherwise charges only
    /// `parse` (the parsing happened) and returns when the same request would be admitted.
    pub fn admit(&self, client: IpAddr, parse: u64, ops: u64) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let total = parse.saturating_add(ops) as f64;
        let need = total.min(self.capacity);
        self.with(client, |b| {
            if b.tokens >= need {
                b.tokens -= total;
                b.refused_need = 0.0;
                Ok(())
            } else {
                b.tokens -= parse as f64;
                b.refused_need = need;
                Err(self.wait(need - b.tokens))
            }
        })
    }

    /// Charges `ops` whatever the bucket holds (work already done).
    pub fn charge(&self, client: IpAddr, ops: u64) {
        if self.rate == 0.0 || ops == 0 {
            return;
        }
        self.with(client, |b| b.tokens -= ops as f64);
    }

    /// Gives back operations the bound charged but the work did not spend.
    pub fn refund(&self, client: IpAddr, ops: u64) {
        if self.rate == 0.0 || ops == 0 {
            return;
        }
        self.with(client, |b| {
            b.tokens = (b.tokens + ops as f64).min(self.capacity)
        });
    }

    /// Whole operations left to `client` now (0 in debt).
    pub fn remaining(&self, client: IpAddr) -> u64 {
        if self.rate == 0.0 {
            return self.capacity();
        }
        self.with(client, |b| b.tokens.max(0.0).floor() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn small_requests_spend_the_burst_then_wait_for_the_rate() {
        // 10 operations per second, 20 saved: five requests of 4 pass at once.
        let b = Budget::new(10.0, 20);
        for _ in 0..5 {
            assert_eq!(b.admit(ip(1), 1, 3), Ok(()));
        }
        let wait = b.admit(ip(1), 1, 3).unwrap_err();
        // Refused: charged 1 for parsing (-1 now); 4 needed: (4 - -1) / 10 = 0.5 s.
        assert!(
            wait > Duration::from_millis(450) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(b.admit(ip(2), 1, 3).is_ok(), "clients are independent");
    }

    #[test]
    fn a_big_request_pays_for_its_work_in_debt() {
        let b = Budget::new(100.0, 50);
        // 1,000 operations: more than the bucket holds; admitted because the bucket is full.
        assert_eq!(b.admit(ip(1), 1, 999), Ok(()));
        let wait = b.check_debt(ip(1), 0).unwrap_err();
        // 950 in debt at 100/s.
        assert!(
            wait > Duration::from_millis(9_400) && wait <= Duration::from_millis(9_500),
            "{wait:?}"
        );
        // The bound overestimated: 900 come back, the debt is 50; the smallest request needs 4.
        b.refund(ip(1), 900);
        let wait = b.check_debt(ip(1), 4).unwrap_err();
        assert!(
            wait > Duration::from_millis(500) && wait <= Duration::from_millis(540),
            "{wait:?}"
        );
        // A big request on a bucket that is not full waits until it is.
        let c = Budget::new(100.0, 50);
        assert!(c.admit(ip(3), 1, 9).is_ok());
        let wait = c.admit(ip(3), 1, 999).unwrap_err();
        assert!(wait <= Duration::from_millis(110), "{wait:?}");
    }

    #[test]
    fn retry_after_is_when_the_same_request_passes() {
        let b = Budget::new(20.0, 10);
        assert!(b.admit(ip(1), 1, 9).is_ok());
        let wait = b.admit(ip(1), 1, 5).unwrap_err();
        std::thread::sleep(wait + Duration::from_millis(5));
        assert!(b.check_debt(ip(1), 1).is_ok());
        assert_eq!(b.admit(ip(1), 1, 5), Ok(()));
        // In debt and refused unread: the wait covers the last refused request, not only
        // the debt.
        assert!(b.admit(ip(2), 1, 14).is_ok());
        assert!(b.admit(ip(2), 1, 7).is_err());
        let wait = b.check_debt(ip(2), 1).unwrap_err();
        std::thread::sleep(wait + Duration::from_millis(5));
        assert!(b.check_debt(ip(2), 1).is_ok());
        assert_eq!(b.admit(ip(2), 1, 7), Ok(()));
    }

    #[test]
    fn unlimited_and_degenerate_settings() {
        let b = Budget::new(0.0, 0);
        for _ in 0..1000 {
            assert!(b.admit(ip(1), 1, u64::MAX).is_ok());
        }
        let b = Budget::new(1e-300, 1);
        assert!(b.admit(ip(1), 1, 0).is_ok());
        assert!(b.admit(ip(1), 1, 0).is_err());
        let b = Budget::new(f64::NAN, 1);
        assert!(b.admit(ip(1), u64::MAX, u64::MAX).is_ok());
    }

    #[test]
    fn bounds() {
        assert_eq!(parse_cost(0, Duration::ZERO), 1);
        assert_eq!(parse_cost(64 * 1024, Duration::from_millis(1)), 2);
        assert_eq!(parse_cost(10, Duration::from_millis(101)), 50);
        assert_eq!(parse_cost(usize::MAX, Duration::MAX), u64::MAX);
        assert_eq!(unseal_bound(3, 1), 5);
        assert_eq!(unseal_bound(3, 24), 120);
        assert_eq!(unseal_bound(0, 0), 2);
        assert_eq!(unseal_bound(usize::MAX, usize::MAX), u64::MAX);
    }
}
