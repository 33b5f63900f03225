//! Column intensities: the seed paper's "conventional analysis", automated.
//!
//! Integrated intensity of a column = Σ (image − background) over a disk of
//! radius `INTEGRATION_RADIUS_A` around it, times the pixel area (so it does
//! not depend on the pixel size). The background is a slowly varying map: the
//! minimum over a lattice-sized window, smoothed — it follows carbon and
//! detector gradients but not the columns. Normalized intensity divides by the
//! median of nearby chalcogen-only columns (S₂ median = 1), which removes what
//! the background map leaves of a gradient in gain or thickness.

use crate::math::neighbors::NeighborGrid;
use rayon::prelude::*;

/// Disk radius for integration: half the Mo–S₂ projected distance (1.82 Å).
pub const INTEGRATION_RADIUS_A: f64 = 0.9;
/// Window for the background minimum: about two lattice constants.
pub const BACKGROUND_WINDOW_A: f64 = 6.0;
/// Neighbourhood for the local S₂ median.
pub const REFERENCE_RADIUS_A: f64 = 20.0;
/// Fewest reference columns for a local median; below this the whole image's median is used.
pub const MIN_REFERENCE_COLUMNS: usize = 12;

/// Slowly varying background of an image: separable running minimum, then box blur.
pub fn background(image: &[f32], width: usize, height: usize, window_px: usize) -> Vec<f32> {
    let r = (window_px / 2).max(1);
    let min_rows = separable(image, width, height, r, Reduce::Min);
    separable(&min_rows, width, height, r, Reduce::Mean)
}

#[derive(Clone, Copy)]
enum Reduce {
    Min,
    Mean,
}

fn separable(data: &[f32], w: usize, h: usize, r: usize, op: Reduce) -> Vec<f32> {
    let pass = |src: &[f32], n: usize, stride: usize, count: usize, len: usize| -> Vec<f32> {
        let mut out = vec![0f32; src.len()];
        let lines: Vec<Vec<f32>> = (0..count)
            .into_par_iter()
            .map(|line| {
                let get = |i: usize| src[line * n + i * stride];
                (0..len)
                    .map(|i| {
                        let a = i.saturating_sub(r);
                        let b = (i + r).min(len - 1);
                        match op {
                            Reduce::Min => (a..=b).map(get).fold(f32::INFINITY, f32::min),
                            Reduce::Mean => (a..=b).map(get).sum::<f32>() / (b - a + 1) as f32,
                        }
                    })
                    .collect()
            })
            .collect();
        for (line, vals) in lines.into_iter().enumerate() {
            for (i, v) in vals.into_iter().enumerate() {
                out[line * n + i * stride] = v;
            }
        }
        out
    };
    let rows = pass(data, w, 1, h, w);
    pass(&rows, 1, w, w, h)
}

/// Integrates background-subtracted intensity in disks on one image.
pub struct Integrator<'a> {
    pub image: &'a [f32],
    pub width: usize,
    pub height: usize,
    pub radius_px: f64,
    pub pixel_area_a2: f64,
}

impl Integrator<'_> {
    /// Integrated intensity in counts·Å² of the disk at (x, y) above `background`.
    pub fn at(&self, x: f64, y: f64, background: f32) -> f64 {
        integrate(
            self.image,
            background,
            self.width,
            self.height,
            (x, y),
            self.radius_px,
            self.pixel_area_a2,
        )
    }
}

/// Integrated, background-subtracted intensity in a disk, in counts·Å².
pub fn integrate(
    image: &[f32],
    background: f32,
    width: usize,
    height: usize,
    (x, y): (f64, f64),
    radius_px: f64,
    pixel_area_a2: f64,
) -> f64 {
    let r = radius_px.ceil() as isize;
    let (ix, iy) = (x.round() as isize, y.round() as isize);
    let bg = background as f64;
    let mut sum = 0.0;
    let mut n = 0usize;
    for dy in -r..=r {
        for dx in -r..=r {
            let (xx, yy) = (ix + dx, iy + dy);
            if xx < 0 || yy < 0 || xx >= width as isize || yy >= height as isize {
                continue;
            }
            if (xx as f64 - x).powi(2) + (yy as f64 - y).powi(2) > radius_px * radius_px {
                continue;
            }
            sum += image[yy as usize * width + xx as usize] as f64 - bg;
            n += 1;
        }
    }
    // A disk cut by the image border is scaled up to the full disk area.
    let full = std::f64::consts::PI * radius_px * radius_px;
    if n == 0 {
        return 0.0;
    }
    sum * (full / n as f64).max(1.0) * pixel_area_a2
}

/// Median of `values`; 0 for none.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if values.len() % 2 == 1 {
        m
    } else {
        let lower = values[..mid]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        0.5 * (m + lower)
    }
}

/// For each query point, the median intensity of reference columns within `radius`
/// (falls back to the global median when fewer than `MIN_REFERENCE_COLUMNS` are near).
pub fn local_reference(queries: &[(f64, f64)], refs: &[(f64, f64, f64)], radius: f64) -> Vec<f64> {
    let mut all: Vec<f64> = refs.iter().map(|r| r.2).collect();
    let global = median(&mut all);
    if refs.is_empty() {
        return vec![global; queries.len()];
    }
    let grid = NeighborGrid::from_points(refs.iter().map(|r| (r.0, r.1)), radius.max(1e-9));
    queries
        .par_iter()
        .map(|&(x, y)| {
            let mut near: Vec<f64> = grid.within(x, y).map(|(i, _)| refs[i].2).collect();
            if near.len() >= MIN_REFERENCE_COLUMNS {
                median(&mut near)
            } else {
                global
            }
        })
        .collect()
}

/// Histogram of values in `bins` equal bins over [lo, hi); values outside are clamped.
pub fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<u64> {
    let mut counts = vec![0u64; bins];
    for &v in values {
        if !v.is_finite() {
            continue;
        }
        let b = (((v - lo) / (hi - lo)) * bins as f64).floor();
        counts[(b.max(0.0) as usize).min(bins - 1)] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_follows_a_gradient_not_peaks() {
        let (w, h) = (60, 40);
        let mut img: Vec<f32> = (0..w * h).map(|i| (i % w) as f32 * 0.1).collect();
        img[20 * w + 30] += 100.0;
        let bg = background(&img, w, h, 8);
        assert!((bg[20 * w + 30] - 3.0).abs() < 0.6, "{}", bg[20 * w + 30]);
    }

    #[test]
    fn integration_is_pixel_size_independent() {
        // The same Gaussian column sampled at 0.1 and 0.2 Å/px integrates to the same value.
        let mut got = Vec::new();
        for &px in &[0.1f64, 0.2] {
            let n = (12.0 / px) as usize;
            let c = n as f64 / 2.0;
            let s = 0.5 / px;
            let img: Vec<f32> = (0..n * n)
                .map(|i| {
                    let (x, y) = ((i % n) as f64, (i / n) as f64);
                    (-((x - c).powi(2) + (y - c).powi(2)) / (2.0 * s * s)).exp() as f32
                })
                .collect();
            got.push(integrate(
                &img,
                0.0,
                n,
                n,
                (c, c),
                INTEGRATION_RADIUS_A / px,
                px * px,
            ));
        }
        assert!((got[0] / got[1] - 1.0).abs() < 0.03, "{got:?}");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(histogram(&[0.1, 0.5, 0.9, 5.0], 0.0, 1.0, 2), vec![1, 3]);
    }
}
