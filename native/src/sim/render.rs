//! From drawn parameters to an image and its labels.

use super::field::{quantile, SmoothField};
use super::noise::{detector, poisson_counts};
use super::params::SimParams;
use super::probe::{probe_transfer, scale_by_gaussian, PROBE_WINDOW_ANGSTROM};
use super::regions::Regions;
use super::response::Response;
use super::scan::jitter_offsets;
use super::{ColumnTruth, DistractorKind, DistractorTruth, Sample, VacancyTruth};
use crate::crystal::{
    Column, Element, Lattice, Polymorph, PolymorphClass, Role, Site, VacancyKind,
};
use crate::image::Image;
use crate::math::fft::{fast_size, Fft2};
use rand::Rng;
use rand_distr::{Distribution, Poisson};

/// Atom number density of amorphous carbon (≈ 2 g/cm³), atoms per Å³.
const CARBON_ATOMS_PER_ANGSTROM3: f64 = 0.1;

/// The padded grid the image is rendered on, so probe tails and scan shifts near the
/// border see atoms outside the field of view. Image pixel (0, 0) sits at (margin, margin).
struct Canvas {
    w: usize,
    h: usize,
    margin: usize,
    data: Vec<f32>,
}

impl Canvas {
    /// Add `weight` at image-pixel position (x, y) with bilinear sub-pixel weights.
    #[inline]
    fn deposit(&mut self, x: f64, y: f64, weight: f32) {
        let gx = x + self.margin as f64;
        let gy = y + self.margin as f64;
        if gx < 0.0 || gy < 0.0 {
            return;
        }
        let (ix, iy) = (gx.floor() as usize, gy.floor() as usize);
        if ix + 1 >= self.w || iy + 1 >= self.h {
            return;
        }
        let (fx, fy) = ((gx - ix as f64) as f32, (gy - iy as f64) as f32);
        let i = iy * self.w + ix;
        self.data[i] += weight * (1.0 - fx) * (1.0 - fy);
        self.data[i + 1] += weight * fx * (1.0 - fy);
        self.data[i + self.w] += weight * (1.0 - fx) * fy;
        self.data[i + self.w + 1] += weight * fx * fy;
    }

    /// Bilinear sample at image-pixel position (x, y).
    #[inline]
    fn sample(&self, x: f64, y: f64) -> f32 {
        let gx = (x + self.margin as f64).clamp(0.0, (self.w - 2) as f64);
        let gy = (y + self.margin as f64).clamp(0.0, (self.h - 2) as f64);
        let (ix, iy) = (gx as usize, gy as usize);
        let (fx, fy) = ((gx - ix as f64) as f32, (gy - iy as f64) as f32);
        let i = iy * self.w + ix;
        let d = &self.data;
        (d[i] * (1.0 - fx) + d[i + 1] * fx) * (1.0 - fy)
            + (d[i + self.w] * (1.0 - fx) + d[i + self.w + 1] * fx) * fy
    }
}

/// Render `p` into a sample; `rng` supplies every remaining random draw, in this order:
/// regions, the lattice's vacancies, adatoms, carbon, scan jitter, noise.
pub fn render<R: Rng>(p: &SimParams, rng: &mut R) -> Sample {
    let px = p.pixel_size_angstrom;
    let (w, h) = (p.width, p.height);
    let jitter_px =
        (p.scan.jitter_x_angstrom.max(p.scan.jitter_y_angstrom) / px * 4.0).ceil() as usize;
    let margin = (6.0 / px).ceil() as usize + 2 + jitter_px;
    // At least the probe's window, so its tails are not folded back onto the field.
    let min_side = (PROBE_WINDOW_ANGSTROM / px).ceil() as usize;
    let (cw, ch) = (
        fast_size((w + 2 * margin).max(min_side)),
        fast_size((h + 2 * margin).max(min_side)),
    );
    let mut canvas = Canvas {
        w: cw,
        h: ch,
        margin,
        data: vec![0.0; cw * ch],
    };

    // Specimen rectangle (Å) that maps into the padded canvas, with slack.
    let (lo, hi) = (-(margin as f64), (canvas.w.max(canvas.h) - margin) as f64);
    let mut smin = [f64::MAX; 2];
    let mut smax = [f64::MIN; 2];
    for (c, r) in [(lo, lo), (hi, lo), (lo, hi), (hi, hi)] {
        let (x, y) = p.scan.specimen_of_pixel(c, r);
        for (k, v) in [x, y].into_iter().enumerate() {
            smin[k] = smin[k].min(v * px - 3.0);
            smax[k] = smax[k].max(v * px + 3.0);
        }
    }

    let regions = Regions::new(p, rng, smin, smax);
    let response = p.response();
    let specimen = Specimen {
        p,
        regions: &regions,
        response: &response,
        smin,
        smax,
    };
    let mut truth = specimen.deposit_lattice(rng, &mut canvas);
    specimen.deposit_adatoms(rng, &mut canvas, &mut truth.distractors);

    // Polymorph class per image pixel, looked up where the probe really was.
    let mut polymorph_map = vec![0u8; w * h];
    for r in 0..h {
        for c in 0..w {
            let (sx, sy) = p.scan.specimen_of_pixel(c as f64, r as f64);
            polymorph_map[r * w + c] = regions.class_at(sx * px, sy * px).index();
        }
    }

    let carbon_canvas = carbon_thickness(p, rng, &canvas, &regions);
    deposit_carbon(
        p,
        rng,
        &mut canvas,
        &carbon_canvas,
        specimen.weight(Element::C),
    );
    let carbon_map = crop(&carbon_canvas, canvas.w, w, h, margin);

    let (mut pixels, line_jitter_px) = scan(p, &response, rng, canvas);
    if !p.clean {
        add_background(p, &mut pixels, w, h);
        poisson_counts(rng, &mut pixels);
        detector(rng, &mut pixels, &p.detector);
    }

    Sample {
        image: Image::from_vec(w, h, Some(px), pixels),
        polymorph_map,
        carbon_map,
        columns: truth.columns,
        vacancies: truth.vacancies,
        distractors: truth.distractors,
        params: p.clone(),
        line_jitter_px,
    }
}

/// What the specimen holds, for depositing its atoms: the parameters, the regions
/// (polymorphs, holes), the column response and the specimen rectangle (Å) that maps
/// into the canvas.
struct Specimen<'a> {
    p: &'a SimParams,
    regions: &'a Regions,
    response: &'a Response,
    smin: [f64; 2],
    smax: [f64; 2],
}

/// The truth the lattice leaves: columns, vacancies and other defects inside the image.
struct LatticeTruth {
    columns: Vec<ColumnTruth>,
    vacancies: Vec<VacancyTruth>,
    distractors: Vec<DistractorTruth>,
}

impl Specimen<'_> {
    /// Detected electrons per Å² of column signal (the response's unit).
    fn electrons(&self) -> f64 {
        self.p.dose_e_per_angstrom2 * self.p.detector_efficiency
    }

    /// The drawn contrast factor of an element's role.
    fn jitter(&self, element: Element) -> f64 {
        match element {
            Element::Mo => self.p.contrast_jitter[0],
            Element::S => self.p.contrast_jitter[1],
            Element::C => 1.0,
        }
    }

    /// Detected electrons from one atom of `element` alone in its column.
    fn weight(&self, element: Element) -> f32 {
        let sigma = self.response.sigma(self.p.chemistry, element);
        (self.electrons() * sigma * self.jitter(element)) as f32
    }

    fn inside(&self, x: f64, y: f64) -> bool {
        let (w, h) = (self.p.width, self.p.height);
        x >= -0.5 && y >= -0.5 && x < w as f64 - 0.5 && y < h as f64 - 0.5
    }

    /// Every column of every polymorph region, with its vacancies drawn, deposited on
    /// the canvas where the scan puts it.
    fn deposit_lattice<R: Rng>(&self, rng: &mut R, canvas: &mut Canvas) -> LatticeTruth {
        let (p, smin, smax) = (self.p, self.smin, self.smax);
        let px = p.pixel_size_angstrom;
        let lattice = Lattice::new(
            p.lattice_a_angstrom,
            p.strain,
            p.rotation_deg,
            p.origin_angstrom,
        );
        let mut truth = LatticeTruth {
            columns: Vec::new(),
            vacancies: Vec::new(),
            distractors: Vec::new(),
        };
        let tables: Vec<[Vec<(Element, f64)>; 3]> = Polymorph::ALL
            .iter()
            .map(|poly| Site::ALL.map(|s| poly.column(s)))
            .collect();
        let (irange, jrange) = lattice.cell_range(smin, smax);
        for i in irange {
            for j in jrange.clone() {
                for (si, site) in Site::ALL.iter().enumerate() {
                    let pos = lattice.site_position(i, j, *site);
                    if pos[0] < smin[0] || pos[1] < smin[1] || pos[0] > smax[0] || pos[1] > smax[1]
                    {
                        continue;
                    }
                    let Some(poly) = self.regions.polymorph_at(pos[0], pos[1]) else {
                        continue;
                    };
                    let nominal = &tables[poly.class_index() as usize - 1][si];
                    if nominal.is_empty() {
                        continue;
                    }
                    let (x, y) = p.scan.pixel_of_specimen(pos[0] / px, pos[1] / px);
                    let atoms = self.draw_column(rng, poly, *site, nominal, (x, y), &mut truth);
                    self.deposit_column(canvas, &atoms, poly.layers(), (x, y));
                }
            }
        }
        truth
    }

    /// The atoms a nominal column keeps after its vacancies are drawn (VS1/VS2 on
    /// 2H-1L chalcogen sites, missing metals on monolayer metal sites), with the truth
    /// recorded for positions inside the image.
    fn draw_column<R: Rng>(
        &self,
        rng: &mut R,
        poly: Polymorph,
        site: Site,
        nominal: &[(Element, f64)],
        (x, y): (f64, f64),
        truth: &mut LatticeTruth,
    ) -> Vec<(Element, f64)> {
        let p = self.p;
        let mut atoms = nominal.to_vec();
        let mut vacancy = None;
        if poly == Polymorph::H2Mono && site == Site::B {
            let u: f64 = rng.gen();
            if u < p.vs2_fraction {
                atoms.clear();
                vacancy = Some(VacancyKind::VS2);
            } else if u < p.vs1_fraction + p.vs2_fraction {
                atoms.remove(rng.gen_range(0..2));
                vacancy = Some(VacancyKind::VS1);
            }
        }
        if matches!(poly, Polymorph::H2Mono | Polymorph::T1)
            && site == Site::A
            && p.mo_vacancy_fraction > 0.0
            && rng.gen::<f64>() < p.mo_vacancy_fraction
        {
            atoms.clear();
            if self.inside(x, y) {
                truth.distractors.push(DistractorTruth {
                    x,
                    y,
                    kind: DistractorKind::MetalVacancy,
                });
            }
        }
        if self.inside(x, y) {
            if let Some(kind) = vacancy {
                truth.vacancies.push(VacancyTruth { x, y, kind });
            }
            if !atoms.is_empty() {
                let content = Column::of(&atoms);
                truth.columns.push(ColumnTruth {
                    x,
                    y,
                    site: content,
                    nominal_site: Column::of(nominal),
                    polymorph: poly,
                    sublattice: Some(site),
                    layers: poly.layers(),
                    metal: content.role() == Role::Metal,
                });
            }
        }
        atoms
    }

    /// One column's atoms on the canvas at (x, y): the sum of its atoms' signals times
    /// the gain of its content in beam order (channelling along the column).
    fn deposit_column(
        &self,
        canvas: &mut Canvas,
        atoms: &[(Element, f64)],
        layers: usize,
        (x, y): (f64, f64),
    ) {
        if atoms.is_empty() {
            return;
        }
        let chemistry = self.p.chemistry;
        let sum: f64 = atoms
            .iter()
            .map(|&(e, _)| self.response.sigma(chemistry, e) * self.jitter(e))
            .sum();
        let gain = self
            .response
            .gain(chemistry, atoms, layers, self.p.specimen_flipped);
        canvas.deposit(x, y, (self.electrons() * sum * gain) as f32);
    }

    /// Adatoms on top of the film at random positions over the material.
    fn deposit_adatoms<R: Rng>(
        &self,
        rng: &mut R,
        canvas: &mut Canvas,
        distractors: &mut Vec<DistractorTruth>,
    ) {
        let (p, smin, smax) = (self.p, self.smin, self.smax);
        if p.adatoms_per_nm2 <= 0.0 {
            return;
        }
        let px = p.pixel_size_angstrom;
        let area_nm2 = (smax[0] - smin[0]) * (smax[1] - smin[1]) / 100.0;
        let n = Poisson::new(p.adatoms_per_nm2 * area_nm2)
            .map(|d| d.sample(rng) as usize)
            .unwrap_or(0);
        for _ in 0..n {
            let sx = rng.gen_range(smin[0]..smax[0]);
            let sy = rng.gen_range(smin[1]..smax[1]);
            let el = if rng.gen::<f64>() < 0.3 {
                Element::Mo
            } else {
                Element::S
            };
            if self.regions.class_at(sx, sy) == PolymorphClass::Vacuum {
                continue;
            }
            let (x, y) = p.scan.pixel_of_specimen(sx / px, sy / px);
            canvas.deposit(x, y, self.weight(el));
            if self.inside(x, y) {
                let role = Role::of_metal(el == Element::Mo);
                distractors.push(DistractorTruth {
                    x,
                    y,
                    kind: DistractorKind::Adatom(role),
                });
            }
        }
    }
}

/// The probe over the canvas, then each scan line read out where the (jittering)
/// probe really was: the image's pixels and the line offsets (px) in x and y.
fn scan<R: Rng>(
    p: &SimParams,
    response: &Response,
    rng: &mut R,
    mut canvas: Canvas,
) -> (Vec<f32>, (Vec<f64>, Vec<f64>)) {
    let px = p.pixel_size_angstrom;
    let (w, h) = (p.width, p.height);
    let fft = Fft2::get(canvas.h, canvas.w);
    let mut spec = fft.forward(&canvas.data);
    let otf = probe_transfer(&p.probe, canvas.h, canvas.w, px);
    for (s, o) in spec.iter_mut().zip(&otf) {
        *s *= o;
    }
    add_halo(&mut spec, &fft, px, response);
    canvas.data = fft.inverse(spec);
    // Round-off leaves tiny negative values in vacuum; counts cannot be negative.
    canvas.data.iter_mut().for_each(|v| *v = v.max(0.0));

    // The jitter's mean over the frame is a rigid shift of the whole image that no
    // image can reveal; the truth frame is the one in which it is zero.
    let zero_mean = |mut j: Vec<f64>| {
        let mean = j.iter().sum::<f64>() / j.len().max(1) as f64;
        j.iter_mut().for_each(|v| *v -= mean);
        j
    };
    let jx = zero_mean(jitter_offsets(rng, h, p.scan.jitter_x_angstrom / px));
    let jy = zero_mean(jitter_offsets(rng, h, p.scan.jitter_y_angstrom / px));
    let mut pixels = vec![0f32; w * h];
    for r in 0..h {
        for c in 0..w {
            pixels[r * w + c] = canvas.sample(c as f64 + jx[r], r as f64 + jy[r]);
        }
    }
    (pixels, (jx, jy))
}

/// Move the response's halo share of every atom's signal into a Gaussian: the diffuse
/// signal between columns that fills the hollow sites (or, for a negative share, the
/// weaker-than-Airy tails of a high-angle image).
fn add_halo(spec: &mut [rustfft::num_complex::Complex32], fft: &Fft2, px: f64, r: &Response) {
    let f = r.halo_fraction as f32;
    if f == 0.0 {
        return;
    }
    scale_by_gaussian(spec, fft, r.halo_sigma_angstrom / px, |g| 1.0 - f + f * g);
}

/// Carbon thickness (Å) on the padded canvas: a thin film plus patches, none in holes.
fn carbon_thickness<R: Rng>(
    p: &SimParams,
    rng: &mut R,
    canvas: &Canvas,
    regions: &Regions,
) -> Vec<f32> {
    let c = &p.carbon;
    let mut t = vec![0f32; canvas.w * canvas.h];
    if c.level <= 0.0 || (c.max_thickness_angstrom <= 0.0 && c.film_thickness_angstrom <= 0.0) {
        return t;
    }
    let px = p.pixel_size_angstrom;
    let m = canvas.margin as f64;
    let field = SmoothField::new(
        rng,
        [-m * px, -m * px],
        [(canvas.w as f64 - m) * px, (canvas.h as f64 - m) * px],
        c.correlation_angstrom,
        3,
    );
    let probe: Vec<f32> = (0..48)
        .flat_map(|j| (0..48).map(move |i| (i, j)))
        .map(|(i, j)| {
            field.eval(
                p.width as f64 * px * i as f64 / 48.0,
                p.height as f64 * px * j as f64 / 48.0,
            ) as f32
        })
        .collect();
    let thr = quantile(&probe, 1.0 - c.coverage) as f64;
    // The field varies over ≥ 4 Å, so evaluating it every STEP pixels and interpolating
    // bilinearly is exact to the eye and four times cheaper per axis.
    const STEP: usize = 4;
    let (gw, gh) = (canvas.w / STEP + 2, canvas.h / STEP + 2);
    let coarse: Vec<f64> = (0..gh)
        .flat_map(|j| (0..gw).map(move |i| (i, j)))
        .map(|(i, j)| {
            field.eval(
                (i * STEP) as f64 * px - m * px,
                (j * STEP) as f64 * px - m * px,
            )
        })
        .collect();
    // Holes go through the carbon too: 1 where there is film, 0 in a hole.
    let holes: Vec<f64> = if p.hole_fraction > 0.0 {
        (0..gh)
            .flat_map(|j| (0..gw).map(move |i| (i, j)))
            .map(|(i, j)| {
                let (sx, sy) = p
                    .scan
                    .specimen_of_pixel((i * STEP) as f64 - m, (j * STEP) as f64 - m);
                (regions.class_at(sx * px, sy * px) != PolymorphClass::Vacuum) as u8 as f64
            })
            .collect()
    } else {
        Vec::new()
    };
    for r in 0..canvas.h {
        let (j, fy) = (r / STEP, (r % STEP) as f64 / STEP as f64);
        for col in 0..canvas.w {
            let (i, fx) = (col / STEP, (col % STEP) as f64 / STEP as f64);
            let v = |ii: usize, jj: usize| coarse[jj * gw + ii];
            let value = (v(i, j) * (1.0 - fx) + v(i + 1, j) * fx) * (1.0 - fy)
                + (v(i, j + 1) * (1.0 - fx) + v(i + 1, j + 1) * fx) * fy;
            // Patch edges ramp over 0.2 field units, so thickness varies smoothly.
            let f = ((value - thr) / 0.2).clamp(0.0, 1.0);
            let patch = f * f * (3.0 - 2.0 * f);
            let thickness = c.film_thickness_angstrom + c.max_thickness_angstrom * patch;
            if thickness <= 0.0 {
                continue;
            }
            let film = if holes.is_empty() {
                1.0
            } else {
                let h = |ii: usize, jj: usize| holes[jj * gw + ii];
                (h(i, j) * (1.0 - fx) + h(i + 1, j) * fx) * (1.0 - fy)
                    + (h(i, j + 1) * (1.0 - fx) + h(i + 1, j + 1) * fx) * fy
            };
            t[r * canvas.w + col] = (thickness * film) as f32;
        }
    }
    t
}

/// Scatter individual carbon atoms with a density following the thickness map.
fn deposit_carbon<R: Rng>(
    p: &SimParams,
    rng: &mut R,
    canvas: &mut Canvas,
    thickness: &[f32],
    weight: f32,
) {
    let tmax = thickness.iter().cloned().fold(0f32, f32::max) as f64;
    if tmax <= 0.0 {
        return;
    }
    let px = p.pixel_size_angstrom;
    let total: f64 =
        thickness.iter().map(|&t| t as f64).sum::<f64>() * px * px * CARBON_ATOMS_PER_ANGSTROM3;
    let n = Poisson::new(total)
        .map(|d| d.sample(rng) as usize)
        .unwrap_or(0);
    let m = canvas.margin as f64;
    let mut placed = 0;
    while placed < n {
        // Rejection sampling: uniform pixel, accepted with probability t / t_max.
        let i = rng.gen_range(0..thickness.len());
        if (rng.gen::<f64>() * tmax) >= thickness[i] as f64 {
            continue;
        }
        let x = (i % canvas.w) as f64 - m + rng.gen::<f64>() - 0.5;
        let y = (i / canvas.w) as f64 - m + rng.gen::<f64>() - 0.5;
        canvas.deposit(x, y, weight);
        placed += 1;
    }
}

/// The field-of-view part of a padded canvas-shaped grid.
fn crop(grid: &[f32], stride: usize, w: usize, h: usize, margin: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(w * h);
    for r in 0..h {
        let start = (r + margin) * stride + margin;
        out.extend_from_slice(&grid[start..start + w]);
    }
    out
}

/// Slow background: a linear gradient plus a bowl, relative to the mean signal.
fn add_background(p: &SimParams, pixels: &mut [f32], w: usize, h: usize) {
    let b = &p.background;
    if b.amplitude == 0.0 && b.curvature == 0.0 {
        return;
    }
    let mean = pixels.iter().map(|&v| v as f64).sum::<f64>() / pixels.len() as f64;
    let (s, c) = b.angle_rad.sin_cos();
    for r in 0..h {
        let v = r as f64 / h as f64 - 0.5;
        for col in 0..w {
            let u = col as f64 / w as f64 - 0.5;
            let g = b.amplitude * (u * c + v * s) + b.curvature * (u * u + v * v);
            let px = &mut pixels[r * w + col];
            *px = (*px as f64 + mean * g).max(0.0) as f32;
        }
    }
}
