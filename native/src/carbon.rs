//! Carbon contamination: the carbon head's map, its threshold, and what it excludes.
//!
//! The carbon head outputs clip(thickness / scale, 0, 1) with scale = 10 Å
//! (the model card's `scale_angstrom`); a card with `above_film` says the thickness is
//! that above a uniform thin film (≤ 4 Å, invisible under shot noise), i.e. the
//! patches. A pixel is contaminated where that map is at or above `DEFAULT_THRESHOLD`
//! (3 Å): from about there on, the carbon speckle is as strong as a missing S atom
//! and both vacancy counts and polymorph calls degrade (seed paper; our eval curves
//! over carbon). The map is weak (held-out numbers in models/README.md): it flags
//! part of every image, contaminated or not.
//! Vacancies, columns and polymorph pixels in contaminated areas are flagged and
//! left out of the clean statistics unless the filter is turned off.

/// Default contamination threshold on the carbon map (0..1).
pub const DEFAULT_THRESHOLD: f64 = 0.3;

/// Contaminated-pixel mask of a carbon map.
pub fn mask(carbon: &[f32], threshold: f64) -> Vec<bool> {
    carbon.iter().map(|&c| c as f64 >= threshold).collect()
}
