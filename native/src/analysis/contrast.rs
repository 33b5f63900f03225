//! How the two column kinds of the 2H areas compare, against what the calibrated simulator
//! says each layer count of the chemistry gives: the lattice's own word on the polymorph
//! map's 2H-1L / 2H-2L / 2H-3L.
//!
//! In an incoherent image every column is its signal times one probe, and in the honeycomb
//! a hollow sees the two sublattices as each column sees the other one (three neighbours at
//! a/√3, six at 2a/√3, …). So a column's signal above the mean of the hollows beside it,
//! over a 0.9 Å disk ([`super::columns::Measure`]), is its integrated signal times a factor
//! the two sublattices share, whatever the probe's size, defocus or halo: the ratio of the
//! two sublattices' medians is the ratio of their columns' integrated signals (a rendered
//! honeycomb of 1 : 0.25 columns under Gaussian probes of 0.6–2.0 Å FWHM gives 0.25 at
//! every width). Carbon lying on the crystal adds to site and hollows alike.
//!
//! The simulator's column response ([`crate::sim::response`], fitted to frozen-phonon
//! multislice) gives the same ratio for each 2H layer count: at the voltage and detector
//! the file or the options give, else over every annular detector it holds (inner angle
//! 25–100 mrad, at least 5 mrad outside the probe's bright-field disk; 60–200 kV, 20–35 mrad
//! probes). Where the ranges of the layer counts do not
//! overlap — WS₂: monolayer S₂ / W 0.1–0.4, bilayer columns 0.6–1.0 — the measured ratio
//! counts the layers by itself; where they do (MoS₂ and the selenides at low inner angles)
//! it only rules out what lies outside. The result is reported and warned about. Without
//! the dose (which counts the layers itself) the map is relabelled ([`read`]): at known
//! optics where the ratio clearly fits another count; over the sweep only where it rules
//! out the map's own count and fits another, as a WS₂ "monolayer" whose columns compare as
//! 0.81 is a stack at every detector. Where the ranges overlap (the low-angle detectors
//! bring the chalcogen up to and past the metal: WSe₂'s Se₂ outshines W from 25 mrad) the
//! sweep relabels nothing.

use super::columns::Measure;
use super::frame::Frame;
use super::intensity::median;
use super::layers::{Acquired, STACKS};
use super::maps::PolymorphMap;
use super::neighbourhood;
use super::source::Source;
use super::sublattice::Honeycomb;
use crate::crystal::{Chemistry, Polymorph, PolymorphClass, Site};
use crate::findings::ColumnContrast;
use crate::sim::params::BRIGHT_FIELD_MARGIN_MRAD;
use crate::sim::response::Response;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Fewest columns on each sublattice for a class to be measured.
pub const MIN_PER_SUBLATTICE: usize = 30;

/// Factor by which a measured ratio may lie outside the range swept over detectors and still
/// fit it: real images add processing and detector non-linearity to the ≤ 4 % the
/// frozen-phonon test set shows. Wide enough, and narrow enough to keep WS₂'s monolayer
/// (0.14–0.39) and bilayer (0.55–0.97) apart.
pub const TOLERANCE: f64 = 1.15;

/// Largest |ln(measured / simulated)| for a class to fit at known optics: on the
/// frozen-phonon test set at 10⁵ e⁻/Å² (40 groups, 2 images each, the optics given), every
/// class the map drew measures within 3.6 % of the simulator's value for the cell's true
/// layer count (models/README.md, "Column contrast").
pub const KNOWN_OPTICS_FIT: f64 = 0.05;

/// How much nearer (in |ln ratio|) than the map's class another class must be for the
/// columns to be relabelled at known optics. Chosen on that test set at 10⁵ e⁻/Å²: with 0.02
/// its classes move 19 times, all to the cell's true layer count (the four junction moves
/// to the true side too); with 0 one WSe₂ monolayer moves to 2H-2L, 0.3 % nearer.
pub const RELABEL_MARGIN: f64 = 0.02;

/// The optics swept when the image does not say them: voltages, probe semi-angles and
/// detector inner angles (mrad) the response table covers.
const SWEEP_KV: [f64; 4] = [60.0, 80.0, 100.0, 200.0];
const SWEEP_CONVERGENCE: [f64; 4] = [20.0, 23.0, 30.0, 35.0];
/// Low-angle detectors (25–35 mrad) count only for probes whose bright-field disk stays
/// [`BRIGHT_FIELD_MARGIN_MRAD`] inside them, as the simulator draws them.
const SWEEP_INNER: [f64; 10] = [25.0, 30.0, 35.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];

/// Voltage, probe semi-angle and detector inner angle, where the file or the options say
/// the voltage and the detector (the probe defaults to 23 mrad).
fn known_optics(f: &Frame, file: &crate::io::Acquisition) -> Option<(f64, f64, f64)> {
    let acquired = Acquired::of(&f.options.exposure, file);
    Some((
        acquired.kv?,
        acquired.convergence_mrad,
        acquired.inner_mrad?,
    ))
}

/// The ratio of a 2H polymorph's two column signals (dimmer over brighter) at one
/// response; both orientations of a stack give the same pair of columns flipped.
fn simulated_ratio(r: &Response, chemistry: Chemistry, polymorph: Polymorph) -> f64 {
    let layers = polymorph.layers();
    let mut lo: f64 = 1.0;
    for flipped in [false, true] {
        let a = r.column(chemistry, &polymorph.column(Site::A), layers, flipped);
        let b = r.column(chemistry, &polymorph.column(Site::B), layers, flipped);
        lo = lo.min(a.min(b) / a.max(b));
    }
    lo
}

/// The column responses at the optics given, else over the sweep (computed once per
/// process: 136 conditions).
fn responses(optics: Option<(f64, f64, f64)>) -> Cow<'static, [Response]> {
    static SWEEP: OnceLock<Vec<Response>> = OnceLock::new();
    match optics {
        Some((kv, c, inner)) => Cow::Owned(vec![Response::at(kv, c, inner)]),
        None => Cow::Borrowed(SWEEP.get_or_init(|| {
            SWEEP_KV
                .iter()
                .flat_map(|&kv| {
                    SWEEP_CONVERGENCE.iter().flat_map(move |&c| {
                        SWEEP_INNER
                            .iter()
                            .filter(move |&&inner| inner >= c + BRIGHT_FIELD_MARGIN_MRAD)
                            .map(move |&inner| Response::at(kv, c, inner))
                    })
                })
                .collect()
        })),
    }
}

/// The simulated ratio's range for `polymorph` of `chemistry`: at the optics given, else
/// over the sweep.
pub fn simulated_range(
    chemistry: Chemistry,
    polymorph: Polymorph,
    optics: Option<(f64, f64, f64)>,
) -> [f64; 2] {
    responses(optics)
        .iter()
        .map(|r| simulated_ratio(r, chemistry, polymorph))
        .fold([f64::INFINITY, f64::NEG_INFINITY], |[lo, hi], r| {
            [lo.min(r), hi.max(r)]
        })
}

/// Whether `ratio` lies within `range`, widened by [`KNOWN_OPTICS_FIT`] at known optics
/// (one value) and by [`TOLERANCE`] over the sweep.
pub fn fits(ratio: f64, range: [f64; 2], optics_known: bool) -> bool {
    let widen = if optics_known {
        KNOWN_OPTICS_FIT.exp()
    } else {
        TOLERANCE
    };
    ratio >= range[0] / widen && ratio <= (range[1] * widen).min(1.0)
}

/// The dimmer over the brighter sublattice's median signal above the hollows, and the
/// columns measured on each, for the `members` among `positions` (input px).
pub fn sublattice_ratio(
    positions: &[(f64, f64)],
    members: &[bool],
    nn_px: f64,
    signal: impl Fn(f64, f64) -> f64,
) -> Option<(f64, [usize; 2])> {
    let ([lo, hi], counts) = sublattice_medians(positions, members, nn_px, signal)?;
    (hi > 0.0).then(|| (lo.max(0.0) / hi, counts))
}

/// The dimmer and the brighter sublattice's median signal above the hollows, and the
/// columns measured on each, for the `members` among `positions` (input px); `None` with
/// fewer than [`MIN_PER_SUBLATTICE`] columns on either.
pub fn sublattice_medians(
    positions: &[(f64, f64)],
    members: &[bool],
    nn_px: f64,
    signal: impl Fn(f64, f64) -> f64,
) -> Option<([f64; 2], [usize; 2])> {
    let honeycomb = Honeycomb::read(positions, members, nn_px)?;
    let around = neighbourhood::Neighbourhood::new(positions, nn_px);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, side) in honeycomb.sides.iter().enumerate() {
        let Some(on_a) = *side else { continue };
        let at = positions[i];
        let Some(floor) = around.floor(at, &signal) else {
            continue;
        };
        let above = signal(at.0, at.1) - floor;
        if !above.is_finite() {
            continue;
        }
        if on_a {
            a.push(above);
        } else {
            b.push(above);
        }
    }
    let counts = [a.len(), b.len()];
    if counts[0] < MIN_PER_SUBLATTICE || counts[1] < MIN_PER_SUBLATTICE {
        return None;
    }
    let (ma, mb) = (median(&mut a), median(&mut b));
    Some(([ma.min(mb), ma.max(mb)], counts))
}

/// The dimmest column of a 2H stack over the brighter column of the monolayer, in
/// `chemistry`, the least over every detector and voltage of the sweep: however the
/// detector weighs metal against chalcogen, a stack's every column holds a metal and a
/// chalcogen pair (2H-2L: M + X₂) and outshines both of the monolayer's. At the image's
/// own optics the bound could only be higher, so the sweep's is the safe one.
pub fn stack_over_monolayer(chemistry: Chemistry) -> f64 {
    let mono = Polymorph::H2Mono;
    responses(None)
        .iter()
        .flat_map(|r| {
            let brightest = [Site::A, Site::B]
                .map(|s| r.column(chemistry, &mono.column(s), 1, false))
                .into_iter()
                .fold(0.0, f64::max);
            STACKS.iter().filter(|&&p| p != mono).flat_map(move |&p| {
                [false, true].into_iter().flat_map(move |flipped| {
                    [Site::A, Site::B]
                        .map(|s| r.column(chemistry, &p.column(s), p.layers(), flipped) / brightest)
                })
            })
        })
        .fold(f64::INFINITY, f64::min)
}

/// Over the sweep (optics unknown), the class a 2H class's columns go to, given the 2H
/// classes whose ranges their contrast fits: where that leaves out the map's own layer count,
/// the fewest layers among those allowed (a thicker stack adds no column kind the ratio could
/// show; the voltage and detector tell 2H-2L from 2H-3L).
pub fn sweep_relabel(
    own: Polymorph,
    fitting: &[Polymorph],
    allows: impl Fn(Polymorph) -> bool,
) -> Option<Polymorph> {
    if fitting.contains(&own) {
        return None;
    }
    fitting
        .iter()
        .copied()
        .filter(|&q| q != own && allows(q))
        .min_by_key(|q| q.layers())
}

/// The column contrast of each 2H class of `map` that holds enough columns, with what the
/// simulator gives for every 2H layer count of the image's chemistry. Without the dose
/// (which counts the layers itself, [`super::layers`]), at known optics a class whose
/// contrast lies within [`KNOWN_OPTICS_FIT`] of another allowed 2H class and
/// [`RELABEL_MARGIN`] nearer to it than to its own is relabelled to it; over the sweep, with
/// the chemistry given, a class whose contrast rules out its own count goes to
/// [`sweep_relabel`]'s.
pub(super) fn read(
    f: &Frame,
    map: &mut PolymorphMap,
    measure: &Measure,
    positions: &[(f64, f64)],
    source: &Source,
) -> Vec<ColumnContrast> {
    let chemistry = f.chemistry();
    let optics = known_optics(f, &source.acquisition);
    let known = optics.is_some();
    let nn_px = f.column_spacing_px();
    let ranges: BTreeMap<String, [f64; 2]> = STACKS
        .iter()
        .map(|&p| (p.name().to_string(), simulated_range(chemistry, p, optics)))
        .collect();
    let class_of: Vec<u8> = positions
        .iter()
        .map(|&(x, y)| map.classes[f.model_index(x, y)])
        .collect();
    let relabels = f.options.exposure.dose_e_per_a2.is_none();
    let out: Vec<ColumnContrast> = STACKS
        .iter()
        .filter_map(|&p| {
            let class = PolymorphClass::from(p).index();
            let members: Vec<bool> = class_of.iter().map(|&c| c == class).collect();
            let (ratio, columns) =
                sublattice_ratio(positions, &members, nn_px, |x, y| measure.at(x, y))?;
            let fitting: Vec<Polymorph> = STACKS
                .iter()
                .copied()
                .filter(|q| fits(ratio, ranges[q.name()], known))
                .collect();
            let fits_own = fitting.contains(&p);
            let off = |q: Polymorph| {
                let r = ranges[q.name()][0];
                (ratio / r).ln().abs()
            };
            let nearest = STACKS
                .iter()
                .copied()
                .filter(|&q| f.options.allows(q))
                .min_by(|&a, &b| off(a).total_cmp(&off(b)));
            let to = if !relabels {
                None
            } else if known {
                nearest.filter(|&q| {
                    q != p && off(q) <= KNOWN_OPTICS_FIT && off(p) - off(q) >= RELABEL_MARGIN
                })
            } else if f.options.chemistry.is_some() {
                sweep_relabel(p, &fitting, |q| f.options.allows(q))
            } else {
                // The ranges are an assumed MoS₂'s: the ratio may rule out the chemistry
                // rather than the count (the warnings name the chemistries it fits).
                None
            };
            let relabelled_to = to.map(|q| q.name().to_string());
            Some(ColumnContrast {
                polymorph: p.name().to_string(),
                columns,
                ratio,
                expected: ranges[p.name()],
                fits: fits_own,
                fitting: fitting.iter().map(|q| q.name().to_string()).collect(),
                simulated: ranges.clone(),
                optics_known: known,
                relabelled_to,
                chemistries: Chemistry::ALL
                    .into_iter()
                    .filter(|&c| fits(ratio, simulated_range(c, p, optics), known))
                    .map(|c| c.name().to_string())
                    .collect(),
            })
        })
        .collect();
    // Every class's decision was made on the map as the network drew it.
    let moves: Vec<(u8, u8)> = out
        .iter()
        .filter_map(|c| {
            let from = PolymorphClass::from(Polymorph::from_name(&c.polymorph)?).index();
            let to = PolymorphClass::from(Polymorph::from_name(c.relabelled_to.as_ref()?)?).index();
            Some((from, to))
        })
        .collect();
    if !moves.is_empty() {
        for c in map.classes.iter_mut() {
            if let Some(&(_, to)) = moves.iter().find(|(from, _)| from == c) {
                *c = to;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A honeycomb (nearest-neighbour distance `nn`) of columns `a` and `b` under a Gaussian
    /// probe of FWHM `fwhm` (px), on a `size`² image, with the column positions.
    fn honeycomb(nn: f64, a: f64, b: f64, fwhm: f64, size: usize) -> (Vec<f32>, Vec<(f64, f64)>) {
        let s = nn * 3f64.sqrt();
        let (a1, a2) = ((s, 0.0), (0.5 * s, 0.5 * 3f64.sqrt() * s));
        let mut cols = Vec::new();
        for i in -30..30 {
            for j in -30..30 {
                let o = (
                    i as f64 * a1.0 + j as f64 * a2.0,
                    i as f64 * a1.1 + j as f64 * a2.1,
                );
                for (dx, dy, w) in [(0.0, 0.0, a), ((a1.0 + a2.0) / 3.0, (a1.1 + a2.1) / 3.0, b)] {
                    let p = (o.0 + dx + 3.3, o.1 + dy + 2.1);
                    if p.0 > -10.0
                        && p.1 > -10.0
                        && p.0 < size as f64 + 10.0
                        && p.1 < size as f64 + 10.0
                    {
                        cols.push((p.0, p.1, w));
                    }
                }
            }
        }
        let sigma = fwhm / 2.355;
        let mut img = vec![0f32; size * size];
        for &(cx, cy, w) in &cols {
            let r = (4.0 * sigma).ceil() as i64;
            for y in (cy as i64 - r).max(0)..(cy as i64 + r + 1).min(size as i64) {
                for x in (cx as i64 - r).max(0)..(cx as i64 + r + 1).min(size as i64) {
                    let d2 = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2);
                    img[y as usize * size + x as usize] +=
                        (w * (-d2 / (2.0 * sigma * sigma)).exp()) as f32;
                }
            }
        }
        let inside = cols
            .iter()
            .filter(|c| {
                c.0 > 4.0 && c.1 > 4.0 && c.0 < size as f64 - 5.0 && c.1 < size as f64 - 5.0
            })
            .map(|c| (c.0, c.1))
            .collect();
        (img, inside)
    }

    /// A 0.9 Å-like disk average on the rendered image.
    fn disk(img: &[f32], size: usize, r: f64) -> impl Fn(f64, f64) -> f64 + '_ {
        move |x, y| {
            let (mut s, mut n) = (0.0, 0);
            let ri = r.ceil() as i64;
            for yy in (y.round() as i64 - ri)..=(y.round() as i64 + ri) {
                for xx in (x.round() as i64 - ri)..=(x.round() as i64 + ri) {
                    if xx < 0 || yy < 0 || xx >= size as i64 || yy >= size as i64 {
                        continue;
                    }
                    if (xx as f64 - x).powi(2) + (yy as f64 - y).powi(2) <= r * r {
                        s += img[yy as usize * size + xx as usize] as f64;
                        n += 1;
                    }
                }
            }
            s / n.max(1) as f64
        }
    }

    #[test]
    fn the_ratio_is_the_columns_whatever_the_probe() {
        // 1.82 Å at 0.1 Å/px; probes of 0.8 to 1.6 Å FWHM.
        for fwhm in [8.0, 12.0, 16.0] {
            let (img, pos) = honeycomb(18.2, 1.0, 0.25, fwhm, 200);
            let members = vec![true; pos.len()];
            let (ratio, n) = sublattice_ratio(&pos, &members, 18.2, disk(&img, 200, 4.5)).unwrap();
            assert!((ratio - 0.25).abs() < 0.02, "FWHM {fwhm}: {ratio}");
            assert!(
                n[0] >= MIN_PER_SUBLATTICE && n[1] >= MIN_PER_SUBLATTICE,
                "{n:?}"
            );
        }
        // Equal columns (a 2H bilayer) read as equal.
        let (img, pos) = honeycomb(18.2, 1.0, 1.0, 10.0, 200);
        let (ratio, _) =
            sublattice_ratio(&pos, &vec![true; pos.len()], 18.2, disk(&img, 200, 4.5)).unwrap();
        assert!(ratio > 0.97, "{ratio}");
    }

    #[test]
    fn too_few_columns_are_not_read() {
        let (img, pos) = honeycomb(18.2, 1.0, 0.25, 10.0, 60);
        let members = vec![true; pos.len()];
        assert!(pos.len() < 2 * MIN_PER_SUBLATTICE);
        assert_eq!(
            sublattice_ratio(&pos, &members, 18.2, disk(&img, 60, 4.5)),
            None
        );
    }

    #[test]
    fn the_simulator_tells_a_ws2_monolayer_from_its_stacks() {
        let mono = simulated_range(Chemistry::WS2, Polymorph::H2Mono, None);
        let bi = simulated_range(Chemistry::WS2, Polymorph::H2Bi, None);
        // Multislice library, 80 kV 23 mrad (scripts/physics/library/runs, peak over hollow):
        // monolayer S2/W 0.13-0.31 over inner angles 40-100 mrad and 0.52 (disks) at 30-100,
        // bilayer 0.56-0.96 and 0.95 at 30-100.
        assert!(mono[0] > 0.05 && mono[1] < 0.6, "monolayer {mono:?}");
        assert!(bi[0] > 0.45 && bi[1] <= 1.0, "bilayer {bi:?}");
        // The real 60 kV WS2 frame's 0.81 (a bilayer) fits no monolayer at any detector.
        assert!(mono[1] * TOLERANCE < 0.81, "{mono:?}");
        assert!(
            bi[0] / TOLERANCE < 0.81 && 0.81 < bi[1] * TOLERANCE,
            "{bi:?}"
        );
        // At one detector the range is one value, and the 40-160 mrad monolayer is 0.31.
        let at = simulated_range(Chemistry::WS2, Polymorph::H2Mono, Some((80.0, 23.0, 40.0)));
        assert_eq!(at[0], at[1]);
        assert!((at[0] - 0.31).abs() < 0.05, "{at:?}");
    }

    #[test]
    fn a_stack_outshines_the_monolayer_beside_it_in_the_selenides() {
        // Every column of a 2H stack holds a metal and a chalcogen pair; at every detector
        // and voltage of the sweep (low-angle ones included, where Se2 outshines W) the
        // selenides' stacks stand clear of the monolayer's brighter column, the sulfides'
        // do not (WS2's bilayer W + S2 comes under the monolayer's W at some detectors).
        let bound = |c| stack_over_monolayer(c);
        assert!(bound(Chemistry::WSe2) > 1.45, "{}", bound(Chemistry::WSe2));
        assert!(bound(Chemistry::MoSe2) > 1.3, "{}", bound(Chemistry::MoSe2));
        assert!(bound(Chemistry::MoS2) < 1.3, "{}", bound(Chemistry::MoS2));
        assert!(bound(Chemistry::WS2) < 1.0, "{}", bound(Chemistry::WS2));
        // The comparison as the engine makes it: a monolayer's brighter sublattice against
        // a bilayer's columns (each the monolayer's pair summed) under the same probe.
        let (mono, pos) = honeycomb(18.2, 1.0, 0.6, 10.0, 200);
        let ([lo, hi], _) =
            sublattice_medians(&pos, &vec![true; pos.len()], 18.2, disk(&mono, 200, 4.5)).unwrap();
        assert!((lo / hi - 0.6).abs() < 0.02, "{lo} {hi}");
        let (bi, _) = honeycomb(18.2, 1.6, 1.6, 10.0, 200);
        let ([b_lo, b_hi], _) =
            sublattice_medians(&pos, &vec![true; pos.len()], 18.2, disk(&bi, 200, 4.5)).unwrap();
        assert!((b_lo / hi - 1.6).abs() < 0.05 && (b_hi / hi - 1.6).abs() < 0.05);
        let limit = 0.5 * (1.0 + bound(Chemistry::WSe2));
        assert!(b_lo / hi > limit && hi / hi < limit);
    }

    /// The fitting classes as `read` finds them over the sweep, and where they send `own`.
    fn over_the_sweep(chemistry: Chemistry, own: Polymorph, ratio: f64) -> Option<Polymorph> {
        let fitting: Vec<Polymorph> = STACKS
            .iter()
            .copied()
            .filter(|&q| fits(ratio, simulated_range(chemistry, q, None), false))
            .collect();
        sweep_relabel(own, &fitting, |_| true)
    }

    #[test]
    fn over_the_sweep_only_a_ruled_out_count_is_relabelled() {
        // The real WS2 frame's 0.81 rules out a monolayer at every detector: the fewest
        // layers that fit, as its Velox file's optics say (2H-2L 0.81 at 60 kV, 51-200 mrad).
        let mono = Polymorph::H2Mono;
        assert_eq!(
            over_the_sweep(Chemistry::WS2, mono, 0.81),
            Some(Polymorph::H2Bi)
        );
        // A WS2 monolayer's own contrast (0.31 at 40-160 mrad) stays, and a stack whose
        // columns compare as a monolayer's goes to the monolayer.
        assert_eq!(over_the_sweep(Chemistry::WS2, mono, 0.31), None);
        assert_eq!(
            over_the_sweep(Chemistry::WS2, Polymorph::H2Bi, 0.25),
            Some(mono)
        );
        // The selenides' counts overlap over the sweep (the Ti-doped WSe2 frames' 0.66 and
        // 0.85, the Cr-doped one's 0.87): nothing moves, whatever the map drew.
        for ratio in [0.66, 0.85, 0.87] {
            for own in STACKS {
                assert_eq!(
                    over_the_sweep(Chemistry::WSe2, own, ratio),
                    None,
                    "{ratio} {own:?}"
                );
            }
        }
        // A ratio no count fits (a background-subtracted export) moves nothing either.
        assert_eq!(over_the_sweep(Chemistry::WSe2, mono, 0.37), None);
        // Only allowed classes are candidates.
        let fitting = [Polymorph::H2Bi, Polymorph::H2Tri];
        let to = sweep_relabel(mono, &fitting, |q| q != Polymorph::H2Bi);
        assert_eq!(to, Some(Polymorph::H2Tri));
        assert_eq!(sweep_relabel(mono, &fitting, |q| q == mono), None);
    }
}
