//! Scan distortions: where the probe really was when each pixel was recorded.
//!
//! Slow, smooth distortions (drift, flyback) move atoms in the image and are applied to
//! the truth positions; fast line-to-line jitter is noise and is applied to the rendered
//! image by resampling each scan line.

use serde::{Deserialize, Serialize};

/// Scan-distortion parameters, in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct ScanParams {
    /// Line-to-line jitter along the fast scan direction (x), std in Å.
    pub jitter_x_angstrom: f64,
    /// Jitter of the line position (y), std in Å.
    pub jitter_y_angstrom: f64,
    /// Specimen drift along x per scan line (px per row).
    pub drift_x_px_per_row: f64,
    /// Relative change of the line spacing from drift along y (dimensionless).
    pub drift_y_fraction: f64,
    /// Flyback distortion at the start of each line: amplitude and decay length (px).
    pub flyback_amplitude_px: f64,
    pub flyback_decay_px: f64,
}

impl ScanParams {
    fn flyback(&self, c: f64) -> f64 {
        if self.flyback_amplitude_px == 0.0 {
            return 0.0;
        }
        self.flyback_amplitude_px * (-c.max(0.0) / self.flyback_decay_px).exp()
    }

    /// Specimen position (in pixel units) the probe sat on for image pixel (c, r).
    pub fn specimen_of_pixel(&self, c: f64, r: f64) -> (f64, f64) {
        (
            c + self.flyback(c) + self.drift_x_px_per_row * r,
            r * (1.0 + self.drift_y_fraction),
        )
    }

    /// Image position of a specimen point (in pixel units): inverse of
    /// [`specimen_of_pixel`](Self::specimen_of_pixel).
    pub fn pixel_of_specimen(&self, x: f64, y: f64) -> (f64, f64) {
        let r = y / (1.0 + self.drift_y_fraction);
        let u = x - self.drift_x_px_per_row * r;
        let a = self.flyback_amplitude_px;
        if a == 0.0 || u - a < 0.0 {
            // Before the line start the flyback offset is the constant `a`.
            return (u - a, r);
        }
        // Solve c + a·exp(−c/τ) = u by Newton; the function is convex and increasing
        // for a < τ, so starting from the right of the root converges monotonically.
        let tau = self.flyback_decay_px;
        let mut c = u;
        for _ in 0..30 {
            let e = a * (-c / tau).exp();
            let step = (c + e - u) / (1.0 - e / tau);
            c -= step;
            if step.abs() < 1e-10 {
                break;
            }
        }
        (c, r)
    }
}

/// Per-line jitter offsets (px) for `rows` lines: a mix of white and correlated noise,
/// as seen from mechanical and electrical scan instabilities.
pub fn jitter_offsets<R: rand::Rng>(rng: &mut R, rows: usize, sigma_px: f64) -> Vec<f64> {
    use rand_distr::StandardNormal;
    if sigma_px == 0.0 {
        return vec![0.0; rows];
    }
    let mut walk = 0.0;
    let keep: f64 = 0.8;
    let drive = (1.0 - keep * keep).sqrt();
    (0..rows)
        .map(|_| {
            walk = keep * walk + drive * rng.sample::<f64, _>(StandardNormal);
            let white: f64 = rng.sample(StandardNormal);
            sigma_px * (0.6 * white + 0.8 * walk)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_forward() {
        let s = ScanParams {
            drift_x_px_per_row: 0.01,
            drift_y_fraction: -0.02,
            flyback_amplitude_px: 4.0,
            flyback_decay_px: 20.0,
            ..Default::default()
        };
        for &(c, r) in &[(0.0, 0.0), (3.5, 10.0), (100.0, 250.0), (-5.0, 7.0)] {
            let (x, y) = s.specimen_of_pixel(c, r);
            let (c2, r2) = s.pixel_of_specimen(x, y);
            assert!(
                (c - c2).abs() < 1e-6 && (r - r2).abs() < 1e-9,
                "({c},{r}) -> ({c2},{r2})"
            );
        }
    }
}
