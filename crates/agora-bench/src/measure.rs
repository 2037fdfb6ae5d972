//! The measuring window shared by every driver: clients run until the window
//! closes; only operations that finish inside it (after the warm-up) count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When to start counting and when to stop.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Not counted: lets caches, pools and prepared statements warm up.
    pub warmup: Duration,
    /// Counted.
    pub measure: Duration,
    /// Stop after this many successful operations in total (profiling);
    /// no warm-up is used then.
    pub max_ops: Option<u64>,
}

impl Plan {
    /// A timed run of `seconds` after a warm-up of a fifth of it (at most 1 s).
    pub fn timed(seconds: f64, max_ops: Option<u64>) -> Self {
        let measure = Duration::from_secs_f64(seconds.max(0.1));
        let warmup = if max_ops.is_some() { Duration::ZERO } else { (measure / 5).min(Duration::from_secs(1)) };
        Self { warmup, measure, max_ops }
    }
}

/// Runs `clients` tokio tasks, `client(c, window)` each, on one window
/// and merges what they counted.
pub async fn run_tasks<F, Fut>(plan: Plan, clients: usize, mut client: F) -> Outcome
where
    F: FnMut(usize, Arc<Window>) -> Fut,
    Fut: Future<Output = Tally> + Send + 'static,
{
    let window = Window::start(plan);
    let handles: Vec<_> = (0..clients).map(|c| tokio::spawn(client(c, window.clone()))).collect();
    let mut tallies = Vec::with_capacity(clients);
    for h in handles {
        tallies.push(h.await.unwrap_or_default());
    }
    Outcome::merge(&window, tallies)
}

/// The shared clock of one run.
pub struct Window {
    plan: Plan,
    start: Instant,
    done: AtomicU64,
    stop: AtomicBool,
}

impl Window {
    /// Starts the clock now.
    pub fn start(plan: Plan) -> Arc<Self> {
        Arc::new(Self { plan, start: Instant::now(), done: AtomicU64::new(0), stop: AtomicBool::new(false) })
    }

    /// Whether clients should start another operation.
    pub fn running(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        match self.plan.max_ops {
            Some(max) => self.done.load(Ordering::Relaxed) < max,
            None => self.start.elapsed() < self.plan.warmup + self.plan.measure,
        }
    }

    /// Records one finished operation that started at `t0`.
    pub fn record(&self, t0: Instant, outcome: Result<(), String>, tally: &mut Tally) {
        let now = Instant::now();
        let since = now - self.start;
        let counted = match self.plan.max_ops {
            Some(_) => true,
            None => since >= self.plan.warmup && since <= self.plan.warmup + self.plan.measure,
        };
        if !counted {
            return;
        }
        match outcome {
            Ok(()) => {
                tally.ok += 1;
                self.done.fetch_add(1, Ordering::Relaxed);
                tally.latencies_us.push(u32::try_from((now - t0).as_micros()).unwrap_or(u32::MAX));
            }
            Err(e) => {
                tally.errors += 1;
                if tally.first_error.is_none() {
                    tally.first_error = Some(e);
                }
                // A driver that only fails would spin: stop everyone.
                if tally.errors > 1000 && tally.ok == 0 {
                    self.stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// The counted duration, for the rate.
    pub fn elapsed_for_rate(&self) -> Duration {
        match self.plan.max_ops {
            Some(_) => self.start.elapsed(),
            None => self.plan.measure.min(self.start.elapsed().saturating_sub(self.plan.warmup)),
        }
    }
}

/// What one client saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// Latency of each success, microseconds.
    pub latencies_us: Vec<u32>,
}

/// The merged outcome of a run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    /// Successful operations per second.
    pub per_second: f64,
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub errors: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// The first failure seen.
    pub first_error: Option<String>,
    /// Counted seconds.
    pub seconds: f64,
}

impl Outcome {
    /// Merges the clients' tallies.
    pub fn merge(window: &Window, tallies: Vec<Tally>) -> Self {
        let mut lat: Vec<u32> = Vec::new();
        let (mut ok, mut errors, mut first_error) = (0, 0, None);
        for t in tallies {
            ok += t.ok;
            errors += t.errors;
            if first_error.is_none() {
                first_error = t.first_error;
            }
            lat.extend(t.latencies_us);
        }
        lat.sort_unstable();
        let pct = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
            f64::from(lat[i]) / 1000.0
        };
        let secs = window.elapsed_for_rate().as_secs_f64().max(1e-9);
        Outcome {
            per_second: ok as f64 / secs,
            ok,
            errors,
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            first_error,
            seconds: secs,
        }
    }

    /// Several rounds of the same side as one: total successes over total
    /// counted time; the median of the rounds' medians and the worst p99.
    pub fn combine(rounds: &[Outcome]) -> Option<Outcome> {
        let first = rounds.first()?;
        let ok: u64 = rounds.iter().map(|o| o.ok).sum();
        let seconds: f64 = rounds.iter().map(|o| o.seconds).sum();
        let mut p50s: Vec<f64> = rounds.iter().map(|o| o.p50_ms).collect();
        p50s.sort_by(f64::total_cmp);
        Some(Outcome {
            per_second: ok as f64 / seconds.max(1e-9),
            ok,
            errors: rounds.iter().map(|o| o.errors).sum(),
            p50_ms: p50s[p50s.len() / 2],
            p99_ms: rounds.iter().map(|o| o.p99_ms).fold(0.0, f64::max),
            first_error: rounds.iter().find_map(|o| o.first_error.clone()).or_else(|| first.first_error.clone()),
            seconds,
        })
    }

    /// One line for the console.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{:>9.1} /s  ({} ok, {} errors, p50 {:.2} ms, p99 {:.2} ms)",
            self.per_second, self.ok, self.errors, self.p50_ms, self.p99_ms
        );
        if let Some(e) = &self.first_error {
            s.push_str(&format!("\n             first error: {e}"));
        }
        s
    }
}

/// A small per-client random stream (xorshift), so choosing a SKU costs
/// nothing and needs no shared state.
pub struct Pick(u64);

impl Pick {
    /// A stream for client `i`.
    pub fn new(i: usize) -> Self {
        Pick(0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9)))
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_only_inside_the_measured_part() {
        let plan = Plan { warmup: Duration::from_millis(30), measure: Duration::from_millis(30), max_ops: None };
        let w = Window::start(plan);
        let mut t = Tally::default();
        w.record(Instant::now(), Ok(()), &mut t);
        assert_eq!(t.ok, 0, "warm-up must not count");
        std::thread::sleep(Duration::from_millis(35));
        w.record(Instant::now(), Ok(()), &mut t);
        w.record(Instant::now(), Err("x".into()), &mut t);
        assert_eq!((t.ok, t.errors), (1, 1));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!w.running());
        w.record(Instant::now(), Ok(()), &mut t);
        assert_eq!(t.ok, 1, "after the window nothing counts");
        let o = Outcome::merge(&w, vec![t]);
        assert!((o.per_second - 1.0 / 0.03).abs() < 1.0, "{}", o.per_second);
        assert_eq!(o.first_error.as_deref(), Some("x"));
    }

    #[test]
    fn rounds_combine_into_one_rate() {
        let o = |ok: u64, seconds: f64, p99: f64| Outcome {
            per_second: ok as f64 / seconds,
            ok,
            errors: 0,
            p50_ms: 1.0,
            p99_ms: p99,
            first_error: None,
            seconds,
        };
        let c = Outcome::combine(&[o(100, 1.0, 2.0), o(300, 2.0, 5.0)]).unwrap();
        assert_eq!(c.ok, 400);
        assert!((c.per_second - 400.0 / 3.0).abs() < 1e-9);
        assert_eq!(c.p99_ms, 5.0);
        assert!(Outcome::combine(&[]).is_none());
    }

    #[test]
    fn max_ops_stops_the_run() {
        let w = Window::start(Plan::timed(60.0, Some(3)));
        let mut t = Tally::default();
        for _ in 0..3 {
            assert!(w.running());
            w.record(Instant::now(), Ok(()), &mut t);
        }
        assert!(!w.running());
    }

    #[test]
    fn pick_stays_in_range_and_varies() {
        let mut p = Pick::new(0);
        let seen: std::collections::HashSet<usize> = (0..1000).map(|_| p.below(10)).collect();
        assert_eq!(seen.len(), 10);
        assert!(seen.iter().all(|&x| x < 10));
    }
}
