//! Atom columns from the atom heatmaps: peaks, then sub-pixel positions.
//!
//! The heatmaps (metal-containing columns, chalcogen-only columns) are Gaussian
//! bumps of height ≈ 1 at each column. A peak is a local maximum above
//! `threshold` in a disk of radius `min_separation`; across the two channels the
//! stronger of two peaks closer than `min_separation` wins, at a log-parabola's
//! sub-pixel position. Refined positions: a 2D Gaussian fit on the heatmap bump, an
//! iterated background-subtracted centroid or a 2D Gaussian fit on the input image,
//! or the image and heatmap fits combined ([`image_weight`]); `stemsight eval`
//! reports the RMSE of the chosen one and its fallback.

use crate::math::neighbors::NeighborGrid;
use rayon::prelude::*;

/// One detected column on a map grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    pub x: f64,
    pub y: f64,
    /// 0 = metal-containing column, 1 = chalcogen-only column.
    pub channel: usize,
    pub score: f32,
}

/// How the final column position is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Refinement {
    /// The image fit ([`Refinement::Gaussian`]) and the heatmap fit averaged with
    /// weights by column content and contamination ([`image_weight`]).
    Combined,
    /// 2D Gaussian fit on the network's heatmap.
    Heatmap,
    /// Iterated background-subtracted centroid on the input image.
    Centroid,
    /// 2D Gaussian plus constant background, least-squares fit on the input image
    /// (Atomap's refinement), started from the centroid.
    Gaussian,
}

impl Refinement {
    pub const ALL: [Refinement; 4] = [
        Refinement::Combined,
        Refinement::Gaussian,
        Refinement::Centroid,
        Refinement::Heatmap,
    ];

    /// The name the CLI, the JNI options and the report use.
    pub fn name(self) -> &'static str {
        match self {
            Refinement::Combined => "combined",
            Refinement::Heatmap => "heatmap",
            Refinement::Centroid => "centroid",
            Refinement::Gaussian => "gaussian",
        }
    }
}

impl std::str::FromStr for Refinement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Refinement::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown refinement '{s}' (combined|gaussian|centroid|heatmap)"))
    }
}

/// What a column holds, as far as weighing its two position estimates goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnContent {
    /// Holds a metal atom: bright, its image fit is the sharper estimate.
    Metal,
    /// Chalcogens only (S₂ of 2H/3R): dimmer, bent by its bright neighbours' tails.
    Chalcogen,
    /// One chalcogen atom (1T): five times dimmer than its Mo neighbours.
    SingleChalcogen,
}

/// Contamination (carbon-map units, × 10 Å) from which a column counts as fully
/// covered in [`image_weight`].
pub const COVERED_CARBON: f64 = 0.5;

/// Weight of the image fit against the heatmap fit in a column's combined position.
///
/// On the image, a column is located from a window a probe wide, where carbon
/// speckle and a bright neighbour's tail act like the column itself; the network
/// locates it from the whole lattice around it, less precisely on a clean bright
/// column but far less disturbed by either. Chosen on 60 tuning images (seed 600000,
/// neither trained on nor the test set): RMSE 5.57 pm with the image fit alone, 4.41
/// pm combined (single S 9.97 → 6.98 pm, S₂ 7.19 → 5.38 pm, Mo 3.93 → 3.90 pm; heavy
/// carbon 6.78 → 5.43 pm). Weights go linearly from clean to covered
/// ([`COVERED_CARBON`] and above).
pub fn image_weight(content: ColumnContent, carbon: f64) -> f64 {
    let (clean, covered) = match content {
        ColumnContent::Metal => (0.85, 0.85),
        ColumnContent::Chalcogen => (0.7, 0.2),
        ColumnContent::SingleChalcogen => (0.4, 0.0),
    };
    let t = (carbon / COVERED_CARBON).clamp(0.0, 1.0);
    clean + (covered - clean) * t
}

/// Local maxima of `channels` heatmaps (each `width × height`), merged across channels.
pub fn find_peaks(
    channels: &[&[f32]],
    width: usize,
    height: usize,
    threshold: f32,
    min_separation_px: f64,
) -> Vec<Peak> {
    let r = min_separation_px.ceil() as isize;
    let r2 = min_separation_px * min_separation_px;
    let mut peaks = Vec::new();
    for (ch, map) in channels.iter().enumerate() {
        let rows: Vec<Peak> = (0..height)
            .into_par_iter()
            .flat_map_iter(|y| {
                (0..width).filter_map(move |x| {
                    let v = map[y * width + x];
                    if v < threshold || !is_local_max(map, width, height, x, y, r, r2) {
                        return None;
                    }
                    let (dx, dy) = parabola_offset(map, width, height, x, y);
                    Some(Peak {
                        x: x as f64 + dx,
                        y: y as f64 + dy,
                        channel: ch,
                        score: v,
                    })
                })
            })
            .collect();
        peaks.extend(rows);
    }
    suppress(peaks, min_separation_px)
}

fn is_local_max(map: &[f32], w: usize, h: usize, x: usize, y: usize, r: isize, r2: f64) -> bool {
    let v = map[y * w + x];
    for dy in -r..=r {
        for dx in -r..=r {
            if (dx == 0 && dy == 0) || ((dx * dx + dy * dy) as f64) > r2 {
                continue;
            }
            let (xx, yy) = (x as isize + dx, y as isize + dy);
            if xx < 0 || yy < 0 || xx >= w as isize || yy >= h as isize {
                continue;
            }
            let u = map[yy as usize * w + xx as usize];
            // Ties go to the earlier pixel in raster order so a flat top yields one peak.
            if u > v || (u == v && (dy < 0 || (dy == 0 && dx < 0))) {
                return false;
            }
        }
    }
    true
}

/// Sub-pixel offset of a maximum: parabola through the logs of the 3-point neighbours.
fn parabola_offset(map: &[f32], w: usize, h: usize, x: usize, y: usize) -> (f64, f64) {
    let at = |xx: usize, yy: usize| (map[yy * w + xx].max(1e-6) as f64).ln();
    let axis = |a: f64, b: f64, c: f64| {
        let d = a - 2.0 * b + c;
        if d < -1e-12 {
            (0.5 * (a - c) / d).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    };
    let dx = if x > 0 && x + 1 < w {
        axis(at(x - 1, y), at(x, y), at(x + 1, y))
    } else {
        0.0
    };
    let dy = if y > 0 && y + 1 < h {
        axis(at(x, y - 1), at(x, y), at(x, y + 1))
    } else {
        0.0
    };
    (dx, dy)
}

/// Greedy non-maximum suppression across channels, strongest first.
fn suppress(mut peaks: Vec<Peak>, min_sep: f64) -> Vec<Peak> {
    peaks.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut grid = NeighborGrid::new(min_sep.max(1e-9));
    let mut kept: Vec<Peak> = Vec::new();
    for p in peaks {
        let clash = grid.within(p.x, p.y).any(|(_, d2)| d2 < min_sep * min_sep);
        if !clash {
            grid.insert(kept.len(), p.x, p.y);
            kept.push(p);
        }
    }
    kept.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
    kept
}

/// The pixels whose centres lie within `radius` of (cx, cy), as (x, y, value).
fn disk_pixels(
    image: &[f32],
    width: usize,
    height: usize,
    cx: f64,
    cy: f64,
    radius: f64,
) -> Vec<(f64, f64, f32)> {
    let r = radius.ceil() as isize;
    let (ix, iy) = (cx.round() as isize, cy.round() as isize);
    let mut pts = Vec::with_capacity(((2 * r + 1) * (2 * r + 1)) as usize);
    for yy in (iy - r).max(0)..=(iy + r).min(height as isize - 1) {
        for xx in (ix - r).max(0)..=(ix + r).min(width as isize - 1) {
            let d2 = (xx as f64 - cx).powi(2) + (yy as f64 - cy).powi(2);
            if d2 <= radius * radius {
                pts.push((
                    xx as f64,
                    yy as f64,
                    image[yy as usize * width + xx as usize],
                ));
            }
        }
    }
    pts
}

/// Iterated centroid of `(image − background)⁺` in a disk of `radius` px around (x, y).
///
/// The background is the disk-edge minimum, so neighbouring columns' tails and a
/// carbon layer do not pull the centroid; the shift per step is capped at
/// `radius` so a weak column never walks onto a bright neighbour.
pub fn centroid(
    image: &[f32],
    width: usize,
    height: usize,
    x: f64,
    y: f64,
    radius: f64,
) -> (f64, f64) {
    let (mut cx, mut cy) = (x, y);
    for _ in 0..3 {
        let pts = disk_pixels(image, width, height, cx, cy, radius);
        let floor = pts.iter().map(|p| p.2).fold(f32::INFINITY, f32::min);
        let (mut sx, mut sy, mut s) = (0.0, 0.0, 0.0);
        for (px, py, v) in pts {
            let w = (v - floor).max(0.0) as f64;
            sx += w * px;
            sy += w * py;
            s += w;
        }
        if s <= 0.0 {
            break;
        }
        let (nx, ny) = (sx / s, sy / s);
        let step = ((nx - x).powi(2) + (ny - y).powi(2)).sqrt();
        if step > radius {
            break;
        }
        let moved = ((nx - cx).powi(2) + (ny - cy).powi(2)).sqrt();
        cx = nx;
        cy = ny;
        if moved < 1e-3 {
            break;
        }
    }
    (cx, cy)
}

/// Least-squares fit of `a·exp(−|r − r₀|² / 2σ²) + b` to the pixels within
/// `radius` of (x, y), by Levenberg–Marquardt from that start; returns r₀.
///
/// The window is small (well inside half the Mo–S₂ distance) so a neighbour's
/// tail is nearly flat across it. A tilted-plane background was tried and
/// measured worse (it trades off against the Gaussian's tails in so small a
/// window). The start is returned unchanged when the fit leaves the window,
/// collapses or fails, so a bad fit never moves a column.
pub fn gaussian_fit(
    image: &[f32],
    width: usize,
    height: usize,
    x: f64,
    y: f64,
    radius: f64,
    sigma0: f64,
) -> (f64, f64) {
    const N: usize = 5;
    // Coordinates relative to the start keep the normal equations well conditioned.
    let pts: Vec<(f64, f64, f64)> = disk_pixels(image, width, height, x, y, radius)
        .into_iter()
        .map(|(px, py, v)| (px - x, py - y, v as f64))
        .collect();
    if pts.len() < 2 * N {
        return (x, y);
    }
    let lo = pts.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
    let hi = pts.iter().map(|p| p.2).fold(f64::NEG_INFINITY, f64::max);
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return (x, y);
    }
    // amplitude, x0, y0, sigma, background (relative coordinates).
    let mut p = [hi - lo, 0.0, 0.0, sigma0, lo];
    // The Gaussian's value per pixel is the expensive part (an exp); a trial's values
    // are kept and reused for the next Jacobian when the trial is accepted.
    let gaussian = |p: &[f64; N], out: &mut Vec<f64>| {
        out.clear();
        let k = -1.0 / (2.0 * p[3] * p[3]);
        out.extend(pts.iter().map(|&(u, v, _)| {
            let (du, dv) = (u - p[1], v - p[2]);
            (k * (du * du + dv * dv)).exp()
        }));
    };
    let cost_of = |p: &[f64; N], g: &[f64]| -> f64 {
        pts.iter()
            .zip(g)
            .map(|(&(_, _, val), &g)| (val - (p[0] * g + p[4])).powi(2))
            .sum()
    };
    let mut g_now = Vec::with_capacity(pts.len());
    let mut g_trial = Vec::with_capacity(pts.len());
    gaussian(&p, &mut g_now);
    let mut cost = cost_of(&p, &g_now);
    let mut lambda = 1e-3;
    for _ in 0..MAX_FIT_ITERATIONS {
        let mut jtj = [[0f64; N]; N];
        let mut jtr = [0f64; N];
        for (&(u, v, val), &g) in pts.iter().zip(&g_now) {
            let m = p[0] * g + p[4];
            let (du, dv) = (u - p[1], v - p[2]);
            let s2 = p[3] * p[3];
            let j = [
                g,
                p[0] * g * du / s2,
                p[0] * g * dv / s2,
                p[0] * g * (du * du + dv * dv) / (s2 * p[3]),
                1.0,
            ];
            // JᵀJ is symmetric: accumulate the upper triangle, mirror it below.
            for a in 0..N {
                jtr[a] += j[a] * (val - m);
                for b in a..N {
                    jtj[a][b] += j[a] * j[b];
                }
            }
        }
        let upper = jtj;
        for (a, row) in jtj.iter_mut().enumerate() {
            for (b, cell) in row.iter_mut().enumerate().take(a) {
                *cell = upper[b][a];
            }
        }
        let mut improved = false;
        let mut converged = false;
        for _ in 0..8 {
            let mut m = jtj;
            for (a, row) in m.iter_mut().enumerate() {
                row[a] += lambda * jtj[a][a].max(1e-12);
            }
            let Some(step) = solve(m, jtr) else {
                lambda *= 10.0;
                continue;
            };
            let mut q = p;
            for a in 0..N {
                q[a] += step[a];
            }
            if q[3] <= 0.3 * sigma0 || q[3] >= 4.0 * sigma0 || q[0] <= 0.0 {
                lambda *= 10.0;
                continue;
            }
            gaussian(&q, &mut g_trial);
            let c = cost_of(&q, &g_trial);
            if c < cost {
                converged = step[1].abs().max(step[2].abs()) < CONVERGED_PX;
                std::mem::swap(&mut g_now, &mut g_trial);
                p = q;
                cost = c;
                lambda = (lambda * 0.3).max(1e-9);
                improved = true;
                break;
            }
            lambda *= 10.0;
        }
        if !improved || converged {
            break;
        }
    }
    let shift = p[1].hypot(p[2]);
    if shift.is_finite() && shift <= 0.5 * radius {
        (x + p[1], y + p[2])
    } else {
        (x, y)
    }
}

/// Levenberg–Marquardt iterations at most; fits converge in a handful.
const MAX_FIT_ITERATIONS: usize = 20;
/// A centre step below this (pixels; 0.1 pm at 0.1 Å/px) ends the fit.
const CONVERGED_PX: f64 = 1e-3;

/// Solves the small dense system `m · s = v` by Gaussian elimination with partial pivoting.
pub(crate) fn solve<const N: usize>(mut m: [[f64; N]; N], mut v: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let piv = (col..N).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[piv][col].abs() < 1e-300 {
            return None;
        }
        m.swap(col, piv);
        v.swap(col, piv);
        let pivot_row = m[col];
        for row in col + 1..N {
            let f = m[row][col] / pivot_row[col];
            for (dst, src) in m[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *dst -= f * src;
            }
            v[row] -= f * v[col];
        }
    }
    let mut s = [0f64; N];
    for row in (0..N).rev() {
        let mut acc = v[row];
        for k in row + 1..N {
            acc -= m[row][k] * s[k];
        }
        s[row] = acc / m[row][row];
    }
    s.iter().all(|x| x.is_finite()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian_map(w: usize, h: usize, pts: &[(f64, f64)], sigma: f64) -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                pts.iter()
                    .map(|&(px, py)| {
                        (-((x - px).powi(2) + (y - py).powi(2)) / (2.0 * sigma * sigma)).exp()
                    })
                    .fold(0.0, f64::max) as f32
            })
            .collect()
    }

    #[test]
    fn finds_subpixel_peaks() {
        let pts = [(10.3, 12.7), (25.8, 12.1), (18.0, 30.45)];
        let map = gaussian_map(40, 40, &pts, 2.0);
        let peaks = find_peaks(&[&map], 40, 40, 0.4, 3.0);
        assert_eq!(peaks.len(), 3);
        for p in &peaks {
            let d = pts
                .iter()
                .map(|&(x, y)| ((x - p.x).powi(2) + (y - p.y).powi(2)).sqrt())
                .fold(f64::INFINITY, f64::min);
            assert!(d < 1e-6, "{p:?}");
        }
    }

    #[test]
    fn stronger_channel_wins() {
        let a = gaussian_map(30, 30, &[(15.0, 15.0)], 2.0);
        let b: Vec<f32> = gaussian_map(30, 30, &[(15.5, 15.0)], 2.0)
            .iter()
            .map(|v| v * 0.6)
            .collect();
        let peaks = find_peaks(&[&a, &b], 30, 30, 0.3, 3.0);
        assert_eq!(peaks.len(), 1);
        assert_eq!(peaks[0].channel, 0);
    }

    #[test]
    fn gaussian_fit_recovers_position_on_a_background() {
        let img: Vec<f32> = gaussian_map(30, 30, &[(14.3, 15.6)], 2.5)
            .iter()
            .map(|v| 3.0 * v + 0.5)
            .collect();
        let (x, y) = gaussian_fit(&img, 30, 30, 15.0, 15.0, 4.0, 2.0);
        assert!(
            (x - 14.3).abs() < 0.02 && (y - 15.6).abs() < 0.02,
            "{x} {y}"
        );
        // A flat window has nothing to fit: the start comes back unchanged.
        let flat = vec![1.0f32; 900];
        assert_eq!(
            gaussian_fit(&flat, 30, 30, 15.2, 14.9, 4.0, 2.0),
            (15.2, 14.9)
        );
    }

    #[test]
    fn image_weight_leans_on_the_heatmap_under_carbon_and_for_dim_columns() {
        use ColumnContent::*;
        for content in [Metal, Chalcogen, SingleChalcogen] {
            let clean = image_weight(content, 0.0);
            let covered = image_weight(content, COVERED_CARBON);
            assert!((0.0..=1.0).contains(&clean) && covered <= clean);
            // Beyond full cover and below zero (network noise) the weight stays put.
            assert_eq!(image_weight(content, 3.0), covered);
            assert_eq!(image_weight(content, -0.1), clean);
        }
        assert!(image_weight(Metal, 0.0) > image_weight(Chalcogen, 0.0));
        assert!(image_weight(Chalcogen, 0.0) > image_weight(SingleChalcogen, 0.0));
        let mid = image_weight(Chalcogen, 0.5 * COVERED_CARBON);
        assert!(
            (mid - 0.5 * (image_weight(Chalcogen, 0.0) + image_weight(Chalcogen, 1.0))).abs()
                < 1e-12
        );
    }

    #[test]
    fn centroid_recovers_position() {
        let img = gaussian_map(30, 30, &[(14.3, 15.6)], 2.5);
        let (x, y) = centroid(&img, 30, 30, 15.0, 15.0, 4.0);
        assert!(
            (x - 14.3).abs() < 0.05 && (y - 15.6).abs() < 0.05,
            "{x} {y}"
        );
    }
}
