//! Fixed-radius neighbour search among points in the plane: a hash grid with cells as
//! wide as the search radius, so a query looks at the 3 × 3 cells around it only.
//! Used for peak suppression, local intensity references and matching against truth.

use std::collections::HashMap;

/// One stored point: the caller's index and its position.
type Entry = (usize, f64, f64);

/// Points (with their caller's indices) bucketed for queries within `radius`.
#[derive(Debug, Clone)]
pub struct NeighborGrid {
    radius: f64,
    cells: HashMap<(i64, i64), Vec<Entry>>,
}

impl NeighborGrid {
    /// An empty grid for queries within `radius` (> 0).
    pub fn new(radius: f64) -> NeighborGrid {
        NeighborGrid {
            radius: radius.max(1e-9),
            cells: HashMap::new(),
        }
    }

    /// A grid of `points`, indexed by their position in the iterator.
    pub fn from_points(points: impl IntoIterator<Item = (f64, f64)>, radius: f64) -> NeighborGrid {
        let mut g = NeighborGrid::new(radius);
        for (i, (x, y)) in points.into_iter().enumerate() {
            g.insert(i, x, y);
        }
        g
    }

    fn key(&self, x: f64, y: f64) -> (i64, i64) {
        (
            (x / self.radius).floor() as i64,
            (y / self.radius).floor() as i64,
        )
    }

    /// The search radius the grid was built for.
    pub fn radius(&self) -> f64 {
        self.radius
    }

    pub fn insert(&mut self, index: usize, x: f64, y: f64) {
        let k = self.key(x, y);
        self.cells.entry(k).or_default().push((index, x, y));
    }

    /// Every stored point within the radius of (x, y), as (index, squared distance).
    pub fn within(&self, x: f64, y: f64) -> impl Iterator<Item = (usize, f64)> + '_ {
        let (gx, gy) = self.key(x, y);
        let r2 = self.radius * self.radius;
        (gy - 1..=gy + 1)
            .flat_map(move |yy| (gx - 1..=gx + 1).map(move |xx| (xx, yy)))
            .filter_map(move |k| self.cells.get(&k))
            .flatten()
            .filter_map(move |&(i, px, py)| {
                let d2 = (px - x).powi(2) + (py - y).powi(2);
                (d2 <= r2).then_some((i, d2))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_points_within_the_radius() {
        let pts: Vec<(f64, f64)> = (0..400)
            .map(|i| (((i * 37) % 101) as f64 * 0.7, ((i * 53) % 97) as f64 * 0.9))
            .collect();
        let g = NeighborGrid::from_points(pts.iter().copied(), 5.0);
        for &(qx, qy) in &[(10.0, 10.0), (0.0, 0.0), (-3.0, 40.0), (70.0, 87.0)] {
            let mut got: Vec<usize> = g.within(qx, qy).map(|(i, _)| i).collect();
            got.sort_unstable();
            let want: Vec<usize> = (0..pts.len())
                .filter(|&i| (pts[i].0 - qx).powi(2) + (pts[i].1 - qy).powi(2) <= 25.0)
                .collect();
            assert_eq!(got, want);
        }
    }
}
