//! Summary statistics of repeated measurements.

use std::time::Duration;

/// The median and the minimum of a set of durations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    pub median: Duration,
    pub min: Duration,
}

impl Summary {
    /// Summarizes `samples`; `None` when there are none.
    pub(crate) fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let min = *sorted.first()?;
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2
        };
        Some(Summary { median, min })
    }
}

/// The `q` quantile (0 to 1) of `sorted`, ascending: the sample at rank
/// `round((n - 1) q)`. `None` without samples.
pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get((last as f64 * q).round() as usize).copied()
}

/// `value / baseline` as a float.
pub(crate) fn ratio(value: Duration, baseline: Duration) -> f64 {
    value.as_secs_f64() / baseline.as_secs_f64()
}

/// The geometric mean of positive `values`; `None` when there are none.
pub(crate) fn geomean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values
        .into_iter()
        .fold((0.0, 0usize), |(sum, count), v| (sum + v.ln(), count + 1));
    (count > 0).then(|| (sum / count as f64).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        let odd = Summary::of(&ms(&[5, 1, 3])).expect("samples");
        assert_eq!(
            (odd.median, odd.min),
            (Duration::from_millis(3), Duration::from_millis(1))
        );
        let even = Summary::of(&ms(&[4, 1, 2, 3])).expect("samples");
        assert_eq!(even.median, Duration::from_micros(2500));
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn quantiles_by_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let q = |q| quantile(&sorted, q).expect("samples");
        assert_eq!(
            (q(0.0), q(0.5), q(0.99), q(1.0)),
            (
                Duration::from_millis(1),
                Duration::from_millis(51),
                Duration::from_millis(99),
                Duration::from_millis(100)
            )
        );
        assert!(quantile(&[], 0.5).is_none());
    }

    #[test]
    fn geomean_of_ratios() {
        let g = geomean([2.0, 8.0]).expect("values");
        assert!((g - 4.0).abs() < 1e-12);
        assert!(geomean([]).is_none());
    }
}
