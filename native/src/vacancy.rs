//! Sulfur vacancies from the vacancy head (softmax over background, VS1, VS2).
//!
//! A vacancy is a connected region (8-connectivity) where P(VS1) + P(VS2) ≥
//! `threshold`. Its position is the probability-weighted centroid, its type the
//! class with the larger summed probability, and its confidence the peak of
//! P(VS1) + P(VS2) times the winning class's share — so a region the network is
//! unsure how to type gets a lower confidence than a clear one.

use crate::neighbors::NeighborGrid;

/// A vacancy on a map grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VacancyPoint {
    pub x: f64,
    pub y: f64,
    /// 1 = VS1, 2 = VS2.
    pub missing: u8,
    pub confidence: f64,
    pub area_px: usize,
}

impl VacancyPoint {
    pub fn type_name(&self) -> &'static str {
        if self.missing == 2 {
            "VS2"
        } else {
            "VS1"
        }
    }
}

/// Whether a vacancy at (x, y) sits on a metal site of a 2H monolayer rather than on a
/// chalcogen site. The six second neighbours (at a, `shell` = (lo, hi) in pixels) of a
/// chalcogen site are chalcogen columns, those of a metal site are metal columns; the
/// first shell is not used because the atom head itself mislabels the columns right
/// around a hole. A missing Mo leaves a dark spot ringed by S₂ that the vacancy head can
/// take for a VS2 (on 150 held-out images, 11 of 29 false vacancies sat on a Mo vacancy,
/// 8 of them called VS2). The engine asks only about VS2 calls: in MoSe₂ the atom head
/// labels the columns around a VS1 the other way round (Se₂ outshines Mo), and asking
/// about VS1 there dropped every true one.
pub fn on_metal_site(
    x: f64,
    y: f64,
    columns: &NeighborGrid,
    metal: &[bool],
    shell: (f64, f64),
) -> bool {
    let (lo2, hi2) = (shell.0 * shell.0, shell.1 * shell.1);
    let (mut n, mut metals) = (0usize, 0usize);
    for (i, d2) in columns.within(x, y) {
        if d2 >= lo2 && d2 <= hi2 && i < metal.len() {
            n += 1;
            metals += metal[i] as usize;
        }
    }
    n >= 4 && metals * 3 >= n * 2
}

/// Vacancy regions of the VS1 and VS2 probability maps (`width × height` each).
pub fn find_vacancies(
    vs1: &[f32],
    vs2: &[f32],
    width: usize,
    height: usize,
    threshold: f32,
    min_area_px: usize,
) -> Vec<VacancyPoint> {
    let n = width * height;
    let p: Vec<f32> = (0..n).map(|i| vs1[i] + vs2[i]).collect();
    let mut label = vec![0u32; n];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    let mut next = 0u32;
    for start in 0..n {
        if label[start] != 0 || p[start] < threshold {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        let (mut sx, mut sy, mut sw) = (0.0f64, 0.0f64, 0.0f64);
        let (mut m1, mut m2, mut peak) = (0.0f64, 0.0f64, 0.0f32);
        let mut area = 0usize;
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            let w = p[i] as f64;
            sx += w * x as f64;
            sy += w * y as f64;
            sw += w;
            m1 += vs1[i] as f64;
            m2 += vs2[i] as f64;
            peak = peak.max(p[i]);
            area += 1;
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    let (xx, yy) = (x as isize + dx, y as isize + dy);
                    if xx < 0 || yy < 0 || xx >= width as isize || yy >= height as isize {
                        continue;
                    }
                    let j = yy as usize * width + xx as usize;
                    if label[j] == 0 && p[j] >= threshold {
                        label[j] = next;
                        stack.push(j);
                    }
                }
            }
        }
        if area < min_area_px || sw <= 0.0 {
            continue;
        }
        let (missing, share) = if m2 > m1 {
            (2, m2 / (m1 + m2))
        } else {
            (1, m1 / (m1 + m2))
        };
        out.push(VacancyPoint {
            x: sx / sw,
            y: sy / sw,
            missing,
            confidence: (peak as f64 * share).clamp(0.0, 1.0),
            area_px: area,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(w: usize, h: usize, cx: f64, cy: f64, r: f64, v: f32) -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                if (x - cx).powi(2) + (y - cy).powi(2) <= r * r {
                    v
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn tells_metal_sites_from_chalcogen_sites() {
        // 2H monolayer, a = 31.6 px: Mo on A, S₂ on B = A + (a/2, a/(2√3)).
        let a = 31.6f64;
        let (mut pts, mut metal) = (Vec::new(), Vec::new());
        for i in -6i32..6 {
            for j in -6i32..6 {
                let (x, y) = (
                    200.0 + a * (i as f64 + 0.5 * j as f64),
                    200.0 + a * 0.866_025 * j as f64,
                );
                pts.push((x, y));
                metal.push(true);
                pts.push((x + a / 2.0, y + a / (2.0 * 3f64.sqrt())));
                metal.push(false);
            }
        }
        let mo = pts[0..]
            .iter()
            .zip(&metal)
            .position(|(p, &m)| m && (p.0 - 200.0).abs() < 1e-9 && (p.1 - 200.0).abs() < 1e-9)
            .unwrap();
        let s2 = mo + 1;
        let shell = (0.85 * a, 1.17 * a);
        let grid = NeighborGrid::from_points(pts.iter().copied(), shell.1);
        // A missing Mo or S₂ column: the site is empty, its neighbours stay.
        assert!(on_metal_site(pts[mo].0, pts[mo].1, &grid, &metal, shell));
        assert!(!on_metal_site(pts[s2].0, pts[s2].1, &grid, &metal, shell));
        // Too few columns around (an isolated point): not called a metal site.
        let lone = NeighborGrid::from_points([(0.0, 0.0)], shell.1);
        assert!(!on_metal_site(0.0, 0.0, &lone, &[true], shell));
    }

    #[test]
    fn separates_and_types_regions() {
        let (w, h) = (40, 30);
        let vs1 = disk(w, h, 10.0, 10.0, 3.0, 0.9);
        let vs2 = disk(w, h, 30.0, 20.0, 3.0, 0.8);
        let v = find_vacancies(&vs1, &vs2, w, h, 0.5, 4);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].type_name(), "VS1");
        assert!((v[0].x - 10.0).abs() < 1e-9 && (v[0].y - 10.0).abs() < 1e-9);
        assert_eq!(v[1].type_name(), "VS2");
        assert!((v[1].confidence - 0.8).abs() < 1e-6);
    }

    #[test]
    fn ignores_specks() {
        let (w, h) = (20, 20);
        let vs1 = disk(w, h, 5.0, 5.0, 0.5, 0.9);
        let v = find_vacancies(&vs1, &vec![0.0; w * h], w, h, 0.5, 4);
        assert!(v.is_empty());
    }
}
