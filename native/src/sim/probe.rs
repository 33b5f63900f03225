//! The STEM probe: intensity from the aperture and the aberration function.
//!
//! ψ(k) = A(k) · exp(−iχ(k)), probe intensity = |FT⁻¹ ψ|², averaged over a Gaussian
//! defocus spread (chromatic) by Gauss–Hermite quadrature. The finite source size is a
//! Gaussian blur applied later in Fourier space (see [`source_envelope`]). Aberrations
//! follow the Krivanek notation with coefficients in Å.

use crate::math::fft::Fft2;
use rustfft::num_complex::Complex32;
use rustfft::FftPlanner;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Probe-forming optics. Angles of the non-round aberrations are in radians.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeParams {
    pub energy_kv: f64,
    pub convergence_mrad: f64,
    /// Defocus C1 (Å); negative = underfocus.
    pub c1_angstrom: f64,
    /// Spherical aberration C3 (Å).
    pub c3_angstrom: f64,
    /// Two-fold astigmatism A1 (Å) and its azimuth.
    pub a1_angstrom: f64,
    pub a1_angle_rad: f64,
    /// Axial coma B2 (Å) and its azimuth.
    pub b2_angstrom: f64,
    pub b2_angle_rad: f64,
    /// Three-fold astigmatism A2 (Å) and its azimuth.
    pub a2_angstrom: f64,
    pub a2_angle_rad: f64,
    /// FWHM of the demagnified source image (Å).
    pub source_fwhm_angstrom: f64,
    /// Standard deviation of the chromatic defocus spread (Å).
    pub focal_spread_angstrom: f64,
}

impl ProbeParams {
    /// The seed paper's microscope (80 kV, 23 mrad), perfectly corrected, small source.
    pub fn nominal() -> Self {
        ProbeParams {
            energy_kv: 80.0,
            convergence_mrad: 23.0,
            c1_angstrom: 0.0,
            c3_angstrom: 0.0,
            a1_angstrom: 0.0,
            a1_angle_rad: 0.0,
            b2_angstrom: 0.0,
            b2_angle_rad: 0.0,
            a2_angstrom: 0.0,
            a2_angle_rad: 0.0,
            source_fwhm_angstrom: 0.4,
            focal_spread_angstrom: 0.0,
        }
    }

    /// Relativistic electron wavelength (Å).
    pub fn wavelength_angstrom(&self) -> f64 {
        let v = self.energy_kv * 1e3;
        12.264_259 / (v * (1.0 + 0.978_475_7e-6 * v)).sqrt()
    }

    /// Aberration phase χ (rad) at scattering angle `alpha` (rad) and azimuth `phi`,
    /// with an extra defocus `dz` (Å) on top of C1.
    pub fn chi(&self, alpha: f64, phi: f64, dz: f64) -> f64 {
        let a2 = alpha * alpha;
        let a3 = a2 * alpha;
        let w = 0.5 * (self.c1_angstrom + dz) * a2
            + 0.5 * self.a1_angstrom * a2 * (2.0 * (phi - self.a1_angle_rad)).cos()
            + self.b2_angstrom / 3.0 * a3 * (phi - self.b2_angle_rad).cos()
            + self.a2_angstrom / 3.0 * a3 * (3.0 * (phi - self.a2_angle_rad)).cos()
            + 0.25 * self.c3_angstrom * a2 * a2;
        2.0 * PI / self.wavelength_angstrom() * w
    }
}

/// Nodes and weights of 3-point Gauss–Hermite quadrature for a unit normal variable:
/// exact for polynomials of degree ≤ 5 in the defocus, plenty for a focal spread that
/// changes χ by well under a radian at the aperture edge.
const FOCAL_NODES: [(f64, f64); 3] = [
    (-1.732_050_807_568_877_2, 1.0 / 6.0),
    (0.0, 2.0 / 3.0),
    (1.732_050_807_568_877_2, 1.0 / 6.0),
];

/// Probe intensity on an `n × n` grid with pixel `pixel_angstrom`, centred at (n/2, n/2),
/// summing to 1. Coherent part only: the source size is applied separately.
pub fn probe_intensity(params: &ProbeParams, n: usize, pixel_angstrom: f64) -> Vec<f32> {
    let lambda = params.wavelength_angstrom();
    let alpha_max = params.convergence_mrad * 1e-3;
    let dk = 1.0 / (n as f64 * pixel_angstrom);
    let fft = FftPlanner::<f32>::new().plan_fft_inverse(n);
    let nodes: &[(f64, f64)] = if params.focal_spread_angstrom > 0.0 {
        &FOCAL_NODES
    } else {
        &[(0.0, 1.0)]
    };
    let mut total = vec![0f64; n * n];
    let mut psi = vec![Complex32::default(); n * n];
    for &(node, weight) in nodes {
        let dz = node * params.focal_spread_angstrom;
        for r in 0..n {
            let ky = signed_index(r, n) as f64 * dk;
            for c in 0..n {
                let kx = signed_index(c, n) as f64 * dk;
                let alpha = lambda * (kx * kx + ky * ky).sqrt();
                psi[r * n + c] = if alpha <= alpha_max {
                    // Shift the probe to the grid centre: exp(iπ(r+c)) = (−1)^(r+c).
                    let chi = params.chi(alpha, ky.atan2(kx), dz) as f32;
                    let sign = if (r + c) % 2 == 0 { 1.0 } else { -1.0 };
                    Complex32::from_polar(sign, -chi)
                } else {
                    Complex32::default()
                };
            }
        }
        fft2_inplace(&fft, &mut psi, n);
        for (t, v) in total.iter_mut().zip(&psi) {
            *t += weight * v.norm_sqr() as f64;
        }
    }
    let sum: f64 = total.iter().sum();
    total.iter().map(|&v| (v / sum) as f32).collect()
}

fn signed_index(i: usize, n: usize) -> i64 {
    if i <= n / 2 {
        i as i64
    } else {
        i as i64 - n as i64
    }
}

fn fft2_inplace(fft: &std::sync::Arc<dyn rustfft::Fft<f32>>, data: &mut [Complex32], n: usize) {
    for row in data.chunks_exact_mut(n) {
        fft.process(row);
    }
    let mut col = vec![Complex32::default(); n];
    for c in 0..n {
        for r in 0..n {
            col[r] = data[r * n + c];
        }
        fft.process(&mut col);
        for r in 0..n {
            data[r * n + c] = col[r];
        }
    }
}

/// Side of the square window the probe intensity is computed in (Å).
pub const PROBE_WINDOW_ANGSTROM: f64 = 32.0;

/// Transfer function of the probe for a `h × w` grid (the half spectrum of [`Fft2`]),
/// including the Gaussian source-size envelope. Multiply a deposited-atom spectrum by it
/// to get the image.
pub fn probe_transfer(
    params: &ProbeParams,
    h: usize,
    w: usize,
    pixel_angstrom: f64,
) -> Vec<Complex32> {
    // The probe is computed periodic in a window: a 16 Å window folds the Airy tails back
    // and raised the signal 1.8 Å from a column by 14 % and 3.2 Å away by 37 % (disk
    // integrals against a 128 Å window); a 32 Å window is within 3 % and 6 % there.
    let window = ((PROBE_WINDOW_ANGSTROM / pixel_angstrom).ceil() as usize)
        .min(h)
        .min(w);
    let n = window & !1;
    let probe = probe_intensity(params, n, pixel_angstrom);
    let (dx, dy) = core_offset(&probe, n);
    let mut grid = vec![0f32; h * w];
    for r in 0..n {
        // Wrap the centred window so the probe centre lands on grid pixel (0, 0).
        let gr = (r + h - n / 2) % h;
        for c in 0..n {
            let gc = (c + w - n / 2) % w;
            grid[gr * w + gc] += probe[r * n + c];
        }
    }
    let fft = Fft2::get(h, w);
    let mut spec = fft.forward(&grid);
    // Coma and three-fold astigmatism move the probe's core off the nominal beam
    // position, which shifts every column of a frame alike: no image can reveal that
    // shift, so the scan frame is defined by the core, which then lands on the column.
    for c in 0..fft.wc() {
        for r in 0..fft.h {
            let (fx, fy) = fft.freq(c, r);
            let phase = 2.0 * PI * (fx as f64 * dx + fy as f64 * dy);
            spec[c * fft.h + r] *= Complex32::from_polar(1.0, phase as f32);
        }
    }
    apply_source_envelope(&mut spec, &fft, pixel_angstrom, params.source_fwhm_angstrom);
    spec
}

/// Offset (px) of the probe's core from the centre (n/2, n/2) of a centred probe image:
/// the centroid of the intensity above half the maximum, weighted by the excess, so
/// the asymmetric tails of an aberrated probe do not pull it and the result varies
/// smoothly with sub-pixel shifts.
pub fn core_offset(probe: &[f32], n: usize) -> (f64, f64) {
    let half = 0.5 * probe.iter().cloned().fold(0f32, f32::max) as f64;
    let (mut sx, mut sy, mut s) = (0.0, 0.0, 0.0);
    for r in 0..n {
        for c in 0..n {
            let wgt = (probe[r * n + c] as f64 - half).max(0.0);
            sx += wgt * (c as f64 - (n / 2) as f64);
            sy += wgt * (r as f64 - (n / 2) as f64);
            s += wgt;
        }
    }
    if s > 0.0 {
        (sx / s, sy / s)
    } else {
        (0.0, 0.0)
    }
}

/// Multiply a half spectrum by the Fourier transform of a Gaussian of the given FWHM.
pub fn apply_source_envelope(
    spec: &mut [Complex32],
    fft: &Fft2,
    pixel_angstrom: f64,
    fwhm_angstrom: f64,
) {
    if fwhm_angstrom <= 0.0 {
        return;
    }
    let sigma_angstrom = fwhm_angstrom / 2.354_820_045;
    scale_by_gaussian(spec, fft, sigma_angstrom / pixel_angstrom, |g| g);
}

/// Multiply a half spectrum by `factor(g)`, where g is the transform of a unit Gaussian of
/// standard deviation `sigma_px` at each frequency (1 at zero frequency).
pub fn scale_by_gaussian(
    spec: &mut [Complex32],
    fft: &Fft2,
    sigma_px: f64,
    factor: impl Fn(f32) -> f32,
) {
    let k = (2.0 * PI * PI * sigma_px * sigma_px) as f32;
    for c in 0..fft.wc() {
        for r in 0..fft.h {
            let (fx, fy) = fft.freq(c, r);
            spec[c * fft.h + r] *= factor((-k * (fx * fx + fy * fy)).exp());
        }
    }
}

/// Full width at half maximum (Å) of a centred probe image, measured along x through
/// the maximum with linear interpolation; used to check the optics are realistic.
pub fn fwhm_angstrom(probe: &[f32], n: usize, pixel_angstrom: f64) -> f64 {
    let (imax, &pmax) = probe
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("non-empty probe");
    let (r, c0) = (imax / n, imax % n);
    let half = pmax / 2.0;
    let row = &probe[r * n..(r + 1) * n];
    let crossing = |step: isize| {
        let mut c = c0 as isize;
        while c + step >= 0 && ((c + step) as usize) < n && row[(c + step) as usize] > half {
            c += step;
        }
        let (a, b) = (
            row[c as usize],
            row[(c + step).clamp(0, n as isize - 1) as usize],
        );
        c as f64 + step as f64 * ((a - half) / (a - b).max(1e-12)) as f64
    };
    (crossing(1) - crossing(-1)) * pixel_angstrom
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wavelength_at_80kv() {
        let l = ProbeParams::nominal().wavelength_angstrom();
        assert!((l - 0.0418).abs() < 2e-4, "λ = {l}");
    }

    #[test]
    fn corrected_probe_is_about_one_angstrom_wide() {
        let p = ProbeParams::nominal();
        let n = 256;
        let probe = probe_intensity(&p, n, 0.05);
        let s: f32 = probe.iter().sum();
        assert!((s - 1.0).abs() < 1e-4);
        // Diffraction limit at 23 mrad, 80 kV: FWHM ≈ 0.51 λ/α ≈ 0.93 Å (before source size).
        let fwhm = fwhm_angstrom(&probe, n, 0.05);
        assert!((0.8..1.05).contains(&fwhm), "FWHM {fwhm} Å");
        // Symmetric aberration-free probe peaks at the centre.
        let imax = probe
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!((imax / n, imax % n), (n / 2, n / 2));
    }

    #[test]
    fn comatic_probe_core_lands_on_the_atom() {
        let mut p = ProbeParams::nominal();
        p.b2_angstrom = 400.0;
        p.b2_angle_rad = 0.7;
        p.a2_angstrom = 300.0;
        let (n, px) = (128, 0.1);
        let (ox, oy) = core_offset(&probe_intensity(&p, n, px), n);
        assert!(
            ox.hypot(oy) > 0.2,
            "test probe must be visibly off-centre: {ox} {oy}"
        );
        // One atom at pixel (40.3, 70.6), deposited bilinearly: its image's core sits on it.
        let (h, w) = (n, n);
        let mut grid = vec![0f32; h * w];
        for (c, r, f) in [
            (40, 70, 0.7 * 0.4),
            (41, 70, 0.3 * 0.4),
            (40, 71, 0.7 * 0.6),
            (41, 71, 0.3 * 0.6),
        ] {
            grid[r * w + c] = f;
        }
        let fft = Fft2::get(h, w);
        let mut spec = fft.forward(&grid);
        for (s, o) in spec.iter_mut().zip(probe_transfer(&p, h, w, px)) {
            *s *= o;
        }
        let image = fft.inverse(spec);
        // Re-centre the image on the atom's pixel and measure its core there.
        let mut centred = vec![0f32; n * n];
        for r in 0..n {
            for c in 0..n {
                let (sr, sc) = ((r + 70 + n - n / 2) % n, (c + 40 + n - n / 2) % n);
                centred[r * n + c] = image[sr * w + sc];
            }
        }
        let (cx, cy) = core_offset(&centred, n);
        // Bilinear deposition smooths the core slightly; 0.03 px = 0.3 pm here.
        assert!(
            (cx - 0.3).abs() < 0.03 && (cy - 0.6).abs() < 0.03,
            "core at ({cx:.3}, {cy:.3}), atom at (0.3, 0.6)"
        );
    }

    #[test]
    fn defocus_broadens_the_probe() {
        let mut p = ProbeParams::nominal();
        let sharp = fwhm_angstrom(&probe_intensity(&p, 256, 0.05), 256, 0.05);
        p.c1_angstrom = -60.0;
        let blurred = probe_intensity(&p, 256, 0.05);
        let peak_ratio = blurred.iter().cloned().fold(0f32, f32::max)
            / probe_intensity(&ProbeParams::nominal(), 256, 0.05)
                .iter()
                .cloned()
                .fold(0f32, f32::max);
        assert!(
            peak_ratio < 0.8,
            "defocus must lower the peak: {peak_ratio}"
        );
        assert!(sharp > 0.0);
    }
}
