//! Statistics of a sample of timings.
//!
//! - Percentiles (median, p10, p90, quartiles) interpolate linearly between order statistics
//!   (Hyndman & Fan type 7, the default of NumPy and R).
//! - CV is the sample standard deviation (n − 1) over the mean.
//! - The 95% confidence interval of the median is a percentile bootstrap: 2,000 resamples with
//!   replacement, the 2.5th and 97.5th percentiles of their medians (Efron & Tibshirani, *An
//!   Introduction to the Bootstrap*, ch. 13). The generator is seeded, so the same samples give
//!   the same interval.
//! - Outliers are counted with Tukey's fences (beyond 1.5 IQR from the quartiles), as hyperfine
//!   and criterion do; they are counted, never dropped.

use serde::{Deserialize, Serialize};

/// Resamples drawn for the bootstrap interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// Summary statistics of a timing sample, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of samples.
    pub n: usize,
    /// Median.
    #[serde(with = "crate::float")]
    pub median: f64,
    /// Arithmetic mean.
    #[serde(with = "crate::float")]
    pub mean: f64,
    /// Fastest sample.
    #[serde(with = "crate::float")]
    pub min: f64,
    /// Slowest sample.
    #[serde(with = "crate::float")]
    pub max: f64,
    /// 10th percentile.
    #[serde(with = "crate::float")]
    pub p10: f64,
    /// 90th percentile.
    #[serde(with = "crate::float")]
    pub p90: f64,
    /// Sample standard deviation.
    #[serde(with = "crate::float")]
    pub stddev: f64,
    /// Coefficient of variation: stddev / mean.
    #[serde(with = "crate::float")]
    pub cv: f64,
    /// 95% bootstrap confidence interval of the median: [low, high].
    #[serde(with = "crate::float::pair")]
    pub median_ci95: [f64; 2],
    /// Samples beyond Tukey's fences (1.5 IQR outside the quartiles).
    pub outliers: usize,
}

/// Percentile `q` in [0, 1] of sorted data, interpolating linearly (type 7).
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of an empty sample");
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn median_of_sorted(sorted: &[f64]) -> f64 {
    percentile_sorted(sorted, 0.5)
}

/// Summarises `samples`; `None` when there are none or any is not a finite number.
pub fn summarize(samples: &[f64]) -> Option<Stats> {
    if samples.is_empty() || samples.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let stddev = var.sqrt();
    let (q1, q3) = (
        percentile_sorted(&sorted, 0.25),
        percentile_sorted(&sorted, 0.75),
    );
    let iqr = q3 - q1;
    let outliers = sorted
        .iter()
        .filter(|&&x| x < q1 - 1.5 * iqr || x > q3 + 1.5 * iqr)
        .count();
    Some(Stats {
        n,
        median: median_of_sorted(&sorted),
        mean,
        min: sorted[0],
        max: sorted[n - 1],
        p10: percentile_sorted(&sorted, 0.1),
        p90: percentile_sorted(&sorted, 0.9),
        stddev,
        cv: if mean > 0.0 { stddev / mean } else { 0.0 },
        median_ci95: bootstrap_median_ci(&sorted, BOOTSTRAP_RESAMPLES, 0x5eed),
        outliers,
    })
}

/// Percentile-bootstrap 95% interval of the median of `samples`.
pub fn bootstrap_median_ci(samples: &[f64], resamples: usize, seed: u64) -> [f64; 2] {
    let n = samples.len();
    if n < 2 {
        return [samples[0], samples[0]];
    }
    let mut rng = SplitMix64::new(seed);
    let mut scratch = vec![0.0; n];
    let mut medians: Vec<f64> = (0..resamples)
        .map(|_| {
            for x in scratch.iter_mut() {
                *x = samples[rng.below(n as u64) as usize];
            }
            scratch.sort_by(f64::total_cmp);
            median_of_sorted(&scratch)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    [
        percentile_sorted(&medians, 0.025),
        percentile_sorted(&medians, 0.975),
    ]
}

/// SplitMix64: a small deterministic generator for inputs and sample positions.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed; the same seed gives the same sequence on every machine.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1), on a 2⁻²³ grid so it is exact in f32 and f64 alike.
    pub fn next_signed(&mut self) -> f64 {
        let bits = (self.next_u64() >> 40) as i64; // 24 bits
        (bits - (1 << 23)) as f64 / (1u64 << 23) as f64
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear() {
        let data = [1.0, 2.0, 3.0, 4.0, 10.0];
        // numpy.percentile([1,2,3,4,10], [10, 50, 90]) == [1.4, 3.0, 7.6]
        assert!((percentile_sorted(&data, 0.1) - 1.4).abs() < 1e-12);
        assert_eq!(percentile_sorted(&data, 0.5), 3.0);
        assert!((percentile_sorted(&data, 0.9) - 7.6).abs() < 1e-12);
        assert_eq!(percentile_sorted(&[1.0, 2.0], 0.5), 1.5);
    }

    #[test]
    fn summary_of_known_sample() {
        let s = summarize(&[4.0, 1.0, 3.0, 2.0, 10.0]).unwrap();
        assert_eq!(s.n, 5);
        assert_eq!(s.median, 3.0);
        assert_eq!(s.mean, 4.0);
        assert_eq!((s.min, s.max), (1.0, 10.0));
        // sample variance = (9+4+1+0+36)/4 = 12.5
        assert!((s.stddev - 12.5f64.sqrt()).abs() < 1e-12);
        assert!((s.cv - 12.5f64.sqrt() / 4.0).abs() < 1e-12);
        // quartiles 2 and 4, fences -1 and 7: 10 is the one outlier.
        assert_eq!(s.outliers, 1);
    }

    #[test]
    fn ci_brackets_the_median_and_is_deterministic() {
        let mut rng = SplitMix64::new(9);
        let xs: Vec<f64> = (0..101).map(|_| 1.0 + 0.1 * rng.next_signed()).collect();
        let s = summarize(&xs).unwrap();
        assert!(s.median_ci95[0] <= s.median && s.median <= s.median_ci95[1]);
        assert!(s.median_ci95[1] - s.median_ci95[0] < 0.1);
        assert_eq!(summarize(&xs).unwrap().median_ci95, s.median_ci95);
    }

    #[test]
    fn constant_and_single_samples() {
        let s = summarize(&[2.0; 7]).unwrap();
        assert_eq!((s.cv, s.median_ci95, s.outliers), (0.0, [2.0, 2.0], 0));
        let one = summarize(&[5.0]).unwrap();
        assert_eq!(
            (one.median, one.stddev, one.median_ci95),
            (5.0, 0.0, [5.0, 5.0])
        );
    }

    #[test]
    fn rejects_empty_and_non_finite() {
        assert!(summarize(&[]).is_none());
        assert!(summarize(&[1.0, f64::NAN]).is_none());
    }
}
