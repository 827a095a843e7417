//! Verification: every kernel's output is checked against a float64 reference before its timing
//! counts.
//!
//! The error of an output element is normwise: `|got − ref| / Σ|terms|`, the reference's
//! absolute sum (for matmul `Σ_k |a_ik·b_kj|`; for attention `Σ_j p_ij·|v_jc|`). Unlike
//! `|got − ref| / |ref|` it stays meaningful when random inputs cancel to a result near zero, and
//! it is the quantity floating-point error bounds are stated in (Higham, *Accuracy and Stability
//! of Numerical Algorithms*, §3.5). Small problems are checked in full; large ones at
//! deterministic pseudo-random sampled entries (always including the corners).

use crate::stats::SplitMix64;
use serde::{Deserialize, Serialize};

/// The outcome of checking a kernel's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Whether every checked element was within tolerance.
    pub passed: bool,
    /// The largest normwise relative error seen.
    #[serde(with = "crate::float")]
    pub max_rel_error: f64,
    /// The tolerance the error was held to.
    #[serde(with = "crate::float")]
    pub tolerance: f64,
    /// Elements checked.
    pub checked: u64,
    /// Elements in the output.
    pub total: u64,
    /// What the output was checked against.
    pub reference: String,
    /// Where the first failure was, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
}

impl Verification {
    /// No check has run yet: not passed, nothing checked.
    pub fn not_run() -> Self {
        Self {
            passed: false,
            max_rel_error: f64::NAN,
            tolerance: 0.0,
            checked: 0,
            total: 0,
            reference: String::new(),
            first_failure: None,
        }
    }

    /// Whether the check covered every element.
    pub fn is_full(&self) -> bool {
        self.checked == self.total
    }

    /// The check of a copy: exact, word for word; `first_bad` is the first word that differs.
    pub fn exact_copy(first_bad: Option<usize>, total: u64) -> Self {
        Self {
            passed: first_bad.is_none() && total > 0,
            max_rel_error: if first_bad.is_some() { 1.0 } else { 0.0 },
            tolerance: 0.0,
            checked: total,
            total,
            reference: "the source buffer, word for word".into(),
            first_failure: first_bad.map(|i| format!("word {i} differs from the source")),
        }
    }

    /// `failed verification against …: max error … > tolerance … (first at …)`.
    pub fn failure_summary(&self) -> String {
        format!(
            "failed verification against {}: max error {:.3e} > tolerance {:.0e}{}",
            self.reference,
            self.max_rel_error,
            self.tolerance,
            self.first_failure
                .as_ref()
                .map(|f| format!(" (first at {f})"))
                .unwrap_or_default()
        )
    }

    /// `all 65536 entries` or `256 of 1048576 entries (sampled)`.
    pub fn coverage(&self) -> String {
        if self.is_full() {
            format!("all {} entries", self.checked)
        } else {
            format!("{} of {} entries (sampled)", self.checked, self.total)
        }
    }
}

/// Accumulates element errors into a [`Verification`].
#[derive(Debug)]
pub struct Checker {
    tolerance: f64,
    max: f64,
    checked: u64,
    first_failure: Option<String>,
}

impl Checker {
    /// A checker that fails any element whose normwise error exceeds `tolerance`.
    pub fn new(tolerance: f64) -> Self {
        Self {
            tolerance,
            max: 0.0,
            checked: 0,
            first_failure: None,
        }
    }

    /// Checks one element: `got` against `reference`, scaled by the absolute sum `scale`.
    pub fn check(&mut self, got: f64, reference: f64, scale: f64, at: impl FnOnce() -> String) {
        let err = normwise_error(got, reference, scale);
        self.checked += 1;
        if err > self.max || err.is_nan() {
            self.max = if err.is_nan() { f64::INFINITY } else { err };
        }
        let within = err <= self.tolerance; // false for NaN
        if !within && self.first_failure.is_none() {
            self.first_failure = Some(format!("{}: got {got}, expected {reference}", at()));
        }
    }

    /// The verdict over `total` output elements, against `reference`.
    pub fn finish(self, total: u64, reference: &str) -> Verification {
        Verification {
            passed: self.first_failure.is_none() && self.checked > 0,
            max_rel_error: self.max,
            tolerance: self.tolerance,
            checked: self.checked,
            total,
            reference: reference.to_string(),
            first_failure: self.first_failure,
        }
    }
}

/// `|got − reference| / scale`, with `scale` floored so an all-zero row does not divide by zero.
pub fn normwise_error(got: f64, reference: f64, scale: f64) -> f64 {
    (got - reference).abs() / scale.max(f64::MIN_POSITIVE)
}

/// Indices to check among `total` outputs: all of them when `total ≤ full_limit`, else
/// `samples` pseudo-random ones plus the first and last.
pub fn sample_indices(total: u64, full_limit: u64, samples: u64, seed: u64) -> Vec<u64> {
    if total <= full_limit {
        return (0..total).collect();
    }
    let mut rng = SplitMix64::new(seed);
    let mut idx: Vec<u64> = (0..samples).map(|_| rng.below(total)).collect();
    idx.push(0);
    idx.push(total - 1);
    idx.sort_unstable();
    idx.dedup();
    idx
}

/// Checks a row-major `m×n` product `c = a·b` (`a` m×k, `b` k×n) against a float64 reference.
/// Full when `m·n·k ≤ 2²⁴` multiply-adds, else 256 sampled entries.
pub fn check_matmul<T: Copy + Into<f64>>(
    a: &[T],
    b: &[T],
    c: &[T],
    (m, n, k): (usize, usize, usize),
    tolerance: f64,
) -> Verification {
    let total = (m * n) as u64;
    let full_limit = (1u64 << 24) / (k as u64).max(1);
    let mut checker = Checker::new(tolerance);
    for idx in sample_indices(total, full_limit, 256, 0x6d61_746d_756c) {
        let (i, j) = ((idx / n as u64) as usize, (idx % n as u64) as usize);
        let (mut sum, mut abs) = (0.0f64, 0.0f64);
        for p in 0..k {
            let t = a[i * k + p].into() * b[p * n + j].into();
            sum += t;
            abs += t.abs();
        }
        checker.check(c[i * n + j].into(), sum, abs, || format!("C[{i}][{j}]"));
    }
    checker.finish(total, "float64 dot products")
}

/// Attention tensors laid out `[b][h][s][d]`, row-major.
#[derive(Debug, Clone, Copy)]
pub struct AttentionDims {
    /// Batch.
    pub b: usize,
    /// Heads.
    pub h: usize,
    /// Sequence length.
    pub s: usize,
    /// Head dimension.
    pub d: usize,
    /// Causal mask.
    pub causal: bool,
}

impl AttentionDims {
    /// The benchmark shape these dimensions describe.
    pub fn shape(&self) -> super::Shape {
        super::Shape::Attention {
            b: self.b as u64,
            h: self.h as u64,
            s: self.s as u64,
            d: self.d as u64,
            causal: self.causal,
            backward: false,
        }
    }
}

/// Checks an attention output `o` against a float64 naive softmax(Q·Kᵀ/√d)·V. Every row when
/// `b·h·s²·d ≤ 2²⁶`, else 256 sampled query rows (each checked in full).
pub fn check_attention<T: Copy + Into<f64>>(
    q: &[T],
    k: &[T],
    v: &[T],
    o: &[T],
    dims: AttentionDims,
    tolerance: f64,
) -> Verification {
    let AttentionDims { b, h, s, d, causal } = dims;
    let rows = (b * h * s) as u64;
    let full_limit = (1u64 << 26) / (s as u64 * d as u64).max(1);
    let scale = 1.0 / (d as f64).sqrt();
    let mut checker = Checker::new(tolerance);
    let mut p = vec![0.0f64; s];
    for row in sample_indices(rows, full_limit, 256, 0x6174_746e) {
        let row = row as usize;
        let (bh, qi) = (row / s, row % s);
        let base = bh * s * d;
        let keys = if causal { qi + 1 } else { s };
        let qrow = &q[base + qi * d..base + (qi + 1) * d];
        let mut max = f64::NEG_INFINITY;
        for (j, pj) in p.iter_mut().enumerate().take(keys) {
            let krow = &k[base + j * d..base + (j + 1) * d];
            let dot: f64 = qrow
                .iter()
                .zip(krow)
                .map(|(&x, &y)| x.into() * y.into())
                .sum();
            *pj = dot * scale;
            max = max.max(*pj);
        }
        let mut denom = 0.0;
        for pj in p.iter_mut().take(keys) {
            *pj = (*pj - max).exp();
            denom += *pj;
        }
        for c in 0..d {
            let (mut sum, mut abs) = (0.0f64, 0.0f64);
            for (j, pj) in p.iter().enumerate().take(keys) {
                let t = pj / denom * v[base + j * d + c].into();
                sum += t;
                abs += t.abs();
            }
            let got = o[base + qi * d + c].into();
            checker.check(got, sum, abs, || {
                format!("O[b={}][h={}][s={qi}][d={c}]", bh / h, bh % h)
            });
        }
    }
    let mut v = checker.finish(rows * d as u64, "float64 naive softmax(QKᵀ/√d)·V");
    // Count coverage in elements, so a sampled check reads "N of M entries".
    if rows <= full_limit {
        v.total = v.checked;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_matmul(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        (0..len).map(|_| rng.next_signed() as f32).collect()
    }

    #[test]
    fn correct_matmul_passes_and_corrupted_fails() {
        let (m, n, k) = (33, 17, 65);
        let (a, b) = (random(m * k, 1), random(k * n, 2));
        let mut c = naive_matmul(&a, &b, m, n, k);
        let ok = check_matmul(&a, &b, &c, (m, n, k), 1e-5);
        assert!(ok.passed, "{ok:?}");
        assert!(ok.is_full());
        assert!(ok.max_rel_error < 1e-6);
        c[5 * n + 3] += 0.01;
        let bad = check_matmul(&a, &b, &c, (m, n, k), 1e-5);
        assert!(!bad.passed);
        assert_eq!(
            bad.first_failure.as_deref().unwrap().split(':').next(),
            Some("C[5][3]")
        );
    }

    #[test]
    fn nan_fails() {
        let (a, b) = (vec![1.0f32; 4], vec![1.0f32; 4]);
        let c = vec![2.0, f32::NAN, 2.0, 2.0];
        assert!(!check_matmul(&a, &b, &c, (2, 2, 2), 1e-5).passed);
    }

    #[test]
    fn large_outputs_are_sampled_with_corners() {
        let idx = sample_indices(1 << 30, 1 << 20, 256, 7);
        assert!(idx.len() <= 258 && idx.len() > 200);
        assert_eq!(idx[0], 0);
        assert_eq!(*idx.last().unwrap(), (1 << 30) - 1);
        assert_eq!(sample_indices(10, 100, 5, 7), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn random_values_are_exact_in_f32_and_in_range() {
        let mut rng = SplitMix64::new(3);
        for _ in 0..10_000 {
            let x = rng.next_signed();
            assert!((-1.0..1.0).contains(&x));
            assert_eq!(x as f32 as f64, x);
        }
    }

    #[test]
    fn uniform_attention_averages_values() {
        // With Q = 0 every score is equal, so each output row is the mean of V's rows (non-causal)
        // or of the rows up to the query (causal).
        let dims = AttentionDims {
            b: 1,
            h: 1,
            s: 4,
            d: 2,
            causal: true,
        };
        let q = vec![0.0f32; 8];
        let k = random(8, 4);
        let v: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let o = vec![1.0f32, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0];
        let r = check_attention(&q, &k, &v, &o, dims, 1e-6);
        assert!(r.passed, "{r:?}");
        let r = check_attention(
            &q,
            &k,
            &v,
            &o,
            AttentionDims {
                causal: false,
                ..dims
            },
            1e-6,
        );
        assert!(!r.passed);
    }
}
