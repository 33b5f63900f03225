//! The pixel size checked against the crystal: every TMD layer seen along [001] puts its
//! columns on one triangular lattice of spacing a/√3, and a is known for each chemistry
//! (MoS₂ 3.160 Å, WS₂ 3.153, MoSe₂ 3.288, WSe₂ 3.282). The found columns' lattice
//! therefore measures the image's real pixel size, independently of the file's
//! calibration; a disagreement of more than [`TOLERANCE`] is reported as a calibration
//! error (the MoS₂ image we evaluate on carries a calibration its lattice contradicts by
//! 5 %, the Ti-doped WSe₂ DM4 one off by 4 %).
//!
//! An uncalibrated image is calibrated from its own lattice in two steps: the power
//! spectrum's first-order ring ({100}, d = a·√3/2) gives a first pixel size to run the
//! network at, and the lattice fitted to the columns it finds gives the final one.

use crate::analysis::lattice;
use crate::crystal::{Chemistry, ChemistrySource};
use crate::findings::LatticeCheck;
use crate::math::fft::{fast_size, Fft2};
use rayon::prelude::*;

/// Largest relative disagreement between the lattice constant measured with the file's
/// calibration and the chemistry's before the report warns. Fits of the simulator's
/// images recover a within 0.5 % (see the tests), strain in real flakes stays ≲ 1 %.
pub const TOLERANCE: f64 = 0.03;
/// Fewest neighbour links for a lattice constant to be reported (about 15 columns of a
/// monolayer).
pub const MIN_LINKS: usize = 40;

/// The mean column spacing of the columns' lattice (px) and how many neighbour links
/// gave its first estimate; `None` under [`MIN_LINKS`].
///
/// The neighbour links say whether the columns form a lattice at all ([`MIN_LINKS`]), but
/// spurious columns (in carbon, at hollow sites) and sublattices off their ideal places
/// shorten links and bias their spacing. So the spacing is taken from the columns'
/// structure factor: the first-order reflections of the column lattice, found on the ring
/// the expected spacing allows ([`ring_peak`]) and refined where |Σ exp(−2πi k·r)|² peaks.
/// Columns off the lattice add only an incoherent background there. The cell area
/// 1/|k₁ × k₂| gives the spacing (area = (√3/2)·s²), which averages an anisotropic scale
/// (drift, a non-square scan) over both directions.
pub fn column_spacing_px(
    positions: &[(f64, f64)],
    expected_spacing_px: f64,
) -> Option<(f64, usize)> {
    let lattice::LinkBasis { steps: links, .. } =
        lattice::link_basis(positions, expected_spacing_px)?;
    if links < MIN_LINKS {
        return None;
    }
    // The first-order reflection the columns' structure factor shows most strongly on the
    // ring the expected spacing allows, then the one 60° on, each refined over all columns.
    // The links' own cell is not the start: where the two sublattices sit off their ideal
    // places (a tilted stack, an asymmetric probe) the nearest-neighbour links are 15, 17.6
    // and 20 px instead of three of 17.4 (real WS₂), their median spacing is 13 % short and
    // a search near it finds a wrong reflection (a = 2.52 Å where the image says 3.21).
    let k1 = ring_peak(positions, expected_spacing_px);
    let (c, s) = (
        std::f64::consts::FRAC_PI_3.cos(),
        std::f64::consts::FRAC_PI_3.sin(),
    );
    let k2 = (k1.0 * c - k1.1 * s, k1.0 * s + k1.1 * c);
    let (k1, k2) = (peak(positions, k1), peak(positions, k2));
    let area = 1.0 / (k1.0 * k2.1 - k1.1 * k2.0).abs();
    Some(((area / (3f64.sqrt() / 2.0)).sqrt(), links))
}

/// Relative half-width of the ring [`ring_peak`] searches: the calibration error the
/// lattice indexing accepts.
const RING_REACH: f64 = 0.3;

/// The strongest first-order reflection of the column lattice (cycles/px) whose spacing
/// lies within ±[`RING_REACH`] of `spacing_px`: the structure factor of the columns in a
/// central window 12 spacings wide, on a polar grid finer than its reflections (≈ 1/24 of
/// |k| wide) over one 60° sector (the lattice's six reflections repeat every 60°). A
/// honeycomb's next reflections lie at 0.58 and 1.15 |k|, the latter a quarter as strong.
fn ring_peak(positions: &[(f64, f64)], spacing_px: f64) -> (f64, f64) {
    let n = positions.len().max(1) as f64;
    let centre = positions
        .iter()
        .fold((0.0, 0.0), |c, p| (c.0 + p.0 / n, c.1 + p.1 / n));
    let half = 12.0 * spacing_px;
    let window: Vec<(f64, f64)> = positions
        .iter()
        .copied()
        .filter(|p| (p.0 - centre.0).abs() <= half && (p.1 - centre.1).abs() <= half)
        .collect();
    // First-order reflection of a triangular lattice of spacing s: |k| = 2 / (√3 s).
    let k0 = 2.0 / (3f64.sqrt() * spacing_px);
    let step = 1.0 / 96.0;
    let radii = (2.0 * RING_REACH / step).ceil() as i32;
    let angles = (std::f64::consts::FRAC_PI_3 / step).ceil() as i32;
    let mut best = (f64::NEG_INFINITY, (k0, 0.0));
    for i in 0..=radii {
        // Spacing from (1 − reach) to (1 + reach) times the expected one.
        let r = k0 / (1.0 - RING_REACH + i as f64 * step);
        for j in 0..angles {
            let t = j as f64 * step;
            let k = (r * t.cos(), r * t.sin());
            let v = structure_factor(&window, k);
            if v > best.0 {
                best = (v, k);
            }
        }
    }
    best.1
}

/// |Σ exp(−2πi k·r)|² over the columns, per column.
fn structure_factor(positions: &[(f64, f64)], k: (f64, f64)) -> f64 {
    let (re, im) = positions
        .par_iter()
        .map(|&(x, y)| {
            let phase = std::f64::consts::TAU * (k.0 * x + k.1 * y);
            (phase.cos(), -phase.sin())
        })
        .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    (re * re + im * im) / positions.len().max(1) as f64
}

/// The structure factor's maximum on a grid of `(2n + 1)²` points `step` apart around
/// `centre`.
fn grid_max(positions: &[(f64, f64)], centre: (f64, f64), step: f64, n: i32) -> (f64, f64) {
    let mut best = (structure_factor(positions, centre), centre);
    for i in -n..=n {
        for j in -n..=n {
            let k = (centre.0 + i as f64 * step, centre.1 + j as f64 * step);
            let v = structure_factor(positions, k);
            if v > best.0 {
                best = (v, k);
            }
        }
    }
    best.1
}

/// The reflection near `k0` (cycles/px), found coarse to fine: a reflection from columns
/// in a window of half-width h is ≈ 1/(2h) wide, so it is searched for first among the
/// columns of a small central window (±10 % of |k0|, where a wide peak cannot be missed
/// between grid points), then in windows twice as large around the last maximum, and
/// finally among all columns on finer grids.
fn peak(positions: &[(f64, f64)], k0: (f64, f64)) -> (f64, f64) {
    let n = positions.len().max(1) as f64;
    let centre = positions
        .iter()
        .fold((0.0, 0.0), |c, p| (c.0 + p.0 / n, c.1 + p.1 / n));
    let reach = positions
        .iter()
        .map(|p| (p.0 - centre.0).abs().max((p.1 - centre.1).abs()))
        .fold(0.0, f64::max);
    let spacing = 1.0 / k0.0.hypot(k0.1);
    let mut half = (12.0 * spacing).min(reach + 1.0);
    let mut k = k0;
    let mut step = 1.0 / (8.0 * half);
    let mut n_steps = ((0.1 / spacing) / step).ceil().max(2.0) as i32;
    loop {
        let window: Vec<(f64, f64)> = positions
            .iter()
            .copied()
            .filter(|p| (p.0 - centre.0).abs() <= half && (p.1 - centre.1).abs() <= half)
            .collect();
        k = grid_max(&window, k, step, n_steps);
        if half > reach {
            break;
        }
        half *= 2.0;
        step /= 2.0;
        n_steps = 4;
    }
    for _ in 0..3 {
        step /= 3.0;
        k = grid_max(positions, k, step, 3);
    }
    k
}

/// Compares the lattice of `positions` (px) at `pixel_size` (Å/px) with `chemistry`'s
/// (MoS₂ when `None`, and the check says it assumed so).
pub fn check(
    positions: &[(f64, f64)],
    pixel_size: f64,
    chemistry: Option<Chemistry>,
) -> LatticeCheck {
    let chem = chemistry.unwrap_or_default();
    let expected = chem.lattice_a_angstrom();
    let found = column_spacing_px(positions, lattice::COLUMN_SPACING_A / pixel_size);
    let a_px = found.map(|(s, _)| s * 3f64.sqrt());
    let a = a_px.map(|a| a * pixel_size);
    let deviation = a.map(|a| a / expected - 1.0);
    LatticeCheck {
        a_angstrom: a,
        links: found.map_or(0, |(_, n)| n),
        chemistry: chem,
        chemistry_source: ChemistrySource::of(chemistry),
        expected_a_angstrom: expected,
        deviation,
        implied_pixel_size_angstrom: a_px.map(|a| expected / a),
        calibration_suspect: deviation.is_some_and(|d| d.abs() > TOLERANCE),
        spectrum_pixel_size_angstrom: None,
    }
}

impl LatticeCheck {
    /// The warning a suspect calibration deserves, naming the pixel size the lattice implies.
    pub fn warning(&self) -> Option<String> {
        if !self.calibration_suspect {
            return None;
        }
        let (a, d, implied) = (
            self.a_angstrom?,
            self.deviation?,
            self.implied_pixel_size_angstrom?,
        );
        let mut text = format!(
            "the columns' lattice constant is {a:.3} Å, {:+.1} % off {}'s {:.3} Å: the pixel size \
             is likely wrong (the lattice implies {implied:.4} Å/px; rerun with --pixel-size \
             {implied:.4} or --pixel-size lattice)",
            d * 100.0,
            self.chemistry,
            self.expected_a_angstrom
        );
        if self.chemistry_source == ChemistrySource::Assumed {
            if let Some(other) = Chemistry::ALL
                .into_iter()
                .find(|c| (a / c.lattice_a_angstrom() - 1.0).abs() <= TOLERANCE)
            {
                text.push_str(&format!(
                    "; the chemistry was assumed, and {a:.3} Å fits {} (pass --chemistry)",
                    other.name()
                ));
            }
        }
        Some(text)
    }
}

/// The image's column spacing (px) from its power spectrum, for a first pixel size when
/// the file has none: the first-order ring is {100} (d = 1.5 × the column spacing), the
/// lowest-frequency ring whose six spots stand out of the spectrum. The central square
/// of up to 1024² pixels is used. `None` when no sixfold ring stands out (an image with
/// equal columns, such as 2H-2L, shows only {110}, d = 0.87 × the spacing: the lattice
/// pass that follows then fails rather than calibrating wrongly).
pub fn spectral_column_spacing_px(pixels: &[f32], width: usize, height: usize) -> Option<f64> {
    let n = fast_size(width.min(height).min(1024));
    let n = if n > width.min(height) { n / 2 } else { n };
    if n < 32 {
        return None;
    }
    let power = windowed_power(pixels, width, height, n);
    let wc = n / 2 + 1;
    let at = |kx: i64, ky: i64| -> f32 {
        // Half-plane: (kx, ky) and (−kx, −ky) are the same bin.
        let (kx, ky) = if kx < 0 { (-kx, -ky) } else { (kx, ky) };
        if kx as usize >= wc || ky.unsigned_abs() as usize > n / 2 {
            return 0.0;
        }
        let row = ky.rem_euclid(n as i64) as usize;
        power[kx as usize * n + row]
    };
    // Frequencies (bins) a {100} ring may have: column spacings 1.5–60 px.
    let (k_lo, k_hi) = (n as f64 / (1.5 * 60.0), n as f64 / (1.5 * 1.5));
    let rings = ring_backgrounds(&at, n, k_hi.ceil() as usize + 2);
    let mut best: Option<f64> = None; // |k| of the lowest strong ring
    let kmax = k_hi.ceil() as i64;
    for kx in 0..=kmax {
        for ky in -kmax..=kmax {
            let k = ((kx * kx + ky * ky) as f64).sqrt();
            if k < k_lo.max(3.0) || k > k_hi || (kx == 0 && ky < 0) {
                continue;
            }
            let bg = rings[k.round() as usize].max(f32::MIN_POSITIVE);
            if at(kx, ky) < SPOT_CONTRAST * bg || !is_local_max(&at, kx, ky) {
                continue;
            }
            if sixfold_score(&at, kx, ky, bg) >= SPOT_CONTRAST as f64
                && best.is_none_or(|bk| k < bk * 0.97)
            {
                best = Some(refined_radius(&at, kx, ky));
            }
        }
    }
    best.map(|k| n as f64 / k / 1.5)
}

/// How far a Bragg spot (and each of its 60° rotations) must stand above its ring's
/// median power.
const SPOT_CONTRAST: f32 = 25.0;

/// Power spectrum (column-major half plane, `n/2+1` columns of `n`) of the central
/// `n × n` square, mean removed and Hann-windowed against edge leakage.
fn windowed_power(pixels: &[f32], width: usize, height: usize, n: usize) -> Vec<f32> {
    let (x0, y0) = ((width - n) / 2, (height - n) / 2);
    let mut crop: Vec<f32> = (0..n * n)
        .map(|i| pixels[(y0 + i / n) * width + x0 + i % n])
        .collect();
    let mean = crop.iter().map(|&v| v as f64).sum::<f64>() / crop.len() as f64;
    let hann: Vec<f32> = (0..n)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
        .collect();
    for (i, v) in crop.iter_mut().enumerate() {
        *v = (*v - mean as f32) * hann[i / n] * hann[i % n];
    }
    Fft2::get(n, n)
        .forward(&crop)
        .iter()
        .map(|c| c.norm_sqr())
        .collect()
}

/// Median power of each integer-radius ring up to `k_max` (the background a spot is
/// judged against: the probe's envelope falls steeply with frequency).
fn ring_backgrounds(at: &dyn Fn(i64, i64) -> f32, n: usize, k_max: usize) -> Vec<f32> {
    let k_max = k_max.min(n / 2);
    let mut rings: Vec<Vec<f32>> = vec![Vec::new(); k_max + 2];
    let km = k_max as i64;
    for kx in 0..=km {
        for ky in -km..=km {
            let r = ((kx * kx + ky * ky) as f64).sqrt().round() as usize;
            if r <= k_max {
                rings[r].push(at(kx, ky));
            }
        }
    }
    rings
        .into_iter()
        .map(|mut v| {
            if v.is_empty() {
                return 0.0;
            }
            let mid = v.len() / 2;
            *v.select_nth_unstable_by(mid, f32::total_cmp).1
        })
        .collect()
}

fn is_local_max(at: &dyn Fn(i64, i64) -> f32, kx: i64, ky: i64) -> bool {
    let v = at(kx, ky);
    (-1..=1).all(|dx| (-1..=1).all(|dy| (dx == 0 && dy == 0) || at(kx + dx, ky + dy) <= v))
}

/// The weakest of the spot at (kx, ky) and its rotations by 60° and 120° (the other
/// three are their mirror images), each as the brightest bin within 10 % of |k| (at
/// least one bin) of where the rotation lands, over the ring background: real frames
/// are often stretched by drift (a drift-corrected Nion frame here: {100} spacings of
/// 2.57, 2.61 and 2.85 Å in its three directions).
fn sixfold_score(at: &dyn Fn(i64, i64) -> f32, kx: i64, ky: i64, bg: f32) -> f64 {
    let (x, y) = (kx as f64, ky as f64);
    let reach = (0.1 * x.hypot(y)).round().max(1.0) as i64;
    [1.0f64, 2.0]
        .iter()
        .map(|&m| {
            let t = m * std::f64::consts::FRAC_PI_3;
            let (rx, ry) = (x * t.cos() - y * t.sin(), x * t.sin() + y * t.cos());
            let (cx, cy) = (rx.round() as i64, ry.round() as i64);
            let peak = (-reach..=reach)
                .flat_map(|dx| (-reach..=reach).map(move |dy| (dx, dy)))
                .map(|(dx, dy)| at(cx + dx, cy + dy))
                .fold(0.0f32, f32::max);
            (peak / bg) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Sub-bin radius of a spot: a parabola through the log power along each axis.
fn refined_radius(at: &dyn Fn(i64, i64) -> f32, kx: i64, ky: i64) -> f64 {
    let offset = |l: f32, c: f32, r: f32| -> f64 {
        let (l, c, r) = (
            (l.max(1e-30) as f64).ln(),
            (c.max(1e-30) as f64).ln(),
            (r.max(1e-30) as f64).ln(),
        );
        let d = l - 2.0 * c + r;
        if d < 0.0 {
            (0.5 * (l - r) / d).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    };
    let c = at(kx, ky);
    let fx = kx as f64 + offset(at(kx - 1, ky), c, at(kx + 1, ky));
    let fy = ky as f64 + offset(at(kx, ky - 1), c, at(kx, ky + 1));
    fx.hypot(fy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns of a 2H monolayer with spacing `s` px: metal A sites (true) and
    /// chalcogen B sites (false).
    fn sites(s: f64, angle: f64, size: f64) -> Vec<(f64, f64, bool)> {
        let a = s * 3f64.sqrt();
        let mut pts = Vec::new();
        for i in -60..60 {
            for k in -60..60 {
                for (du, dv, metal) in [(0.0, 0.0, true), (0.5 * a, 0.5 * a / 3f64.sqrt(), false)] {
                    let u = a * (i as f64 + 0.5 * k as f64) + du;
                    let v = a * 0.866_025_403_784 * k as f64 + dv;
                    let (x, y) = (
                        u * angle.cos() - v * angle.sin() + size / 2.0,
                        u * angle.sin() + v * angle.cos() + size / 2.0,
                    );
                    if x > 1.0 && y > 1.0 && x < size - 1.0 && y < size - 1.0 {
                        pts.push((x, y, metal));
                    }
                }
            }
        }
        pts
    }

    fn monolayer(s: f64, angle: f64, size: f64) -> Vec<(f64, f64)> {
        sites(s, angle, size)
            .into_iter()
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    #[test]
    fn a_right_calibration_passes_and_a_wrong_one_is_caught() {
        // MoS₂ at 0.1 Å/px: a = 31.6 px, column spacing 18.244 px.
        let s = 3.16 / 3f64.sqrt() / 0.1;
        let pts = monolayer(s, 0.3, 300.0);
        let ok = check(&pts, 0.1, Some(Chemistry::MoS2));
        // The reflections are found on a grid: within 0.05 % of the lattice's.
        assert!((ok.a_angstrom.unwrap() - 3.16).abs() < 1.5e-3, "{ok:?}");
        assert!(!ok.calibration_suspect && ok.warning().is_none());
        assert_eq!(ok.chemistry_source, ChemistrySource::Given);
        // The file says 0.105 Å/px: 5 % off.
        let off = check(&pts, 0.105, Some(Chemistry::MoS2));
        assert!((off.deviation.unwrap() - 0.05).abs() < 5e-4, "{off:?}");
        assert!((off.implied_pixel_size_angstrom.unwrap() - 0.1).abs() < 5e-5);
        let w = off.warning().expect("a warning");
        assert!(w.contains("0.1000 Å/px") && w.contains("+5.0 %"), "{w}");
        // Assumed MoS₂ on a lattice that fits WSe₂: the warning says so.
        let wse2 = monolayer(3.282 / 3f64.sqrt() / 0.1, 0.1, 300.0);
        let assumed = check(&wse2, 0.1, None);
        assert!(assumed.calibration_suspect, "{assumed:?}");
        assert!(assumed.warning().unwrap().contains("fits MoSe2"));
        assert!(!check(&wse2, 0.1, Some(Chemistry::WSe2)).calibration_suspect);
    }

    #[test]
    fn spurious_columns_do_not_bias_the_spacing() {
        // 2H monolayer, s = 10 px, jittered by 0.5 px, plus one spurious column in four
        // scattered anywhere (as in carbon or at hollow sites).
        let mut pts = monolayer(10.0, 0.3, 600.0);
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for p in pts.iter_mut() {
            p.0 += rnd() - 0.5;
            p.1 += rnd() - 0.5;
        }
        let spurious = pts.len() / 4;
        for _ in 0..spurious {
            pts.push((1.0 + 598.0 * rnd(), 1.0 + 598.0 * rnd()));
        }
        let (s, _) = column_spacing_px(&pts, 10.5).expect("a lattice");
        assert!((s / 10.0 - 1.0).abs() < 0.002, "spacing {s}");
    }

    #[test]
    fn sublattices_off_their_places_do_not_shorten_the_lattice() {
        // The real WS₂ frame at 0.1062 Å/px: column spacing 17.4 px, the chalcogen
        // sublattice shifted 2.7 px off its ideal place, so each column's three nearest
        // neighbours stand about 15, 17.4 and 20 px away. The lattice is unchanged.
        let s = 17.4;
        let pts: Vec<(f64, f64)> = sites(s, 0.4, 700.0)
            .into_iter()
            .map(|(x, y, metal)| if metal { (x, y) } else { (x + 0.7, y - 2.6) })
            .collect();
        let (found, _) = column_spacing_px(&pts, 3.153 / 3f64.sqrt() / 0.1062).expect("a lattice");
        assert!((found / s - 1.0).abs() < 0.002, "spacing {found}");
        let ok = check(&pts, 3.153 / (s * 3f64.sqrt()), Some(Chemistry::WS2));
        assert!(!ok.calibration_suspect, "{ok:?}");
    }

    #[test]
    fn too_few_columns_give_no_lattice_constant() {
        let pts = vec![(10.0, 10.0), (28.0, 10.0), (19.0, 25.6)];
        let c = check(&pts, 0.1, None);
        assert_eq!(c.a_angstrom, None);
        assert!(!c.calibration_suspect && c.warning().is_none());
    }

    /// A noiseless 2H-like image: bright metal and dimmer chalcogen Gaussians.
    fn render(s: f64, angle: f64, size: usize) -> Vec<f32> {
        let mut img = vec![0f32; size * size];
        for (x, y, metal) in sites(s, angle, size as f64) {
            let amp = if metal { 1.6 } else { 1.0 };
            let (x0, y0) = (x as isize, y as isize);
            for dy in -6..=6 {
                for dx in -6..=6 {
                    let (px, py) = (x0 + dx, y0 + dy);
                    if px < 0 || py < 0 || px >= size as isize || py >= size as isize {
                        continue;
                    }
                    let r2 = (px as f64 - x).powi(2) + (py as f64 - y).powi(2);
                    img[py as usize * size + px as usize] +=
                        (amp * (-r2 / (2.0 * 2.0)).exp()) as f32;
                }
            }
        }
        img
    }

    #[test]
    fn the_spectrum_finds_the_column_spacing() {
        for (s, angle) in [(10.0, 0.2), (7.3, 1.0), (15.5, 0.5)] {
            let img = render(s, angle, 256);
            let got = spectral_column_spacing_px(&img, 256, 256).expect("a ring");
            assert!((got / s - 1.0).abs() < 0.03, "spacing {s}: found {got}");
        }
        let flat = vec![1.0f32; 256 * 256];
        assert_eq!(spectral_column_spacing_px(&flat, 256, 256), None);
    }
}
