//! Resampling between the input pixel grid and the models' canonical pixel size.
//!
//! `factor` = input pixel size / canonical pixel size = canonical pixels per
//! input pixel. Pixel centres map exactly: input x ↔ canonical X = (x + ½)·f − ½,
//! so coordinates found on the canonical grid go back to the input grid without
//! a half-pixel shift. The filter is Lanczos-3, widened by 1/f when shrinking so
//! it also acts as the anti-alias filter: a STEM image is a point-sampled,
//! probe-band-limited signal, and Lanczos-3 keeps that band up to the new
//! Nyquist frequency better than box or bilinear averaging.

use rayon::prelude::*;

/// The mapping between an input grid and its canonical-pixel-size counterpart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub in_width: usize,
    pub in_height: usize,
    pub factor: f64,
    pub out_width: usize,
    pub out_height: usize,
}

impl Grid {
    pub fn new(in_width: usize, in_height: usize, factor: f64) -> Grid {
        // A size within 1e-4 px above a whole number is that number: a calibration stored as
        // float32 (ImageJ's 0.1 Å reads 0.100000001) made a 256 px image at 0.1 Å/px 129 px
        // instead of 128 at 0.2 Å/px, which moved a column across the carbon mask.
        let out = |n: usize| ((n as f64 * factor - 1e-4).ceil() as usize).max(1);
        Grid {
            in_width,
            in_height,
            factor,
            out_width: out(in_width),
            out_height: out(in_height),
        }
    }

    /// Canonical-grid position of an input-grid position.
    #[inline]
    pub fn to_canonical(&self, x: f64, y: f64) -> (f64, f64) {
        ((x + 0.5) * self.factor - 0.5, (y + 0.5) * self.factor - 0.5)
    }

    /// Input-grid position of a canonical-grid position.
    #[inline]
    pub fn to_input(&self, x: f64, y: f64) -> (f64, f64) {
        ((x + 0.5) / self.factor - 0.5, (y + 0.5) / self.factor - 0.5)
    }

    /// Resamples an input-grid image onto the canonical grid.
    pub fn resample(&self, data: &[f32]) -> Vec<f32> {
        assert_eq!(data.len(), self.in_width * self.in_height);
        if (self.factor - 1.0).abs() < 1e-12 {
            return data.to_vec();
        }
        let wx = Taps::new(self.in_width, self.out_width, self.factor);
        let wy = Taps::new(self.in_height, self.out_height, self.factor);
        // Rows first: the horizontal pass shrinks or grows each input row.
        let mut rows = vec![0f32; self.in_height * self.out_width];
        rows.par_chunks_mut(self.out_width)
            .enumerate()
            .for_each(|(r, out)| {
                let src = &data[r * self.in_width..(r + 1) * self.in_width];
                for (x, o) in out.iter_mut().enumerate() {
                    *o = wx.apply(x, |i| src[i]);
                }
            });
        let mut out = vec![0f32; self.out_height * self.out_width];
        out.par_chunks_mut(self.out_width)
            .enumerate()
            .for_each(|(y, line)| {
                for (x, o) in line.iter_mut().enumerate() {
                    *o = wy.apply(y, |i| rows[i * self.out_width + x]);
                }
            });
        out
    }
}

fn lanczos3(x: f64) -> f64 {
    let x = x.abs();
    if x < 1e-12 {
        1.0
    } else if x >= 3.0 {
        0.0
    } else {
        let px = std::f64::consts::PI * x;
        3.0 * px.sin() * (px / 3.0).sin() / (px * px)
    }
}

/// Reflects an index into 0..n without repeating the edge pixel (… 2 1 | 0 1 2 … n−1 | n−2 …).
#[inline]
pub fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

/// Per-output-sample filter taps along one axis.
struct Taps {
    start: Vec<isize>,
    weights: Vec<Vec<f32>>,
    n_in: usize,
}

impl Taps {
    fn new(n_in: usize, n_out: usize, factor: f64) -> Taps {
        let stretch = (1.0 / factor).max(1.0);
        let support = 3.0 * stretch;
        let mut start = Vec::with_capacity(n_out);
        let mut weights = Vec::with_capacity(n_out);
        for o in 0..n_out {
            let c = (o as f64 + 0.5) / factor - 0.5;
            let first = (c - support).floor() as isize + 1;
            let last = (c + support).ceil() as isize - 1;
            let mut w: Vec<f64> = (first..=last)
                .map(|i| lanczos3((i as f64 - c) / stretch))
                .collect();
            let sum: f64 = w.iter().sum();
            w.iter_mut().for_each(|v| *v /= sum);
            start.push(first);
            weights.push(w.into_iter().map(|v| v as f32).collect());
        }
        Taps {
            start,
            weights,
            n_in,
        }
    }

    #[inline]
    fn apply(&self, o: usize, get: impl Fn(usize) -> f32) -> f32 {
        let s = self.start[o];
        self.weights[o]
            .iter()
            .enumerate()
            .map(|(k, &w)| w * get(reflect(s + k as isize, self.n_in)))
            .sum()
    }
}

/// Bilinear sample of a map at a sub-pixel position, clamped at the borders.
pub fn bilinear(data: &[f32], width: usize, height: usize, x: f64, y: f64) -> f32 {
    let x = x.clamp(0.0, (width - 1) as f64);
    let y = y.clamp(0.0, (height - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let at = |c: usize, r: usize| data[r * width + c];
    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
    let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_indices() {
        let v: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(v, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(reflect(-5, 1), 0);
    }

    #[test]
    fn float32_calibrations_keep_the_grid_size() {
        // ImageJ keeps 0.1 Å as a float32: 0.100000001…
        let px = 0.1f32 as f64;
        assert_eq!(Grid::new(256, 256, px / 0.2).out_width, 128);
        assert_eq!(Grid::new(256, 256, 0.1 / 0.2).out_width, 128);
        assert_eq!(Grid::new(255, 256, 0.5).out_width, 128);
        assert_eq!(Grid::new(257, 256, 0.5).out_width, 129);
    }

    #[test]
    fn coordinates_round_trip() {
        let g = Grid::new(1000, 700, 0.37);
        for &(x, y) in &[(0.0, 0.0), (12.3, 456.7), (999.0, 699.0)] {
            let (cx, cy) = g.to_canonical(x, y);
            let (bx, by) = g.to_input(cx, cy);
            assert!((bx - x).abs() < 1e-9 && (by - y).abs() < 1e-9);
        }
        assert_eq!(g.out_width, 370);
        assert_eq!(g.out_height, 259);
    }

    /// A Gaussian peak at a known input position lands at the mapped canonical position.
    #[test]
    fn peak_position_is_preserved() {
        for &factor in &[0.4, 0.75, 1.6] {
            let (w, h) = (120usize, 100usize);
            let (px, py) = (57.3, 41.8);
            let sigma = 4.0;
            let data: Vec<f32> = (0..w * h)
                .map(|i| {
                    let (x, y) = ((i % w) as f64, (i / w) as f64);
                    (-((x - px).powi(2) + (y - py).powi(2)) / (2.0 * sigma * sigma)).exp() as f32
                })
                .collect();
            let g = Grid::new(w, h, factor);
            let out = g.resample(&data);
            // Centroid of the resampled peak.
            let (mut sx, mut sy, mut s) = (0.0, 0.0, 0.0);
            for (i, &v) in out.iter().enumerate() {
                let v = v.max(0.0) as f64;
                sx += v * (i % g.out_width) as f64;
                sy += v * (i / g.out_width) as f64;
                s += v;
            }
            let (cx, cy) = g.to_input(sx / s, sy / s);
            assert!(
                (cx - px).abs() < 0.02 && (cy - py).abs() < 0.02,
                "factor {factor}: ({cx}, {cy}) vs ({px}, {py})"
            );
        }
    }

    #[test]
    fn constant_stays_constant() {
        let g = Grid::new(37, 23, 0.41);
        let out = g.resample(&vec![3.5; 37 * 23]);
        assert!(out.iter().all(|&v| (v - 3.5).abs() < 1e-4));
    }
}
