//! One-to-one matching of found points to true ones within a radius (SCIENCE.md §4),
//! with a guard band at the edges of the scored area.

use crate::math::neighbors::NeighborGrid;

/// Match radius for columns and vacancies (SCIENCE.md §4).
pub const MATCH_RADIUS_A: f64 = 0.7;

/// Greedy one-to-one matching by distance; returns (tp, fp, fn, Σ d², matched pairs).
pub(super) fn match_points(
    pred: &[(f64, f64)],
    truth: &[(f64, f64)],
    radius: f64,
) -> (usize, usize, usize, f64, Vec<(usize, usize)>) {
    let grid = NeighborGrid::from_points(truth.iter().copied(), radius);
    let mut pairs: Vec<(f64, usize, usize)> = pred
        .iter()
        .enumerate()
        .flat_map(|(i, p)| grid.within(p.0, p.1).map(move |(j, d2)| (d2, i, j)))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut used_p, mut used_t) = (vec![false; pred.len()], vec![false; truth.len()]);
    let mut matched = Vec::new();
    let mut sq = 0.0;
    for (d2, i, j) in pairs {
        if !used_p[i] && !used_t[j] {
            used_p[i] = true;
            used_t[j] = true;
            sq += d2;
            matched.push((i, j));
        }
    }
    let tp = matched.len();
    (tp, pred.len() - tp, truth.len() - tp, sq, matched)
}

/// Matches every find against every truth (as `match_points`), then scores only what
/// lies in `scope`: a pair counts when its truth is in scope, a miss when an unmatched
/// truth is, a false find when an unmatched find is. A find just outside the scope that
/// matches a truth just inside it is a hit, and a find just inside matching a truth
/// just outside is neither. Returns (tp, fp, fn, Σ d², Σ dx²) in pixels.
pub(super) fn match_in_scope(
    pred: &[(f64, f64)],
    truth: &[(f64, f64)],
    radius: f64,
    scope: impl Fn(f64, f64) -> bool,
) -> (usize, usize, usize, f64, f64) {
    let (_, _, _, _, matched) = match_points(pred, truth, radius);
    let (mut hit_p, mut hit_t) = (vec![false; pred.len()], vec![false; truth.len()]);
    let (mut tp, mut sq, mut sq_x) = (0, 0.0, 0.0);
    for &(i, j) in &matched {
        hit_p[i] = true;
        hit_t[j] = true;
        let (p, t) = (pred[i], truth[j]);
        if scope(t.0, t.1) {
            tp += 1;
            sq += (p.0 - t.0).powi(2) + (p.1 - t.1).powi(2);
            sq_x += (p.0 - t.0).powi(2);
        }
    }
    let fn_ = (0..truth.len())
        .filter(|&j| !hit_t[j] && scope(truth[j].0, truth[j].1))
        .count();
    let fp = (0..pred.len())
        .filter(|&i| !hit_p[i] && scope(pred[i].0, pred[i].1))
        .count();
    (tp, fp, fn_, sq, sq_x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_matching_is_one_to_one() {
        let pred = [(0.0, 0.0), (0.3, 0.0), (10.0, 10.0)];
        let truth = [(0.1, 0.0), (5.0, 5.0)];
        let (tp, fp, fn_, sq, _) = match_points(&pred, &truth, 1.0);
        assert_eq!((tp, fp, fn_), (1, 2, 1));
        assert!((sq - 0.01).abs() < 1e-12);
    }

    #[test]
    fn guard_band_scores_by_the_truth_side() {
        // Scope: x ≥ 10. A truth just inside found just outside is a hit; a find just
        // inside of a truth just outside is nothing; unmatched points count only inside.
        let scope = |x: f64, _: f64| x >= 10.0;
        let truth = [(10.2, 0.0), (9.8, 5.0), (20.0, 0.0), (2.0, 0.0)];
        let pred = [(9.9, 0.0), (10.1, 5.0), (30.0, 0.0), (3.0, 9.0)];
        let (tp, fp, fn_, sq, sq_x) = match_in_scope(&pred, &truth, 1.0, scope);
        assert_eq!((tp, fp, fn_), (1, 1, 1));
        assert!((sq - 0.09).abs() < 1e-12 && (sq_x - 0.09).abs() < 1e-12);
    }
}
