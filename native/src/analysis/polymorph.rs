//! Polymorph maps and what they mean for the columns on them.
//!
//! The polymorph head gives per-pixel probabilities over vacuum and the six
//! polymorphs; the class is the arg-max. Fractions are over the non-vacuum
//! area. A column's content ("Mo", "S2", "Mo+S2", "2Mo+S2", …) comes from
//! the polymorph under it, whether the atom head saw a metal, and — where the
//! polymorph has several metal (or chalcogen) column kinds, as in 2H-3L or
//! 3R-2L — from its intensity relative to its neighbours of the same kind.

use crate::crystal::{Column, Polymorph, PolymorphClass, Role, Site};
use crate::math::smooth;
use std::collections::BTreeMap;

/// Mo atom relative to an S₂ column in HAADF: (42/16)^1.7 / 2 ≈ 2.58 (Z^n, n ≈ 1.7).
const MO_OVER_S2: f64 = 2.58;

/// The arg-max class per pixel and its probability, from `classes × plane` probabilities,
/// each class's probability first averaged over about `radius` pixels (three box passes
/// per axis, close to a Gaussian of σ ≈ radius; none at radius 0). Polymorph domains span nanometres, so a unit cell's worth of averaging removes
/// isolated pixel mistakes and barely moves a boundary between two domains.
///
/// Only classes where `allowed` is true (vacuum always; an empty slice allows all)
/// can win; under such a restriction each pixel's probability is that of its class
/// among the allowed ones (renormalized), so it still reads as a confidence.
pub fn smoothed_class_map(
    probs: &[f32],
    classes: usize,
    w: usize,
    h: usize,
    radius: usize,
    allowed: &[bool],
) -> (Vec<u8>, Vec<f32>) {
    let plane = w * h;
    let may = |c: usize| c == 0 || allowed.get(c).copied().unwrap_or(true);
    let restricted = (0..classes).any(|c| !may(c));
    // Box half-width of the averaging; none at radius 0 (per-pixel classes).
    let half = (radius > 0 && plane > 0).then(|| smooth::half_width(radius as f64 * 0.9));
    let mut cls = vec![0u8; plane];
    let mut conf = vec![f32::NEG_INFINITY; plane];
    let mut total = vec![0f32; if restricted { plane } else { 0 }];
    // One channel at a time: two scratch planes instead of a smoothed copy of all.
    let (mut a, mut b) = (vec![0f32; plane], vec![0f32; plane]);
    for c in (0..classes).filter(|&c| may(c)) {
        a.copy_from_slice(&probs[c * plane..(c + 1) * plane]);
        if let Some(r) = half {
            smooth::three_boxes(&mut a, &mut b, w, h, r);
        }
        for i in 0..plane {
            if a[i] > conf[i] {
                conf[i] = a[i];
                cls[i] = c as u8;
            }
        }
        for (t, v) in total.iter_mut().zip(&a) {
            *t += v;
        }
    }
    for (p, t) in conf.iter_mut().zip(&total) {
        *p /= t.max(f32::MIN_POSITIVE);
    }
    (cls, conf)
}

/// Fraction of each polymorph over non-vacuum pixels where `include` is true, by name.
pub fn fractions(classes: &[u8], include: impl Fn(usize) -> bool) -> BTreeMap<String, f64> {
    let mut counts = [0u64; PolymorphClass::COUNT];
    for (i, &c) in classes.iter().enumerate() {
        if include(i) {
            counts[(c as usize).min(counts.len() - 1)] += 1;
        }
    }
    let material: u64 = counts[1..].iter().sum();
    Polymorph::ALL
        .iter()
        .map(|p| {
            let f = if material > 0 {
                counts[p.class_index() as usize] as f64 / material as f64
            } else {
                0.0
            };
            (p.name().to_string(), f)
        })
        .collect()
}

/// One kind of column a polymorph has: its content and its expected HAADF intensity
/// in S₂ units.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnKind {
    pub content: Column,
    pub expected: f64,
}

/// The distinct column kinds of a polymorph class; 2H-1L's for vacuum.
pub fn column_kinds(class: PolymorphClass) -> Vec<ColumnKind> {
    let p = class.polymorph().unwrap_or(Polymorph::H2Mono);
    let mut kinds: Vec<ColumnKind> = Vec::new();
    for site in Site::ALL {
        let content = p.content(site);
        if content == Column::EMPTY {
            continue;
        }
        let kind = ColumnKind {
            content,
            expected: content.metals as f64 * MO_OVER_S2 + content.chalcogens as f64 * 0.5,
        };
        if !kinds.iter().any(|k| k.content == kind.content) {
            kinds.push(kind);
        }
    }
    kinds
}

/// The content of a column of the given role in `class`.
///
/// `relative` is the column's intensity divided by the median of columns of the
/// same role nearby in the same polymorph (1.0 when unknown); it only
/// matters where the polymorph has more than one kind of such column.
pub fn site_content(class: PolymorphClass, role: Role, relative: f64) -> Column {
    let kinds: Vec<ColumnKind> = column_kinds(class)
        .into_iter()
        .filter(|k| k.content.role() == role)
        .collect();
    match kinds.len() {
        0 => match role {
            Role::Metal => Column::METAL,
            Role::Chalcogen => Column::CHALCOGEN_PAIR,
        },
        1 => kinds[0].content,
        _ => {
            let mut e: Vec<f64> = kinds.iter().map(|k| k.expected).collect();
            let mid = crate::analysis::intensity::median(&mut e);
            let r = relative.max(1e-3).ln();
            kinds
                .iter()
                .min_by(|a, b| {
                    let da = ((a.expected / mid).ln() - r).abs();
                    let db = ((b.expected / mid).ln() - r).abs();
                    da.total_cmp(&db)
                })
                .map(|k| k.content)
                .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain per-pixel arg-max, the reference `smoothed_class_map` must equal at radius 0.
    fn class_map(probs: &[f32], classes: usize, plane: usize) -> (Vec<u8>, Vec<f32>) {
        let mut cls = vec![0u8; plane];
        let mut conf = vec![0f32; plane];
        for i in 0..plane {
            let mut best = (0usize, f32::NEG_INFINITY);
            for c in 0..classes {
                let v = probs[c * plane + i];
                if v > best.1 {
                    best = (c, v);
                }
            }
            cls[i] = best.0 as u8;
            conf[i] = best.1;
        }
        (cls, conf)
    }

    /// Two classes split at x = 20 on a 40 × 30 plane, with pixel mistakes sprinkled in.
    fn two_domains() -> (Vec<f32>, usize, usize) {
        let (w, h) = (40, 30);
        let mut p = vec![0f32; 2 * w * h];
        for y in 0..h {
            for x in 0..w {
                let mut right = x >= 20;
                if (x * 7 + y * 13) % 17 == 0 {
                    right = !right; // an isolated mistake
                }
                p[y * w + x] = if right { 0.3 } else { 0.7 };
                p[w * h + y * w + x] = if right { 0.7 } else { 0.3 };
            }
        }
        (p, w, h)
    }

    #[test]
    fn smoothing_removes_pixel_mistakes_and_keeps_the_boundary() {
        let (p, w, h) = two_domains();
        let (raw, _) = class_map(&p, 2, w * h);
        assert!(raw
            .iter()
            .enumerate()
            .any(|(i, &c)| (c == 1) != (i % w >= 20)));
        let (same, _) = smoothed_class_map(&p, 2, w, h, 0, &[]);
        assert_eq!(same, raw);
        let (cls, conf) = smoothed_class_map(&p, 2, w, h, 3, &[]);
        for y in 0..h {
            for x in 0..w {
                if x.abs_diff(20) > 1 {
                    assert_eq!(cls[y * w + x] == 1, x >= 20, "pixel ({x}, {y})");
                }
            }
        }
        assert!(conf.iter().all(|&c| (0.5..=0.7 + 1e-6).contains(&c)));
    }

    #[test]
    fn a_restriction_leaves_only_the_allowed_classes() {
        // Three classes: vacuum 0.1, class 1 0.6, class 2 0.3 everywhere.
        let (w, h) = (8, 6);
        let plane = w * h;
        let mut p = vec![0.1f32; 3 * plane];
        p[plane..2 * plane].fill(0.6);
        p[2 * plane..].fill(0.3);
        let (all, conf) = smoothed_class_map(&p, 3, w, h, 2, &[]);
        assert!(all.iter().all(|&c| c == 1));
        assert!(conf.iter().all(|&c| (c - 0.6).abs() < 1e-5));
        // Class 1 forbidden: class 2 wins with 0.3 / (0.1 + 0.3); vacuum stays possible.
        let (cls, conf) = smoothed_class_map(&p, 3, w, h, 2, &[true, false, true]);
        assert!(cls.iter().all(|&c| c == 2));
        assert!(conf.iter().all(|&c| (c - 0.75).abs() < 1e-5));
        p[..plane].fill(0.5);
        let (cls, _) = smoothed_class_map(&p, 3, w, h, 0, &[false, false, true]);
        assert!(cls.iter().all(|&c| c == 0), "vacuum cannot be forbidden");
    }

    #[test]
    fn kinds_per_polymorph() {
        let names = |p: Polymorph| {
            column_kinds(p.into())
                .into_iter()
                .map(|k| k.content.name())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Polymorph::H2Mono), vec!["Mo", "S2"]);
        assert_eq!(names(Polymorph::H2Bi), vec!["Mo+S2"]);
        assert_eq!(names(Polymorph::T1), vec!["Mo", "S"]);
        assert_eq!(
            column_kinds(PolymorphClass::Vacuum),
            column_kinds(Polymorph::H2Mono.into())
        );
    }

    #[test]
    fn intensity_picks_between_metal_kinds() {
        // 2H-3L: "2Mo+S2" is brighter than "Mo+2S2".
        let tri = Polymorph::H2Tri.into();
        assert_eq!(site_content(tri, Role::Metal, 1.2), Column::new(2, 2));
        assert_eq!(site_content(tri, Role::Metal, 0.8), Column::new(1, 4));
        let mono = Polymorph::H2Mono.into();
        assert_eq!(
            site_content(mono, Role::Chalcogen, 0.5),
            Column::CHALCOGEN_PAIR
        );
    }

    #[test]
    fn fractions_ignore_vacuum() {
        let f = fractions(&[0, 1, 1, 2, 0], |_| true);
        assert!((f["2H-1L"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((f["2H-2L"] - 1.0 / 3.0).abs() < 1e-12);
    }
}
