//! The layer count of 2H stacks from the image's absolute signal, where the dose is known.
//!
//! Scaled to its own contrast, an image of 2H-1L, 2H-2L or 2H-3L differs only in how its two
//! column kinds compare, and at some detectors they compare alike (frozen-phonon library,
//! 0.9 Å disks: the 2H-2L columns 1.32 apart at 66–192 mrad, the 2H-3L ones 1.37; WSe₂'s
//! monolayer W/Se₂ 0.93 at 40–160 mrad, its bilayer 1.02). There the network guesses, and
//! the frozen-phonon test set shows it: 2H-2L at 66–192 mrad read as 2H-3L, 2H-3L at
//! 40–160 mrad as 2H-2L. The share of the beam the specimen sends to the detector tells
//! them apart: 1.24 / 3.50 / 5.75 % for one, two and three MoS₂ layers at 60 kV and
//! 40–160 mrad, 0.49 / 0.99 / 1.63 % at 66–192 mrad (multislice, 23 mrad probe).
//!
//! With the dose known, the image is detected electrons per pixel. Its signal is averaged over
//! [`WINDOW_A`] and compared with perfect patches of each layer count simulated at the same
//! optics, detector and pixel size ([`crate::sim::reference`]: within 4 % of multislice per
//! area); each pixel the network put in the 2H family takes the count nearest in log. The
//! signal is not taken above a local background: the minimum of a noisy image lies below
//! its true floor, and that bias raised the measured share 12–30 % at 1e5 e⁻/Å² where the
//! plain mean is within 4 %. Stacks of other families (3R, 1T) and vacuum are left as the
//! network has them. Carbon adds to the signal and is not taken out: the network's carbon
//! map alone is no gate (before the hollow check it covers most of several clean
//! frozen-phonon images, and gating on it left 53 % of a 2H-1L image at the network's
//! 2H-3L), so a contaminated area may read a layer more than it holds.

use super::frame::Frame;
use super::intensity;
use super::maps::PolymorphMap;
use super::settings::{Exposure, CONVERGENCE};
use crate::crystal::{Chemistry, Polymorph, PolymorphClass};
use crate::error::{Error, Result};
use crate::findings::LayerCount;
use crate::io::Acquisition;
use crate::math::distance::squared_distance;
use crate::math::smooth;
use crate::sim::reference::{perfect_patch, Optics};

/// Radius (σ, Å) the local signal is averaged over: about two unit cells, so a pixel 5 Å
/// from a junction reads its own side.
pub const WINDOW_A: f64 = 3.0;

/// Distance (Å) from a change of class or the image border within which the signal excess
/// is not read: the average over [`WINDOW_A`] mixes the two sides there (a monolayer pixel
/// 3 Å from a bilayer reads its share high), or repeats the edge pixels.
pub const BOUNDARY_A: f64 = 2.0 * WINDOW_A;

/// Every how many 2H pixels one joins the reported median share: a 4096² model grid holds
/// 16 M pixels, and a 1-in-16 sample of a map averaged over 3 Å loses nothing of its median.
const MEDIAN_STRIDE: usize = 16;

/// How far (as a factor) the 2H pixels' median share may lie below the thinnest stack's or
/// above the thickest one's before the image is taken not to be in detected electrons at the
/// given dose. The right stack's share is measured at 0.90–1.01 of the simulated one on the
/// frozen-phonon test set, a 20 Å carbon patch adds 18–29 % to a monolayer's; an image
/// scaled to 0–1 or to a 16-bit range reads orders of magnitude off.
pub const DOSE_MISMATCH: f64 = 2.0;

/// The 2H stacks a layer count chooses among.
pub(super) const STACKS: [Polymorph; 3] = [Polymorph::H2Mono, Polymorph::H2Bi, Polymorph::H2Tri];

/// The voltage, detector angles and probe convergence the image was taken with: each as
/// the user gave it, else as the file says; the convergence defaults to the library's
/// 23 mrad.
pub(super) struct Acquired {
    pub(super) kv: Option<f64>,
    pub(super) inner_mrad: Option<f64>,
    pub(super) outer_mrad: Option<f64>,
    pub(super) convergence_mrad: f64,
}

impl Acquired {
    pub(super) fn of(exposure: &Exposure, file: &Acquisition) -> Acquired {
        let given = exposure.detector_mrad;
        Acquired {
            kv: exposure.kv.or(file.voltage_kv),
            inner_mrad: given.map(|d| d.0).or(file.detector_inner_mrad),
            outer_mrad: given.map(|d| d.1).or(file.detector_outer_mrad),
            convergence_mrad: exposure
                .convergence_mrad
                .or(file.convergence_mrad)
                .unwrap_or(CONVERGENCE.default),
        }
    }
}

/// The optics to read the signal at ([`Acquired`]); `None` without a dose. The convergence
/// defaults to the library's 23 mrad (recorded in the report); the voltage and the detector
/// angles are required.
pub(super) fn optics(exposure: &Exposure, file: &Acquisition) -> Result<Option<Optics>> {
    let Some(dose) = exposure.dose_e_per_a2 else {
        return Ok(None);
    };
    let needs = |what: &str, flag: &str| {
        Error::invalid(format!(
            "--dose needs the {what}: the file does not say it, pass {flag}"
        ))
    };
    let acquired = Acquired::of(exposure, file);
    let kv = acquired
        .kv
        .ok_or_else(|| needs("accelerating voltage", "--kv"))?;
    let (inner, outer) = acquired
        .inner_mrad
        .zip(acquired.outer_mrad)
        .ok_or_else(|| {
            needs(
                "detector's collection angles",
                "--detector-mrad INNER-OUTER",
            )
        })?;
    let convergence = acquired.convergence_mrad;
    let resolved = Exposure {
        dose_e_per_a2: Some(dose),
        kv: Some(kv),
        convergence_mrad: Some(convergence),
        detector_mrad: Some((inner, outer)),
    };
    resolved.validate()?;
    Ok(Some(Optics {
        kv,
        convergence_mrad: convergence,
        inner_mrad: inner,
        outer_mrad: outer,
        dose_e_per_angstrom2: dose,
    }))
}

/// The share of the beam a perfect `stack` sends to the detector, rendered on the model grid
/// as the image is read there.
fn reference_fraction(
    stack: Polymorph,
    chemistry: Chemistry,
    optics: &Optics,
    px: f64,
) -> Result<f64> {
    let patch = perfect_patch(stack, chemistry, optics, px)?;
    let sum: f64 = patch.data.iter().map(|&v| v as f64).sum();
    Ok(sum / patch.data.len().max(1) as f64 / (optics.dose_e_per_angstrom2 * px * px))
}

/// Sets the layer count of every 2H pixel of `map` from the signal of `resampled` (the
/// image on the model grid, detected electrons per input pixel) when the `optics` and dose
/// are known (nothing changes, `None`, when not). Only the stacks the options allow are
/// chosen among; with fewer than two of them nothing changes either.
pub(super) fn relabel(
    f: &Frame,
    resampled: &[f32],
    map: &mut PolymorphMap,
    optics: Option<&Optics>,
) -> Result<Option<LayerCount>> {
    let Some(optics) = optics else {
        return Ok(None);
    };
    let stacks: Vec<Polymorph> = STACKS
        .into_iter()
        .filter(|&p| f.options.allows(p))
        .collect();
    let px = f.model_px();
    let mut reference = Vec::with_capacity(stacks.len());
    for &p in &stacks {
        reference.push((p, reference_fraction(p, f.chemistry(), optics, px)?));
    }
    let mut local = resampled.to_vec();
    let mut scratch = vec![0f32; local.len()];
    smooth::three_boxes(
        &mut local,
        &mut scratch,
        f.gw,
        f.gh,
        smooth::half_width(WINDOW_A / px),
    );
    drop(scratch);
    let per_pixel = 1.0 / (optics.dose_e_per_angstrom2 * f.pixel_size * f.pixel_size);
    // Each stack's class and the log of its share, the scale the nearest count is read on.
    let ln_reference: Vec<(u8, f64)> = reference
        .iter()
        .map(|&(p, r)| {
            (
                PolymorphClass::from(p).index(),
                r.max(f64::MIN_POSITIVE).ln(),
            )
        })
        .collect();
    let class_of: Vec<u8> = STACKS
        .iter()
        .map(|&p| PolymorphClass::from(p).index())
        .collect();
    // The 2H pixels' median share first: an image that is not in detected electrons at this
    // dose (scaled, normalized or processed) reads far from every stack, and is then neither
    // recounted nor searched for carbon.
    let mut measured: Vec<f64> = map
        .classes
        .iter()
        .zip(&local)
        .filter(|(c, _)| class_of.contains(c))
        .step_by(MEDIAN_STRIDE)
        .map(|(_, &v)| v as f64 * per_pixel)
        .collect();
    let measured_fraction = (!measured.is_empty()).then(|| intensity::median(&mut measured));
    let shares = reference.iter().map(|&(_, r)| r);
    let (lo, hi) = (
        shares.clone().fold(f64::INFINITY, f64::min),
        shares.fold(0.0, f64::max),
    );
    let dose_mismatch =
        measured_fraction.is_some_and(|m| !(lo / DOSE_MISMATCH..=hi * DOSE_MISMATCH).contains(&m));
    let (mut total, mut changed) = (0usize, 0usize);
    let mut excess = vec![f32::NAN; local.len()];
    for ((c, &v), e) in map.classes.iter_mut().zip(&local).zip(&mut excess) {
        if dose_mismatch || !class_of.contains(c) {
            continue;
        }
        let fraction = v as f64 * per_pixel;
        total += 1;
        if fraction <= 0.0 {
            continue;
        }
        let ln = fraction.ln();
        if stacks.len() >= 2 {
            let nearest = ln_reference
                .iter()
                .min_by(|a, b| (ln - a.1).abs().total_cmp(&(ln - b.1).abs()))
                .map(|&(n, _)| n);
            if let Some(n) = nearest.filter(|n| n != c) {
                *c = n;
                changed += 1;
            }
        }
        if let Some(&(_, r)) = ln_reference.iter().find(|(n, _)| n == c) {
            *e = (ln - r).exp() as f32;
        }
    }
    clear_near_class_changes(&mut excess, &map.classes, f.gw, f.gh, BOUNDARY_A / px);
    if !dose_mismatch {
        map.signal_excess = excess;
    }
    Ok(Some(LayerCount {
        dose_e_per_angstrom2: optics.dose_e_per_angstrom2,
        kv: optics.kv,
        convergence_mrad: optics.convergence_mrad,
        detector_mrad: [optics.inner_mrad, optics.outer_mrad],
        reference_fraction: reference
            .into_iter()
            .map(|(p, r)| (p.name().to_string(), r))
            .collect(),
        measured_fraction,
        relabelled_fraction: changed as f64 / total.max(1) as f64,
        dose_mismatch,
    }))
}

/// Sets `excess` to `NaN` within `radius_px` of the image border (where the average runs
/// over repeated edge pixels) or of a pixel whose class differs from a 4-neighbour's (a
/// junction, an edge to vacuum or to another family).
fn clear_near_class_changes(
    excess: &mut [f32],
    classes: &[u8],
    w: usize,
    h: usize,
    radius_px: f64,
) {
    let change: Vec<bool> = (0..classes.len())
        .map(|i| {
            let (x, y, c) = (i % w, i / w, classes[i]);
            let border = x == 0 || y == 0 || x + 1 == w || y + 1 == h;
            border || (x + 1 < w && classes[i + 1] != c) || (y + 1 < h && classes[i + w] != c)
        })
        .collect();
    let d2 = squared_distance(&change, w, h);
    let r2 = radius_px * radius_px;
    for (e, &d) in excess.iter_mut().zip(&d2) {
        if d < r2 {
            *e = f32::NAN;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_excess_is_not_read_beside_a_change_of_class() {
        let (w, h) = (30, 9);
        let classes: Vec<u8> = (0..w * h).map(|i| if i % w < 15 { 1 } else { 2 }).collect();
        let mut excess = vec![1.0f32; w * h];
        clear_near_class_changes(&mut excess, &classes, w, h, 3.0);
        // The middle row, 4 px from the top and bottom: the change lies between columns 14
        // and 15 (marked on column 14), the border on columns 0 and 29.
        let row: Vec<bool> = excess[4 * w..5 * w].iter().map(|e| e.is_nan()).collect();
        assert_eq!(row.iter().filter(|&&n| n).count(), 11, "{row:?}");
        assert!(row[2] && !row[3] && row[12] && row[16] && !row[11] && !row[17] && row[27]);
        let mut same = vec![1.0f32; w * h];
        clear_near_class_changes(&mut same, &vec![1u8; w * h], w, h, 3.0);
        assert!(!same[4 * w + 3].is_nan() && same[4 * w + 2].is_nan() && same[w + 10].is_nan());
    }
}
