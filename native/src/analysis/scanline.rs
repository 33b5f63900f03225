//! Scan-line jitter correction: every column on a scan line is displaced along the
//! fast-scan direction (x) by the same random offset, so the columns themselves tell
//! the offsets apart from their positions.
//!
//! Each column is measured row by row (a 1D centroid per scan line through it). A
//! row's measurement is `x_c(r) = X_c + j(r) + noise`, with one unknown position
//! `X_c` per column and one unknown offset `j(r)` per line; alternating least squares
//! solves for both (gauge: the offsets average to zero). A column's 2D position then
//! loses the mean offset of the lines it spans. Columns at many different heights
//! overlap every line, which makes the offsets identifiable; lines crossed by too few
//! columns keep a zero offset, so sparse images are left as they are.
//!
//! Only fast jitter is removed: the offsets are high-passed over `smooth` lines, so
//! slow drift and shear — real, smooth distortions of the recorded geometry, which
//! the simulator's truth includes — stay as they are.

use crate::analysis::intensity::median;
use crate::analysis::lattice::LatticeFit;
use rayon::prelude::*;

/// Fewest columns crossing a scan line for its offset to be estimated.
const MIN_COLUMNS_PER_LINE: usize = 4;
/// Alternating least-squares sweeps (converges in a few).
const SWEEPS: usize = 8;
/// Measure–solve rounds, each re-centring the line windows on the last offsets.
const RECENTRE_PASSES: usize = 3;

/// One row-wise measurement of a column.
#[derive(Clone, Copy)]
struct RowMeasure {
    column: usize,
    row: usize,
    x: f64,
}

/// Background-subtracted 1D centroid of `row` between `x0` and `x1` (inclusive pixels).
fn row_centroid(image: &[f32], width: usize, row: usize, x0: usize, x1: usize) -> Option<f64> {
    let line = &image[row * width + x0..=row * width + x1];
    let floor = line.iter().copied().fold(f32::INFINITY, f32::min);
    let (mut s, mut sx) = (0.0f64, 0.0f64);
    for (i, &v) in line.iter().enumerate() {
        let wgt = (v - floor) as f64;
        s += wgt;
        sx += wgt * (x0 + i) as f64;
    }
    (s > 0.0).then(|| sx / s)
}

/// Per-line x offsets (pixels, one per image row) estimated from `positions`.
///
/// `half_width` and `half_height` (pixels) bound the part of each column measured:
/// about half the nearest-neighbour distance across, the probe's core along y.
/// Offsets varying more slowly than over `smooth` lines are not returned.
pub fn line_offsets(
    image: &[f32],
    width: usize,
    height: usize,
    positions: &[(f64, f64)],
    half_width: f64,
    half_height: f64,
    smooth: usize,
) -> Vec<f64> {
    let mut offsets = vec![0.0; height];
    if positions.len() < MIN_COLUMNS_PER_LINE || width < 3 || height < 3 {
        return offsets;
    }
    let hw = half_width.max(1.0);
    let hh = half_height.max(0.5);
    // A window centred on the column's mean position cuts a shifted line's profile
    // asymmetrically and shrinks the measured shift; re-centring each line's window
    // on the last estimate removes most of that.
    let mut per_line = vec![0usize; height];
    for _ in 0..RECENTRE_PASSES {
        let measures = measure(image, width, height, positions, &offsets, hw, hh);
        per_line = vec![0usize; height];
        for m in &measures {
            per_line[m.row] += 1;
        }
        offsets = solve(&measures, positions.len(), &per_line);
    }
    high_pass(&offsets, &per_line, smooth)
}

/// Row-wise centroids of every column, each line's window shifted by its offset.
fn measure(
    image: &[f32],
    width: usize,
    height: usize,
    positions: &[(f64, f64)],
    offsets: &[f64],
    hw: f64,
    hh: f64,
) -> Vec<RowMeasure> {
    positions
        .par_iter()
        .enumerate()
        .flat_map_iter(|(column, &(x, y))| {
            let r0 = (y - hh).round().max(0.0) as usize;
            let r1 = ((y + hh).round().max(0.0) as usize).min(height - 1);
            (r0..=r1).filter_map(move |row| {
                let xc = x + offsets[row];
                let (x0, x1) = ((xc - hw).round(), (xc + hw).round());
                if x0 < 0.0 || x1 > (width - 1) as f64 {
                    return None;
                }
                row_centroid(image, width, row, x0 as usize, x1 as usize).map(|xr| RowMeasure {
                    column,
                    row,
                    x: xr,
                })
            })
        })
        .collect()
}

/// Alternating least squares for column positions and line offsets (median per line,
/// gauge: usable lines' offsets average to zero).
fn solve(measures: &[RowMeasure], n: usize, per_line: &[usize]) -> Vec<f64> {
    let height = per_line.len();
    let usable = |row: usize| per_line[row] >= MIN_COLUMNS_PER_LINE;
    let mut offsets = vec![0.0; height];
    let mut col_x = vec![0.0; n];
    for _ in 0..SWEEPS {
        let mut sum = vec![0.0; n];
        let mut cnt = vec![0usize; n];
        for m in measures {
            sum[m.column] += m.x - offsets[m.row];
            cnt[m.column] += 1;
        }
        for c in 0..n {
            if cnt[c] > 0 {
                col_x[c] = sum[c] / cnt[c] as f64;
            }
        }
        let mut residuals: Vec<Vec<f64>> = vec![Vec::new(); height];
        for m in measures {
            if usable(m.row) {
                residuals[m.row].push(m.x - col_x[m.column]);
            }
        }
        // Median per line: a column that is really two (an adatom beside it) or cut by a
        // hole must not drag its whole line.
        let new: Vec<f64> = residuals
            .into_par_iter()
            .map(|mut r| median(&mut r))
            .collect();
        let lines = (0..height).filter(|&r| usable(r)).count();
        if lines == 0 {
            return vec![0.0; height];
        }
        let mean = (0..height)
            .filter(|&r| usable(r))
            .map(|r| new[r])
            .sum::<f64>()
            / lines as f64;
        for r in 0..height {
            offsets[r] = if usable(r) { new[r] - mean } else { 0.0 };
        }
    }
    offsets
}

/// `offsets` minus their running mean over ±`smooth / 2` usable lines.
fn high_pass(offsets: &[f64], per_line: &[usize], smooth: usize) -> Vec<f64> {
    let half = (smooth / 2).max(1);
    let h = offsets.len();
    (0..h)
        .map(|r| {
            if per_line[r] < MIN_COLUMNS_PER_LINE {
                return 0.0;
            }
            let lo = r.saturating_sub(half);
            let hi = (r + half).min(h - 1);
            let (mut s, mut n) = (0.0, 0usize);
            for k in lo..=hi {
                if per_line[k] >= MIN_COLUMNS_PER_LINE {
                    s += offsets[k];
                    n += 1;
                }
            }
            offsets[r] - s / n.max(1) as f64
        })
        .collect()
}

/// Moves each column by minus the mean offset of the lines within `half_height` of it.
pub fn correct(positions: &[(f64, f64)], offsets: &[f64], half_height: f64) -> Vec<(f64, f64)> {
    let h = offsets.len();
    let hh = half_height.max(0.5);
    positions
        .iter()
        .map(|&(x, y)| {
            if h == 0 {
                return (x, y);
            }
            let r0 = (y - hh).round().max(0.0) as usize;
            let r1 = ((y + hh).round().max(0.0) as usize).min(h - 1);
            if r0 > r1 {
                return (x, y);
            }
            let mean = offsets[r0..=r1].iter().sum::<f64>() / (r1 - r0 + 1) as f64;
            (x - mean, y)
        })
        .collect()
}

/// Fewest lattice-indexed columns in a band for its slow offset to be estimated.
const MIN_BAND_COLUMNS: usize = 5;

/// Slow scan-line displacement (px, x and y) per image row, from the lattice residuals
/// of the columns within `band` rows of it; `None` where too few columns are.
///
/// Row-wise centroids see only how a line differs from its neighbours, so jitter that
/// varies over more lines than a column spans passes them by. The crystal sees it: a
/// displacement shared by every column along a scan line, across the whole image
/// width, is not strain (real strain fields are local, and homogeneous strain, like
/// linear drift, is in the affine lattice fit), so the median lattice residual of a
/// band of rows measures it. The median keeps adatoms, defects and local strain out.
pub fn slow_offsets(
    positions: &[(f64, f64)],
    fit: &LatticeFit,
    height: usize,
    band: f64,
) -> Vec<Option<(f64, f64)>> {
    let mut by_y: Vec<(f64, (f64, f64))> = fit
        .indexed()
        .map(|i| (positions[i].1, fit.residual[i]))
        .collect();
    by_y.sort_by(|a, b| a.0.total_cmp(&b.0));
    (0..height)
        .into_par_iter()
        .map(|r| {
            let (lo, hi) = (r as f64 - band, r as f64 + band);
            let start = by_y.partition_point(|p| p.0 < lo);
            let end = by_y.partition_point(|p| p.0 <= hi);
            if end - start < MIN_BAND_COLUMNS {
                return None;
            }
            let mut xs: Vec<f64> = by_y[start..end].iter().map(|p| p.1 .0).collect();
            let mut ys: Vec<f64> = by_y[start..end].iter().map(|p| p.1 .1).collect();
            Some((median(&mut xs), median(&mut ys)))
        })
        .collect()
}

/// Moves each column by minus the slow offset at its height (linear between rows;
/// rows without an estimate take the nearest row that has one).
pub fn correct_slow(positions: &[(f64, f64)], offsets: &[Option<(f64, f64)>]) -> Vec<(f64, f64)> {
    let h = offsets.len();
    if offsets.iter().all(Option::is_none) {
        return positions.to_vec();
    }
    // Fill gaps from the nearest estimated row, looking both ways.
    let mut filled: Vec<(f64, f64)> = vec![(0.0, 0.0); h];
    let mut last: Option<(usize, (f64, f64))> = None;
    let mut next_known: Vec<Option<(usize, (f64, f64))>> = vec![None; h];
    for r in (0..h).rev() {
        if let Some(o) = offsets[r] {
            next_known[r] = Some((r, o));
        } else if r + 1 < h {
            next_known[r] = next_known[r + 1];
        }
    }
    for r in 0..h {
        if let Some(o) = offsets[r] {
            last = Some((r, o));
        }
        filled[r] = match (last, next_known[r]) {
            (Some((a, oa)), Some((b, ob))) => {
                if r - a <= b - r {
                    oa
                } else {
                    ob
                }
            }
            (Some((_, o)), None) | (None, Some((_, o))) => o,
            (None, None) => (0.0, 0.0),
        };
    }
    positions
        .iter()
        .map(|&(x, y)| {
            let yc = y.clamp(0.0, (h - 1) as f64);
            let r0 = yc.floor() as usize;
            let r1 = (r0 + 1).min(h - 1);
            let t = yc - r0 as f64;
            let ox = filled[r0].0 * (1.0 - t) + filled[r1].0 * t;
            let oy = filled[r0].1 * (1.0 - t) + filled[r1].1 * t;
            (x - ox, y - oy)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A jittered lattice of Gaussian columns: every line shifted by its own offset.
    fn jittered(w: usize, h: usize, pts: &[(f64, f64)], jitter: &[f64]) -> Vec<f32> {
        let sigma: f64 = 2.0;
        let mut img = vec![0f32; w * h];
        for r in 0..h {
            for c in 0..w {
                let x = c as f64 - jitter[r];
                let v: f64 = pts
                    .iter()
                    .filter(|p| (p.1 - r as f64).abs() < 8.0 && (p.0 - x).abs() < 8.0)
                    .map(|p| {
                        (-((x - p.0).powi(2) + (r as f64 - p.1).powi(2)) / (2.0 * sigma * sigma))
                            .exp()
                    })
                    .sum();
                img[r * w + c] = v as f32 + 0.1;
            }
        }
        img
    }

    #[test]
    fn recovers_line_offsets_and_unshifts_columns() {
        let (w, h) = (200, 200);
        // A hexagonal-ish lattice with rows at many heights (rotated).
        let mut pts = Vec::new();
        let (a, ang) = (11.0f64, 0.3f64);
        for i in -30..30 {
            for k in -30..30 {
                let (u, v) = (a * (i as f64 + 0.5 * k as f64), a * 0.866 * k as f64);
                let (x, y) = (
                    u * ang.cos() - v * ang.sin() + 100.0,
                    u * ang.sin() + v * ang.cos() + 100.0,
                );
                if x > 12.0 && x < 188.0 && y > 12.0 && y < 188.0 {
                    pts.push((x, y));
                }
            }
        }
        // Deterministic pseudo-random jitter, ±0.6 px.
        let jitter: Vec<f64> = (0..h)
            .map(|r| 0.6 * (((r * 7919 + 13) % 101) as f64 / 50.0 - 1.0))
            .collect();
        let img = jittered(w, h, &pts, &jitter);
        // What a 2D centroid sees: the mean jitter over the column's rows, plus the truth.
        let seen: Vec<(f64, f64)> = pts
            .iter()
            .map(|&(x, y)| {
                let (r0, r1) = ((y - 3.0).round() as usize, (y + 3.0).round() as usize);
                let m = jitter[r0..=r1].iter().sum::<f64>() / (r1 - r0 + 1) as f64;
                (x + m, y)
            })
            .collect();
        let offsets = line_offsets(&img, w, h, &seen, 4.0, 3.0, 60);
        let fixed = correct(&seen, &offsets, 3.0);
        let rms = |v: &[(f64, f64)]| {
            (v.iter()
                .zip(&pts)
                .map(|(a, b)| (a.0 - b.0).powi(2))
                .sum::<f64>()
                / v.len() as f64)
                .sqrt()
        };
        let (before, after) = (rms(&seen), rms(&fixed));
        println!("x RMS error: {before:.3} px before, {after:.3} px after");
        assert!(after < 0.45 * before, "{before} -> {after}");
    }

    #[test]
    fn keeps_slow_drift() {
        // A pure shear (drift of 0.01 px per line) is geometry, not jitter.
        let (w, h) = (160, 160);
        let mut pts = Vec::new();
        for i in 0..14 {
            for k in 0..14 {
                let y = 12.0 + 10.0 * k as f64 + 0.37 * i as f64;
                pts.push((12.0 + 10.0 * i as f64 + 0.01 * y, y));
            }
        }
        let flat = vec![0.0; h];
        let img = jittered(w, h, &pts, &flat);
        let offsets = line_offsets(&img, w, h, &pts, 4.0, 3.0, 40);
        let fixed = correct(&pts, &offsets, 3.0);
        let worst = fixed
            .iter()
            .zip(&pts)
            .map(|(a, b)| (a.0 - b.0).abs())
            .fold(0.0, f64::max);
        assert!(worst < 0.08, "moved by {worst} px");
    }

    #[test]
    fn lattice_residuals_remove_slow_line_shifts() {
        // A triangular lattice (spacing 18 px) whose scan lines are shifted by a slow
        // wave in x and y: row-wise centroids cannot see it, the lattice can.
        let (w, h) = (400usize, 400usize);
        let (s, ang) = (18.0f64, 0.4f64);
        let slow = |y: f64| (2.0 * (y / 37.0).sin(), 0.8 * (y / 23.0).cos());
        let mut truth = Vec::new();
        for i in -40..40 {
            for k in -40..40 {
                let (u, v) = (s * (i as f64 + 0.5 * k as f64), s * 0.866_025 * k as f64);
                let (x, y) = (
                    u * ang.cos() - v * ang.sin() + 200.0,
                    u * ang.sin() + v * ang.cos() + 200.0,
                );
                if x > 5.0 && y > 5.0 && x < 395.0 && y < 395.0 {
                    truth.push((x, y));
                }
            }
        }
        let seen: Vec<(f64, f64)> = truth
            .iter()
            .map(|&(x, y)| {
                let (dx, dy) = slow(y);
                (x + dx, y + dy)
            })
            .collect();
        let fit = crate::analysis::lattice::fit(&seen, 18.0).expect("a lattice");
        let offsets = slow_offsets(&seen, &fit, h, 5.0);
        let fixed = correct_slow(&seen, &offsets);
        let rms = |v: &[(f64, f64)]| {
            let inner: Vec<f64> = v
                .iter()
                .zip(&truth)
                .filter(|(_, t)| t.1 > 20.0 && t.1 < (h - 20) as f64 && t.0 < (w - 20) as f64)
                .map(|(a, b)| (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2))
                .collect();
            (inner.iter().sum::<f64>() / inner.len() as f64).sqrt()
        };
        let (before, after) = (rms(&seen), rms(&fixed));
        println!("slow shift RMS: {before:.3} px before, {after:.3} px after");
        // The affine fit keeps any linear part; what it cannot tell from drift stays.
        assert!(after < 0.3 * before, "{before} -> {after}");
    }

    #[test]
    fn slow_correction_keeps_a_local_displacement() {
        // One column displaced (an adatom-strained site) is not a scan-line shift.
        let mut pts = Vec::new();
        for i in 0..20 {
            for k in 0..20 {
                pts.push((
                    10.0 + 18.0 * i as f64 + 9.0 * (k % 2) as f64,
                    10.0 + 15.588 * k as f64,
                ));
            }
        }
        let k = 210;
        pts[k].0 += 3.0;
        let fit = crate::analysis::lattice::fit(&pts, 18.0).expect("a lattice");
        let fixed = correct_slow(&pts, &slow_offsets(&pts, &fit, 320, 5.0));
        assert!(
            (fixed[k].0 - pts[k].0).abs() < 0.2,
            "moved {:?} -> {:?}",
            pts[k],
            fixed[k]
        );
        let worst = fixed
            .iter()
            .zip(&pts)
            .map(|(a, b)| (a.0 - b.0).hypot(a.1 - b.1))
            .fold(0.0, f64::max);
        assert!(worst < 0.2, "moved by {worst}");
    }

    #[test]
    fn leaves_too_few_columns_alone() {
        let img = vec![1f32; 50 * 50];
        let pts = [(10.0, 10.0), (30.0, 30.0)];
        let offsets = line_offsets(&img, 50, 50, &pts, 3.0, 2.0, 20);
        assert!(offsets.iter().all(|&o| o == 0.0));
        assert_eq!(correct(&pts, &offsets, 2.0), pts.to_vec());
    }
}
