//! The columns around a site of the honeycomb: its first (other sublattice, a/√3) and
//! second (same sublattice, a) neighbour shells, the hollows' floor beside it, and the depth
//! of a missing column there. Shared by the vacancy depth, the calls on intact columns and
//! the column contrast.

use super::intensity::median;
use crate::math::neighbors::NeighborGrid;

/// First (other sublattice) and second (same sublattice) neighbour shells, in units of the
/// nearest-neighbour distance a/√3; the second lies at √3.
const FIRST_SHELL: (f64, f64) = (0.6, 1.35);
const SECOND_SHELL: (f64, f64) = (1.45, 2.0);

/// The columns around a site, bucketed for the first and second neighbour shells.
pub struct Neighbourhood<'a> {
    positions: &'a [(f64, f64)],
    grid: NeighborGrid,
    nn_px: f64,
}

impl<'a> Neighbourhood<'a> {
    /// The columns at `positions` (input px), nearest-neighbour distance `nn_px`.
    pub fn new(positions: &'a [(f64, f64)], nn_px: f64) -> Self {
        Neighbourhood {
            positions,
            grid: NeighborGrid::from_points(positions.iter().copied(), SECOND_SHELL.1 * nn_px),
            nn_px,
        }
    }

    /// The depth of a missing column at (x, y), with `signal(x, y)` the integrated signal
    /// of a disk there. `None` with fewer than two first or four second neighbours, or
    /// where the reference does not stand above the floor.
    pub fn depth(&self, (x, y): (f64, f64), signal: impl Fn(f64, f64) -> f64) -> Option<f64> {
        let floor = self.floor((x, y), &signal)?;
        let mut reference: Vec<f64> = self
            .grid
            .within(x, y)
            .filter(|&(_, d2)| in_shell(SECOND_SHELL, d2, self.nn_px))
            .map(|(j, _)| signal(self.positions[j].0, self.positions[j].1))
            .collect();
        if reference.len() < 4 {
            return None;
        }
        let contrast = median(&mut reference) - floor;
        (contrast > 0.0).then(|| (signal(x, y) - floor) / contrast)
    }

    /// The hollows' floor beside the site (x, y): the mean signal of the hollows opposite
    /// its first neighbours (each at a/√3 from the site, on the far side from that
    /// neighbour); `None` with fewer than two first neighbours.
    pub fn floor(&self, (x, y): (f64, f64), signal: impl Fn(f64, f64) -> f64) -> Option<f64> {
        let (mut sum, mut n) = (0.0, 0usize);
        for (j, d2) in self.grid.within(x, y) {
            if in_shell(FIRST_SHELL, d2, self.nn_px) {
                let (px, py) = self.positions[j];
                sum += signal(2.0 * x - px, 2.0 * y - py);
                n += 1;
            }
        }
        (n >= 2).then(|| sum / n as f64)
    }
}

/// Whether squared distance `d2` lies in `shell` (in units of `nn_px`).
fn in_shell((lo, hi): (f64, f64), d2: f64, nn_px: f64) -> bool {
    d2 >= (lo * nn_px).powi(2) && d2 <= (hi * nn_px).powi(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A honeycomb patch (nearest-neighbour distance 1) with Gaussian columns: sublattice A
    /// of weight `a`, B of weight `b`, the B column at the origin of weight `site`, and a
    /// flat floor.
    fn honeycomb(a: f64, b: f64, site: f64) -> (Vec<(f64, f64)>, impl Fn(f64, f64) -> f64) {
        let s3 = 3f64.sqrt();
        let mut cols = Vec::new();
        for i in -6i32..=6 {
            for j in -6i32..=6 {
                let (x, y) = (s3 * (i as f64 + 0.5 * j as f64), 1.5 * j as f64);
                cols.push((x, y, b));
                cols.push((x, y + 1.0, a));
            }
        }
        let weights: Vec<(f64, f64, f64)> = cols
            .iter()
            .map(|&(x, y, w)| {
                if x == 0.0 && y == 0.0 {
                    (x, y, site)
                } else {
                    (x, y, w)
                }
            })
            .collect();
        let positions: Vec<(f64, f64)> = cols
            .iter()
            .filter(|&&(x, y, _)| !(x == 0.0 && y == 0.0 && site == 0.0))
            .map(|&(x, y, _)| (x, y))
            .collect();
        let signal = move |x: f64, y: f64| {
            0.1 + weights
                .iter()
                .map(|&(cx, cy, w)| w * (-((x - cx).powi(2) + (y - cy).powi(2)) / 0.08).exp())
                .sum::<f64>()
        };
        (positions, signal)
    }

    fn depth_of(a: f64, b: f64, site: f64) -> f64 {
        let (positions, signal) = honeycomb(a, b, site);
        Neighbourhood::new(&positions, 1.0)
            .depth((0.0, 0.0), signal)
            .unwrap()
    }

    #[test]
    fn depth_is_the_share_left_above_the_floor() {
        // Monolayer, metal twice the chalcogen pair: VS1, VS2, an intact column.
        assert!((depth_of(2.0, 1.0, 0.5) - 0.5).abs() < 0.02);
        assert!(depth_of(2.0, 1.0, 0.0).abs() < 0.02);
        assert!((depth_of(2.0, 1.0, 1.0) - 1.0).abs() < 0.02);
        // 2H-2L with both columns M + X2 = 3: a VS1 takes 0.5 of 3.
        assert!((depth_of(3.0, 3.0, 2.5) - 2.5 / 3.0).abs() < 0.02);
    }
}
