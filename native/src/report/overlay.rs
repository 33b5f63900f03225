//! `overlay.png`: the image with what was found, for a person to check at a glance.
//!
//! Gray image (0.5–99.5 % stretch); polymorph regions tinted, with their
//! boundaries drawn; contaminated areas dimmed and hatched; columns as small dots in the
//! Fiji plugin's colours (yellow: metal only, green: metal and chalcogen stacked, cyan:
//! chalcogen only); VS1 orange rings, VS2 magenta rings (gray when excluded as
//! contaminated); a legend in the report's chemistry (W, Se₂ …) and a scale bar.

use crate::crystal::{Column, PolymorphClass, Role, VacancyKind};
use crate::findings::Report;
use font8x8::UnicodeFonts;
use rayon::prelude::*;

pub type Rgb = [u8; 3];

/// Okabe–Ito colours (colour-blind safe), by class value ([`PolymorphClass::index`]);
/// the Fiji plugin's polymorph colours (JNI `palette()`).
pub const POLYMORPH_TINT: [Rgb; PolymorphClass::COUNT] = [
    [0, 0, 0],       // vacuum: no tint
    [230, 159, 0],   // 2H-1L orange
    [86, 180, 233],  // 2H-2L sky blue
    [0, 158, 115],   // 2H-3L bluish green
    [240, 228, 66],  // 3R-2L yellow
    [0, 114, 178],   // 3R-3L blue
    [204, 121, 167], // 1T reddish purple
];
/// Column, vacancy and excluded-area colours; the Fiji plugin draws with these too (JNI
/// `palette()`).
pub const METAL: Rgb = [255, 220, 0];
pub const METAL_CHALCOGEN: Rgb = [120, 230, 90];
pub const CHALCOGEN: Rgb = [0, 220, 255];
pub const VS1: Rgb = [255, 120, 0];
pub const VS2: Rgb = [255, 0, 200];
pub const EXCLUDED: Rgb = [150, 150, 150];
const WHITE: Rgb = [255, 255, 255];

pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// Mixes colour `c` into one RGB pixel with opacity `alpha`.
fn blend(pixel: &mut [u8], c: Rgb, alpha: f32) {
    for (dst, &src) in pixel.iter_mut().zip(&c) {
        let v = *dst as f32 * (1.0 - alpha) + src as f32 * alpha;
        *dst = v.round().clamp(0.0, 255.0) as u8;
    }
}

impl Canvas {
    fn blend(&mut self, x: isize, y: isize, c: Rgb, alpha: f32) {
        if x < 0 || y < 0 || x >= self.width as isize || y >= self.height as isize {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 3;
        blend(&mut self.rgb[i..i + 3], c, alpha);
    }

    fn disk(&mut self, cx: f64, cy: f64, r: f64, c: Rgb) {
        let ri = r.ceil() as isize + 1;
        let (ix, iy) = (cx.round() as isize, cy.round() as isize);
        for dy in -ri..=ri {
            for dx in -ri..=ri {
                let d = ((ix + dx) as f64 - cx).hypot((iy + dy) as f64 - cy);
                let a = (r + 0.5 - d).clamp(0.0, 1.0) as f32;
                if a > 0.0 {
                    self.blend(ix + dx, iy + dy, c, a);
                }
            }
        }
    }

    fn ring(&mut self, cx: f64, cy: f64, r: f64, thickness: f64, c: Rgb) {
        let ri = (r + thickness).ceil() as isize + 1;
        let (ix, iy) = (cx.round() as isize, cy.round() as isize);
        for dy in -ri..=ri {
            for dx in -ri..=ri {
                let d = ((ix + dx) as f64 - cx).hypot((iy + dy) as f64 - cy);
                let a = (thickness / 2.0 + 0.5 - (d - r).abs()).clamp(0.0, 1.0) as f32;
                if a > 0.0 {
                    self.blend(ix + dx, iy + dy, c, a);
                }
            }
        }
    }

    fn rect(&mut self, x0: usize, y0: usize, w: usize, h: usize, c: Rgb, alpha: f32) {
        for y in y0..(y0 + h).min(self.height) {
            for x in x0..(x0 + w).min(self.width) {
                self.blend(x as isize, y as isize, c, alpha);
            }
        }
    }

    /// 8×8 bitmap text scaled by `scale`; returns the width drawn.
    fn text(&mut self, x0: usize, y0: usize, s: &str, scale: usize, c: Rgb) -> usize {
        let mut x = x0;
        for ch in s.chars() {
            let glyph = font8x8::BASIC_FONTS
                .get(ch)
                .or_else(|| font8x8::LATIN_FONTS.get(ch))
                .or_else(|| font8x8::GREEK_FONTS.get(ch))
                .unwrap_or([0; 8]);
            for (gy, row) in glyph.iter().enumerate() {
                for gx in 0..8 {
                    if row & (1 << gx) != 0 {
                        self.rect(x + gx * scale, y0 + gy * scale, scale, scale, c, 1.0);
                    }
                }
            }
            x += 8 * scale;
        }
        x - x0
    }
}

/// Draws the overlay for an analysis of `image` (input grid).
pub fn render(
    image: &[f32],
    width: usize,
    height: usize,
    report: &Report,
    polymorph_map: &[u8],
    contamination: &[u8],
) -> Canvas {
    let gray = crate::io::png::to_display_bytes(image);
    let px = report.image.pixel_size_angstrom;

    // Regions: tint, boundaries, contamination; rows are independent, so in parallel
    // (a 4096² overlay is 50 M channel values).
    let hatch = (1.0 / px).round().max(6.0) as usize;
    let mut rgb = vec![0u8; width * height * 3];
    rgb.par_chunks_mut(width * 3)
        .enumerate()
        .for_each(|(y, row)| {
            for x in 0..width {
                let i = y * width + x;
                let out = &mut row[3 * x..3 * x + 3];
                out.fill(gray[i]);
                let c = polymorph_map[i] as usize;
                if c > 0 && c < POLYMORPH_TINT.len() {
                    blend(out, POLYMORPH_TINT[c], 0.18);
                }
                let edge = (x + 1 < width && polymorph_map[i + 1] != polymorph_map[i])
                    || (y + 1 < height && polymorph_map[i + width] != polymorph_map[i]);
                if edge {
                    blend(out, WHITE, 0.8);
                }
                if crate::analysis::carbon::Call::excluded_code(contamination[i]) {
                    blend(out, [0, 0, 0], 0.45);
                    if (x + y) % hatch == 0 {
                        blend(out, [200, 170, 120], 0.7);
                    }
                }
            }
        });
    let mut cv = Canvas { width, height, rgb };

    let dot = (0.22 / px).max(1.2);
    for a in &report.atoms {
        cv.disk(a.x, a.y, dot, site_colour(a.site));
    }
    let ring_r = (0.9 / px).max(4.0);
    let thick = (0.12 / px).max(1.5);
    for v in &report.vacancies {
        let c = if v.in_contaminated_area {
            EXCLUDED
        } else {
            match v.kind {
                VacancyKind::VS1 => VS1,
                VacancyKind::VS2 => VS2,
            }
        };
        cv.ring(v.x, v.y, ring_r, thick, c);
    }

    legend(&mut cv, report);
    scale_bar(&mut cv, px);
    cv
}

/// A column's colour by its content: metal only, metal and chalcogen stacked, or
/// chalcogen only.
fn site_colour(site: Column) -> Rgb {
    match site.role() {
        Role::Metal if site.is_stacked() => METAL_CHALCOGEN,
        Role::Metal => METAL,
        Role::Chalcogen => CHALCOGEN,
    }
}

fn legend(cv: &mut Canvas, report: &Report) {
    let scale = if cv.width >= 1200 { 2 } else { 1 };
    let line = 10 * scale;
    let chemistry = report.chemistry.name;
    let (metal, chalcogen) = chemistry.symbols();
    let mut entries: Vec<(Rgb, String)> = vec![(METAL, format!("{metal} column"))];
    if report
        .atoms
        .iter()
        .any(|a| site_colour(a.site) == METAL_CHALCOGEN)
    {
        entries.push((METAL_CHALCOGEN, format!("{metal} + {chalcogen} stacked")));
    }
    entries.extend([
        (CHALCOGEN, format!("{chalcogen}2 / {chalcogen} column")),
        (
            VS1,
            format!(
                "{} ({})",
                VacancyKind::VS1.species(chemistry),
                report.summary.n_vs1
            ),
        ),
        (
            VS2,
            format!(
                "{} ({})",
                VacancyKind::VS2.species(chemistry),
                report.summary.n_vs2
            ),
        ),
        (EXCLUDED, "excluded (carbon)".into()),
    ]);
    for (k, name) in report.polymorph.classes.iter().enumerate().skip(1) {
        if report.polymorph.fractions.get(name).copied().unwrap_or(0.0) >= 0.01 {
            entries.push((POLYMORPH_TINT[k], format!("{name} region")));
        }
    }
    entries.push(([200, 170, 120], "carbon (hatched)".into()));
    let width = 8 * scale * 22;
    let height = line * entries.len() + 4 * scale;
    if cv.width < width + 8 || cv.height < height + 8 {
        return;
    }
    cv.rect(4, 4, width, height, [0, 0, 0], 0.6);
    for (k, (c, name)) in entries.iter().enumerate() {
        let y = 6 * scale + k * line;
        cv.rect(8, y, 7 * scale, 7 * scale, *c, 1.0);
        cv.text(8 + 10 * scale, y, name, scale, WHITE);
    }
}

fn scale_bar(cv: &mut Canvas, px: f64) {
    let field_nm = cv.width as f64 * px / 10.0;
    let nm = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
        .into_iter()
        .rev()
        .find(|&n| n <= field_nm / 4.0)
        .unwrap_or(0.5);
    let len = (nm * 10.0 / px).round() as usize;
    let scale = if cv.width >= 1200 { 2 } else { 1 };
    let bar_h = 4 * scale;
    let label = if nm < 1.0 {
        format!("{} A", nm * 10.0)
    } else {
        format!("{nm} nm")
    };
    let text_w = label.len() * 8 * scale;
    let box_w = len.max(text_w) + 12;
    let box_h = bar_h + 8 * scale + 14;
    if cv.width < box_w + 8 || cv.height < box_h + 8 {
        return;
    }
    let x0 = cv.width - box_w - 4;
    let y0 = cv.height - box_h - 4;
    cv.rect(x0, y0, box_w, box_h, [0, 0, 0], 0.6);
    cv.rect(x0 + 6, y0 + 6, len, bar_h, WHITE, 1.0);
    cv.text(x0 + 6, y0 + 8 + bar_h, &label, scale, WHITE);
}
