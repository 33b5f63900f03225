//! Sulfur vacancies from the vacancy head (softmax over background, VS1, VS2).
//!
//! A vacancy is a connected region (8-connectivity) where P(VS1) + P(VS2) ≥
//! `threshold`. Its position is the probability-weighted centroid, its type the
//! class with the larger summed probability, and its confidence the peak of
//! P(VS1) + P(VS2) times the winning class's share — so a region the network is
//! unsure how to type gets a lower confidence than a clear one.

use crate::analysis::intensity::median;
use crate::crystal::VacancyKind;
use crate::math::neighbors::NeighborGrid;

/// A vacancy on a map grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VacancyPoint {
    pub x: f64,
    pub y: f64,
    pub kind: VacancyKind,
    pub confidence: f64,
    pub area_px: usize,
}

/// Whether a vacancy at (x, y) sits on a metal site of a 2H monolayer rather than on a
/// chalcogen site. The six second neighbours (at a, `shell` = (lo, hi) in pixels) of a
/// chalcogen site are chalcogen columns, those of a metal site are metal columns; the
/// first shell is not used because the atom head itself mislabels the columns right
/// around a hole. A missing Mo leaves a dark spot ringed by S₂ that the vacancy head can
/// take for a VS2 (on 150 held-out images, 11 of 29 false vacancies sat on a Mo vacancy,
/// 8 of them called VS2). The engine asks only about VS2 calls, and only where the
/// image's vacancy calls give no `chalcogen_ring` reference: the head's labels follow the
/// brighter sublattice, which in MoSe₂ is Se₂ (with this rule alone 1 of 89 true VS2
/// was left on 40 MoSe₂ images, seed 640000; 82 with no rule).
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

/// How much brighter the second-neighbour columns of (x, y) are than its first
/// neighbours: the median integrated intensity of the columns in `second` over that of
/// the columns in `first` (both (lo, hi) distance bands in pixels). Around a metal site
/// of a 2H monolayer the first neighbours are S₂ and the second Mo (≈ 1.4–2.1 on 160
/// 2H-1L tuning images, seed 610000); around a chalcogen site it is the other way round
/// (0.34–1.08). Unlike the atom head's labels this does not depend on how the head reads
/// a low-contrast image. `None` when either band has fewer than two columns.
pub fn ring_contrast(
    x: f64,
    y: f64,
    columns: &NeighborGrid,
    intensities: &[f64],
    first: (f64, f64),
    second: (f64, f64),
) -> Option<f64> {
    let band = |(lo, hi): (f64, f64)| -> Vec<f64> {
        columns
            .within(x, y)
            .filter(|&(i, d2)| d2 >= lo * lo && d2 <= hi * hi && i < intensities.len())
            .map(|(i, _)| intensities[i])
            .collect()
    };
    let (mut inner, mut outer) = (band(first), band(second));
    if inner.len() < 2 || outer.len() < 2 {
        return None;
    }
    let inner = median(&mut inner);
    (inner > 0.0).then(|| median(&mut outer) / inner)
}

/// The ring contrast of a chalcogen site in this image: the median over the rings of
/// all vacancy calls, since VS1 and VS2 sit on chalcogen sites whatever the compound and
/// the few calls on missing metals are outliers. `None` with fewer than three readings
/// or when they are within `margin` of 1 (multilayers, where every column holds metal
/// and chalcogen alike), so that the caller falls back to other evidence. This tells
/// the compound's contrast without being told the compound: in MoS₂, WS₂ and WSe₂ the
/// metal column outshines the chalcogen pair (a chalcogen site reads below 1), in MoSe₂
/// Se₂ outshines Mo (above 1) and the atom head's "metal" labels follow the brighter
/// sublattice. On 40 MoSe₂ images (seed 640000) VS1 calls alone gave too few readings
/// in small fields, whose VS2 then fell to the labels: recall 0.75 against 0.87, VS2 F1
/// 0.854 against 0.922.
pub fn chalcogen_ring(rings: &mut [f64], margin: f64) -> Option<f64> {
    if rings.len() < 3 {
        return None;
    }
    let m = median(rings);
    (m > 0.0 && m.ln().abs() >= margin.ln()).then_some(m)
}

/// Whether a vacancy whose ring reads `contrast` sits on a metal site, given how a
/// chalcogen site's ring reads in the same image (`chalcogen_ring`): a metal site reads
/// the other way round, by at least `margin`.
pub fn reads_as_metal_site(contrast: f64, chalcogen_ring: f64, margin: f64) -> bool {
    if chalcogen_ring < 1.0 {
        contrast >= margin
    } else {
        contrast <= 1.0 / margin
    }
}

/// Whether the atom head's labels run against the vacancy rings: `labelled_ratio` is the
/// median intensity of metal-labelled over chalcogen-labelled columns, `chalcogen_ring`
/// how a chalcogen site's ring reads (below 1: the metal is the brighter column). Both
/// must be clear by `margin`. The head learnt "metal = brighter" from a mostly-MoS₂
/// training set, so in MoSe₂ it labels Se₂ as metal; this catches that.
pub fn labels_contradict_rings(labelled_ratio: f64, chalcogen_ring: f64, margin: f64) -> bool {
    let labels_say_metal_brighter = if labelled_ratio >= margin {
        true
    } else if labelled_ratio <= 1.0 / margin {
        false
    } else {
        return false;
    };
    let rings_say_metal_brighter = chalcogen_ring < 1.0;
    labels_say_metal_brighter != rings_say_metal_brighter
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
        let (kind, share) = if m2 > m1 {
            (VacancyKind::VS2, m2 / (m1 + m2))
        } else {
            (VacancyKind::VS1, m1 / (m1 + m2))
        };
        out.push(VacancyPoint {
            x: sx / sw,
            y: sy / sw,
            kind,
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

    /// A 2H monolayer, a = 31.6 px: Mo on A around (200, 200), S₂ on B = A + (a/2,
    /// a/(2√3)); each column with whether it is metal.
    fn monolayer(a: f64) -> (Vec<(f64, f64)>, Vec<bool>) {
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
        (pts, metal)
    }

    #[test]
    fn tells_metal_sites_from_chalcogen_sites() {
        let a = 31.6f64;
        let (pts, metal) = monolayer(a);
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
    fn ring_contrast_reads_the_site_from_column_brightness() {
        // The same 2H monolayer; Mo columns 1.5× as bright as S₂ (the low end of MoS₂).
        let a = 31.6f64;
        let (pts, metal) = monolayer(a);
        let bright: Vec<f64> = metal.iter().map(|&m| if m { 1.5 } else { 1.0 }).collect();
        let (mo, s2) = (
            (200.0, 200.0),
            (200.0 + a / 2.0, 200.0 + a / (2.0 * 3f64.sqrt())),
        );
        let first = (0.7 * a / 3f64.sqrt(), 1.3 * a / 3f64.sqrt());
        let second = (0.85 * a, 1.17 * a);
        let grid = NeighborGrid::from_points(pts.iter().copied(), second.1);
        let at_mo = ring_contrast(mo.0, mo.1, &grid, &bright, first, second).unwrap();
        let at_s2 = ring_contrast(s2.0, s2.1, &grid, &bright, first, second).unwrap();
        assert!((at_mo - 1.5).abs() < 1e-9, "{at_mo}");
        assert!((at_s2 - 1.0 / 1.5).abs() < 1e-9, "{at_s2}");
        // A head that calls every column metal puts both sites on metal; brightness
        // still tells them apart.
        let all_metal = vec![true; pts.len()];
        assert!(on_metal_site(s2.0, s2.1, &grid, &all_metal, second));
        assert!(at_s2 < 1.0 && at_mo > 1.0);
        // Nothing around: no reading.
        let lone = NeighborGrid::from_points([(0.0, 0.0)], second.1);
        assert_eq!(ring_contrast(0.0, 0.0, &lone, &[1.0], first, second), None);
    }

    #[test]
    fn vacancy_rings_tell_which_way_a_metal_site_reads() {
        let margin = 1.15;
        // MoS₂-like: chalcogen sites read ≈ 0.6, so a ring of 1.6 is a missing metal
        // and one of 0.7 a missing S₂.
        let mut mos2 = vec![0.55, 0.62, 0.58, 1.4, 0.6];
        let reference = chalcogen_ring(&mut mos2, margin).unwrap();
        assert!((reference - 0.6).abs() < 1e-9);
        assert!(reads_as_metal_site(1.6, reference, margin));
        assert!(!reads_as_metal_site(0.7, reference, margin));
        // MoSe₂-like: the Se₂ ring outshines Mo, everything turns round.
        let mut mose2 = vec![1.7, 1.5, 1.6];
        let reference = chalcogen_ring(&mut mose2, margin).unwrap();
        assert!(!reads_as_metal_site(1.6, reference, margin));
        assert!(reads_as_metal_site(0.6, reference, margin));
        // Too few calls, or rings that read alike on both sublattices: no reference.
        assert_eq!(chalcogen_ring(&mut [0.6, 0.6], margin), None);
        assert_eq!(chalcogen_ring(&mut [0.95, 1.05, 1.0, 0.98], margin), None);
    }

    #[test]
    fn swapped_labels_are_caught() {
        // MoS₂ read right: metal-labelled columns brighter, chalcogen rings below 1.
        assert!(!labels_contradict_rings(1.6, 0.6, 1.15));
        // MoSe₂ with the head's "metal = brighter" habit: labels say metal brighter,
        // rings say the chalcogen is.
        assert!(labels_contradict_rings(1.6, 1.7, 1.15));
        // MoSe₂ read right.
        assert!(!labels_contradict_rings(0.6, 1.7, 1.15));
        // Labels that do not separate brightness say nothing.
        assert!(!labels_contradict_rings(1.05, 1.7, 1.15));
    }

    #[test]
    fn separates_and_types_regions() {
        let (w, h) = (40, 30);
        let vs1 = disk(w, h, 10.0, 10.0, 3.0, 0.9);
        let vs2 = disk(w, h, 30.0, 20.0, 3.0, 0.8);
        let v = find_vacancies(&vs1, &vs2, w, h, 0.5, 4);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].kind, VacancyKind::VS1);
        assert!((v[0].x - 10.0).abs() < 1e-9 && (v[0].y - 10.0).abs() < 1e-9);
        assert_eq!(v[1].kind, VacancyKind::VS2);
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
