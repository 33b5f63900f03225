//! One folder scored: its truth and the engine's analysis in the geometry both are
//! scored in (columns, vacancies, densities, maps).

use crate::analysis::{Analysis, Analyzer, Options, EDGE_MARGIN_A, HOLE_MARGIN_A};
use crate::crystal::{Column, PolymorphClass, Role, VacancyKind};
use crate::error::{Error, Result};
use crate::io::read_image;
use crate::sim::SimParams;
use std::path::Path;

use super::matching::*;
use super::tally::*;
use super::truth::*;

/// True carbon thickness from which a pixel counts as contaminated.
pub const CARBON_TRUTH_THRESHOLD_A: f64 = 3.0;

/// One folder's truth and the tool's analysis of it, with the geometry both are scored
/// in: the pixel a point falls on, the border and hole-rim bands left out, and the area
/// the report counts in.
pub(super) struct Scene<'a> {
    pub(super) truth: &'a Truth,
    pub(super) analysis: &'a Analysis,
    pub(super) w: usize,
    pub(super) h: usize,
    pub(super) px: f64,
    /// True polymorph class per pixel (0 = vacuum).
    pub(super) true_classes: Vec<u8>,
    /// True carbon thickness per pixel (Å).
    pub(super) carbon: Vec<f32>,
    /// Match radius in pixels.
    pub(super) radius: f64,
    /// Within `HOLE_MARGIN_A` of true vacuum.
    pub(super) near_hole: Vec<bool>,
    /// The border band of vacancies, in pixels.
    pub(super) edge: f64,
    /// Whether the report leaves contaminated areas out.
    pub(super) filtered: bool,
}

impl Scene<'_> {
    /// The pixel a point falls on, for reading per-pixel maps at it.
    pub(super) fn pixel(&self, x: f64, y: f64) -> usize {
        let c = (x.round().max(0.0) as usize).min(self.w - 1);
        let r = (y.round().max(0.0) as usize).min(self.h - 1);
        r * self.w + c
    }

    pub(super) fn clean(&self, x: f64, y: f64) -> bool {
        (self.carbon[self.pixel(x, y)] as f64) < CARBON_TRUTH_THRESHOLD_A
    }

    pub(super) fn away_from_border(&self, margin: f64, x: f64, y: f64) -> bool {
        x >= margin
            && y >= margin
            && x <= self.w as f64 - 1.0 - margin
            && y <= self.h as f64 - 1.0 - margin
    }

    /// Points within half a match radius of the border are left out on both sides:
    /// a column cut by the edge is neither a fair miss nor a fair hit.
    pub(super) fn inside(&self, x: f64, y: f64) -> bool {
        self.away_from_border(0.5 * self.radius, x, y)
    }

    /// Where vacancies are scored: away from the border band and from hole rims.
    pub(super) fn inside_vacancy_scope(&self, x: f64, y: f64) -> bool {
        self.away_from_border(self.edge, x, y) && !self.near_hole[self.pixel(x, y)]
    }

    /// Whether the tool's contamination call leaves pixel `i` out.
    pub(super) fn excluded(&self, i: usize) -> bool {
        crate::analysis::carbon::Call::excluded_code(self.analysis.contamination[i])
    }

    /// The area the report counts in: where the tool's own contamination call keeps it.
    pub(super) fn analyzed(&self, x: f64, y: f64) -> bool {
        !self.filtered || !self.excluded(self.pixel(x, y))
    }
}

/// Scores one folder; also returns the analysis so callers can write it out.
pub(super) fn eval_one(
    analyzer: &Analyzer,
    dir: &Path,
    options: &Options,
) -> Result<(Tally, SimParams, f64, Analysis)> {
    let truth = Truth::read(&dir.join("truth.json"))?;
    let loaded = read_image(&dir.join("image.tif"))?;
    let image = &loaded.frames[0];
    let px = truth.pixel_size_angstrom;
    let analysis = analyzer.analyze(image, px, &Default::default(), options, &|_, _| true)?;
    let (w, h) = (truth.width, truth.height);
    let (pw, ph, true_classes) = read_u8_map(&dir.join("polymorph.tif"))?;
    let carbon = read_image(&dir.join("carbon.tif"))?.frames.remove(0);
    if (pw, ph) != (w, h) || (carbon.width, carbon.height) != (w, h) || image.width != w {
        return Err(Error::decode(dir, "image, truth and maps differ in size"));
    }
    let radius = MATCH_RADIUS_A / px;
    // The report leaves out vacancies within EDGE_MARGIN_A of the border (a column cut
    // by it looks dimmer than it is). Truths there are not scored; the engine's finds
    // there still match (a guard band): a true vacancy 1.05 Å from the border found at
    // 0.98 Å is found, and a find at 1.05 Å of a truth at 0.98 Å is no false one. Found
    // positions scatter by about 0.1 Å there, so a hard cut on both sides cost about 1 %
    // of recall on 160 2H-1L tuning images with no miss behind it.
    // The same for the rims of holes (true vacuum within HOLE_MARGIN_A), where the
    // report calls none either: a missing column there is part of the hole's edge.
    let vacuum: Vec<bool> = true_classes.iter().map(|&c| c == 0).collect();
    let margin = HOLE_MARGIN_A / px;
    let near_hole: Vec<bool> = crate::math::distance::squared_distance(&vacuum, w, h)
        .into_iter()
        .map(|d2| d2 < margin * margin)
        .collect();
    let scene = Scene {
        truth: &truth,
        analysis: &analysis,
        w,
        h,
        px,
        true_classes,
        carbon: carbon.data,
        radius,
        near_hole,
        edge: (EDGE_MARGIN_A / px).max(0.5 * radius),
        filtered: options.carbon_filter && options.tasks.carbon,
    };
    let mut tally = Tally {
        images: 1,
        time_ms: analysis
            .report
            .timing_ms
            .get("total")
            .copied()
            .unwrap_or(0.0),
        ..Default::default()
    };
    score_columns(&scene, &mut tally);
    score_vacancies(&scene, &mut tally);
    tally.density = score_densities(&scene);
    score_maps(&scene, &mut tally);
    drop(scene);
    Ok((tally, truth.params, px, analysis))
}

/// Columns: matched one to one within the match radius; position errors overall, by
/// true site, in truly clean areas, for the other refinement and with the frame's mean
/// offset removed.
pub(super) fn score_columns(s: &Scene, tally: &mut Tally) {
    let (truth, analysis, px) = (s.truth, s.analysis, s.px);
    let t_kept: Vec<_> = truth
        .columns
        .iter()
        .filter(|c| c.site != Column::EMPTY && s.inside(c.x, c.y))
        .collect();
    let t_cols: Vec<(f64, f64)> = t_kept.iter().map(|c| (c.x, c.y)).collect();
    let atoms: Vec<usize> = (0..analysis.report.atoms.len())
        .filter(|&i| {
            let a = &analysis.report.atoms[i];
            s.inside(a.x, a.y)
        })
        .collect();
    let p_cols: Vec<(f64, f64)> = atoms
        .iter()
        .map(|&i| (analysis.report.atoms[i].x, analysis.report.atoms[i].y))
        .collect();
    let (tp, fp, fn_, sq, matched) = match_points(&p_cols, &t_cols, s.radius);
    for &(i, j) in &matched {
        let d2 =
            ((p_cols[i].0 - t_cols[j].0).powi(2) + (p_cols[i].1 - t_cols[j].1).powi(2)) * px * px;
        let e = tally.atoms_by_site.entry(t_kept[j].site).or_default();
        e.0 += d2;
        e.1 += 1;
        if s.clean(t_cols[j].0, t_cols[j].1) {
            tally.atoms_clean.0 += d2;
            tally.atoms_clean.1 += 1;
        }
    }
    let sq_alt: f64 = matched
        .iter()
        .map(|&(i, j)| {
            let (ax, ay) = analysis.alt_positions[atoms[i]];
            (ax - t_cols[j].0).powi(2) + (ay - t_cols[j].1).powi(2)
        })
        .sum();
    tally.atoms = PointCounts {
        tp,
        fp,
        fn_,
        sq_err_a2: sq * px * px,
        sq_err_alt_a2: sq_alt * px * px,
        sq_err_x_a2: matched
            .iter()
            .map(|&(i, j)| (p_cols[i].0 - t_cols[j].0).powi(2))
            .sum::<f64>()
            * px
            * px,
        sq_err_registered_a2: {
            let n = matched.len().max(1) as f64;
            let (mx, my) = matched.iter().fold((0.0, 0.0), |(sx, sy), &(i, j)| {
                (
                    sx + p_cols[i].0 - t_cols[j].0,
                    sy + p_cols[i].1 - t_cols[j].1,
                )
            });
            (sq - (mx * mx + my * my) / n).max(0.0) * px * px
        },
    };
}

/// VS1 and VS2, each over all areas, truly clean ones and the area the report counts in.
pub(super) fn score_vacancies(s: &Scene, tally: &mut Tally) {
    let px = s.px;
    for kind in VacancyKind::ALL {
        let t: Vec<(f64, f64)> = s
            .truth
            .vacancies
            .iter()
            .filter(|v| v.kind == kind)
            .map(|v| (v.x, v.y))
            .collect();
        let p: Vec<(f64, f64)> = s
            .analysis
            .report
            .vacancies
            .iter()
            .chain(&s.analysis.edge_vacancies)
            .filter(|v| v.kind == kind)
            .map(|v| (v.x, v.y))
            .collect();
        let everywhere = |_: f64, _: f64| true;
        let clean = |x: f64, y: f64| s.clean(x, y);
        let analyzed = |x: f64, y: f64| s.analyzed(x, y);
        let areas: [&dyn Fn(f64, f64) -> bool; 3] = [&everywhere, &clean, &analyzed];
        let counts = areas.map(|keep| {
            let scope = |x: f64, y: f64| s.inside_vacancy_scope(x, y) && keep(x, y);
            let (tp, fp, fn_, sq, sq_x) = match_in_scope(&p, &t, s.radius, scope);
            PointCounts {
                tp,
                fp,
                fn_,
                sq_err_a2: sq * px * px,
                sq_err_alt_a2: 0.0,
                sq_err_x_a2: sq_x * px * px,
                sq_err_registered_a2: 0.0,
            }
        });
        match kind {
            VacancyKind::VS1 => [tally.vs1, tally.vs1_clean, tally.vs1_analyzed] = counts,
            VacancyKind::VS2 => [tally.vs2, tally.vs2_clean, tally.vs2_analyzed] = counts,
        }
    }
}

/// Vacancy densities in the monolayer, where vacancies live: the report's calls and
/// chalcogen columns in the area it counts (its summary's rule, restricted to the
/// columns it places in 2H-1L) against the truth's over the whole image.
pub(super) fn score_densities(s: &Scene) -> DensityCounts {
    let report = &s.analysis.report;
    let counted_calls = |kind: VacancyKind| {
        report
            .vacancies
            .iter()
            .filter(|v| v.kind == kind && !v.in_contaminated_area)
            .count() as u64
    };
    let counted_columns = report
        .atoms
        .iter()
        .zip(&s.analysis.counted_atoms)
        .filter(|(a, &counted)| {
            counted && a.polymorph == MONOLAYER && a.site.role() == Role::Chalcogen
        })
        .count() as u64;
    let true_vacancies = |kind: VacancyKind| {
        s.truth
            .vacancies
            .iter()
            .filter(|v| v.kind == kind && s.inside_vacancy_scope(v.x, v.y))
            .count() as u64
    };
    let true_columns = s
        .truth
        .columns
        .iter()
        .filter(|c| {
            c.polymorph == MONOLAYER
                && c.nominal_site.role() == Role::Chalcogen
                && s.inside_vacancy_scope(c.x, c.y)
        })
        .count() as u64;
    // A VS2 leaves no column behind, so its site is added to the columns.
    DensityCounts {
        report_vs1: counted_calls(VacancyKind::VS1),
        report_vs2: counted_calls(VacancyKind::VS2),
        report_sites: counted_columns + counted_calls(VacancyKind::VS2),
        truth_vs1: true_vacancies(VacancyKind::VS1),
        truth_vs2: true_vacancies(VacancyKind::VS2),
        truth_sites: true_columns + true_vacancies(VacancyKind::VS2),
    }
}

/// The maps pixel by pixel: carbon thickness error and the contamination call's overlap
/// with true carbon, the kept share of the material, and the polymorph confusion.
pub(super) fn score_maps(s: &Scene, tally: &mut Tally) {
    let carbon = &s.analysis.report.carbon;
    let scale = carbon.scale_angstrom;
    // A head that estimates the carbon above the uniform film is scored against that.
    let film = if carbon.above_film {
        s.truth.params.carbon.film_thickness_angstrom
    } else {
        0.0
    };
    let pixels = s
        .true_classes
        .iter()
        .zip(&s.analysis.polymorph_map)
        .zip(s.carbon.iter().zip(&s.analysis.carbon_map))
        .enumerate();
    for (i, ((&t, &p), (&tc, &pc))) in pixels {
        let (t, p) = (t as usize, p as usize);
        let total = tc as f64;
        let (tc, pc_raw) = ((total - film).max(0.0), pc as f64);
        let pc = pc_raw * scale;
        tally.carbon_abs_err_sum_a += (pc - tc.min(scale)).abs();
        tally.carbon_pixels += 1;
        let pd = s.excluded(i);
        let scored_dirty = tc >= CARBON_TRUTH_THRESHOLD_A;
        tally.carbon_intersection += (scored_dirty && pd) as u64;
        tally.carbon_union += (scored_dirty || pd) as u64;
        // "Clean" for polymorph scoring stays the whole thickness, as for vacancies.
        let td = total >= CARBON_TRUTH_THRESHOLD_A;
        if t == 0 || t >= PolymorphClass::COUNT {
            continue;
        }
        tally.material_pixels += 1;
        tally.kept_pixels += (!s.filtered || !pd) as u64;
        let p = p.min(PolymorphClass::COUNT - 1);
        tally.confusion[t][p] += 1;
        if !td {
            tally.confusion_clean[t][p] += 1;
        }
    }
}
