//! Euclidean distance transform: how far each pixel of a plane is from the nearest
//! pixel of a set (exact, separable lower envelope of parabolas, Felzenszwalb &
//! Huttenlocher 2012), in O(pixels) whatever the distances.

/// Distance in pixels from each pixel to the nearest pixel where `set` is true;
/// `f32::INFINITY` everywhere when the set is empty.
pub fn distance_to(set: &[bool], w: usize, h: usize) -> Vec<f32> {
    assert_eq!(set.len(), w * h);
    let big = 1e20f64;
    let mut d: Vec<f64> = set.iter().map(|&s| if s { 0.0 } else { big }).collect();
    let mut line = Vec::new();
    for x in 0..w {
        line.clear();
        line.extend((0..h).map(|y| d[y * w + x]));
        let out = envelope(&line);
        for (y, v) in out.into_iter().enumerate() {
            d[y * w + x] = v;
        }
    }
    for row in d.chunks_mut(w) {
        let out = envelope(row);
        row.copy_from_slice(&out);
    }
    d.into_iter()
        .map(|v| {
            if v >= big / 2.0 {
                f32::INFINITY
            } else {
                v.sqrt() as f32
            }
        })
        .collect()
}

/// One dimension: min over q of (p − q)² + f(q).
fn envelope(f: &[f64]) -> Vec<f64> {
    let n = f.len();
    if n == 0 {
        return Vec::new();
    }
    let mut out = vec![0.0; n];
    let mut v = vec![0usize; n];
    let mut z = vec![0.0f64; n + 1];
    let mut k = 0usize;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    let sect = |q: usize, p: usize| {
        ((f[q] + (q * q) as f64) - (f[p] + (p * p) as f64)) / (2.0 * q as f64 - 2.0 * p as f64)
    };
    for q in 1..n {
        let mut s = sect(q, v[k]);
        while s <= z[k] {
            k -= 1;
            s = sect(q, v[k]);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    k = 0;
    for (p, o) in out.iter_mut().enumerate() {
        while z[k + 1] < p as f64 {
            k += 1;
        }
        let dq = p as f64 - v[k] as f64;
        *o = dq * dq + f[v[k]];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force() {
        let (w, h) = (23, 17);
        let set: Vec<bool> = (0..w * h).map(|i| (i * 7919) % 41 == 3).collect();
        let d = distance_to(&set, w, h);
        for y in 0..h {
            for x in 0..w {
                let best = (0..w * h)
                    .filter(|&j| set[j])
                    .map(|j| {
                        let (dx, dy) = ((j % w) as f64 - x as f64, (j / w) as f64 - y as f64);
                        (dx * dx + dy * dy).sqrt()
                    })
                    .fold(f64::INFINITY, f64::min);
                assert!((d[y * w + x] as f64 - best).abs() < 1e-4, "({x}, {y})");
            }
        }
        assert!(distance_to(&[false; 6], 3, 2)
            .iter()
            .all(|v| v.is_infinite()));
    }
}
