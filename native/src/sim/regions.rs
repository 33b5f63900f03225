//! Which polymorph (or vacuum) covers each specimen point: a primary polymorph, an
//! optional second one beyond a straight or irregular boundary, and holes.

use super::field::{quantile, SmoothField};
use super::params::SimParams;
use super::structure::Polymorph;
use rand::Rng;

/// |field| never exceeds this (Gaussian grid values interpolated convexly; 8σ is
/// beyond any draw in practice).
const FIELD_BOUND: f64 = 8.0;

pub struct Regions {
    primary: u8,
    second: Option<(u8, super::params::BoundaryParams, Option<SmoothField>)>,
    holes: Option<(SmoothField, f64)>,
}

impl Regions {
    /// `min..max`: the specimen rectangle (Å) that must be covered.
    pub fn new<R: Rng>(p: &SimParams, rng: &mut R, min: [f64; 2], max: [f64; 2]) -> Regions {
        let second = match (p.second_polymorph, p.boundary) {
            (Some(s), Some(b)) => {
                let field = (b.irregularity_angstrom > 0.0)
                    .then(|| SmoothField::new(rng, min, max, b.correlation_angstrom, 3));
                Some((s.class_index(), b, field))
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
            (field, thr)
        });
        Regions {
            primary: p.polymorph.class_index(),
            second,
            holes,
        }
    }

    /// Class at a specimen point (Å): 0 = vacuum, else a polymorph class index.
    pub fn class_at(&self, x: f64, y: f64) -> u8 {
        if let Some((field, thr)) = &self.holes {
            if field.eval(x, y) < *thr {
                return 0;
            }
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
                return *class;
            }
        }
        self.primary
    }

    pub fn polymorph_at(&self, x: f64, y: f64) -> Option<Polymorph> {
        Polymorph::from_class(self.class_at(x, y))
    }
}
