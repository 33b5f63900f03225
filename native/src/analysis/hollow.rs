//! Hollow sites: the empty sites of the lattice, and the signal found there.
//!
//! Projected along the beam, a TMD's columns sit on up to three interleaved triangular
//! sublattices A, B and C, each site 1.85 Å from three of the other two. A column at p
//! with a neighbour at q has the third site of the pair at 2p − q. 2H stacks (1, 2 and
//! 3 layers) leave the C sites empty — the hollows — while 3R and 1T fill all three.
//! Two things follow, each from the found columns alone:
//!
//! - **Occupancy** ([`ThirdSites::occupancy`]): the share of third sites that hold a column, the
//!   lattice's own word on whether the hollows are empty (2H) or filled (3R, 1T).
//! - **Hollow excess** ([`excess`]): amorphous carbon lying on the crystal adds diffuse,
//!   speckled signal everywhere, the hollows included, while the contrast between a
//!   column and its hollow stays; so the hollow level, in units of that local contrast,
//!   rises above the level of the image's own cleanest hollows by the carbon's share. A
//!   blurred probe, a lower dose, a thicker stack or an 8-bit, background-subtracted
//!   image change the whole image alike and leave that excess near zero.
//!
//! Measured with the shipped model's columns (`scripts/eval_real.py` and simulated
//! images): the hollow excess' median and 90th percentile are 0.06–0.11 and 0.10–0.22
//! on clean images — simulated 2H-1L at carbon level 0 (seeds 7 and 12) and the clean
//! real WSe₂ and WS₂/WSSe images — but 0.60 and 1.63 on the real contaminated WS₂.

use crate::math::neighbors::NeighborGrid;

/// Nearest-neighbour distances accepted as one lattice link, in column spacings.
const LINK: (f64, f64) = (0.75, 1.25);
/// A third site with a column closer than this (in column spacings) is occupied.
const OCCUPIED: f64 = 0.55;
/// Third sites closer than this (in column spacings) are one site.
const SAME_SITE: f64 = 0.35;
/// Radius of the disks whose mean is a site's signal, in Å: inside the probe's core,
/// so a column's disk and its hollow's (1.85 Å apart) do not overlap.
pub const SIGNAL_RADIUS_A: f64 = 0.35;
/// The image's cleanest hollows: this quantile of the excess is its zero.
const CLEAN_QUANTILE: f64 = 0.1;

/// The lattice links among found columns: pairs one column spacing apart ([`LINK`]).
struct Links<'a> {
    positions: &'a [(f64, f64)],
    grid: NeighborGrid,
    range2: std::ops::RangeInclusive<f64>,
}

impl<'a> Links<'a> {
    /// `spacing` is the column spacing in pixels.
    fn new(positions: &'a [(f64, f64)], spacing: f64) -> Links<'a> {
        Links {
            positions,
            grid: NeighborGrid::from_points(positions.iter().copied(), LINK.1 * spacing),
            range2: (LINK.0 * spacing).powi(2)..=(LINK.1 * spacing).powi(2),
        }
    }

    /// The columns linked to the point (x, y).
    fn of(&self, x: f64, y: f64) -> impl Iterator<Item = usize> + '_ {
        self.grid
            .within(x, y)
            .filter(|(_, d2)| self.range2.contains(d2))
            .map(|(j, _)| j)
    }

    /// Whether columns `j` and `k` are linked.
    fn joins(&self, j: usize, k: usize) -> bool {
        let (q, r) = (self.positions[j], self.positions[k]);
        self.range2
            .contains(&((q.0 - r.0).powi(2) + (q.1 - r.1).powi(2)))
    }
}

/// The third sites of the found columns' links, merged, each with whether a column
/// holds it. `spacing` is the column spacing in pixels.
fn third_sites(positions: &[(f64, f64)], spacing: f64) -> Vec<((f64, f64), bool)> {
    let links = Links::new(positions, spacing);
    let mut sites: Vec<((f64, f64), usize)> = Vec::new();
    let mut merged = NeighborGrid::new(SAME_SITE * spacing);
    for &(px, py) in positions {
        for j in links.of(px, py) {
            let (qx, qy) = positions[j];
            let site = (2.0 * px - qx, 2.0 * py - qy);
            let existing = merged.within(site.0, site.1).next();
            match existing {
                Some((k, _)) => {
                    let (s, n) = &mut sites[k];
                    let m = *n as f64;
                    *s = (
                        (s.0 * m + site.0) / (m + 1.0),
                        (s.1 * m + site.1) / (m + 1.0),
                    );
                    *n += 1;
                }
                None => {
                    merged.insert(sites.len(), site.0, site.1);
                    sites.push((site, 1));
                }
            }
        }
    }
    let occupied2 = (OCCUPIED * spacing).powi(2);
    let near = NeighborGrid::from_points(positions.iter().copied(), OCCUPIED * spacing);
    sites
        .into_iter()
        .map(|(s, _)| {
            let held = near.within(s.0, s.1).any(|(_, d2)| d2 <= occupied2);
            (s, held)
        })
        .collect()
}

/// The third sites at least one spacing inside a `w × h` image, each with whether a
/// column holds it: what [`ThirdSites::occupancy`] and [`ThirdSites::hollows`] read.
pub struct ThirdSites(Vec<((f64, f64), bool)>);

impl ThirdSites {
    pub fn find(positions: &[(f64, f64)], spacing: f64, w: usize, h: usize) -> ThirdSites {
        let inside = inside(w, h, spacing);
        ThirdSites(
            third_sites(positions, spacing)
                .into_iter()
                .filter(|(s, _)| inside(*s))
                .collect(),
        )
    }

    /// Third sites that hold a column, and all third sites.
    pub fn occupancy(&self) -> (usize, usize) {
        (
            self.0.iter().filter(|(_, held)| *held).count(),
            self.0.len(),
        )
    }

    /// The empty third sites: the hollows.
    pub fn hollows(&self) -> Vec<(f64, f64)> {
        self.0
            .iter()
            .filter(|(_, held)| !held)
            .map(|(s, _)| *s)
            .collect()
    }
}

/// The troughs of a filled lattice at least one spacing inside a `w × h` image: the
/// centres of triangles of three columns, each one column spacing from the other two.
/// 3R and 1T fill all three sublattices, so they have no hollows but a trough in every
/// such triangle (0.58 spacings, 1.05 Å, from its columns); the honeycomb of 2H stacks has
/// none (a column's neighbours stand √3 spacings from each other), nor does a lone
/// chain. `spacing` is the column spacing in pixels.
pub fn troughs(positions: &[(f64, f64)], spacing: f64, w: usize, h: usize) -> Vec<(f64, f64)> {
    let links = Links::new(positions, spacing);
    let inside = inside(w, h, spacing);
    let mut out = Vec::new();
    for (i, &(px, py)) in positions.iter().enumerate() {
        // Each triangle once: from its lowest-indexed column.
        let near: Vec<usize> = links.of(px, py).filter(|&j| j > i).collect();
        for (a, &j) in near.iter().enumerate() {
            for &k in &near[a + 1..] {
                if links.joins(j, k) {
                    let (q, r) = (positions[j], positions[k]);
                    let c = ((px + q.0 + r.0) / 3.0, (py + q.1 + r.1) / 3.0);
                    if inside(c) {
                        out.push(c);
                    }
                }
            }
        }
    }
    out
}

fn inside(w: usize, h: usize, margin: f64) -> impl Fn((f64, f64)) -> bool {
    move |(x, y)| {
        x >= margin && y >= margin && x <= w as f64 - 1.0 - margin && y <= h as f64 - 1.0 - margin
    }
}

/// Mean of the pixels within `radius` of (x, y) (at least the nearest pixel).
pub fn disk_mean(image: &[f32], w: usize, h: usize, (x, y): (f64, f64), radius: f64) -> f64 {
    let r = radius.max(0.5);
    let (x0, x1) = (
        (x - r).ceil().max(0.0) as usize,
        (x + r).floor().min(w as f64 - 1.0) as usize,
    );
    let (y0, y1) = (
        (y - r).ceil().max(0.0) as usize,
        (y + r).floor().min(h as f64 - 1.0) as usize,
    );
    let (mut sum, mut n) = (0.0, 0usize);
    for yy in y0..=y1 {
        for xx in x0..=x1 {
            if (xx as f64 - x).powi(2) + (yy as f64 - y).powi(2) <= r * r {
                sum += image[yy * w + xx] as f64;
                n += 1;
            }
        }
    }
    if n == 0 {
        let (cx, cy) = (
            x.round().clamp(0.0, w as f64 - 1.0),
            y.round().clamp(0.0, h as f64 - 1.0),
        );
        image[cy as usize * w + cx as usize] as f64
    } else {
        sum / n as f64
    }
}

/// Each hollow's level over the local column–hollow contrast. Hollows whose surrounding
/// columns give no positive contrast get `NaN`. Averaged over a few hollows
/// ([`local_mean`]) and taken relative to the image's cleanest ([`relative_to_cleanest`])
/// it is the hollow excess.
pub fn levels(
    image: &[f32],
    w: usize,
    h: usize,
    positions: &[(f64, f64)],
    hollows: &[(f64, f64)],
    spacing: f64,
    radius: f64,
) -> Vec<f64> {
    let columns: Vec<f64> = positions
        .iter()
        .map(|&p| disk_mean(image, w, h, p, radius))
        .collect();
    // The columns around a hollow stand one spacing away; 1.3 spacings takes its ring.
    let ring = NeighborGrid::from_points(positions.iter().copied(), 1.3 * spacing);
    hollows
        .iter()
        .map(|&(x, y)| {
            let level = disk_mean(image, w, h, (x, y), radius);
            let (sum, n) = ring
                .within(x, y)
                .fold((0.0, 0usize), |(s, n), (i, _)| (s + columns[i], n + 1));
            let contrast = if n > 0 { sum / n as f64 - level } else { 0.0 };
            if contrast > 0.0 {
                level / contrast
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// Subtracts from a `w × h` local-mean field the level of the image's cleanest areas,
/// a plane: an additive background gradient (detector offset, support thickness) tilts
/// the hollows' level across the image, which no single zero removes (a simulated
/// clean image with a 0.29 gradient read 0.00 to 0.12 corner to corner). The plane is
/// fitted to the field where at least `min_count` hollows stand behind it, then again
/// to the lowest quarter of the points about it, `FLOOR_FITS` times, so it settles on
/// the clean floor under any patch; what is left is offset so that the `CLEAN_QUANTILE` of the field
/// is zero. Taken after the averaging, so the noise of single hollows does not lower
/// the floor (at 0.4 Å/px a hollow's disk is one pixel). Returns the plane
/// (a + b·x + c·y) or `None` where fewer than 3 points have evidence.
pub fn relative_to_cleanest(
    field: &mut [f32],
    count: &[f32],
    w: usize,
    min_count: f32,
) -> Option<[f64; 3]> {
    let points: Vec<(f64, f64, f64)> = field
        .iter()
        .zip(count)
        .enumerate()
        .filter(|(_, (v, &c))| v.is_finite() && c >= min_count)
        .map(|(i, (&v, _))| ((i % w) as f64, (i / w) as f64, v as f64))
        .collect();
    if points.len() < 3 {
        return None;
    }
    // A regular subsample: the field is smooth over several pixels.
    let step = (points.len() / 20_000).max(1);
    let sample: Vec<(f64, f64, f64)> = points.iter().step_by(step).copied().collect();
    let mut plane = fit_plane(sample.iter())?;
    for _ in 0..FLOOR_FITS {
        let residual: Vec<f64> = sample
            .iter()
            .map(|p| p.2 - eval_plane(&plane, p.0, p.1))
            .collect();
        let mut sorted = residual.clone();
        let k = ((sorted.len() - 1) as f64 * FLOOR_SHARE).round() as usize;
        let cut = *sorted.select_nth_unstable_by(k, f64::total_cmp).1;
        let floor = sample
            .iter()
            .zip(&residual)
            .filter(|(_, &r)| r <= cut)
            .map(|(p, _)| p);
        match fit_plane(floor) {
            Some(p) => plane = p,
            None => break,
        }
    }
    let mut residual: Vec<f64> = sample
        .iter()
        .map(|p| p.2 - eval_plane(&plane, p.0, p.1))
        .collect();
    let k = ((residual.len() - 1) as f64 * CLEAN_QUANTILE).round() as usize;
    plane[0] += *residual.select_nth_unstable_by(k, f64::total_cmp).1;
    for (i, v) in field.iter_mut().enumerate() {
        *v -= eval_plane(&plane, (i % w) as f64, (i / w) as f64) as f32;
    }
    Some(plane)
}

/// Refits of the clean floor, each to the lowest `FLOOR_SHARE` of the points about the
/// previous one: a patch covering up to half the image and more stays off the floor.
const FLOOR_FITS: usize = 4;
const FLOOR_SHARE: f64 = 0.25;

fn eval_plane(p: &[f64; 3], x: f64, y: f64) -> f64 {
    p[0] + p[1] * x + p[2] * y
}

/// Least-squares plane a + b·x + c·y through the points; `None` when they are too few
/// or collinear.
fn fit_plane<'a>(points: impl Iterator<Item = &'a (f64, f64, f64)>) -> Option<[f64; 3]> {
    // Centred sums keep the normal equations well conditioned on 8192-pixel grids.
    let pts: Vec<&(f64, f64, f64)> = points.collect();
    let n = pts.len() as f64;
    if n < 3.0 {
        return None;
    }
    let (mx, my, mz) = pts
        .iter()
        .fold((0.0, 0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1, a.2 + p.2));
    let (mx, my, mz) = (mx / n, my / n, mz / n);
    let (mut sxx, mut sxy, mut syy, mut sxz, mut syz) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in &pts {
        let (dx, dy, dz) = (p.0 - mx, p.1 - my, p.2 - mz);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
        sxz += dx * dz;
        syz += dy * dz;
    }
    let det = sxx * syy - sxy * sxy;
    if det.abs() <= 1e-12 * (sxx * syy).max(1e-300) {
        // Points on a line: a level floor through their mean.
        return Some([mz, 0.0, 0.0]);
    }
    let b = (sxz * syy - syz * sxy) / det;
    let c = (syz * sxx - sxz * sxy) / det;
    Some([mz - b * mx - c * my, b, c])
}

/// The hollows' excess spread over a `w × h` grid by a near-Gaussian of `sigma` pixels:
/// per pixel the weighted mean excess, and the weight behind it (about the number of
/// hollows within σ of the pixel; 0 where the lattice shows none). `to_grid` maps a hollow's
/// position onto the grid.
pub fn local_mean(
    hollows: &[(f64, f64)],
    values: &[f64],
    w: usize,
    h: usize,
    sigma: f64,
    to_grid: impl Fn(f64, f64) -> (f64, f64),
) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f32; w * h];
    let mut weight = vec![0f32; w * h];
    for (&(x, y), &v) in hollows.iter().zip(values) {
        if !v.is_finite() {
            continue;
        }
        let (gx, gy) = to_grid(x, y);
        let (gx, gy) = (gx.round(), gy.round());
        if gx < 0.0 || gy < 0.0 || gx >= w as f64 || gy >= h as f64 {
            continue;
        }
        let i = gy as usize * w + gx as usize;
        sum[i] += v as f32;
        weight[i] += 1.0;
    }
    let r = crate::math::smooth::half_width(sigma);
    let mut scratch = vec![0f32; w * h];
    crate::math::smooth::three_boxes(&mut sum, &mut scratch, w, h, r);
    crate::math::smooth::three_boxes(&mut weight, &mut scratch, w, h, r);
    // The box passes keep the mass, so `weight` is a density of hollows per pixel;
    // times πσ² it counts the hollows within about σ.
    let area = (std::f64::consts::PI * sigma * sigma) as f32;
    let mean = sum
        .iter()
        .zip(&weight)
        .map(|(&s, &wt)| if wt > 0.0 { s / wt } else { f32::NAN })
        .collect();
    (mean, weight.into_iter().map(|wt| wt * area).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2H-1L honeycomb of metal (A) and chalcogen (B) columns, `spacing` px apart.
    fn honeycomb(w: usize, h: usize, spacing: f64, with_c: bool) -> Vec<(f64, f64)> {
        let a = spacing * 3f64.sqrt();
        let (a1, a2) = ((a, 0.0), (a / 2.0, a * 3f64.sqrt() / 2.0));
        let mut out = Vec::new();
        for i in -40..40 {
            for j in -40..40 {
                let (x, y) = (
                    i as f64 * a1.0 + j as f64 * a2.0,
                    i as f64 * a1.1 + j as f64 * a2.1,
                );
                let mut offsets = vec![(0.0, 0.0), ((a1.0 + a2.0) / 3.0, (a1.1 + a2.1) / 3.0)];
                if with_c {
                    offsets.push((2.0 * (a1.0 + a2.0) / 3.0, 2.0 * (a1.1 + a2.1) / 3.0));
                }
                for (ox, oy) in offsets {
                    let (px, py) = (x + ox + 3.0, y + oy + 3.0);
                    if px >= 0.0 && py >= 0.0 && px < w as f64 && py < h as f64 {
                        out.push((px, py));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn hollows_are_empty_in_2h_and_filled_in_3r() {
        let (w, h, s) = (200, 200, 18.5);
        let two = honeycomb(w, h, s, false);
        let (held, all) = ThirdSites::find(&two, s, w, h).occupancy();
        assert!(all > 20 && held == 0, "{held} of {all}");
        // Every hollow is 1.85 Å (one spacing) from three columns of each sublattice.
        for (x, y) in ThirdSites::find(&two, s, w, h).hollows() {
            let near = two
                .iter()
                .filter(|&&(px, py)| ((px - x).powi(2) + (py - y).powi(2)).sqrt() < 1.1 * s)
                .count();
            assert_eq!(near, 6, "hollow at ({x:.1}, {y:.1})");
        }
        let three = honeycomb(w, h, s, true);
        let (held, all) = ThirdSites::find(&three, s, w, h).occupancy();
        assert_eq!(held, all);
        assert!(ThirdSites::find(&three, s, w, h).hollows().is_empty());
    }

    #[test]
    fn troughs_are_in_filled_lattices_only() {
        let (w, h, s) = (200, 200, 18.5);
        assert!(troughs(&honeycomb(w, h, s, false), s, w, h).is_empty());
        let three = honeycomb(w, h, s, true);
        let t = troughs(&three, s, w, h);
        // A triangular lattice has two triangles per point; the margin keeps the inner ones.
        let inner = three
            .iter()
            .filter(|&&(x, y)| {
                x > 2.0 * s && y > 2.0 * s && x < w as f64 - 2.0 * s && y < h as f64 - 2.0 * s
            })
            .count();
        assert!(
            t.len() >= 2 * inner,
            "{} troughs for {inner} inner columns",
            t.len()
        );
        for &(x, y) in &t {
            let d: Vec<f64> = three
                .iter()
                .map(|&(px, py)| ((px - x).powi(2) + (py - y).powi(2)).sqrt() / s)
                .filter(|&d| d < 1.0)
                .collect();
            assert_eq!(d.len(), 3, "trough at ({x:.1}, {y:.1})");
            assert!(d.iter().all(|&d| (d - 1.0 / 3f64.sqrt()).abs() < 1e-6));
        }
    }

    /// Columns as Gaussian bumps on a background, then a uniform layer or a blur or an
    /// offset over the whole image (no excess), and a patch of extra signal over part
    /// of it (excess there only).
    #[test]
    fn excess_follows_added_signal_not_whole_image_changes() {
        let (w, h, s) = (600, 400, 18.5);
        let cols = honeycomb(w, h, s, false);
        let render = |sigma: f64, offset: f32, patch: f32| -> Vec<f32> {
            let mut img = vec![offset; w * h];
            for &(cx, cy) in &cols {
                for y in (cy - 4.0 * sigma).max(0.0) as usize..((cy + 4.0 * sigma) as usize).min(h)
                {
                    for x in
                        (cx - 4.0 * sigma).max(0.0) as usize..((cx + 4.0 * sigma) as usize).min(w)
                    {
                        let d2 = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2);
                        img[y * w + x] += (-d2 / (2.0 * sigma * sigma)).exp() as f32;
                    }
                }
            }
            for y in 0..h {
                for x in 0..w / 3 {
                    img[y * w + x] += patch;
                }
            }
            img
        };
        let hol = ThirdSites::find(&cols, s, w, h).hollows();
        // Per image: levels, their local mean over σ = 2 spacings, less the cleanest.
        let field = |img: &[f32]| -> Vec<f32> {
            let e = levels(img, w, h, &cols, &hol, s, 3.5);
            let (mut mean, count) = local_mean(&hol, &e, w, h, 2.0 * s, |x, y| (x, y));
            relative_to_cleanest(&mut mean, &count, w, 3.0).unwrap();
            mean
        };
        let median_over = |f: &[f32], x0: usize, x1: usize| -> f64 {
            let mut v: Vec<f64> = (60..340)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .map(|(x, y)| f[y * w + x] as f64)
                .filter(|v| v.is_finite())
                .collect();
            crate::analysis::intensity::median(&mut v)
        };
        for (sigma, offset) in [(4.0, 0.0), (6.0, 0.0), (4.0, 5.0)] {
            let f = field(&render(sigma, offset, 0.0));
            let m = median_over(&f, 40, 560);
            assert!(m.abs() < 0.03, "σ {sigma}, offset {offset}: {m}");
        }
        // Extra signal over the left third: excess there, none on the right.
        let f = field(&render(4.0, 0.0, 0.5));
        let (l, r) = (median_over(&f, 30, 120), median_over(&f, 300, 570));
        assert!(l > 0.3 && r.abs() < 0.03, "patch {l}, clean {r}");
    }

    /// A tilted floor with a raised patch: the plane settles on the floor, so the clean
    /// part reads zero from corner to corner and the patch keeps its height.
    #[test]
    fn the_clean_floor_follows_a_gradient_under_a_patch() {
        let (w, h) = (100, 80);
        let mut field: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                let patch = if (x - 70.0).powi(2) + (y - 40.0).powi(2) < 400.0 {
                    0.5
                } else {
                    0.0
                };
                0.3 + 0.002 * x - 0.001 * y + patch
            })
            .collect();
        let count = vec![5f32; w * h];
        let plane = relative_to_cleanest(&mut field, &count, w, 3.0).unwrap();
        assert!(
            (plane[1] - 0.002).abs() < 1e-4 && (plane[2] + 0.001).abs() < 1e-4,
            "{plane:?}"
        );
        assert!(field[0].abs() < 1e-3 && field[w * h - 1].abs() < 1e-3);
        assert!((field[40 * w + 70] - 0.5).abs() < 1e-2);
        let none = vec![0f32; w * h];
        assert!(relative_to_cleanest(&mut field.clone(), &none, w, 3.0).is_none());
    }

    #[test]
    fn local_mean_counts_the_hollows_around_a_pixel() {
        let hollows = vec![(50.0, 50.0), (52.0, 50.0), (150.0, 150.0)];
        let values = vec![1.0, 3.0, 10.0];
        let (mean, weight) = local_mean(&hollows, &values, 200, 200, 4.0, |x, y| (x, y));
        assert!(
            (mean[50 * 200 + 51] - 2.0).abs() < 0.05,
            "{}",
            mean[50 * 200 + 51]
        );
        assert!((mean[150 * 200 + 150] - 10.0).abs() < 1e-3);
        assert!(weight[100 * 200 + 100] == 0.0 && mean[100 * 200 + 100].is_nan());
    }
}
