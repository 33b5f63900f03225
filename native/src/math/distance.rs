//! Euclidean distance transform: how far each pixel of a plane is from the nearest
//! pixel of a set (exact, separable lower envelope of parabolas, Felzenszwalb &
//! Huttenlocher 2012), in O(pixels) whatever the distances. The simulator opens its
//! holes with it; the engine finds the rims of holes with it.

/// Exact squared Euclidean distance (cells) from every cell to the nearest `true` one
/// (Felzenszwalb & Huttenlocher's two-pass lower envelope); infinite if there is none.
pub fn squared_distance(feature: &[bool], nx: usize, ny: usize) -> Vec<f64> {
    let mut d: Vec<f64> = feature
        .iter()
        .map(|&f| if f { 0.0 } else { f64::INFINITY })
        .collect();
    let mut line = Vec::new();
    for i in 0..nx {
        line.clear();
        line.extend((0..ny).map(|j| d[j * nx + i]));
        let out = envelope(&line);
        for (j, v) in out.into_iter().enumerate() {
            d[j * nx + i] = v;
        }
    }
    for j in 0..ny {
        let out = envelope(&d[j * nx..(j + 1) * nx]);
        d[j * nx..(j + 1) * nx].copy_from_slice(&out);
    }
    d
}

/// One-dimensional pass: out[q] = min_p (q − p)² + f[p].
fn envelope(f: &[f64]) -> Vec<f64> {
    let n = f.len();
    let finite: Vec<usize> = (0..n).filter(|&p| f[p].is_finite()).collect();
    if finite.is_empty() {
        return vec![f64::INFINITY; n];
    }
    let (mut v, mut z) = (vec![0usize; n], vec![0.0f64; n + 1]);
    let mut k = 0usize;
    v[0] = finite[0];
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    let cross = |q: usize, p: usize| {
        ((f[q] + (q * q) as f64) - (f[p] + (p * p) as f64)) / (2.0 * (q as f64 - p as f64))
    };
    for &q in &finite[1..] {
        let mut s = cross(q, v[k]);
        while s <= z[k] {
            k -= 1;
            s = cross(q, v[k]);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    let mut out = vec![0.0; n];
    k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        *o = (q as f64 - v[k] as f64).powi(2) + f[v[k]];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_exact_euclidean() {
        let (nx, ny) = (9, 7);
        let mut f = vec![false; nx * ny];
        f[2 * nx + 3] = true;
        f[6 * nx + 8] = true;
        let d = squared_distance(&f, nx, ny);
        for j in 0..ny {
            for i in 0..nx {
                let a = ((i as f64 - 3.0).powi(2) + (j as f64 - 2.0).powi(2))
                    .min((i as f64 - 8.0).powi(2) + (j as f64 - 6.0).powi(2));
                assert_eq!(d[j * nx + i], a, "cell ({i}, {j})");
            }
        }
        assert!(squared_distance(&[false; 6], 3, 2)
            .iter()
            .all(|v| v.is_infinite()));
    }

    #[test]
    fn matches_brute_force() {
        let (w, h) = (23, 17);
        let set: Vec<bool> = (0..w * h).map(|i| (i * 7919) % 41 == 3).collect();
        let d = squared_distance(&set, w, h);
        for y in 0..h {
            for x in 0..w {
                let best = (0..w * h)
                    .filter(|&j| set[j])
                    .map(|j| {
                        let (dx, dy) = ((j % w) as f64 - x as f64, (j / w) as f64 - y as f64);
                        dx * dx + dy * dy
                    })
                    .fold(f64::INFINITY, f64::min);
                assert!((d[y * w + x] - best).abs() < 1e-9, "({x}, {y})");
            }
        }
    }
}
