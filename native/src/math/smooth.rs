//! Box-filter smoothing of planes: three running means per axis come close to a
//! Gaussian (σ² = r(r + 1) for half-width r) at a cost that does not grow with r,
//! which matters on 8192² maps.

/// Running mean of half-width `r` along each row of a `w × h` plane, edges clamped.
pub fn box_rows(src: &[f32], w: usize, r: usize, out: &mut [f32]) {
    use rayon::prelude::*;
    let n = (2 * r + 1) as f64;
    out.par_chunks_mut(w)
        .zip(src.par_chunks(w))
        .for_each(|(o, row)| {
            let at = |k: isize| row[k.clamp(0, w as isize - 1) as usize] as f64;
            let r = r as isize;
            let mut acc: f64 = (-r..=r).map(at).sum();
            for (k, v) in o.iter_mut().enumerate() {
                *v = (acc / n) as f32;
                let k = k as isize;
                acc += at(k + r + 1) - at(k - r);
            }
        });
}

/// Running mean of half-width `r` down each column, edges clamped; a row of sums moves
/// down the plane so memory is read in order.
pub fn box_columns(src: &[f32], w: usize, h: usize, r: usize, out: &mut [f32]) {
    let n = (2 * r + 1) as f64;
    let row = |k: isize| &src[k.clamp(0, h as isize - 1) as usize * w..][..w];
    let r = r as isize;
    let mut acc = vec![0f64; w];
    for k in -r..=r {
        for (a, &v) in acc.iter_mut().zip(row(k)) {
            *a += v as f64;
        }
    }
    for y in 0..h {
        for (o, a) in out[y * w..(y + 1) * w].iter_mut().zip(&acc) {
            *o = (*a / n) as f32;
        }
        let (add, sub) = (row(y as isize + r + 1), row(y as isize - r));
        for ((a, &p), &m) in acc.iter_mut().zip(add).zip(sub) {
            *a += p as f64 - m as f64;
        }
    }
}

/// Half-width of the boxes whose three passes give about `sigma` pixels.
pub fn half_width(sigma: f64) -> usize {
    sigma.round().max(1.0) as usize
}

/// Smooths the `w × h` plane `a` in place with three box passes per axis of half-width
/// `r`; `scratch` is a plane of the same size.
pub fn three_boxes(a: &mut [f32], scratch: &mut [f32], w: usize, h: usize, r: usize) {
    for _ in 0..3 {
        box_rows(a, w, r, scratch);
        box_columns(scratch, w, h, r, a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_mean_and_spreads_a_point_like_a_gaussian() {
        let (w, h, r) = (101, 101, 5);
        let mut a = vec![0f32; w * h];
        a[50 * w + 50] = 1.0;
        let mut b = vec![0f32; w * h];
        three_boxes(&mut a, &mut b, w, h, r);
        let total: f64 = a.iter().map(|&v| v as f64).sum();
        assert!((total - 1.0).abs() < 1e-4, "mass {total}");
        let var: f64 = (0..w)
            .map(|x| {
                let col: f64 = (0..h).map(|y| a[y * w + x] as f64).sum();
                col * (x as f64 - 50.0).powi(2)
            })
            .sum();
        let expected = (r * (r + 1)) as f64;
        assert!(
            (var - expected).abs() < 0.5,
            "variance {var}, expected {expected}"
        );
    }
}
