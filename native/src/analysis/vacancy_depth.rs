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
//!
//! An area without enough calls of its own is compared with the monolayer beside it, in
//! the same image (one dose, one detector): where the image's 2H-1L area is a monolayer by
//! its own calls' depth, a stack's columns would each hold a metal and a chalcogen pair
//! and outshine the monolayer's brighter column by the chemistry's
//! [`contrast::stack_over_monolayer`] or more. An area whose columns' median signal above
//! the hollows stays below the midpoint between the monolayer's brighter sublattice and
//! that bound is the same monolayer, and is relabelled 2H-1L. Where the bound is below
//! [`MIN_STACK_SEPARATION`] (the sulfides, whose bilayer columns come within 12 % of the
//! monolayer's metal, or under it, at some detectors), this is not asked.

use super::columns::Measure;
use super::contrast;
use super::frame::Frame;
use super::intensity::median;
use super::maps::PolymorphMap;
use super::neighbourhood::Neighbourhood;
use super::vacancy::VacancyPoint;
use crate::crystal::{Polymorph, PolymorphClass};
use crate::findings::VacancyDepth;

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

/// Least brightening of a stack's columns over the monolayer's brighter column (the
/// chemistry's [`contrast::stack_over_monolayer`]) for the signal comparison to be asked:
/// WSe₂ 1.55 and MoSe₂ 1.39 over the sweep, MoS₂ 1.12 and WS₂ 0.90 (not asked). The
/// medians compared carry the image's gain drift and noise, a few per cent on 10⁴
/// columns and up to 10 % on the smallest areas.
pub const MIN_STACK_SEPARATION: f64 = 1.3;

/// Fewest columns with a measured signal for an area to be compared with the monolayer.
pub const MIN_AREA_COLUMNS: usize = 12;

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
    let by_depth: Vec<bool> = depths
        .iter_mut()
        .map(|d| d.len() >= MIN_CALLS && median(d) < MONOLAYER_DEPTH)
        .collect();
    let signal = |x: f64, y: f64| measure.at(x, y);
    let region_of: Vec<u32> = positions
        .iter()
        .map(|&(x, y)| regions[f.model_index(x, y)])
        .collect();
    let bound = contrast::stack_over_monolayer(f.chemistry());
    let reference = (bound >= MIN_STACK_SEPARATION)
        .then(|| {
            Monolayer {
                f,
                classes: &map.classes,
                regions: &regions,
                region_of: &region_of,
                around: &around,
            }
            .brighter_column(positions, calls, &signal)
        })
        .flatten();
    // Each stacked area not already shown a monolayer by its calls: its columns' signal
    // above the hollows, gathered in one pass over the columns.
    let mut above: Vec<Vec<f64>> = vec![Vec::new(); count];
    if reference.is_some() {
        for (&at, &r) in positions.iter().zip(&region_of) {
            let Some(r) = (r as usize).checked_sub(1) else {
                continue;
            };
            if by_depth[r] || stacked_px[r] == 0 {
                continue;
            }
            if let Some(floor) = around.floor(at, signal) {
                let v = signal(at.0, at.1) - floor;
                if v.is_finite() {
                    above[r].push(v);
                }
            }
        }
    }
    let by_signal: Vec<Option<f64>> = above
        .iter_mut()
        .map(|a| {
            let bright = reference?;
            (a.len() >= MIN_AREA_COLUMNS).then(|| median(a) / bright)
        })
        .collect();
    let limit = 0.5 * (1.0 + bound);
    let monolayer_signal: Vec<bool> = by_signal
        .iter()
        .map(|r| r.is_some_and(|r| r < limit))
        .collect();
    let monolayer: Vec<bool> = by_depth
        .iter()
        .zip(&monolayer_signal)
        .map(|(&d, &s)| d || s)
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
        monolayer_areas: by_depth.iter().filter(|&&m| m).count(),
        relabelled_fraction: changed as f64 / stacked.max(1) as f64,
        signal_areas: monolayer_signal.iter().filter(|&&m| m).count(),
        signal_limit: reference.map(|_| limit),
        signal_ratio: by_signal
            .iter()
            .zip(&monolayer_signal)
            .filter(|(_, &m)| m)
            .filter_map(|(r, _)| *r)
            .reduce(f64::max),
    })
}

/// The image's monolayer as the reference a stack is compared with: the columns and the
/// vacancy calls on 2H-1L pixels outside every area judged as a stack.
struct Monolayer<'a> {
    f: &'a Frame<'a>,
    classes: &'a [u8],
    regions: &'a [u32],
    region_of: &'a [u32],
    around: &'a Neighbourhood<'a>,
}

impl Monolayer<'_> {
    /// The median signal above the hollows of the monolayer's brighter sublattice, where
    /// the monolayer's own calls (at least [`MIN_CALLS`]) are as deep as a monolayer's.
    fn brighter_column(
        &self,
        positions: &[(f64, f64)],
        calls: &[VacancyPoint],
        signal: &impl Fn(f64, f64) -> f64,
    ) -> Option<f64> {
        let mono = PolymorphClass::from(Polymorph::H2Mono).index();
        let on_monolayer = |(x, y): (f64, f64)| {
            let i = self.f.model_index(x, y);
            self.classes[i] == mono && self.regions[i] == 0
        };
        let mut depths: Vec<f64> = calls
            .iter()
            .map(|p| self.f.grid.to_input(p.x, p.y))
            .filter(|&at| on_monolayer(at))
            .filter_map(|at| self.around.depth(at, signal))
            .collect();
        if depths.len() < MIN_CALLS || median(&mut depths) >= MONOLAYER_DEPTH {
            return None;
        }
        let members: Vec<bool> = positions
            .iter()
            .zip(self.region_of)
            .map(|(&at, &r)| r == 0 && on_monolayer(at))
            .collect();
        let nn_px = self.f.column_spacing_px();
        let ([_, bright], _) = contrast::sublattice_medians(positions, &members, nn_px, signal)?;
        (bright > 0.0).then_some(bright)
    }
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

    #[test]
    fn areas_are_linked_by_edges() {
        let classes = [1, 1, 0, 2, 0, 0, 1, 0, 1];
        let (label, count) = linked(&classes, 3, 3, |c| c == 1);
        assert_eq!(count, 3);
        assert_eq!(label, [1, 1, 0, 0, 0, 0, 2, 0, 3]);
    }
}
