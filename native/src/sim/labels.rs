//! Training masks derived from the exact truth: vacancy disks and atom-column disks.

use super::Sample;

/// Radius of the vacancy label disks (the seed paper's choice).
pub const VACANCY_RADIUS_ANGSTROM: f64 = 0.95;
/// Radius of the atom-column label disks.
pub const ATOM_RADIUS_ANGSTROM: f64 = 0.5;

/// Paint `value` into a disk of `radius_px` around (x, y); pixels whose centre is inside.
pub fn paint_disk(mask: &mut [u8], w: usize, h: usize, x: f64, y: f64, radius_px: f64, value: u8) {
    let r2 = radius_px * radius_px;
    let (c0, c1) = (
        (x - radius_px).floor().max(0.0) as usize,
        ((x + radius_px).ceil() as usize).min(w.saturating_sub(1)),
    );
    let (r0, r1) = (
        (y - radius_px).floor().max(0.0) as usize,
        ((y + radius_px).ceil() as usize).min(h.saturating_sub(1)),
    );
    if x + radius_px < 0.0 || y + radius_px < 0.0 {
        return;
    }
    for r in r0..=r1 {
        for c in c0..=c1 {
            let (dx, dy) = (c as f64 - x, r as f64 - y);
            if dx * dx + dy * dy <= r2 {
                mask[r * w + c] = value;
            }
        }
    }
}

/// 0 = none, 1 = VS1, 2 = VS2, disks of [`VACANCY_RADIUS_ANGSTROM`].
pub fn vacancy_mask(s: &Sample) -> Vec<u8> {
    let (w, h) = (s.image.width, s.image.height);
    let rad = VACANCY_RADIUS_ANGSTROM / s.params.pixel_size_angstrom;
    let mut m = vec![0u8; w * h];
    for v in &s.vacancies {
        paint_disk(&mut m, w, h, v.x, v.y, rad, v.kind.missing());
    }
    m
}

/// 0 = none, 1 = metal-containing column, 2 = chalcogen-only column.
pub fn atom_mask(s: &Sample) -> Vec<u8> {
    let (w, h) = (s.image.width, s.image.height);
    let rad = ATOM_RADIUS_ANGSTROM / s.params.pixel_size_angstrom;
    let mut m = vec![0u8; w * h];
    for c in &s.columns {
        paint_disk(&mut m, w, h, c.x, c.y, rad, if c.metal { 1 } else { 2 });
    }
    m
}
