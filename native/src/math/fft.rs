//! 2-D real FFTs over row-major grids, built on `realfft`/`rustfft`.
//!
//! The spectrum is the half-plane `h × (w/2 + 1)`: rows are transformed real→complex,
//! then each column complex→complex. Plans are cached per thread and grid size because
//! the simulator convolves thousands of same-sized images.

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// Cached plans for one `h × w` real grid.
pub struct Fft2 {
    pub h: usize,
    pub w: usize,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    col_fwd: Arc<dyn Fft<f32>>,
    col_inv: Arc<dyn Fft<f32>>,
}

thread_local! {
    static PLANS: RefCell<HashMap<(usize, usize), Rc<Fft2>>> = RefCell::new(HashMap::new());
}

impl Fft2 {
    /// Plans for an `h × w` grid, shared within the thread.
    pub fn get(h: usize, w: usize) -> Rc<Fft2> {
        PLANS.with(|p| {
            p.borrow_mut()
                .entry((h, w))
                .or_insert_with(|| {
                    let mut rp = RealFftPlanner::<f32>::new();
                    let mut cp = FftPlanner::<f32>::new();
                    Rc::new(Fft2 {
                        h,
                        w,
                        r2c: rp.plan_fft_forward(w),
                        c2r: rp.plan_fft_inverse(w),
                        col_fwd: cp.plan_fft_forward(h),
                        col_inv: cp.plan_fft_inverse(h),
                    })
                })
                .clone()
        })
    }

    /// Width of the half spectrum.
    pub fn wc(&self) -> usize {
        self.w / 2 + 1
    }

    /// Forward transform; the spectrum is stored column-major (`wc` columns of `h`)
    /// because that is how the column pass leaves it and multiplication does not care.
    pub fn forward(&self, input: &[f32]) -> Vec<Complex32> {
        let (h, w, wc) = (self.h, self.w, self.wc());
        assert_eq!(input.len(), h * w);
        let mut row_in = vec![0f32; w];
        let mut row_out = vec![Complex32::default(); wc];
        let mut spec = vec![Complex32::default(); wc * h];
        let mut scratch = self.r2c.make_scratch_vec();
        for r in 0..h {
            row_in.copy_from_slice(&input[r * w..(r + 1) * w]);
            self.r2c
                .process_with_scratch(&mut row_in, &mut row_out, &mut scratch)
                .expect("row length matches plan");
            for (c, v) in row_out.iter().enumerate() {
                spec[c * h + r] = *v;
            }
        }
        self.col_fwd.process(&mut spec);
        spec
    }

    /// Inverse of [`forward`](Self::forward), normalized so `inverse(forward(x)) == x`.
    pub fn inverse(&self, mut spec: Vec<Complex32>) -> Vec<f32> {
        let (h, w, wc) = (self.h, self.w, self.wc());
        assert_eq!(spec.len(), h * wc);
        self.col_inv.process(&mut spec);
        let norm = 1.0 / (h * w) as f32;
        let mut row_in = vec![Complex32::default(); wc];
        let mut row_out = vec![0f32; w];
        let mut out = vec![0f32; h * w];
        let mut scratch = self.c2r.make_scratch_vec();
        for r in 0..h {
            for (c, v) in row_in.iter_mut().enumerate() {
                *v = spec[c * h + r];
            }
            // A real signal's DC and Nyquist bins are real; rounding can leave tiny
            // imaginary parts that realfft rejects.
            row_in[0].im = 0.0;
            if w.is_multiple_of(2) {
                row_in[wc - 1].im = 0.0;
            }
            self.c2r
                .process_with_scratch(&mut row_in, &mut row_out, &mut scratch)
                .expect("row length matches plan");
            for (o, v) in out[r * w..(r + 1) * w].iter_mut().zip(&row_out) {
                *o = v * norm;
            }
        }
        out
    }

    /// Spatial frequency (cycles per pixel) of spectrum element (`col`, `row`).
    #[inline]
    pub fn freq(&self, col: usize, row: usize) -> (f32, f32) {
        let fy = if row <= self.h / 2 {
            row as f32
        } else {
            row as f32 - self.h as f32
        };
        (col as f32 / self.w as f32, fy / self.h as f32)
    }
}

/// Smallest size ≥ `n` whose only prime factors are 2, 3 and 5, which FFTs handle fastest.
pub fn fast_size(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut k = m;
        for p in [2, 3, 5] {
            while k.is_multiple_of(p) {
                k /= p;
            }
        }
        if k == 1 {
            return m;
        }
        m += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_identity() {
        let (h, w) = (12, 10);
        let x: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let f = Fft2::get(h, w);
        let y = f.inverse(f.forward(&x));
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn fast_sizes() {
        assert_eq!(fast_size(257), 270);
        assert_eq!(fast_size(256), 256);
        assert_eq!(fast_size(7), 8);
    }
}
