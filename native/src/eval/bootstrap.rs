//! 95 % intervals of the headline scores by resampling images.

use std::collections::BTreeMap;

use super::tally::*;

/// Resamples for the score intervals.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// Percentile intervals (2.5 %, 97.5 %) of F1 for every point class, and of precision,
/// recall and RMSE for atoms, over `resamples` draws of the images with replacement.
pub(super) fn bootstrap(
    per_image: &[([(&'static str, PointCounts); 7], DensityCounts)],
    resamples: usize,
    seed: u64,
) -> BTreeMap<String, [f64; 2]> {
    use rand::{Rng, SeedableRng};
    let mut out = BTreeMap::new();
    if per_image.len() < 2 {
        return out;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut draws: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for _ in 0..resamples {
        let mut sum = per_image[0]
            .0
            .map(|(name, _)| (name, PointCounts::default()));
        let mut density = DensityCounts::default();
        for _ in 0..per_image.len() {
            let (t, d) = &per_image[rng.gen_range(0..per_image.len())];
            for ((_, s), (_, c)) in sum.iter_mut().zip(t) {
                s.add(c);
            }
            density.add(d);
        }
        let (vs1, vs2) = density.ratios();
        for (name, r) in [("vs1_density_ratio", vs1), ("vs2_density_ratio", vs2)] {
            if r.is_finite() {
                draws.entry(name.into()).or_default().push(r);
            }
        }
        for (name, c) in &sum {
            let sc = c.scores();
            draws.entry(format!("{name}_f1")).or_default().push(sc.f1);
            if *name == "atoms" {
                draws
                    .entry("atoms_precision".into())
                    .or_default()
                    .push(sc.precision);
                draws
                    .entry("atoms_recall".into())
                    .or_default()
                    .push(sc.recall);
                draws
                    .entry("atoms_rmse_pm".into())
                    .or_default()
                    .push(sc.rmse_pm);
            }
        }
    }
    for (name, mut v) in draws {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
        out.insert(name, [at(0.025), at(0.975)]);
    }
    out
}
