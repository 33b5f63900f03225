//! Where the statistics look: the band along the image border and the rims of holes,
//! shared by the report's counts and by `stemsight eval`.

use super::frame::*;
use super::maps::*;
use crate::math::distance;

/// Columns closer than this to the image border have part of their footprint (the
/// probe, ≈ 1 Å across) outside the image: no vacancy is called on them, and the
/// summary's site counts and analyzed area leave that band out.
pub const EDGE_MARGIN_A: f64 = 1.0;

/// Vacancies and columns this close to vacuum (a hole or the flake's edge, from the
/// polymorph map) are treated like those at the image border: a missing column on the
/// rim of a hole cannot be told from the hole (tuning images: true vacancies missed
/// 0.7–1.6 Å from vacuum). 1.0, 1.5 and 2.0 Å each lifted VS2 F1 in the kept area (60
/// mixed images, seed 600000: 0.974 → 1.000; 160 2H-1L, seed 610000: 0.988 → 0.991)
/// and left out 0.5 % of the vacancies; VS1 went 0.989 → 0.990 / 0.991 / 0.992.
pub const HOLE_MARGIN_A: f64 = 1.5;

/// Where vacancies are called and sites and area counted: away from the image border
/// and from vacuum.
pub(super) struct Interior {
    /// A column within EDGE_MARGIN_A of the border is cut by it and looks dimmer than
    /// it is: no vacancy is called there.
    pub(super) edge: f64,
    /// The rim of a hole is an edge too: a vacancy there cannot be told from the hole.
    pub(super) near_hole: Vec<bool>,
}

impl Interior {
    pub(super) fn new(f: &Frame, polymorphs: &PolymorphMap) -> Interior {
        let hole_margin = HOLE_MARGIN_A / f.model_px();
        Interior {
            edge: EDGE_MARGIN_A / f.pixel_size,
            near_hole: near_vacuum(&polymorphs.classes, f.gw, f.gh, hole_margin),
        }
    }

    /// Whether input point (x, y) is inside.
    pub(super) fn contains(&self, f: &Frame, x: f64, y: f64) -> bool {
        let edge = self.edge;
        x >= edge
            && y >= edge
            && x <= f.w as f64 - 1.0 - edge
            && y <= f.h as f64 - 1.0 - edge
            && (self.near_hole.is_empty() || !self.near_hole[f.model_index(x, y)])
    }
}

/// Pixels of a `w × h` class map closer than `margin` pixels to vacuum (class 0);
/// empty when the map holds no vacuum.
pub(super) fn near_vacuum(classes: &[u8], w: usize, h: usize, margin: f64) -> Vec<bool> {
    if margin <= 0.0 || !classes.contains(&0) {
        return Vec::new();
    }
    let vacuum: Vec<bool> = classes.iter().map(|&c| c == 0).collect();
    distance::squared_distance(&vacuum, w, h)
        .into_iter()
        .map(|d2| d2 < margin * margin)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rim_of_a_hole_is_marked_and_the_rest_is_not() {
        let (w, h) = (40, 40);
        // A hole of radius 5 px around (20, 20) in a 2H-1L flake.
        let classes: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64 - 20.0, (i / w) as f64 - 20.0);
                u8::from(x.hypot(y) > 5.0)
            })
            .collect();
        // 1.5 Å on the 0.2 Å model grid.
        let near = near_vacuum(&classes, w, h, HOLE_MARGIN_A / 0.2);
        assert!(near[20 * w + 32], "7 px from the hole's edge");
        assert!(!near[20 * w + 33], "8 px from it");
        assert!(near[20 * w + 20], "inside the hole");
        assert!(near_vacuum(&[1u8; 16], 4, 4, 7.5).is_empty());
    }
}
