//! Reading simulated images the way the physics tests measure them.

use stemsight::sim::Sample;

/// Bilinear value of the image at a sub-pixel position (px; pixel centres at integers).
pub fn value_at(s: &Sample, x: f64, y: f64) -> f64 {
    let w = s.image.width;
    let (ix, iy) = (x.floor() as usize, y.floor() as usize);
    let (fx, fy) = (x - ix as f64, y - iy as f64);
    let g = |c: usize, r: usize| s.image.data[r * w + c] as f64;
    (g(ix, iy) * (1.0 - fx) + g(ix + 1, iy) * fx) * (1.0 - fy)
        + (g(ix, iy + 1) * (1.0 - fx) + g(ix + 1, iy + 1) * fx) * fy
}

/// The middle value (the upper one of an even count); panics on no values.
pub fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "no values");
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
