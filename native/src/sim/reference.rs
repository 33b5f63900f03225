//! A perfect patch of one polymorph at given optics, detector and dose, without noise or
//! any other degradation: the signal a flawless specimen would give, against which an
//! image's absolute signal is read.

use super::{render, SimParams, SimRequest};
use crate::crystal::{Chemistry, Polymorph};
use crate::error::Result;
use crate::image::Image;
use rand::SeedableRng;

/// The optics and detector of an acquisition, and its dose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Optics {
    pub kv: f64,
    pub convergence_mrad: f64,
    pub inner_mrad: f64,
    pub outer_mrad: f64,
    pub dose_e_per_angstrom2: f64,
}

/// Side of the patch, Å: a few lattice constants beyond the background window (6 Å) the
/// signal is read with.
pub const PATCH_ANGSTROM: f64 = 24.0;

/// A clean `polymorph` patch of `PATCH_ANGSTROM` per side at `pixel_size` Å/px: detected
/// electrons per pixel at `optics`, free of vacancies, carbon, scan distortion and noise.
/// The same arguments give the same pixels.
pub fn perfect_patch(
    polymorph: Polymorph,
    chemistry: Chemistry,
    optics: &Optics,
    pixel_size: f64,
) -> Result<Image> {
    let side = (PATCH_ANGSTROM / pixel_size).ceil() as usize;
    let req = SimRequest {
        polymorph,
        chemistry,
        width: side,
        height: side,
        pixel_size_angstrom: pixel_size,
        rotation_deg: Some(0.0),
        vs1_fraction: 0.0,
        vs2_fraction: 0.0,
        dose_e_per_angstrom2: optics.dose_e_per_angstrom2,
        clean: true,
        ..SimRequest::default()
    };
    req.validate()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut params = SimParams::draw(&req, &mut rng);
    params.probe.energy_kv = optics.kv;
    params.probe.convergence_mrad = optics.convergence_mrad;
    params.adf_inner_mrad = optics.inner_mrad;
    params.adf_outer_mrad = optics.outer_mrad;
    Ok(render(&params, &mut rng).image)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(image: &Image) -> f64 {
        image.data.iter().map(|&v| v as f64).sum::<f64>() / image.data.len() as f64
    }

    /// The fraction of the beam a perfect patch sends to the detector, against the
    /// frozen-phonon multislice test set's means (scripts/physics/testset.py, 80 kV,
    /// 23 mrad, 40–160 mrad: 2H-1L 0.00829, 2H-2L 0.02201 of the beam).
    #[test]
    fn the_patch_holds_the_multislice_signal_per_area() {
        let optics = Optics {
            kv: 80.0,
            convergence_mrad: 23.0,
            inner_mrad: 40.0,
            outer_mrad: 160.0,
            dose_e_per_angstrom2: 1e5,
        };
        let px = 0.2;
        let fraction = |p| {
            let img = perfect_patch(p, Chemistry::MoS2, &optics, px).unwrap();
            mean(&img) / (optics.dose_e_per_angstrom2 * px * px)
        };
        let (one, two) = (fraction(Polymorph::H2Mono), fraction(Polymorph::H2Bi));
        assert!((one / 0.00829 - 1.0).abs() < 0.08, "2H-1L {one}");
        assert!((two / 0.02201 - 1.0).abs() < 0.08, "2H-2L {two}");
        let again = perfect_patch(Polymorph::H2Mono, Chemistry::MoS2, &optics, px).unwrap();
        assert_eq!(
            again.data,
            perfect_patch(Polymorph::H2Mono, Chemistry::MoS2, &optics, px)
                .unwrap()
                .data
        );
    }
}
