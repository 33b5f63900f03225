//! Which of a monolayer's two sublattices holds the metal, read from the lattice rather
//! than column by column.
//!
//! The atom head labels each column metal or chalcogen from its contrast. Where the two
//! columns of a 2H monolayer look alike — WSe₂ with a low-angle detector, where W and Se₂
//! differ by 10–30 %, or the reverse contrast of an ADF2 image where Se₂ is the brighter —
//! it calls most columns of both sublattices "metal", and the chalcogen sites the
//! vacancy statistics are counted on vanish (real Ti-doped WSe₂, ADF1: 50 chalcogen
//! columns of about 4000). The geometry does not depend on contrast: in the honeycomb
//! every column's three nearest neighbours point along θ₀ + k·120° on one sublattice and
//! θ₀ + 60° + k·120° on the other, so Σ exp(3iφ) over a column's neighbour directions is
//! +1 or −1 times exp(3iθ₀). Which sublattice is the metal one is then decided once for
//! the columns read together:
//! 1. by the vacancy calls: chalcogen vacancies are what the beam makes, and a call's own
//!    site (from the columns around it) shows its sublattice;
//! 2. else by the atom head, where it tells the sublattices clearly apart (metal share on
//!    one sublattice exceeding the other's by [`CLEAR_HEAD`]);
//! 3. else by the atom head's weaker preference ([`WEAK_HEAD`]); else labels stay as they are.
//!
//! The calls come first because the head's "metal" is the brighter column, and which column
//! is brighter depends on the chemistry and the detector: MoSe₂'s Se₂ outshines its Mo at
//! many inner angles, the head then splits the sublattices "clearly" the wrong way round,
//! and with the head first the 5 MoSe₂ images of a 40-image compound tuning set (seed
//! 630000) lost VS1 F1 0.960 → 0.556 (0.960 with the calls first).
//!
//! The vacancy calls' own sites are read the same way (`Assignment::calls_on_metal`): a call
//! on the metal sublattice of a declared monolayer is dropped, as no chalcogen vacancy sits
//! there.
//!
//! Only columns of the 2H-1L class are relabelled, and only when the columns read together
//! agree on one lattice orientation (a single grain). For a known monolayer (declared, or
//! counted from the absolute signal) the image's 2H-1L columns are read together with every
//! evidence; where only the polymorph map says 2H-1L, each linked region is read on its own
//! ([`assign`] with [`Trust::MapOnly`]) and the atom head's weak preference does not decide
//! ([`Trust::MapOnly`]): a 2H-2L area read as 2H-1L also has "metal" columns on both
//! sublattices, and there a weak reading would invent sites (`columns::column_roles`).

use crate::math::neighbors::NeighborGrid;

/// Nearest-neighbour shell, in units of the nearest-neighbour distance a/√3.
const SHELL: (f64, f64) = (0.6, 1.35);
/// Agreement of the columns' orientation, |Σ z²| / Σ |z|², below which the image is taken
/// to hold several grains and nothing is relabelled.
const MIN_COHERENCE: f64 = 0.5;
/// Metal-share difference between sublattices at which the atom head decides alone.
pub const CLEAR_HEAD: f64 = 0.5;
/// Metal-share difference at which the atom head decides when the vacancies do not.
pub const WEAK_HEAD: f64 = 0.2;
/// Vacancy calls needed, and the share of them on one sublattice, for them to decide.
const MIN_VACANCIES: usize = 8;
const VACANCY_MAJORITY: f64 = 0.75;

/// What the caller knows of the columns it asks about, and so which evidence may decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// A monolayer (declared, or its layer count read from the absolute signal): every
    /// evidence, the atom head's weak preference last.
    Monolayer,
    /// Only the polymorph map says 2H-1L. A 2H-2L or 2H-3L area read as 2H-1L has "metal"
    /// columns on both sublattices and no vacancy calls, so only a clear atom-head split or
    /// the calls decide; the weak preference would invent chalcogen sites there.
    MapOnly,
}

/// How the metal sublattice was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    AtomHead,
    Vacancies,
}

/// The outcome for one image: the metal flags to use and what decided them.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub metal: Vec<bool>,
    pub evidence: Option<Evidence>,
    /// Columns whose label changed.
    pub relabelled: usize,
    /// For each vacancy call given, whether it sits on the metal sublattice (false where
    /// the sublattices were not decided or the call's own site is unclear).
    pub calls_on_metal: Vec<bool>,
}

/// Σ exp(3iφ) over the directions φ from (x, y) to the columns in the nearest-neighbour
/// shell (`shell` in px), with their count.
fn trefoil(
    x: f64,
    y: f64,
    grid: &NeighborGrid,
    positions: &[(f64, f64)],
    shell: (f64, f64),
) -> (f64, f64, usize) {
    let (mut re, mut im, mut n) = (0.0, 0.0, 0);
    for (j, d2) in grid.within(x, y) {
        if d2 < shell.0 * shell.0 {
            continue;
        }
        let phi = (positions[j].1 - y).atan2(positions[j].0 - x);
        re += (3.0 * phi).cos();
        im += (3.0 * phi).sin();
        n += 1;
    }
    (re, im, n)
}

/// The two sublattices of a honeycomb, read from the columns' neighbour directions.
pub struct Honeycomb<'a> {
    positions: &'a [(f64, f64)],
    grid: NeighborGrid,
    shell: (f64, f64),
    /// cos ψ, sin ψ of the lattice's orientation 3θ₀ (mod π).
    axis: (f64, f64),
    /// Per column: `Some(true)` on sublattice "A", `Some(false)` on "B", `None` where the
    /// column is not a member or its neighbours leave its side unclear.
    pub sides: Vec<Option<bool>>,
}

impl<'a> Honeycomb<'a> {
    /// The sublattices of the `members` among `positions` (px), nearest-neighbour distance
    /// `nn_px`; `None` when the members do not agree on one lattice orientation (several
    /// grains, or no honeycomb).
    pub fn read(positions: &'a [(f64, f64)], members: &[bool], nn_px: f64) -> Option<Self> {
        let shell = (SHELL.0 * nn_px, SHELL.1 * nn_px);
        let grid = NeighborGrid::from_points(positions.iter().copied(), shell.1);
        let z: Vec<Option<(f64, f64)>> = positions
            .iter()
            .zip(members)
            .map(|(&(x, y), &member)| {
                let (re, im, n) = trefoil(x, y, &grid, positions, shell);
                (member && n >= 2).then_some((re, im))
            })
            .collect();
        // Orientation 3θ₀ (mod π) from Σ z², and how well the columns agree on it.
        let (mut s_re, mut s_im, mut s_abs) = (0.0, 0.0, 0.0);
        for &(re, im) in z.iter().flatten() {
            s_re += re * re - im * im;
            s_im += 2.0 * re * im;
            s_abs += re * re + im * im;
        }
        if s_abs <= 0.0 || (s_re.hypot(s_im) / s_abs) < MIN_COHERENCE {
            return None;
        }
        let psi = 0.5 * s_im.atan2(s_re);
        let mut honeycomb = Honeycomb {
            positions,
            grid,
            shell,
            axis: (psi.cos(), psi.sin()),
            sides: Vec::new(),
        };
        honeycomb.sides = z
            .iter()
            .map(|z| z.and_then(|(re, im)| honeycomb.side(re, im)))
            .collect();
        Some(honeycomb)
    }

    /// The sublattice a trefoil sum points to: "A" where Re(z e^{-iψ}) is clearly > 0.
    fn side(&self, re: f64, im: f64) -> Option<bool> {
        let p = re * self.axis.0 + im * self.axis.1;
        (p.abs() > 0.5 * re.hypot(im)).then_some(p > 0.0)
    }

    /// The sublattice of a point (a vacancy call) from the columns around it.
    pub fn side_at(&self, x: f64, y: f64) -> Option<bool> {
        let (re, im, n) = trefoil(x, y, &self.grid, self.positions, self.shell);
        (n >= 2).then(|| self.side(re, im)).flatten()
    }
}

/// The metal flags of the columns at `positions` (input px), given the atom head's
/// `metal`, which columns lie in 2H-1L (`monolayer`), the vacancy calls (input px) and
/// the nearest-neighbour distance `nn_px`: for a known monolayer all its columns read
/// together, else each linked region on its own ([`by_region`]).
pub fn assign(
    positions: &[(f64, f64)],
    metal: &[bool],
    monolayer: &[bool],
    vacancies: &[(f64, f64)],
    nn_px: f64,
    trust: Trust,
) -> Assignment {
    match trust {
        Trust::Monolayer => together(positions, metal, monolayer, vacancies, nn_px, trust),
        Trust::MapOnly => by_region(positions, metal, monolayer, vacancies, nn_px, trust),
    }
}

/// [`assign`] with the `monolayer` columns read together.
fn together(
    positions: &[(f64, f64)],
    metal: &[bool],
    monolayer: &[bool],
    vacancies: &[(f64, f64)],
    nn_px: f64,
    trust: Trust,
) -> Assignment {
    let unchanged = Assignment {
        metal: metal.to_vec(),
        evidence: None,
        relabelled: 0,
        calls_on_metal: vec![false; vacancies.len()],
    };
    let Some(honeycomb) = Honeycomb::read(positions, monolayer, nn_px) else {
        return unchanged;
    };
    let sub = &honeycomb.sides;
    let share = |a: bool| {
        let on: Vec<bool> = sub
            .iter()
            .zip(metal)
            .filter(|(s, _)| **s == Some(a))
            .map(|(_, &m)| m)
            .collect();
        (!on.is_empty()).then(|| on.iter().filter(|&&m| m).count() as f64 / on.len() as f64)
    };
    let (Some(m_a), Some(m_b)) = (share(true), share(false)) else {
        return unchanged;
    };
    let head = m_a - m_b;
    // Each call's own site, from the columns around it.
    let call_sides: Vec<Option<bool>> = vacancies
        .iter()
        .map(|&(x, y)| honeycomb.side_at(x, y))
        .collect();
    let vacancy_vote = || {
        let (mut a, mut b) = (0usize, 0usize);
        for side in &call_sides {
            match side {
                Some(true) => a += 1,
                Some(false) => b += 1,
                None => {}
            }
        }
        let n = a + b;
        // The vacancies' sublattice is the chalcogen one: the metal is on the other.
        (n >= MIN_VACANCIES && a.max(b) as f64 >= VACANCY_MAJORITY * n as f64).then_some(b > a)
    };
    let (metal_on_a, evidence) = if let Some(on_a) = vacancy_vote() {
        (on_a, Evidence::Vacancies)
    } else if head.abs() >= CLEAR_HEAD || (trust == Trust::Monolayer && head.abs() >= WEAK_HEAD) {
        (head > 0.0, Evidence::AtomHead)
    } else {
        return unchanged;
    };
    let mut out = metal.to_vec();
    let mut relabelled = 0;
    for (m, s) in out.iter_mut().zip(sub) {
        if let Some(a) = *s {
            let want = a == metal_on_a;
            if *m != want {
                *m = want;
                relabelled += 1;
            }
        }
    }
    Assignment {
        metal: out,
        evidence: Some(evidence),
        relabelled,
        calls_on_metal: call_sides.iter().map(|s| *s == Some(metal_on_a)).collect(),
    }
}

/// Fewest columns a linked monolayer region needs for its sublattices to be read alone.
pub const MIN_REGION_COLUMNS: usize = 30;

/// The linked regions of the `members` columns: two members belong together when they are
/// nearest neighbours (within the shell's outer radius). `None` for non-members.
pub fn regions(positions: &[(f64, f64)], members: &[bool], nn_px: f64) -> Vec<Option<usize>> {
    let reach = SHELL.1 * nn_px;
    let grid = NeighborGrid::from_points(positions.iter().copied(), reach);
    let mut region: Vec<Option<usize>> = vec![None; positions.len()];
    let mut next = 0;
    for start in 0..positions.len() {
        if !members[start] || region[start].is_some() {
            continue;
        }
        region[start] = Some(next);
        let mut stack = vec![start];
        while let Some(k) = stack.pop() {
            let (x, y) = positions[k];
            for (j, d2) in grid.within(x, y) {
                if members[j] && region[j].is_none() && d2 <= reach * reach {
                    region[j] = Some(next);
                    stack.push(j);
                }
            }
        }
        next += 1;
    }
    region
}

/// [`assign`] region by region ([`regions`] of the `monolayer` columns with at least
/// [`MIN_REGION_COLUMNS`]), each on its own columns and the calls whose nearest column is
/// one of them, with `trust`: a 2H-1L area decides its sublattices by its own evidence, and
/// a stack read as 2H-1L elsewhere in the image, which has none, keeps its labels.
fn by_region(
    positions: &[(f64, f64)],
    metal: &[bool],
    monolayer: &[bool],
    vacancies: &[(f64, f64)],
    nn_px: f64,
    trust: Trust,
) -> Assignment {
    let region = regions(positions, monolayer, nn_px);
    let grid = NeighborGrid::from_points(positions.iter().copied(), nn_px);
    let call_region: Vec<Option<usize>> = vacancies
        .iter()
        .map(|&(x, y)| {
            grid.within(x, y)
                .filter(|&(_, d2)| d2 <= nn_px * nn_px)
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .and_then(|(j, _)| region[j])
        })
        .collect();
    let mut out = Assignment {
        metal: metal.to_vec(),
        evidence: None,
        relabelled: 0,
        calls_on_metal: vec![false; vacancies.len()],
    };
    let count = region.iter().flatten().max().map_or(0, |&m| m + 1);
    for r in 0..count {
        let cols: Vec<usize> = (0..positions.len())
            .filter(|&k| region[k] == Some(r))
            .collect();
        if cols.len() < MIN_REGION_COLUMNS {
            continue;
        }
        let calls: Vec<usize> = (0..vacancies.len())
            .filter(|&c| call_region[c] == Some(r))
            .collect();
        let a = together(
            &cols.iter().map(|&k| positions[k]).collect::<Vec<_>>(),
            &cols.iter().map(|&k| metal[k]).collect::<Vec<_>>(),
            &vec![true; cols.len()],
            &calls.iter().map(|&c| vacancies[c]).collect::<Vec<_>>(),
            nn_px,
            trust,
        );
        for (&k, m) in cols.iter().zip(a.metal) {
            out.metal[k] = m;
        }
        for (&c, on) in calls.iter().zip(a.calls_on_metal) {
            out.calls_on_metal[c] = on;
        }
        out.relabelled += a.relabelled;
        out.evidence = match (out.evidence, a.evidence) {
            (Some(Evidence::Vacancies), _) | (_, Some(Evidence::Vacancies)) => {
                Some(Evidence::Vacancies)
            }
            (e, None) | (None, e) => e,
            (e, _) => e,
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crystal::{Lattice, Site};

    /// A honeycomb patch of the engine's lattice: metal sites (A) and chalcogen sites (B) at
    /// nearest distance `nn`, rotated by `angle` (rad); returns positions and which are metal.
    fn honeycomb(n: i64, nn: f64, angle: f64) -> (Vec<(f64, f64)>, Vec<bool>) {
        let lattice = Lattice::new(nn * 3f64.sqrt(), [0.0; 3], angle.to_degrees(), [200.0; 2]);
        let mut pos = Vec::new();
        let mut metal = Vec::new();
        for i in -n..=n {
            for j in -n..=n {
                for (site, m) in [(Site::A, true), (Site::B, false)] {
                    let [x, y] = lattice.site_position(i, j, site);
                    pos.push((x, y));
                    metal.push(m);
                }
            }
        }
        (pos, metal)
    }

    #[test]
    fn an_all_metal_labelling_is_split_by_the_vacancies() {
        let (pos, truth) = honeycomb(8, 9.1, 0.37);
        let all_metal = vec![true; pos.len()];
        let mono = vec![true; pos.len()];
        // Ten chalcogen sites lose their column: the calls sit where they were.
        let mut kept = Vec::new();
        let mut vac = Vec::new();
        for (k, &p) in pos.iter().enumerate() {
            if !truth[k] && k % 37 == 1 && vac.len() < 10 {
                vac.push(p);
            } else {
                kept.push(k);
            }
        }
        let kpos: Vec<_> = kept.iter().map(|&k| pos[k]).collect();
        let kmetal: Vec<_> = kept.iter().map(|&k| all_metal[k]).collect();
        let kmono: Vec<_> = kept.iter().map(|&k| mono[k]).collect();
        let out = assign(&kpos, &kmetal, &kmono, &vac, 9.1, Trust::Monolayer);
        assert_eq!(out.evidence, Some(Evidence::Vacancies));
        let wrong = kept
            .iter()
            .zip(&out.metal)
            .filter(|(&k, &m)| m != truth[k])
            .count();
        // Only border columns with fewer than two neighbours may stay undecided.
        assert!(wrong <= 4 * 8 + 8, "{wrong} of {} wrong", kept.len());
        assert!(out.relabelled > kept.len() / 3);
    }

    #[test]
    fn a_clear_head_decides_and_its_mistakes_are_fixed() {
        let (pos, truth) = honeycomb(6, 9.1, 1.1);
        let mut head = truth.clone();
        for k in (0..head.len()).step_by(7) {
            head[k] = !head[k];
        }
        let mono = vec![true; pos.len()];
        let out = assign(&pos, &head, &mono, &[], 9.1, Trust::Monolayer);
        assert_eq!(out.evidence, Some(Evidence::AtomHead));
        let interior = |k: usize| (pos[k].0 - 200.0).hypot(pos[k].1 - 200.0) < 60.0;
        assert!((0..pos.len())
            .filter(|&k| interior(k))
            .all(|k| out.metal[k] == truth[k]));
        // Calls at interior metal columns are on the metal sublattice, at chalcogen ones not.
        let calls: Vec<(f64, f64)> = (0..pos.len())
            .filter(|&k| interior(k))
            .map(|k| pos[k])
            .collect();
        let on = assign(&pos, &head, &mono, &calls, 9.1, Trust::Monolayer).calls_on_metal;
        let want: Vec<bool> = (0..pos.len())
            .filter(|&k| interior(k))
            .map(|k| truth[k])
            .collect();
        assert_eq!(on, want);
    }

    #[test]
    fn reversed_contrast_is_not_followed_when_the_vacancies_say_otherwise() {
        // The head calls 60 % of chalcogen columns and 40 % of metal columns "metal" (a weak,
        // reversed preference); the vacancies sit on chalcogen sites.
        let (pos, truth) = honeycomb(8, 9.1, 0.2);
        let head: Vec<bool> = (0..pos.len())
            .map(|k| if truth[k] { k % 5 < 2 } else { k % 5 < 3 })
            .collect();
        let vac: Vec<(f64, f64)> = (0..pos.len())
            .filter(|&k| !truth[k] && k % 29 == 3)
            .map(|k| pos[k])
            .take(12)
            .collect();
        let mono = vec![true; pos.len()];
        let out = assign(&pos, &head, &mono, &vac, 9.1, Trust::Monolayer);
        assert_eq!(out.evidence, Some(Evidence::Vacancies));
        let interior = |k: usize| (pos[k].0 - 200.0).hypot(pos[k].1 - 200.0) < 80.0;
        assert!((0..pos.len())
            .filter(|&k| interior(k))
            .all(|k| out.metal[k] == truth[k]));
    }

    #[test]
    fn two_grains_or_other_polymorphs_are_left_alone() {
        let (mut pos, mut truth) = honeycomb(5, 9.1, 0.0);
        let (p2, t2) = honeycomb(5, 9.1, 0.5);
        pos.extend(p2.iter().map(|&(x, y)| (x + 400.0, y)));
        truth.extend(t2);
        let head = vec![true; pos.len()];
        let mono = vec![true; pos.len()];
        let out = assign(&pos, &head, &mono, &[], 9.1, Trust::Monolayer);
        assert_eq!(out.evidence, None);
        assert_eq!(out.metal, head);
        let (pos, _) = honeycomb(5, 9.1, 0.0);
        let head = vec![true; pos.len()];
        let out = assign(
            &pos,
            &head,
            &vec![false; pos.len()],
            &[],
            9.1,
            Trust::Monolayer,
        );
        assert_eq!((out.evidence, out.relabelled), (None, 0));
    }

    #[test]
    fn by_region_a_monolayer_is_split_and_a_stack_read_as_one_is_left_alone() {
        // A monolayer whose chalcogen columns the head calls metal, with calls on them, and
        // 300 px away a stack read as 2H-1L: every column "metal", no calls.
        let (pos, truth) = honeycomb(6, 9.1, 0.3);
        let mut all = pos.clone();
        all.extend(pos.iter().map(|&(x, y)| (x + 300.0, y)));
        let head = vec![true; all.len()];
        let mono = vec![true; all.len()];
        let calls: Vec<(f64, f64)> = (0..pos.len())
            .filter(|&k| !truth[k] && k % 11 == 1)
            .map(|k| pos[k])
            .take(10)
            .collect();
        assert!(calls.len() >= MIN_VACANCIES);
        let whole = assign(&all, &head, &mono, &calls, 9.1, Trust::Monolayer);
        assert!(
            whole.metal[pos.len()..].iter().any(|&m| !m),
            "the whole image splits the stack too"
        );
        let out = assign(&all, &head, &mono, &calls, 9.1, Trust::MapOnly);
        assert_eq!(out.evidence, Some(Evidence::Vacancies));
        assert_eq!(&out.metal[pos.len()..], &head[pos.len()..]);
        let interior = |k: usize| (pos[k].0 - 200.0).hypot(pos[k].1 - 200.0) < 40.0;
        assert!((0..pos.len())
            .filter(|&k| interior(k))
            .all(|k| out.metal[k] == truth[k]));
        // Without calls, a weak head preference decides only for a known monolayer.
        let weak: Vec<bool> = (0..pos.len()).map(|k| truth[k] || k % 5 < 3).collect();
        let mono = vec![true; pos.len()];
        let known = assign(&pos, &weak, &mono, &[], 9.1, Trust::Monolayer);
        assert_eq!(known.evidence, Some(Evidence::AtomHead));
        let map_only = assign(&pos, &weak, &mono, &[], 9.1, Trust::MapOnly);
        assert_eq!((map_only.evidence, map_only.relabelled), (None, 0));
    }
}
