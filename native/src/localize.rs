//! Atom columns from the atom heatmaps: peaks, then sub-pixel positions.
//!
//! The heatmaps (metal-containing columns, chalcogen-only columns) are Gaussian
//! bumps of height ≈ 1 at each column. A peak is a local maximum above
//! `threshold` in a disk of radius `min_separation`; across the two channels the
//! stronger of two peaks closer than `min_separation` wins. Sub-pixel position:
//! either a log-parabola through the 3 × 3 neighbourhood of the heatmap (exact
//! for a Gaussian) or an iterated, background-subtracted centroid on the input
//! image; `stemsight eval` reports the RMSE of both.

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
    /// Log-parabola on the network's heatmap.
    Heatmap,
    /// Iterated background-subtracted centroid on the input image.
    Centroid,
}

impl std::str::FromStr for Refinement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "heatmap" => Ok(Refinement::Heatmap),
            "centroid" => Ok(Refinement::Centroid),
            _ => Err(format!("unknown refinement '{s}' (heatmap|centroid)")),
        }
    }
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
        for y in 0..height {
            for x in 0..width {
                let v = map[y * width + x];
                if v < threshold {
                    continue;
                }
                if is_local_max(map, width, height, x, y, r, r2) {
                    let (dx, dy) = parabola_offset(map, width, height, x, y);
                    peaks.push(Peak {
                        x: x as f64 + dx,
                        y: y as f64 + dy,
                        channel: ch,
                        score: v,
                    });
                }
            }
        }
    }
    suppress(peaks, min_separation_px, width, height)
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

/// Greedy non-maximum suppression across channels, strongest first, on a bucket grid.
fn suppress(mut peaks: Vec<Peak>, min_sep: f64, width: usize, height: usize) -> Vec<Peak> {
    peaks.sort_by(|a, b| b.score.total_cmp(&a.score));
    let cell = min_sep.max(1.0);
    let gw = (width as f64 / cell).ceil() as usize + 1;
    let gh = (height as f64 / cell).ceil() as usize + 1;
    let mut grid: Vec<Vec<usize>> = vec![Vec::new(); gw * gh];
    let mut kept: Vec<Peak> = Vec::new();
    for p in peaks {
        let (gx, gy) = (
            (p.x.max(0.0) / cell) as usize,
            (p.y.max(0.0) / cell) as usize,
        );
        let mut clash = false;
        'outer: for yy in gy.saturating_sub(1)..=(gy + 1).min(gh - 1) {
            for xx in gx.saturating_sub(1)..=(gx + 1).min(gw - 1) {
                for &k in &grid[yy * gw + xx] {
                    let q: &Peak = &kept[k];
                    if (q.x - p.x).powi(2) + (q.y - p.y).powi(2) < min_sep * min_sep {
                        clash = true;
                        break 'outer;
                    }
                }
            }
        }
        if !clash {
            grid[gy.min(gh - 1) * gw + gx.min(gw - 1)].push(kept.len());
            kept.push(p);
        }
    }
    kept.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
    kept
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
    let r = radius.ceil() as isize;
    for _ in 0..3 {
        let (ix, iy) = (cx.round() as isize, cy.round() as isize);
        let mut pts = Vec::with_capacity(((2 * r + 1) * (2 * r + 1)) as usize);
        let mut floor = f32::INFINITY;
        for dy in -r..=r {
            for dx in -r..=r {
                let (xx, yy) = (ix + dx, iy + dy);
                if xx < 0 || yy < 0 || xx >= width as isize || yy >= height as isize {
                    continue;
                }
                let d2 = (xx as f64 - cx).powi(2) + (yy as f64 - cy).powi(2);
                if d2 > radius * radius {
                    continue;
                }
                let v = image[yy as usize * width + xx as usize];
                floor = floor.min(v);
                pts.push((xx as f64, yy as f64, v));
            }
        }
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
    fn centroid_recovers_position() {
        let img = gaussian_map(30, 30, &[(14.3, 15.6)], 2.5);
        let (x, y) = centroid(&img, 30, 30, 15.0, 15.0, 4.0);
        assert!(
            (x - 14.3).abs() < 0.05 && (y - 15.6).abs() < 0.05,
            "{x} {y}"
        );
    }
}
