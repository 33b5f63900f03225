//! Which polymorph (or vacuum) covers each specimen point: a primary polymorph, an
//! optional second one beyond a straight or irregular boundary, and holes.

use super::field::{quantile, SmoothField};
use super::params::SimParams;
use crate::crystal::{Polymorph, PolymorphClass};
use crate::math::distance::squared_distance;
use rand::Rng;

/// |field| never exceeds this (Gaussian grid values interpolated convexly; 8σ is
/// beyond any draw in practice).
const FIELD_BOUND: f64 = 8.0;

/// The narrowest hole the specimen has: every vacuum point lies in a vacuum disk of
/// this radius. A thresholded field also leaves specks and necks one column wide; such a
/// "hole" removes a single S₂ or Mo column, which is a vacancy, not vacuum, and was
/// labelled as neither (on 160 2H-1L tuning images, 6 of 8 false VS2 calls in clean
/// areas sat on one).
pub const MIN_HOLE_RADIUS_A: f64 = 3.0;
/// Grid step (Å) on which the holes are opened.
const HOLE_GRID_A: f64 = 0.5;

pub struct Regions {
    primary: Polymorph,
    second: Option<(
        Polymorph,
        super::params::BoundaryParams,
        Option<SmoothField>,
    )>,
    holes: Option<Holes>,
}

/// Where the field is below its threshold, opened by a disk of `MIN_HOLE_RADIUS_A`: the
/// field still draws the edge, the grid only removes what no such disk fits in.
struct Holes {
    field: SmoothField,
    threshold: f64,
    origin: [f64; 2],
    step: f64,
    nx: usize,
    ny: usize,
    opened: Vec<bool>,
}

impl Holes {
    fn new(field: SmoothField, threshold: f64, min: [f64; 2], max: [f64; 2]) -> Holes {
        // Coarser than HOLE_GRID_A only for very large fields (a few thousand cells a side).
        let step = HOLE_GRID_A.max((max[0] - min[0]).max(max[1] - min[1]) / 4096.0);
        let nx = ((max[0] - min[0]) / step).ceil() as usize + 1;
        let ny = ((max[1] - min[1]) / step).ceil() as usize + 1;
        let raw: Vec<bool> = (0..nx * ny)
            .map(|k| {
                let (x, y) = (
                    min[0] + (k % nx) as f64 * step,
                    min[1] + (k / nx) as f64 * step,
                );
                field.eval(x, y) < threshold
            })
            .collect();
        let opened = open_mask(&raw, nx, ny, MIN_HOLE_RADIUS_A / step);
        Holes {
            field,
            threshold,
            origin: min,
            step,
            nx,
            ny,
            opened,
        }
    }

    fn contains(&self, x: f64, y: f64) -> bool {
        if self.field.eval(x, y) >= self.threshold {
            return false;
        }
        // Any opened cell among the nearest and its neighbours: the grid must not eat
        // into the edge the field draws.
        let fx = ((x - self.origin[0]) / self.step).round() as isize;
        let fy = ((y - self.origin[1]) / self.step).round() as isize;
        (-1..=1).any(|dy| {
            (-1..=1).any(|dx| {
                let (i, j) = (fx + dx, fy + dy);
                i >= 0
                    && j >= 0
                    && (i as usize) < self.nx
                    && (j as usize) < self.ny
                    && self.opened[j as usize * self.nx + i as usize]
            })
        })
    }
}

/// Morphological opening of `mask` (`nx × ny`) by a disk of `radius` cells: the union
/// of all such disks that fit inside it. Cells beyond the grid count as unknown, so a
/// region touching the border is not eroded from outside.
fn open_mask(mask: &[bool], nx: usize, ny: usize, radius: f64) -> Vec<bool> {
    let r2 = radius * radius;
    let outside: Vec<bool> = mask.iter().map(|&m| !m).collect();
    let eroded: Vec<bool> = squared_distance(&outside, nx, ny)
        .iter()
        .map(|&d| d > r2)
        .collect();
    squared_distance(&eroded, nx, ny)
        .iter()
        .map(|&d| d <= r2)
        .collect()
}

impl Regions {
    /// `min..max`: the specimen rectangle (Å) that must be covered.
    pub fn new<R: Rng>(p: &SimParams, rng: &mut R, min: [f64; 2], max: [f64; 2]) -> Regions {
        let second = match (p.second_polymorph, p.boundary) {
            (Some(s), Some(b)) => {
                let field = (b.irregularity_angstrom > 0.0)
                    .then(|| SmoothField::new(rng, min, max, b.correlation_angstrom, 3));
                Some((s, b, field))
            }
            _ => None,
        };
        let holes = (p.hole_fraction > 0.0).then(|| {
            let field = SmoothField::new(rng, min, max, p.hole_correlation_angstrom, 3);
            // Threshold at the requested area quantile over the field of view.
            let fov = [
                p.width as f64 * p.pixel_size_angstrom,
                p.height as f64 * p.pixel_size_angstrom,
            ];
            let samples: Vec<f32> = (0..64)
                .flat_map(|j| (0..64).map(move |i| (i, j)))
                .map(|(i, j)| {
                    field.eval(
                        fov[0] * (i as f64 + 0.5) / 64.0,
                        fov[1] * (j as f64 + 0.5) / 64.0,
                    ) as f32
                })
                .collect();
            let thr = quantile(&samples, p.hole_fraction) as f64;
            Holes::new(field, thr, min, max)
        });
        Regions {
            primary: p.polymorph,
            second,
            holes,
        }
    }

    /// Class at a specimen point (Å): vacuum in a hole, else the polymorph there.
    pub fn class_at(&self, x: f64, y: f64) -> PolymorphClass {
        if self.holes.as_ref().is_some_and(|h| h.contains(x, y)) {
            return PolymorphClass::Vacuum;
        }
        if let Some((class, b, field)) = &self.second {
            let (s, c) = b.normal_angle_rad.sin_cos();
            let mut d = (x - b.point_angstrom[0]) * c + (y - b.point_angstrom[1]) * s;
            // The field is bounded by a few units, so far from the line it cannot flip
            // the side and need not be evaluated.
            if let Some(f) = field
                .as_ref()
                .filter(|_| d.abs() < FIELD_BOUND * b.irregularity_angstrom)
            {
                d += b.irregularity_angstrom * f.eval(x, y);
            }
            if d > 0.0 {
                return PolymorphClass::Material(*class);
            }
        }
        PolymorphClass::Material(self.primary)
    }

    pub fn polymorph_at(&self, x: f64, y: f64) -> Option<Polymorph> {
        self.class_at(x, y).polymorph()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_drops_specks_and_necks_and_keeps_wide_holes() {
        let (nx, ny) = (60, 40);
        let disk = |cx: f64, cy: f64, r: f64, i: usize, j: usize| {
            (i as f64 - cx).powi(2) + (j as f64 - cy).powi(2) <= r * r
        };
        let mask: Vec<bool> = (0..nx * ny)
            .map(|k| {
                let (i, j) = (k % nx, k / nx);
                disk(15.0, 20.0, 9.0, i, j)          // a wide hole
                    || (j == 20 && (24..40).contains(&i)) // a neck one cell wide
                    || disk(48.0, 10.0, 1.5, i, j) // a speck
            })
            .collect();
        let opened = open_mask(&mask, nx, ny, 4.0);
        let at = |i: usize, j: usize| opened[j * nx + i];
        assert!(
            at(15, 20) && at(15, 12) && at(7, 20),
            "the wide hole stays whole"
        );
        assert!(!at(30, 20) && !at(48, 10), "neck and speck are gone");
        assert!(
            opened.iter().zip(&mask).all(|(&o, &m)| !o || m),
            "never grows"
        );
    }
}
