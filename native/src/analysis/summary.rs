//! The report's counts and areas (sites, vacancies, analyzed and excluded nm²), the
//! intensity histograms, and the report itself assembled from the stages' findings.

use super::carbon;
use super::columns::corrects_scan_lines;
use super::frame::*;
use super::intensity;
use super::maps::*;
use super::plausibility;
use super::polymorph;
use super::scope::*;
use super::source::Source;
use crate::crystal::{ChemistrySource, PolymorphClass, VacancyKind};
use crate::findings::*;
use crate::nn::tiling::TilePlan;
use std::collections::BTreeMap;

/// Areas and fractions on the model grid, in model pixels (each model_px² Å²).
pub(super) struct Areas {
    /// Plane size, material (not vacuum) and contaminated material.
    pub(super) plane: usize,
    pub(super) material: usize,
    pub(super) material_dirty: usize,
    /// Material the map flags but the hollows clear, and material with no hollows to check.
    pub(super) cleared: usize,
    pub(super) unchecked: usize,
    /// Material the carbon map flags, and material left out by the signal excess alone.
    pub(super) map_flagged: usize,
    pub(super) signal: usize,
    /// Material left out of the statistics.
    pub(super) excluded: usize,
    /// Clean material inside the border band and away from vacuum.
    pub(super) counted: usize,
    pub(super) fractions: BTreeMap<String, f64>,
    pub(super) fractions_clean: BTreeMap<String, f64>,
}

impl Areas {
    /// `n` as a share of the material.
    pub(super) fn of_material(&self, n: usize) -> f64 {
        if self.material > 0 {
            n as f64 / self.material as f64
        } else {
            0.0
        }
    }
}

/// Material, contaminated and counted areas on the model grid, and the polymorph
/// fractions over all and over clean material.
pub(super) fn material_areas(
    f: &Frame,
    polymorphs: &PolymorphMap,
    dirt: &Contamination,
    interior: &Interior,
) -> Areas {
    let (classes, dirty, calls) = (&polymorphs.classes, &dirt.dirty, &dirt.calls);
    let (plane, filter, gw) = (f.plane(), f.filter(), f.gw);
    let material = classes.iter().filter(|&&c| c != 0).count();
    let material_dirty = (0..plane).filter(|&i| classes[i] != 0 && dirty[i]).count();
    let material_with = |call: carbon::Call| {
        (0..plane)
            .filter(|&i| classes[i] != 0 && calls[i] == call)
            .count()
    };
    // The summary's sites and area leave out the border band, as the vacancies do.
    let counted = (0..plane)
        .filter(|&i| {
            let (x, y) = f.grid.to_input((i % gw) as f64, (i / gw) as f64);
            classes[i] != 0 && !(filter && dirty[i]) && interior.contains(f, x, y)
        })
        .count();
    Areas {
        plane,
        material,
        material_dirty,
        cleared: material_with(carbon::Call::Cleared),
        unchecked: material_with(carbon::Call::Unchecked),
        map_flagged: dirt.map_material,
        signal: material_with(carbon::Call::Signal),
        excluded: if filter { material_dirty } else { 0 },
        counted,
        fractions: polymorph::fractions(classes, |_| true),
        fractions_clean: polymorph::fractions(classes, |i| !(filter && dirty[i])),
    }
}

/// Summary over clean material, and per atom whether it counts.
pub(super) fn count_summary(
    f: &Frame,
    atoms: &[Atom],
    vacancies: &[Vacancy],
    areas: &Areas,
    interior: &Interior,
) -> (Summary, Vec<bool>) {
    let px_nm2 = (f.model_px() / 10.0).powi(2);
    let counted_atoms: Vec<bool> = atoms
        .iter()
        .map(|a| !a.in_contaminated_area && interior.contains(f, a.x, a.y))
        .collect();
    let clean_atoms = atoms
        .iter()
        .zip(&counted_atoms)
        .filter_map(|(a, &counted)| counted.then_some(a));
    let (mut n_mo, mut n_chalcogen) = (0usize, 0usize);
    // A stacked column (2H-2L, 2H-3L, 3R) holds a metal of one layer and the chalcogen pair
    // of another: it is a metal site and a chalcogen site.
    for a in clean_atoms {
        n_mo += usize::from(a.site.metals > 0);
        n_chalcogen += usize::from(a.site.chalcogens > 0);
    }
    let counted = |kind: VacancyKind| {
        vacancies
            .iter()
            .filter(|v| !v.in_contaminated_area && v.kind == kind)
            .count()
    };
    let (n_vs1, n_vs2) = (counted(VacancyKind::VS1), counted(VacancyKind::VS2));
    // A VS2 site has no column left, so it adds to the detected chalcogen columns.
    let n_s2_sites = n_chalcogen + n_vs2;
    let per_site = |n: usize| {
        if n_s2_sites > 0 {
            n as f64 / n_s2_sites as f64
        } else {
            0.0
        }
    };
    let analyzed = areas.counted as f64 * px_nm2;
    let summary = Summary {
        n_mo,
        n_s2_sites,
        n_vs1,
        n_vs2,
        vs_per_s2_site: per_site(n_vs1 + n_vs2),
        missing_s_per_s2_site: per_site(n_vs1 + 2 * n_vs2),
        vacancies_per_nm2: if analyzed > 0.0 {
            (n_vs1 + n_vs2) as f64 / analyzed
        } else {
            0.0
        },
        analyzed_area_nm2: analyzed,
        excluded_area_nm2: areas.excluded as f64 * px_nm2,
        n_vacancies_excluded: vacancies.iter().filter(|v| v.in_contaminated_area).count(),
    };
    (summary, counted_atoms)
}

/// What the stages found, for the report.
pub(super) struct Findings {
    pub(super) lattice: LatticeCheck,
    pub(super) atoms: Vec<Atom>,
    pub(super) vacancies: Vec<Vacancy>,
    pub(super) summary: Summary,
    pub(super) histogram: IntensityHistogram,
    /// The 2H layer count read from the absolute signal, when the dose was given.
    pub(super) layer_count: Option<LayerCount>,
    /// The 2H areas shown to be monolayers by their vacancies' depth.
    pub(super) vacancy_depth: Option<VacancyDepth>,
    /// How the 2H classes' two column kinds compare, against the simulator.
    pub(super) column_contrast: Vec<ColumnContrast>,
    pub(super) warnings: Vec<String>,
}

/// The report: the image and where it came from, the findings, the settings they were
/// made with, the plausibility warnings read from the finished report, then what the
/// file's reader said.
pub(super) fn build_report(
    f: &Frame,
    plan: &TilePlan,
    found: Findings,
    areas: &Areas,
    dirt: &Contamination,
    source: &Source,
    timing: BTreeMap<String, f64>,
) -> Report {
    let (options, card) = (f.options, f.card);
    let filter = f.filter();
    let chemistry = f.chemistry();
    let carbon_card = card.heads.get("carbon");
    let scale = carbon_card.and_then(|h| h.scale_angstrom).unwrap_or(10.0);
    let (held, third_sites) = (dirt.held_third_sites, dirt.third_sites);
    let mut report = Report {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        models: vec![ModelRef {
            name: card.name.clone(),
            sha256: card.sha256.clone(),
        }],
        image: ImageInfo {
            path: source.path.clone(),
            width: f.w,
            height: f.h,
            pixel_size_angstrom: f.pixel_size,
            pixel_size_source: source.pixel_size_source,
            frame: source.frame,
            frames: source.frames,
            acquisition: source.acquisition.clone(),
        },
        lattice: found.lattice,
        chemistry: crate::findings::ChemistryInfo {
            name: chemistry,
            source: ChemistrySource::of(options.chemistry),
        },
        atoms: kept(options.tasks.atoms, found.atoms),
        vacancies: kept(options.tasks.vacancies, found.vacancies),
        polymorph: PolymorphSummary {
            classes: PolymorphClass::names(),
            fractions: if options.tasks.polymorph {
                areas.fractions.clone()
            } else {
                BTreeMap::new()
            },
            fractions_clean: if options.tasks.polymorph {
                areas.fractions_clean.clone()
            } else {
                BTreeMap::new()
            },
            vacuum_fraction: (areas.plane - areas.material) as f64 / areas.plane.max(1) as f64,
            hollow_occupancy: (third_sites > 0).then(|| held as f64 / third_sites as f64),
            third_sites,
            layer_count: found.layer_count,
            vacancy_depth: found.vacancy_depth,
            column_contrast: found.column_contrast,
        },
        carbon: CarbonSummary {
            contaminated_fraction: areas.of_material(areas.material_dirty),
            threshold: options.carbon_threshold,
            scale_angstrom: scale,
            above_film: carbon_card.is_some_and(|h| h.above_film),
            filter_applied: filter,
            map_fraction: areas.of_material(areas.map_flagged),
            signal_excess_fraction: areas.of_material(areas.signal),
            cleared_by_hollows_fraction: areas.of_material(areas.cleared),
            unchecked_fraction: areas.of_material(areas.unchecked),
            hollow_sites: dirt.hollow_sites,
            hollow_excess_median: {
                let mut finite: Vec<f64> = dirt
                    .local_excess
                    .iter()
                    .zip(&dirt.local_count)
                    .filter(|(e, &c)| e.is_finite() && c >= carbon::HOLLOW_MIN_COUNT)
                    .map(|(&e, _)| e as f64)
                    .collect();
                (!finite.is_empty()).then(|| intensity::median(&mut finite))
            },
            hollow_clean_excess: carbon::HOLLOW_CLEAN_EXCESS,
            trough_sites: dirt.trough_sites,
            trough_clean_excess: carbon::TROUGH_CLEAN_EXCESS,
        },
        summary: found.summary,
        intensity_histogram: found.histogram,
        settings: Settings {
            tasks: options.tasks.names(),
            model_pixel_size_angstrom: card.pixel_size_angstrom,
            tile: plan.tile,
            halo: plan.halo,
            tiles: plan.cores.len(),
            atom_threshold: options.atom_threshold as f64,
            vacancy_threshold: options.vacancy_threshold as f64,
            carbon_threshold: options.carbon_threshold,
            carbon_filter: filter,
            hollow_check: options.hollow_check,
            refinement: options.refinement.name().to_string(),
            line_correction: corrects_scan_lines(options),
            polymorph_smoothing_angstrom: options.polymorph_smoothing_a.max(0.0),
            carbon_smoothing_angstrom: options.carbon_smoothing_a.max(0.0),
            views: options.views,
            polymorphs: options.allowed_polymorphs(),
        },
        warnings: found.warnings,
        timing_ms: timing,
    };
    let doubts = plausibility::warnings(
        &report,
        plausibility::grey_levels(&f.image.data),
        options.chemistry,
    );
    report.warnings.extend(doubts);
    report
        .warnings
        .extend(source.reader_warnings.iter().cloned());
    report
}

pub(super) fn histograms(atoms: &[Atom], vacancies: &[Vacancy]) -> IntensityHistogram {
    const BINS: usize = 60;
    let (lo, hi) = (0.0, 6.0);
    let edges: Vec<f64> = (0..=BINS)
        .map(|i| lo + (hi - lo) * i as f64 / BINS as f64)
        .collect();
    let mut by_site: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for a in atoms.iter().filter(|a| !a.in_contaminated_area) {
        by_site
            .entry(a.site.name())
            .or_default()
            .push(a.normalized_intensity);
    }
    let mut by_vac: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for v in vacancies.iter().filter(|v| !v.in_contaminated_area) {
        by_vac
            .entry(v.kind.name().to_string())
            .or_default()
            .push(v.normalized_intensity);
    }
    let hist = |m: BTreeMap<String, Vec<f64>>| {
        m.into_iter()
            .map(|(k, v)| (k, intensity::histogram(&v, lo, hi, BINS)))
            .collect()
    };
    IntensityHistogram {
        edges,
        counts: hist(by_site),
        vacancy_counts: hist(by_vac),
    }
}
