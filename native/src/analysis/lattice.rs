//! The projected crystal as a lattice. Seen along [001], every column of a TMD layer
//! stack — metal, chalcogen pair or mixed, in any of the six polymorphs — sits on one
//! triangular lattice of spacing a/√3: the union of the A, B and C sites. Indexing the
//! found columns on it and fitting an affine map per connected patch (which absorbs
//! calibration error, homogeneous strain, rotation and linear drift) leaves each column
//! a residual: localization noise, real local strain, and any scan distortion that
//! moved whole scan lines.

use crate::analysis::intensity::median;
use crate::analysis::localize::solve;
use crate::math::neighbors::NeighborGrid;
use std::collections::VecDeque;

/// Nearest projected column distance a/√3 of the supported TMDs (1.82–1.90 Å); the
/// lattice indexing accepts ±30 % around it.
pub const COLUMN_SPACING_A: f64 = 1.85;
/// Fewest columns in a connected patch for its affine fit to be used.
pub const MIN_PATCH_COLUMNS: usize = 30;
/// Largest distance from the nearest lattice step (in lattice units) for two columns
/// to count as neighbours on the lattice.
const LINK_TOLERANCE: f64 = 0.2;
/// A patch whose median residual exceeds this fraction of the spacing is not one
/// crystal (a grain boundary, a mis-indexed region) and is left unindexed.
const MAX_MEDIAN_RESIDUAL: f64 = 0.12;

/// The six nearest-neighbour steps of a triangular lattice in basis units.
const STEPS: [(i64, i64); 6] = [(1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1)];

/// Columns indexed on the triangular lattice.
#[derive(Debug, Clone)]
pub struct LatticeFit {
    /// Per column: the patch it was indexed in, if any.
    pub patch: Vec<Option<usize>>,
    /// Per column: position minus its patch's affine lattice position (px); (0, 0) when
    /// the column is not indexed.
    pub residual: Vec<(f64, f64)>,
    /// Nearest-neighbour spacing found (px).
    pub spacing: f64,
}

impl LatticeFit {
    /// Indices of the columns with a lattice residual.
    pub fn indexed(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.patch.len()).filter(|&i| self.patch[i].is_some())
    }
}

/// A basis (b1, b2) and the step each neighbour link takes in it.
struct Basis {
    b1: (f64, f64),
    b2: (f64, f64),
}

impl Basis {
    /// Lattice coordinates of displacement `d`.
    fn coords(&self, d: (f64, f64)) -> Option<(f64, f64)> {
        let det = self.b1.0 * self.b2.1 - self.b2.0 * self.b1.1;
        if det.abs() < 1e-12 {
            return None;
        }
        Some((
            (d.0 * self.b2.1 - d.1 * self.b2.0) / det,
            (self.b1.0 * d.1 - self.b1.1 * d.0) / det,
        ))
    }

    /// The nearest-neighbour step `d` takes, if it is close to one.
    fn step(&self, d: (f64, f64)) -> Option<(i64, i64)> {
        let (u, v) = self.coords(d)?;
        let (m, n) = (u.round(), v.round());
        let s = (m as i64, n as i64);
        ((u - m).abs() < LINK_TOLERANCE && (v - n).abs() < LINK_TOLERANCE && STEPS.contains(&s))
            .then_some(s)
    }
}

/// The lattice the neighbour links agree on: a basis refined on every link (each link
/// is one exact step of the lattice, so slow distortions over the field do not enter),
/// the median nearest-neighbour spacing, and the links themselves.
struct Links {
    spacing: f64,
    links: Vec<(usize, usize, (f64, f64))>,
    basis: Basis,
}

/// The lattice's basis from the links between neighbouring columns, whose spacing is
/// near `expected_spacing` (px, within ±30 %). `None` when too few columns have a
/// neighbour at that distance.
fn links(positions: &[(f64, f64)], expected_spacing: f64) -> Option<Links> {
    let n = positions.len();
    if n < MIN_PATCH_COLUMNS || expected_spacing.is_nan() || expected_spacing <= 0.0 {
        return None;
    }
    let grid = NeighborGrid::from_points(positions.iter().copied(), 1.3 * expected_spacing);
    let mut nearest: Vec<f64> = positions
        .iter()
        .enumerate()
        .filter_map(|(i, &(x, y))| {
            grid.within(x, y)
                .filter(|&(j, d2)| j != i && d2 > (0.7 * expected_spacing).powi(2))
                .map(|(_, d2)| d2.sqrt())
                .min_by(f64::total_cmp)
        })
        .collect();
    if nearest.len() < MIN_PATCH_COLUMNS {
        return None;
    }
    let spacing = median(&mut nearest);

    // Links between neighbours, each once.
    let mut links: Vec<(usize, usize, (f64, f64))> = Vec::new();
    for (i, &(x, y)) in positions.iter().enumerate() {
        for (j, d2) in grid.within(x, y) {
            let d = d2.sqrt();
            if j > i && d > 0.75 * spacing && d < 1.25 * spacing {
                links.push((i, j, (positions[j].0 - x, positions[j].1 - y)));
            }
        }
    }
    // Orientation: the six link directions agree modulo 60°.
    let (c6, s6) = links.iter().fold((0.0, 0.0), |(c, s), &(_, _, d)| {
        let t = 6.0 * d.1.atan2(d.0);
        (c + t.cos(), s + t.sin())
    });
    let t0 = s6.atan2(c6) / 6.0;
    let t1 = t0 + std::f64::consts::FRAC_PI_3;
    let mut basis = Basis {
        b1: (spacing * t0.cos(), spacing * t0.sin()),
        b2: (spacing * t1.cos(), spacing * t1.sin()),
    };
    // Refine the basis on the links (least squares d = m·b1 + n·b2), so strain and
    // drift do not push links out of tolerance far from the centre.
    for _ in 0..2 {
        let (mut a, mut bx, mut by) = ([[0.0; 2]; 2], [0.0; 2], [0.0; 2]);
        for &(_, _, d) in &links {
            if let Some((m, k)) = basis.step(d) {
                let (m, k) = (m as f64, k as f64);
                a[0][0] += m * m;
                a[0][1] += m * k;
                a[1][1] += k * k;
                bx[0] += m * d.0;
                bx[1] += k * d.0;
                by[0] += m * d.1;
                by[1] += k * d.1;
            }
        }
        a[1][0] = a[0][1];
        let (sx, sy) = (solve(a, bx)?, solve(a, by)?);
        basis = Basis {
            b1: (sx[0], sy[0]),
            b2: (sx[1], sy[1]),
        };
    }
    Some(Links {
        spacing,
        links,
        basis,
    })
}

/// The lattice the neighbour links agree on: basis vectors (px) and how many links
/// are steps of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkBasis {
    pub b1: (f64, f64),
    pub b2: (f64, f64),
    pub steps: usize,
}

/// The basis of the lattice the neighbour links of `positions` agree on. Unlike [`fit`]
/// this needs no crystal to be one affine lattice over the field, so nonlinear drift
/// over a large frame does not stop it.
pub fn link_basis(positions: &[(f64, f64)], expected_spacing: f64) -> Option<LinkBasis> {
    let l = links(positions, expected_spacing)?;
    let steps = l
        .links
        .iter()
        .filter(|&&(_, _, d)| l.basis.step(d).is_some())
        .count();
    Some(LinkBasis {
        b1: l.basis.b1,
        b2: l.basis.b2,
        steps,
    })
}

/// Indexes `positions` (px) on a triangular lattice whose spacing is near
/// `expected_spacing` (px, within ±30 %). `None` when too few columns form a lattice.
pub fn fit(positions: &[(f64, f64)], expected_spacing: f64) -> Option<LatticeFit> {
    let n = positions.len();
    let Links {
        spacing,
        links,
        basis,
    } = links(positions, expected_spacing)?;

    // Integer indices by walking the neighbour graph: each link is one exact step, so
    // slow distortions never accumulate into a wrong index.
    let mut adjacency: Vec<Vec<(usize, (i64, i64))>> = vec![Vec::new(); n];
    for &(i, j, d) in &links {
        if let Some((m, k)) = basis.step(d) {
            adjacency[i].push((j, (m, k)));
            adjacency[j].push((i, (-m, -k)));
        }
    }
    let mut index: Vec<Option<(i64, i64)>> = vec![None; n];
    let mut patch: Vec<Option<usize>> = vec![None; n];
    let mut residual = vec![(0.0, 0.0); n];
    let mut patches = 0usize;
    for seed in 0..n {
        if index[seed].is_some() || adjacency[seed].is_empty() {
            continue;
        }
        index[seed] = Some((0, 0));
        let mut members = vec![seed];
        let mut queue = VecDeque::from([seed]);
        while let Some(i) = queue.pop_front() {
            let (mi, ki) = index[i].expect("queued columns are indexed");
            for &(j, (m, k)) in &adjacency[i] {
                if index[j].is_none() {
                    index[j] = Some((mi + m, ki + k));
                    members.push(j);
                    queue.push_back(j);
                }
            }
        }
        if members.len() < MIN_PATCH_COLUMNS {
            continue;
        }
        if let Some(res) = fit_patch(positions, &index, &members, spacing) {
            for (&i, r) in members.iter().zip(res) {
                patch[i] = Some(patches);
                residual[i] = r;
            }
            patches += 1;
        }
    }
    (patches > 0).then_some(LatticeFit {
        patch,
        residual,
        spacing,
    })
}

/// Affine fit position = o + m·b1 + k·b2 over one patch, refitted once without
/// outliers (adatoms, mislocated columns); residuals of every member.
fn fit_patch(
    positions: &[(f64, f64)],
    index: &[Option<(i64, i64)>],
    members: &[usize],
    spacing: f64,
) -> Option<Vec<(f64, f64)>> {
    let mut keep: Vec<bool> = vec![true; members.len()];
    let mut coef = ([0.0; 3], [0.0; 3]);
    for pass in 0..2 {
        let (mut a, mut bx, mut by) = ([[0.0; 3]; 3], [0.0; 3], [0.0; 3]);
        for (&i, _) in members.iter().zip(&keep).filter(|(_, &k)| k) {
            let (m, k) = index[i]?;
            let f = [1.0, m as f64, k as f64];
            for r in 0..3 {
                for c in 0..3 {
                    a[r][c] += f[r] * f[c];
                }
                bx[r] += f[r] * positions[i].0;
                by[r] += f[r] * positions[i].1;
            }
        }
        coef = (solve(a, bx)?, solve(a, by)?);
        let res: Vec<f64> = members
            .iter()
            .map(|&i| {
                let (m, k) = index[i].unwrap_or((0, 0));
                let (fx, fy) = predict(&coef, m, k);
                (positions[i].0 - fx).hypot(positions[i].1 - fy)
            })
            .collect();
        let med = median(&mut res.clone());
        if pass == 0 {
            let cut = (4.0 * med).max(0.05 * spacing);
            keep = res.iter().map(|&r| r <= cut).collect();
        } else if med > MAX_MEDIAN_RESIDUAL * spacing {
            return None;
        }
    }
    Some(
        members
            .iter()
            .map(|&i| {
                let (m, k) = index[i].unwrap_or((0, 0));
                let (fx, fy) = predict(&coef, m, k);
                (positions[i].0 - fx, positions[i].1 - fy)
            })
            .collect(),
    )
}

fn predict(coef: &([f64; 3], [f64; 3]), m: i64, k: i64) -> (f64, f64) {
    let (m, k) = (m as f64, k as f64);
    (
        coef.0[0] + coef.0[1] * m + coef.0[2] * k,
        coef.1[0] + coef.1[1] * m + coef.1[2] * k,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Triangular lattice of spacing `s`, rotated, sheared, inside a `size` square.
    fn lattice(s: f64, angle: f64, shear: f64, size: f64) -> Vec<(f64, f64)> {
        let mut pts = Vec::new();
        for i in -80..80 {
            for k in -80..80 {
                let (u, v) = (s * (i as f64 + 0.5 * k as f64), s * 0.866_025 * k as f64);
                let (x, y) = (
                    u * angle.cos() - v * angle.sin() + size / 2.0,
                    u * angle.sin() + v * angle.cos() + size / 2.0,
                );
                let x = x + shear * y;
                if x > 2.0 && y > 2.0 && x < size - 2.0 && y < size - 2.0 {
                    pts.push((x, y));
                }
            }
        }
        pts
    }

    #[test]
    fn an_affine_lattice_has_no_residual() {
        let pts = lattice(18.2, 0.37, 0.02, 400.0);
        let f = fit(&pts, 18.0).expect("a lattice");
        assert!((f.spacing - 18.2).abs() < 0.5, "spacing {}", f.spacing);
        // The links' basis has the lattice's cell: the shear (0.02) changes no area.
        let LinkBasis { b1, b2, steps } = link_basis(&pts, 18.0).unwrap();
        let area = (b1.0 * b2.1 - b1.1 * b2.0).abs();
        assert!(
            (area / (18.2 * 18.2 * 0.866_025) - 1.0).abs() < 1e-5,
            "area {area}"
        );
        assert!(
            steps > 2 * pts.len(),
            "{steps} links for {} columns",
            pts.len()
        );
        assert_eq!(f.indexed().count(), pts.len());
        let worst = f
            .residual
            .iter()
            .map(|r| r.0.hypot(r.1))
            .fold(0.0, f64::max);
        assert!(worst < 1e-6, "residual {worst}");
    }

    #[test]
    fn a_displaced_column_keeps_its_displacement() {
        let mut pts = lattice(18.2, 1.1, 0.0, 300.0);
        let k = pts.len() / 2;
        pts[k].0 += 1.5;
        let f = fit(&pts, 18.0).expect("a lattice");
        assert!((f.residual[k].0 - 1.5).abs() < 0.05, "{:?}", f.residual[k]);
        assert!(f.residual[k].1.abs() < 0.05);
    }

    #[test]
    fn scattered_points_are_not_a_lattice() {
        let pts: Vec<(f64, f64)> = (0..300)
            .map(|i| (((i * 7919) % 400) as f64, ((i * 104_729) % 397) as f64))
            .collect();
        let f = fit(&pts, 18.0);
        assert!(f.is_none_or(|f| f.indexed().count() < pts.len() / 2));
    }
}
