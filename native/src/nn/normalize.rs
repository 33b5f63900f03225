//! The network's input normalization, mirrored line by line from
//! `scripts/train/data.py::normalize` (the model card states the same formula):
//! out = (x − q(50)) / max(q(99.5) − q(0.5), eps), type-7 quantiles over the whole image.

use crate::nn::card::Normalization;

/// Type-7 (numpy default) quantiles of all values, for percentiles in 0..=100.
///
/// Uses selection instead of a full sort: only v[i] and v[i+1] are needed per
/// percentile, which keeps an 8k × 8k image well under a second.
pub fn quantiles(values: &[f32], percentiles: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n == 0 {
        return vec![0.0; percentiles.len()];
    }
    let mut v: Vec<f32> = values.to_vec();
    percentiles
        .iter()
        .map(|&p| {
            let h = (n - 1) as f64 * p / 100.0;
            let i = h.floor() as usize;
            let j = (i + 1).min(n - 1);
            let (_, vi, right) = v.select_nth_unstable_by(i, f32::total_cmp);
            let vi = *vi as f64;
            let vj = if j == i {
                vi
            } else {
                right.iter().copied().fold(f32::INFINITY, f32::min) as f64
            };
            vi + (h - i as f64) * (vj - vi)
        })
        .collect()
}

/// Normalizes an image as the network was trained to see it.
pub fn normalize(values: &[f32], norm: &Normalization) -> Vec<f32> {
    let q = quantiles(
        values,
        &[
            norm.low_percentile,
            norm.center_percentile,
            norm.high_percentile,
        ],
    );
    let spread = (q[2] - q[0]).max(norm.eps);
    values
        .iter()
        .map(|&x| ((x as f64 - q[1]) / spread) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_type7() {
        // numpy.percentile([3, 1, 4, 1, 5, 9, 2, 6], [0.5, 50, 99.5]) = [1.0, 3.5, 8.895]
        let q = quantiles(&[3., 1., 4., 1., 5., 9., 2., 6.], &[0.5, 50.0, 99.5]);
        assert!((q[0] - 1.0).abs() < 1e-12);
        assert!((q[1] - 3.5).abs() < 1e-12);
        assert!((q[2] - 8.895).abs() < 1e-9, "{}", q[2]);
    }
}
