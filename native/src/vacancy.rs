//! Sulfur vacancies from the vacancy head (softmax over background, VS1, VS2).
//!
//! A vacancy is a connected region (8-connectivity) where P(VS1) + P(VS2) ≥
//! `threshold`. Its position is the probability-weighted centroid, its type the
//! class with the larger summed probability, and its confidence the peak of
//! P(VS1) + P(VS2) times the winning class's share — so a region the network is
//! unsure how to type gets a lower confidence than a clear one.

/// A vacancy on a map grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VacancyPoint {
    pub x: f64,
    pub y: f64,
    /// 1 = VS1, 2 = VS2.
    pub missing: u8,
    pub confidence: f64,
    pub area_px: usize,
}

impl VacancyPoint {
    pub fn type_name(&self) -> &'static str {
        if self.missing == 2 {
            "VS2"
        } else {
            "VS1"
        }
    }
}

/// Vacancy regions of the VS1 and VS2 probability maps (`width × height` each).
pub fn find_vacancies(
    vs1: &[f32],
    vs2: &[f32],
    width: usize,
    height: usize,
    threshold: f32,
    min_area_px: usize,
) -> Vec<VacancyPoint> {
    let n = width * height;
    let p: Vec<f32> = (0..n).map(|i| vs1[i] + vs2[i]).collect();
    let mut label = vec![0u32; n];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    let mut next = 0u32;
    for start in 0..n {
        if label[start] != 0 || p[start] < threshold {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        let (mut sx, mut sy, mut sw) = (0.0f64, 0.0f64, 0.0f64);
        let (mut m1, mut m2, mut peak) = (0.0f64, 0.0f64, 0.0f32);
        let mut area = 0usize;
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            let w = p[i] as f64;
            sx += w * x as f64;
            sy += w * y as f64;
            sw += w;
            m1 += vs1[i] as f64;
            m2 += vs2[i] as f64;
            peak = peak.max(p[i]);
            area += 1;
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    let (xx, yy) = (x as isize + dx, y as isize + dy);
                    if xx < 0 || yy < 0 || xx >= width as isize || yy >= height as isize {
                        continue;
                    }
                    let j = yy as usize * width + xx as usize;
                    if label[j] == 0 && p[j] >= threshold {
                        label[j] = next;
                        stack.push(j);
                    }
                }
            }
        }
        if area < min_area_px || sw <= 0.0 {
            continue;
        }
        let (missing, share) = if m2 > m1 {
            (2, m2 / (m1 + m2))
        } else {
            (1, m1 / (m1 + m2))
        };
        out.push(VacancyPoint {
            x: sx / sw,
            y: sy / sw,
            missing,
            confidence: (peak as f64 * share).clamp(0.0, 1.0),
            area_px: area,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(w: usize, h: usize, cx: f64, cy: f64, r: f64, v: f32) -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                if (x - cx).powi(2) + (y - cy).powi(2) <= r * r {
                    v
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn separates_and_types_regions() {
        let (w, h) = (40, 30);
        let vs1 = disk(w, h, 10.0, 10.0, 3.0, 0.9);
        let vs2 = disk(w, h, 30.0, 20.0, 3.0, 0.8);
        let v = find_vacancies(&vs1, &vs2, w, h, 0.5, 4);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].type_name(), "VS1");
        assert!((v[0].x - 10.0).abs() < 1e-9 && (v[0].y - 10.0).abs() < 1e-9);
        assert_eq!(v[1].type_name(), "VS2");
        assert!((v[1].confidence - 0.8).abs() < 1e-6);
    }

    #[test]
    fn ignores_specks() {
        let (w, h) = (20, 20);
        let vs1 = disk(w, h, 5.0, 5.0, 0.5, 0.9);
        let v = find_vacancies(&vs1, &vec![0.0; w * h], w, h, 0.5, 4);
        assert!(v.is_empty());
    }
}
