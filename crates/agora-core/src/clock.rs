//! Injected time and randomness, so expiry and jobs are testable without
//! sleeping and the model test can replay the same ids on two stores.

use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A source of the current time. Times are UTC and truncated to whole
/// microseconds, the finest precision every adapter stores.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// Truncates a time to whole microseconds.
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate_to_micros(OffsetDateTime::now_utc())
    }
}

/// A clock that only moves when told to; for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        let micros = (start.unix_timestamp_nanos() / 1_000) as i64;
        Self { micros: AtomicI64::new(micros) }
    }

    /// A clock standing at 2026-01-01T00:00:00Z.
    pub fn at_epoch() -> Self {
        Self::new(time::macros::datetime!(2026-01-01 00:00:00 UTC))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let micros = by.whole_microseconds() as i64;
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let micros = self.micros.load(Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// A source of ids and random bytes (salts, nonces, tokens).
pub trait Entropy: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// A new UUID v7 for the given time: 48 bits of milliseconds, then random bits.
    fn uuid_v7(&self, at: OffsetDateTime) -> Uuid {
        let mut rand = [0u8; 10];
        self.fill(&mut rand);
        let millis = (at.unix_timestamp_nanos() / 1_000_000) as u64;
        uuid::Builder::from_unix_timestamp_millis(millis, &rand).into_uuid()
    }

    /// A new UUID v7 and the time it stands for, from one reading of
    /// `clock`. The generators of this crate read the clock where they
    /// order ids, so of two stamps made one after the other (on any
    /// threads of a process) the later has the higher id *and* a time no
    /// earlier: a list newest first by id is newest first by time too. Two
    /// readings (`clock.now()`, then `uuid_v7`) give no such promise under
    /// concurrency.
    fn stamp(&self, clock: &dyn Clock) -> (Uuid, OffsetDateTime) {
        let at = clock.now();
        (self.uuid_v7(at), at)
    }
}

/// Makes v7 ids strictly increasing within one process: when the clock has
/// not moved past the last id's millisecond, the next id is the last plus
/// one (RFC 9562's monotonic random), so creation order equals id order.
#[derive(Debug, Default)]
struct MonotonicV7 {
    last: Mutex<LastStamp>,
}

/// The last id made, and the last time a [`Entropy::stamp`] gave out.
#[derive(Debug, Default)]
struct LastStamp {
    id: u128,
    at: Option<OffsetDateTime>,
}

impl MonotonicV7 {
    fn next(&self, at: OffsetDateTime, rand: [u8; 10]) -> Uuid {
        Self::after(&mut self.last.lock().id, at, rand)
    }

    /// The clock is read under the lock that orders the ids, and does not
    /// go back by a little (a wall clock slewed or stepped back by up to a
    /// second keeps the last time given); a larger step back is taken as
    /// the truth rather than pinning every time for as long.
    fn stamp(&self, clock: &dyn Clock, rand: [u8; 10]) -> (Uuid, OffsetDateTime) {
        let mut last = self.last.lock();
        let now = clock.now();
        let at = match last.at {
            Some(prev) if prev > now && prev - now <= time::Duration::SECOND => prev,
            _ => now,
        };
        last.at = Some(at);
        (Self::after(&mut last.id, at, rand), at)
    }

    fn after(last: &mut u128, at: OffsetDateTime, rand: [u8; 10]) -> Uuid {
        let millis = (at.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        let candidate = uuid::Builder::from_unix_timestamp_millis(millis, &rand).into_uuid().as_u128();
        let next = if candidate > *last {
            candidate
        } else {
            // Keep the version and variant bits valid while counting up.
            let mut n = *last + 1;
            if (n >> 76) & 0xF != 7 || (n >> 62) & 0x3 != 0b10 {
                n = (*last | 0x0000_0000_0000_0000_3FFF_FFFF_FFFF_FFFF) + (1 << 62) + 1;
                n = (n & !(0xF << 76)) | (7 << 76);
                n = (n & !(0x3 << 62)) | (0b10 << 62);
            }
            n
        };
        *last = next;
        Uuid::from_u128(next)
    }
}

/// Operating-system randomness.
#[derive(Debug, Default)]
pub struct OsEntropy {
    ids: MonotonicV7,
}

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }

    fn uuid_v7(&self, at: OffsetDateTime) -> Uuid {
        let mut rand = [0u8; 10];
        self.fill(&mut rand);
        self.ids.next(at, rand)
    }

    fn stamp(&self, clock: &dyn Clock) -> (Uuid, OffsetDateTime) {
        let mut rand = [0u8; 10];
        self.fill(&mut rand);
        self.ids.stamp(clock, rand)
    }
}

/// Deterministic randomness from a seed: the same seed gives the same ids,
/// tokens and salts, which is what the differential model test relies on.
pub struct SeededEntropy {
    rng: Mutex<ChaCha20Rng>,
    ids: MonotonicV7,
}

impl SeededEntropy {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { rng: Mutex::new(ChaCha20Rng::seed_from_u64(seed)), ids: MonotonicV7::default() }
    }
}

impl std::fmt::Debug for SeededEntropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeededEntropy")
    }
}

impl Entropy for SeededEntropy {
    fn fill(&self, buf: &mut [u8]) {
        self.rng.lock().fill_bytes(buf);
    }

    fn uuid_v7(&self, at: OffsetDateTime) -> Uuid {
        let mut rand = [0u8; 10];
        self.fill(&mut rand);
        self.ids.next(at, rand)
    }

    fn stamp(&self, clock: &dyn Clock) -> (Uuid, OffsetDateTime) {
        let mut rand = [0u8; 10];
        self.fill(&mut rand);
        self.ids.stamp(clock, rand)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight threads stamping at once with the system clock: sorted by id,
    /// the times never go back (two readings per id broke this easily).
    #[test]
    fn stamps_keep_ids_and_times_in_one_order_across_threads() {
        let entropy = std::sync::Arc::new(OsEntropy::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let entropy = entropy.clone();
                std::thread::spawn(move || (0..20_000).map(|_| entropy.stamp(&SystemClock)).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<(Uuid, OffsetDateTime)> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        all.sort_by_key(|(id, _)| *id);
        let inverted = all.windows(2).filter(|w| w[1].1 < w[0].1).count();
        assert_eq!(inverted, 0, "stamps whose time is earlier than a lower id's");
        assert_eq!(all.iter().map(|(id, _)| id).collect::<std::collections::BTreeSet<_>>().len(), all.len());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::at_epoch();
        let a = c.now();
        assert_eq!(a, c.now());
        c.advance(Duration::seconds(5));
        assert_eq!(c.now() - a, Duration::seconds(5));
    }

    #[test]
    fn seeded_entropy_is_deterministic_and_ids_are_v7() {
        let t = ManualClock::at_epoch().now();
        let a = SeededEntropy::new(7).uuid_v7(t);
        let b = SeededEntropy::new(7).uuid_v7(t);
        assert_eq!(a, b);
        assert_eq!(a.get_version_num(), 7);
    }

    #[test]
    fn ids_increase_within_one_millisecond() {
        let t = ManualClock::at_epoch().now();
        let e = OsEntropy::default();
        let mut prev = e.uuid_v7(t);
        for _ in 0..10_000 {
            let next = e.uuid_v7(t);
            assert!(next > prev);
            assert_eq!(next.get_version_num(), 7);
            assert_eq!(next.get_variant(), uuid::Variant::RFC4122);
            prev = next;
        }
    }

    #[test]
    fn system_time_has_whole_micros() {
        assert_eq!(SystemClock.now().nanosecond() % 1_000, 0);
    }
}
