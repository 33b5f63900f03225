//! 2H monolayers told from stacks by how deep their chalcogen vacancies are.
//!
//! Scaled to its own contrast, a 2H monolayer and a 2H stack differ only in how their two
//! column kinds compare, and the detector sets that as much as the stack (see
//! [`super::layers`]): the network reads monolayer WSe₂ as 2H-2L / 2H-3L. A vacancy does
//! not depend on the detector that way. In a monolayer a chalcogen column holds two atoms
//! and nothing else: a VS1 leaves half its signal above the hollows' floor, a VS2 none. In
//! a stack every column also holds a metal and the other layers' chalcogens, so one or two
//! missing chalcogen atoms take a smaller share: in 2H-2L a column is M + X₂, and with
//! the monolayer's M / X₂ ratio r (0.9–1.9 over detectors and chemistries in the
//! frozen-phonon library) a VS1 leaves 1 − 1/(2(1 + r)) = 0.74–0.83 of it, a VS2
//! 0.47–0.66; in 2H-3L more.
//!
//! The depth of a vacancy call is (site − floor) / (reference − floor), each the integrated
//! signal of a 0.9 Å disk ([`super::columns::Measure`]): the site at the call, the
//! reference the median of its six same-sublattice second neighbours (at a), the floor the
//! mean of the three hollows beside it (opposite its first neighbours, at a/√3). Each
//! linked area the network reads as 2H-2L or 2H-3L whose calls have a median depth below
//! [`MONOLAYER_DEPTH`] (at least [`MIN_CALLS`] of them) is a monolayer and is relabelled
//! 2H-1L. An area without vacancies keeps the network's reading; so does every area when
//! the dose is known, as the absolute signal then counts the layers.

use super::columns::Measure;
use super::frame::Frame;
use super::intensity::median;
use super::maps::PolymorphMap;
use super::vacancy::VacancyPoint;
use crate::crystal::{Polymorph, PolymorphClass};
use crate::findings::VacancyDepth;
use crate::math::neighbors::NeighborGrid;

/// Median call depth below which a 2H area is a monolayer: between a monolayer's VS1 (0.5
/// of the pair before the lone atom's weaker channelling; measured 0.30 / 0.44 on frozen-phonon
/// MoS₂ at 40–160 / 66–192 mrad, 0.27–0.46 on the labelled real WSe₂ vacancies) and a
/// bilayer's VS1 (0.74–0.83 by the library's monolayer ratios).
pub const MONOLAYER_DEPTH: f64 = 0.6;

/// Fewest calls with a measured depth for an area to be judged.
pub const MIN_CALLS: usize = 8;

/// Largest 2H-1L island (Å²) counted as part of the stack around it: the network reads about
/// 3 Å around a vacancy in a stack as a monolayer (28 Å² at that radius).
pub const ISLAND_A2: f64 = 60.0;

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

/// Relabels 2H-1L every linked 2H-2L / 2H-3L area of `map` whose vacancy calls are deep
/// (see the module doc), with the columns at `positions` (input px) and the calls on the
/// model grid, and records what it found in `map.vacancy_depth`. Nothing changes where the
/// options do not allow 2H-1L or give the dose (the absolute signal then counts the layers,
/// [`super::layers`]).
pub(super) fn relabel(
    f: &Frame,
    map: &mut PolymorphMap,
    measure: &Measure,
    positions: &[(f64, f64)],
    calls: &[VacancyPoint],
) {
    map.vacancy_depth = read(f, map, measure, positions, calls);
}

/// [`relabel`]'s work: the relabelled map and what the depth said, `None` where it does not
/// apply.
fn read(
    f: &Frame,
    map: &mut PolymorphMap,
    measure: &Measure,
    positions: &[(f64, f64)],
    calls: &[VacancyPoint],
) -> Option<VacancyDepth> {
    let counted = f.options.exposure.dose_e_per_a2.is_some();
    if counted || !f.options.allows(Polymorph::H2Mono) {
        return None;
    }
    let mono = PolymorphClass::from(Polymorph::H2Mono).index();
    let stacks = [Polymorph::H2Bi, Polymorph::H2Tri].map(|p| PolymorphClass::from(p).index());
    let stack = |c: u8| stacks.contains(&c);
    // The network reads a few ångström around a vacancy in a stack as 2H-1L: such islands
    // belong to the stack's area, so its calls are counted there.
    let (islands, n_islands) = linked(&map.classes, f.gw, f.gh, |c| c == mono);
    let mut island_px = vec![0usize; n_islands + 1];
    for &i in &islands {
        island_px[i as usize] += 1;
    }
    let max_island = (ISLAND_A2 / (f.model_px() * f.model_px())) as usize;
    let small: Vec<bool> = island_px.iter().map(|&n| n <= max_island).collect();
    let member: Vec<bool> = map
        .classes
        .iter()
        .zip(&islands)
        .map(|(&c, &i)| stack(c) || (i != 0 && small[i as usize]))
        .collect();
    let (regions, count) = linked(&member, f.gw, f.gh, |m| m);
    // Only areas holding stack pixels are judged: an island alone is the network's monolayer.
    let mut stacked_px = vec![0usize; count];
    for (&c, &r) in map.classes.iter().zip(&regions) {
        if r != 0 && stack(c) {
            stacked_px[r as usize - 1] += 1;
        }
    }
    let nn_px = f.column_spacing_px();
    let around = Neighbourhood::new(positions, nn_px);
    let mut depths: Vec<Vec<f64>> = vec![Vec::new(); count];
    let mut all = Vec::new();
    for p in calls {
        let at = f.grid.to_input(p.x, p.y);
        let region = regions[f.model_index(at.0, at.1)];
        if region == 0 || stacked_px[region as usize - 1] == 0 {
            continue;
        }
        if let Some(d) = around.depth(at, |x, y| measure.at(x, y)) {
            depths[region as usize - 1].push(d);
            all.push(d);
        }
    }
    let monolayer: Vec<bool> = depths
        .iter_mut()
        .map(|d| d.len() >= MIN_CALLS && median(d) < MONOLAYER_DEPTH)
        .collect();
    let mut changed = 0usize;
    for (c, &r) in map.classes.iter_mut().zip(&regions) {
        if r != 0 && stack(*c) && monolayer[r as usize - 1] {
            *c = mono;
            changed += 1;
        }
    }
    let stacked: usize = stacked_px.iter().sum();
    Some(VacancyDepth {
        calls: all.len(),
        median_depth: (!all.is_empty()).then(|| median(&mut all)),
        areas: stacked_px.iter().filter(|&&n| n > 0).count(),
        monolayer_areas: monolayer.iter().filter(|&&m| m).count(),
        relabelled_fraction: changed as f64 / stacked.max(1) as f64,
    })
}

/// The 4-linked areas of the pixels where `member(value)` holds: a label per pixel (0
/// outside, else 1 + the area's index) and the number of areas.
fn linked<T: Copy>(
    classes: &[T],
    w: usize,
    h: usize,
    member: impl Fn(T) -> bool,
) -> (Vec<u32>, usize) {
    let mut label = vec![0u32; classes.len()];
    let mut count = 0usize;
    let mut stack = Vec::new();
    for start in 0..classes.len() {
        if label[start] != 0 || !member(classes[start]) {
            continue;
        }
        count += 1;
        label[start] = count as u32;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if label[j] == 0 && member(classes[j]) {
                    label[j] = count as u32;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
    }
    (label, count)
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

    #[test]
    fn areas_are_linked_by_edges() {
        let classes = [1, 1, 0, 2, 0, 0, 1, 0, 1];
        let (label, count) = linked(&classes, 3, 3, |c| c == 1);
        assert_eq!(count, 3);
        assert_eq!(label, [1, 1, 0, 0, 0, 0, 2, 0, 3]);
    }
}
