//! Smooth random fields for patchy things: carbon thickness, holes, irregular boundaries.
//!
//! Gaussian values on a coarse grid, interpolated with a C¹ (smoothstep) bilinear
//! kernel, can be evaluated anywhere in Å, so the same field decides both where
//! atoms are removed and which pixels are labelled.

use rand::Rng;
use rand_distr::StandardNormal;

/// A stationary random field with roughly unit variance and correlation length `cell`.
#[derive(Debug, Clone)]
pub struct SmoothField {
    cell: f64,
    origin: [f64; 2],
    nx: usize,
    ny: usize,
    values: Vec<f32>,
}

impl SmoothField {
    /// Field covering the rectangle `min..max` (Å) with correlation length `cell` (Å),
    /// summed over `octaves` (each half the cell, half the amplitude) for ragged edges.
    pub fn new<R: Rng>(
        rng: &mut R,
        min: [f64; 2],
        max: [f64; 2],
        cell: f64,
        octaves: usize,
    ) -> SmoothField {
        let layers: Vec<SmoothField> = (0..octaves.max(1))
            .map(|o| Self::single(rng, min, max, cell / (1 << o) as f64))
            .collect();
        if layers.len() == 1 {
            return layers.into_iter().next().expect("one layer");
        }
        // Fold the octaves into one grid at the finest cell size, so evaluation stays
        // one interpolation however many octaves there are.
        let finest = layers.last().expect("layers");
        let mut out = SmoothField {
            values: vec![0.0; finest.values.len()],
            ..finest.clone()
        };
        let mut norm = 0.0;
        for (o, layer) in layers.iter().enumerate() {
            let amp = 0.5f64.powi(o as i32);
            norm += amp * amp;
            for j in 0..out.ny {
                for i in 0..out.nx {
                    let x = out.origin[0] + i as f64 * out.cell;
                    let y = out.origin[1] + j as f64 * out.cell;
                    out.values[j * out.nx + i] += (amp * layer.eval(x, y)) as f32;
                }
            }
        }
        let s = (1.0 / norm).sqrt() as f32;
        out.values.iter_mut().for_each(|v| *v *= s);
        out
    }

    fn single<R: Rng>(rng: &mut R, min: [f64; 2], max: [f64; 2], cell: f64) -> SmoothField {
        let nx = ((max[0] - min[0]) / cell).ceil() as usize + 3;
        let ny = ((max[1] - min[1]) / cell).ceil() as usize + 3;
        let values = (0..nx * ny)
            .map(|_| rng.sample::<f32, _>(StandardNormal))
            .collect();
        SmoothField {
            cell,
            origin: [min[0] - cell, min[1] - cell],
            nx,
            ny,
            values,
        }
    }

    /// Value at (x, y) in Å; clamps outside the covered rectangle.
    pub fn eval(&self, x: f64, y: f64) -> f64 {
        let fx = ((x - self.origin[0]) / self.cell).clamp(0.0, (self.nx - 1) as f64 - 1e-9);
        let fy = ((y - self.origin[1]) / self.cell).clamp(0.0, (self.ny - 1) as f64 - 1e-9);
        let (i, j) = (fx as usize, fy as usize);
        let (tx, ty) = (smoothstep(fx - i as f64), smoothstep(fy - j as f64));
        let v = |ii: usize, jj: usize| self.values[jj * self.nx + ii] as f64;
        let top = v(i, j) * (1.0 - tx) + v(i + 1, j) * tx;
        let bottom = v(i, j + 1) * (1.0 - tx) + v(i + 1, j + 1) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

fn smoothstep(t: f64) -> f64 {
    t * t * (3.0 - 2.0 * t)
}

/// The value below which a fraction `q` of `values` lies.
pub fn quantile(values: &[f32], q: f64) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    let k = ((q.clamp(0.0, 1.0)) * (v.len() - 1) as f64).round() as usize;
    *v.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn field_is_smooth_and_roughly_unit_variance() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let f = SmoothField::new(&mut rng, [0.0, 0.0], [200.0, 200.0], 10.0, 1);
        let vals: Vec<f64> = (0..100)
            .flat_map(|j| (0..100).map(move |i| (i, j)))
            .map(|(i, j)| f.eval(i as f64 * 2.0, j as f64 * 2.0))
            .collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
        assert!(
            mean.abs() < 0.3 && (0.2..1.5).contains(&var),
            "mean {mean} var {var}"
        );
        // Neighbouring points 0.1 Å apart differ little.
        assert!((f.eval(50.0, 50.0) - f.eval(50.1, 50.0)).abs() < 0.1);
    }
}
