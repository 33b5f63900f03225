//! Counting statistics and the detector chain: Poisson shot noise, gain, offset,
//! Gaussian readout noise, and the display transform (contrast, brightness, gamma).

use rand::Rng;
use rand_distr::{Distribution, Normal, Poisson};
use serde::{Deserialize, Serialize};

/// Detector and display parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectorParams {
    /// Output units per detected electron.
    pub gain: f64,
    /// Dark level added to every pixel (output units).
    pub offset: f64,
    /// Readout noise std, in detected-electron units.
    pub readout_sigma_counts: f64,
    /// Display transform: out = brightness + contrast · range · t^gamma, t = (v − lo)/range.
    pub contrast: f64,
    pub brightness: f64,
    pub gamma: f64,
}

impl DetectorParams {
    pub fn ideal() -> Self {
        DetectorParams {
            gain: 1.0,
            offset: 0.0,
            readout_sigma_counts: 0.0,
            contrast: 1.0,
            brightness: 0.0,
            gamma: 1.0,
        }
    }
}

/// Draw detected counts from expected counts, in place.
pub fn poisson_counts<R: Rng>(rng: &mut R, expected: &mut [f32]) {
    for v in expected.iter_mut() {
        let lambda = *v as f64;
        *v = if lambda <= 0.0 {
            0.0
        } else if lambda < 30.0 {
            // Knuth's product of uniforms: exact, and for the few counts per pixel of
            // HAADF images cheaper than the general rejection sampler.
            let limit = (-lambda).exp();
            let mut k = 0u32;
            let mut prod: f64 = rng.gen();
            while prod > limit {
                k += 1;
                prod *= rng.gen::<f64>();
            }
            k as f32
        } else {
            Poisson::new(lambda)
                .map(|d| d.sample(rng) as f32)
                .unwrap_or(0.0)
        };
    }
}

/// Detector response and display transform, in place, on detected counts.
pub fn detector<R: Rng>(rng: &mut R, counts: &mut [f32], p: &DetectorParams) {
    let readout = Normal::new(0.0, p.readout_sigma_counts.max(0.0)).expect("finite sigma");
    for v in counts.iter_mut() {
        let noise = if p.readout_sigma_counts > 0.0 {
            readout.sample(rng)
        } else {
            0.0
        };
        *v = (p.gain * (*v as f64 + noise) + p.offset) as f32;
    }
    if p.gamma == 1.0 && p.contrast == 1.0 && p.brightness == 0.0 {
        return;
    }
    let lo = p.offset as f32;
    let hi = counts.iter().cloned().fold(f32::MIN, f32::max);
    let range = (hi - lo).max(1e-6);
    for v in counts.iter_mut() {
        let t = (*v - lo) / range;
        let g = t.signum() * t.abs().powf(p.gamma as f32);
        *v = (p.brightness as f32) * range + lo + (p.contrast as f32) * range * g;
    }
}
