//! What the scheduler reports: per task, per owner, counters and the slice
//! length histograms.

use std::time::{Duration, Instant};

use crate::TaskId;

/// Where a task is in its life, as reported by [`TaskStats::state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// In the run queue, waiting for a worker.
    Runnable,
    /// A worker is running one of its slices.
    Running,
    /// Waiting for a time or a wake-up; costs no CPU.
    Parked,
    /// Paused by [`Scheduler::pause`](crate::Scheduler::pause); it does not
    /// run until resumed (a wake-up that arrives meanwhile is kept).
    Paused,
    /// A worker is hibernating it ([`Task::hibernate`](crate::Task::hibernate)).
    Hibernating,
}

/// A task's accounting, from [`Scheduler::stats`](crate::Scheduler::stats).
#[derive(Clone, Debug)]
pub struct TaskStats {
    /// The task's id.
    pub id: TaskId,
    /// The name of its owner.
    pub owner: String,
    /// Its weight within the owner.
    pub weight: u32,
    /// Where it is now.
    pub state: TaskState,
    /// The CPU time it used (the worker threads' CPU clock around its slices
    /// and hibernations).
    pub cpu: Duration,
    /// The fuel it reported using.
    pub fuel: u64,
    /// Its decayed usage: CPU seconds per second, averaged with exponential
    /// decay over [`Config::usage_window`](crate::Config::usage_window)
    /// (1.0 is one core all the time).
    pub usage: f64,
    /// How many slices it ran.
    pub slices: u64,
    /// Its measured fuel rate, in fuel per CPU second (`None` before the
    /// first measured slice).
    pub fuel_rate: Option<f64>,
    /// Whether it is hibernated (as the task reported after its last slice
    /// or hibernation).
    pub hibernated: bool,
    /// The memory it holds, as the task reported after its last slice or
    /// hibernation.
    pub memory_bytes: u64,
}

/// An owner's accounting, from [`Scheduler::owners`](crate::Scheduler::owners).
#[derive(Clone, Debug)]
pub struct OwnerStats {
    /// The owner's name.
    pub name: String,
    /// Its weight among owners.
    pub weight: u32,
    /// The CPU time its tasks used, including tasks that are gone.
    pub cpu: Duration,
    /// The fuel its tasks used, including tasks that are gone.
    pub fuel: u64,
    /// Its decayed usage (see [`TaskStats::usage`]).
    pub usage: f64,
    /// How many live tasks it has.
    pub tasks: usize,
    /// How many of them are runnable or running.
    pub runnable: usize,
}

/// Scheduler-wide counters, from [`Scheduler::counters`](crate::Scheduler::counters).
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Slices run.
    pub slices: u64,
    /// Slices ended by the deadline interrupt (the timer fired before the
    /// slice reported).
    pub deadline_interrupts: u64,
    /// Times a spare worker started serving the queue because others were
    /// stuck in [`blocking`](crate::blocking).
    pub spares_started: u64,
    /// Spare workers serving the queue now.
    pub spares_active: usize,
    /// Successful hibernations.
    pub hibernations: u64,
    /// Hibernations that returned an error.
    pub hibernate_failures: u64,
    /// Slices whose `run` panicked.
    pub panics: u64,
}

/// The distribution of slice lengths since the scheduler started (or since
/// [`Scheduler::reset_slice_lengths`](crate::Scheduler::reset_slice_lengths)).
#[derive(Clone, Debug, Default)]
pub struct SliceLengths {
    /// The CPU time of each slice (what is accounted).
    pub cpu: Histogram,
    /// The wall time of each slice (what other tasks wait for).
    pub wall: Histogram,
}

/// Sub-buckets per power of two: 4 gives buckets about 19 % wide.
const SUBS: u32 = 4;
/// Buckets: from 1 µs to 2^26 µs (about 67 s); shorter and longer values go
/// to the first and last bucket.
const BUCKETS: usize = (26 * SUBS) as usize + 1;

/// A histogram of durations with logarithmic buckets (four per power of two,
/// from 1 µs up), plus exact count, sum, min and max.
#[derive(Clone, Debug)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    sum: Duration,
    min: Duration,
    max: Duration,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; BUCKETS],
            count: 0,
            sum: Duration::ZERO,
            min: Duration::MAX,
            max: Duration::ZERO,
        }
    }
}

impl Histogram {
    /// Adds one value.
    pub fn record(&mut self, value: Duration) {
        self.buckets[Self::bucket(value)] += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    fn bucket(value: Duration) -> usize {
        let micros = value.as_secs_f64() * 1e6;
        if micros < 1.0 {
            return 0;
        }
        let index = (micros.log2() * f64::from(SUBS)) as usize + 1;
        index.min(BUCKETS - 1)
    }

    /// The lower bound of bucket `index` (0 for the first).
    fn lower(index: usize) -> Duration {
        if index == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(2f64.powf((index - 1) as f64 / f64::from(SUBS)) * 1e-6)
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of the values.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// The mean, or zero when empty.
    pub fn mean(&self) -> Duration {
        match u32::try_from(self.count) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.sum / n,
            Err(_) => Duration::from_secs_f64(self.sum.as_secs_f64() / self.count as f64),
        }
    }

    /// The smallest value, or zero when empty.
    pub fn min(&self) -> Duration {
        if self.count == 0 {
            Duration::ZERO
        } else {
            self.min
        }
    }

    /// The largest value, or zero when empty.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// An estimate of the `q` quantile (`q` in 0..=1): the upper bound of the
    /// bucket that holds it, clamped to the exact min and max. Zero when
    /// empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::lower(index + 1).clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// The non-empty buckets: `(lower bound, upper bound, count)`.
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, Duration, u64)> + '_ {
        self.buckets
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(index, &n)| (Self::lower(index), Self::lower(index + 1), n))
    }
}

/// A decayed CPU usage score: CPU seconds accumulated with exponential decay
/// (time constant `window`), read as CPU seconds per second.
#[derive(Clone, Debug)]
pub(crate) struct Usage {
    /// Decayed CPU seconds as of `at`.
    seconds: f64,
    at: Instant,
}

impl Usage {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            seconds: 0.0,
            at: now,
        }
    }

    fn decayed(&self, now: Instant, window: Duration) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.seconds * (-elapsed / window.as_secs_f64()).exp()
    }

    /// Adds `cpu` used up to `now`.
    pub(crate) fn add(&mut self, cpu: Duration, now: Instant, window: Duration) {
        self.seconds = self.decayed(now, window) + cpu.as_secs_f64();
        self.at = self.at.max(now);
    }

    /// CPU seconds per second at `now`: 1.0 for a task that has used one core
    /// for much longer than `window`.
    pub(crate) fn rate(&self, now: Instant, window: Duration) -> f64 {
        self.decayed(now, window) / window.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_fall_in_the_right_bucket() {
        let mut h = Histogram::default();
        for _ in 0..90 {
            h.record(Duration::from_millis(10));
        }
        for _ in 0..10 {
            h.record(Duration::from_millis(100));
        }
        let p50 = h.quantile(0.5);
        assert!(p50 >= Duration::from_millis(10) && p50 <= Duration::from_millis(12));
        assert_eq!(h.quantile(1.0), Duration::from_millis(100));
        assert_eq!(h.count(), 100);
        assert_eq!(h.min(), Duration::from_millis(10));
        assert_eq!(h.buckets().map(|b| b.2).sum::<u64>(), 100);
        for (lo, hi, _) in h.buckets() {
            assert!(lo < hi);
        }
    }

    #[test]
    fn usage_of_a_full_core_tends_to_one() {
        let window = Duration::from_secs(10);
        let start = Instant::now();
        let mut usage = Usage::new(start);
        for ms in 1..=100_000u64 {
            // One core for 100 s, reported every millisecond.
            usage.add(
                Duration::from_millis(1),
                start + Duration::from_millis(ms),
                window,
            );
        }
        let rate = usage.rate(start + Duration::from_secs(100), window);
        assert!((rate - 1.0).abs() < 0.01, "{rate}");
        // Ten seconds later it has decayed by e.
        let later = usage.rate(start + Duration::from_secs(110), window);
        assert!((later - rate / std::f64::consts::E).abs() < 0.01, "{later}");
    }
}
