//! The analysis pipeline: one calibrated image in, a [`Report`] and maps out.
//!
//! input grid → resample to the model pixel size → normalize → halo tiles →
//! network → (atoms, vacancies, polymorph, carbon) on the model grid → points
//! mapped back to the input grid → intensities measured on the input image →
//! statistics with contaminated areas excluded.

use crate::calibration;
use crate::carbon;
use crate::distance;
use crate::error::{Error, ErrorKind, Result};
use crate::hollow;
use crate::image::Image;
use crate::intensity;
use crate::lattice;
use crate::localize::{self, ColumnContent, Refinement};
use crate::neighbors::NeighborGrid;
use crate::network::{ModelCard, Network};
use crate::normalize::normalize;
use crate::plausibility;
use crate::polymorph;
use crate::report::*;
use crate::resample::{bilinear, Grid};
use crate::scanline;
use crate::sim::structure::POLYMORPH_CLASSES;
use crate::sim::Chemistry;
use crate::tiling::{self, HeadMap, Maps, TilePlan};
use crate::vacancy;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Accepted pixel sizes, Å/px: atomic resolution of MoS₂ needs < 0.5 Å/px;
/// below 0.03 Å/px a 64-px image holds less than one unit cell.
pub const PIXEL_SIZE_RANGE: (f64, f64) = (0.03, 0.5);
/// Smallest image side, in input pixels.
pub const MIN_SIDE: usize = 16;
/// Largest share of NaN/Inf pixels that is repaired (with a warning) rather than refused.
pub const MAX_BAD_PIXEL_FRACTION: f64 = 0.01;

/// What to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tasks {
    pub atoms: bool,
    pub vacancies: bool,
    pub polymorph: bool,
    pub carbon: bool,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks {
            atoms: true,
            vacancies: true,
            polymorph: true,
            carbon: true,
        }
    }
}

impl Tasks {
    /// Parses `atoms,vacancies,polymorph,carbon` (any subset, any order).
    pub fn parse(text: &str) -> Result<Tasks> {
        let mut t = Tasks {
            atoms: false,
            vacancies: false,
            polymorph: false,
            carbon: false,
        };
        for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match part {
                "atoms" => t.atoms = true,
                "vacancies" | "vacancy" => t.vacancies = true,
                "polymorph" | "polymorphs" => t.polymorph = true,
                "carbon" => t.carbon = true,
                other => {
                    return Err(Error::invalid(format!(
                        "unknown task '{other}' (choose from atoms,vacancies,polymorph,carbon)"
                    )))
                }
            }
        }
        Ok(t)
    }

    pub fn names(&self) -> Vec<String> {
        [
            (self.atoms, "atoms"),
            (self.vacancies, "vacancies"),
            (self.polymorph, "polymorph"),
            (self.carbon, "carbon"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n.to_string())
        .collect()
    }
}

/// Radius of the window a column's 2D Gaussian is fitted in: inside half the
/// Mo–S₂ projected distance (1.82 Å), so a neighbour adds little but a slope.
const GAUSSIAN_WINDOW_A: f64 = 0.85;
/// Part of a column measured per scan line: ±0.6 Å across (inside half the 1.82 Å
/// Mo–S₂ distance), ±0.4 Å along y (the probe core).
const LINE_HALF_WIDTH_A: f64 = 0.6;
const LINE_HALF_HEIGHT_A: f64 = 0.4;
/// Line offsets varying over more than this are drift, not jitter, and are kept
/// (3 Å kept part of the correlated jitter: RMSE 7.86 pm vs 7.62 pm at 10 Å).
const LINE_SMOOTH_A: f64 = 10.0;
/// Columns closer than this to the image border have part of their footprint (the
/// probe, ≈ 1 Å across) outside the image: no vacancy is called on them, and the
/// summary's site counts and analyzed area leave that band out.
pub const EDGE_MARGIN_A: f64 = 1.0;
/// Vacancies and columns this close to vacuum (a hole or the flake's edge, from the
/// polymorph map) are treated like those at the image border: a missing column on the
/// rim of a hole cannot be told from the hole (tuning images: true vacancies missed
/// 0.7–1.6 Å from vacuum). 1.0, 1.5 and 2.0 Å each lifted VS2 F1 in the kept area (60
/// mixed images, seed 600000: 0.974 → 1.000; 160 2H-1L, seed 610000: 0.988 → 0.991)
/// and left out 0.5 % of the vacancies; VS1 went 0.989 → 0.990 / 0.991 / 0.992.
pub const HOLE_MARGIN_A: f64 = 1.5;

/// The second-neighbour shell (around a = 3.16–3.29 Å) whose columns tell a metal site
/// from a chalcogen site (`vacancy::on_metal_site`, `vacancy::ring_contrast`).
const SECOND_SHELL_A: (f64, f64) = (2.7, 3.7);
/// The first-neighbour shell (a/√3 = 1.82–1.90 Å) that `vacancy::ring_contrast` sets
/// against the second.
const FIRST_SHELL_A: (f64, f64) = (1.3, 2.4);
/// How far from 1 a ring contrast (`vacancy::ring_contrast`) must read to name a site.
/// On 160 2H-1L MoS₂ tuning images (seed 610000) true VS2 read 0.34–1.08 and VS2 calls
/// on Mo vacancies 1.36–2.07; the atom head's labels had put 7 of those true VS2 (one
/// low-contrast image, thin carbon) on metal sites.
const RING_CONTRAST_MARGIN: f64 = 1.15;
/// Columns of each label the swapped-labels check needs.
const MIN_LABELLED_COLUMNS: usize = 20;
/// Said when the atom head's metal/chalcogen labels run against what the vacancies show.
const LABELS_SWAPPED_WARNING: &str = "the atom model's metal/chalcogen labels disagree \
     with the column brightness around the vacancies (as in MoSe2, where Se2 outshines Mo \
     and is labelled metal): Mo/S2 site labels, S2-site counts and normalized intensities \
     are likely swapped; vacancy calls are not affected";
/// Default polymorph smoothing: on 60 tuning images (seed 600000) the worst class went
/// 0.958 → 0.971 / 0.974 / 0.974 / 0.972 / 0.964 at 1 / 2 / 3 / 4 / 6 Å.
pub const POLYMORPH_SMOOTHING_A: f64 = 3.0;
/// Half-height of the band of columns whose lattice residuals measure one scan line's
/// slow displacement: about a column's footprint.
const SLOW_BAND_A: f64 = 0.5;
/// Index of 1T in the polymorph classes.
const ONE_T_CLASS: u8 = 6;
/// Starting width of that Gaussian: a ≈ 1 Å FWHM probe.
const PROBE_SIGMA_A: f64 = 0.42;
/// Window and starting width of the Gaussian fitted to a heatmap bump (the training
/// labels are Gaussians of σ 0.4 Å).
const HEATMAP_WINDOW_A: f64 = 0.7;
const HEATMAP_SIGMA_A: f64 = 0.4;

/// Tunable settings; the defaults are what `stemsight eval` was measured with.
#[derive(Debug, Clone)]
pub struct Options {
    pub tasks: Tasks,
    /// Leave contaminated areas out of the statistics.
    pub carbon_filter: bool,
    pub carbon_threshold: f64,
    /// Check the carbon map's call against the hollow sites' signal and keep flagged
    /// areas whose hollows are clean ([`carbon::Call::Cleared`]); off, the map alone
    /// decides.
    pub hollow_check: bool,
    /// The carbon map is averaged over about this many Å (σ) before it is thresholded
    /// and written (0: pixel by pixel).
    pub carbon_smoothing_a: f64,
    pub atom_threshold: f32,
    pub vacancy_threshold: f32,
    pub refinement: Refinement,
    /// Context kept around each tile's centre, in model pixels.
    pub halo: usize,
    /// Always run tiles in parallel with rayon. Otherwise chosen per image: over tiles
    /// when there are at least two per thread (4096²: 11.3 s vs 13.2 s inference), else
    /// one tile at a time with its convolutions split over the threads.
    pub parallel_tiles: bool,
    /// Force one tile size (multiple of 16) instead of choosing per image.
    pub tile: Option<usize>,
    /// Estimate and remove scan-line jitter from the columns themselves: fast x offsets
    /// line by line, slow x/y line displacements against the fitted crystal lattice.
    pub line_correction: bool,
    /// Polymorph probabilities are averaged over about this many Å before each pixel
    /// takes its most likely class (0: per pixel).
    pub polymorph_smoothing_a: f64,
    /// Symmetric views of each tile the network sees and whose outputs are averaged
    /// (1: the tile as it is; up to 8: every flip and transpose).
    pub views: usize,
    /// The TMD imaged, for the lattice-constant check of the calibration (MoS₂ assumed,
    /// and said so, when `None`).
    pub chemistry: Option<Chemistry>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tasks: Tasks::default(),
            carbon_filter: true,
            hollow_check: true,
            carbon_threshold: CARBON_THRESHOLD.default,
            carbon_smoothing_a: CARBON_SMOOTHING_A.default,
            atom_threshold: ATOM_THRESHOLD.default as f32,
            vacancy_threshold: VACANCY_THRESHOLD.default as f32,
            refinement: Refinement::Combined,
            halo: HALO.default as usize,
            parallel_tiles: false,
            tile: None,
            line_correction: true,
            polymorph_smoothing_a: POLYMORPH_SMOOTHING.default,
            views: VIEWS.default as usize,
            chemistry: None,
        }
    }
}

/// A numeric setting: its name as the CLI spells it, its key in the JNI options (and so
/// in the Java binding and the Fiji plugin), its default and the range it must lie in.
/// Defined once: [`Options::default`] and the CLI take their defaults from here, the
/// Java side reads them through JNI ([`settings`]), and every caller goes through
/// [`Options::validate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub name: &'static str,
    pub key: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    /// Why these bounds.
    pub why: &'static str,
}

impl Range {
    /// `Err` naming the setting and its range when `value` is outside it (or not finite).
    pub fn check(&self, value: f64) -> Result<()> {
        if value.is_finite() && value >= self.min && value <= self.max {
            return Ok(());
        }
        Err(Error::invalid(format!(
            "--{} {value} is outside {}–{} ({})",
            self.name, self.min, self.max, self.why
        )))
    }
}

/// Heatmap and probability levels: a level of 0 accepts every pixel and 1 none.
pub const ATOM_THRESHOLD: Range = Range {
    name: "atom-threshold",
    key: "atom_threshold",
    default: 0.35,
    min: 0.01,
    max: 0.99,
    why: "a heatmap level between 0 and 1",
};
pub const VACANCY_THRESHOLD: Range = Range {
    name: "vacancy-threshold",
    key: "vacancy_threshold",
    default: 0.5,
    min: 0.01,
    max: 0.99,
    why: "a probability between 0 and 1",
};
pub const CARBON_THRESHOLD: Range = Range {
    name: "carbon-threshold",
    key: "carbon_threshold",
    default: carbon::DEFAULT_THRESHOLD,
    min: 0.0,
    max: 1.0,
    why: "a carbon-map level, 0..1 × 10 Å",
};
/// Smoothing radii: beyond 20 Å (≈ 6 unit cells) a map no longer resolves a grain or
/// a contamination patch, and the box passes would cost time for nothing.
pub const CARBON_SMOOTHING_A: Range = Range {
    name: "carbon-smoothing",
    key: "carbon_smoothing_a",
    default: carbon::DEFAULT_SMOOTHING_A,
    min: 0.0,
    max: 20.0,
    why: "Å; wider averages no longer resolve a contamination patch",
};
pub const POLYMORPH_SMOOTHING: Range = Range {
    name: "polymorph-smoothing",
    key: "polymorph_smoothing_a",
    default: POLYMORPH_SMOOTHING_A,
    min: 0.0,
    max: 20.0,
    why: "Å; wider averages no longer resolve a grain",
};
/// Context around each tile centre in model pixels (0.2 Å): the network's receptive
/// field needs ≥ 8; 128 already triples the work of a 256 tile.
pub const HALO: Range = Range {
    name: "halo",
    key: "halo",
    default: 32.0,
    min: 8.0,
    max: 128.0,
    why: "model pixels of context around each tile",
};
pub const VIEWS: Range = Range {
    name: "views",
    key: "views",
    default: 1.0,
    min: 1.0,
    max: tiling::MAX_VIEWS as f64,
    why: "rotations and mirrors of a tile",
};
/// Every bounded setting, for documentation and for the test that each is enforced.
pub const RANGES: [Range; 7] = [
    ATOM_THRESHOLD,
    VACANCY_THRESHOLD,
    CARBON_THRESHOLD,
    CARBON_SMOOTHING_A,
    POLYMORPH_SMOOTHING,
    HALO,
    VIEWS,
];

/// Worker threads one process may ask for: more than a few per core only adds
/// scheduling, and rayon allocates a stack per thread.
pub fn threads_range() -> Range {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Range {
        name: "threads",
        key: "threads",
        default: cores as f64,
        min: 1.0,
        max: (4 * cores).min(1024) as f64,
        why: "up to four per core of this machine",
    }
}

/// Every setting with its default, as the JNI options name them, and the numeric ranges:
/// what the Java binding and the Fiji plugin read instead of keeping copies.
pub fn settings() -> serde_json::Value {
    let d = Options::default();
    let ranges: Vec<serde_json::Value> = RANGES
        .iter()
        .map(|r| {
            serde_json::json!({
                "key": r.key, "flag": r.name, "default": r.default,
                "min": r.min, "max": r.max, "why": r.why,
            })
        })
        .collect();
    serde_json::json!({
        "defaults": {
            "tasks": d.tasks.names().join(","),
            "carbon_filter": d.carbon_filter,
            "hollow_check": d.hollow_check,
            "carbon_threshold": d.carbon_threshold,
            "carbon_smoothing_a": d.carbon_smoothing_a,
            "atom_threshold": d.atom_threshold as f64,
            "vacancy_threshold": d.vacancy_threshold as f64,
            "refinement": d.refinement.name(),
            "halo": d.halo,
            "parallel_tiles": d.parallel_tiles,
            "line_correction": d.line_correction,
            "polymorph_smoothing_a": d.polymorph_smoothing_a,
            "views": d.views,
        },
        "ranges": ranges,
    })
}

impl Options {
    /// Refuses any setting outside its range before any work, naming it and the range.
    pub fn validate(&self) -> Result<()> {
        ATOM_THRESHOLD.check(self.atom_threshold as f64)?;
        VACANCY_THRESHOLD.check(self.vacancy_threshold as f64)?;
        CARBON_THRESHOLD.check(self.carbon_threshold)?;
        CARBON_SMOOTHING_A.check(self.carbon_smoothing_a)?;
        POLYMORPH_SMOOTHING.check(self.polymorph_smoothing_a)?;
        HALO.check(self.halo as f64)?;
        VIEWS.check(self.views as f64)?;
        if let Some(t) = self.tile {
            if t % 16 != 0 || !(64..=2048).contains(&t) {
                return Err(Error::invalid(format!(
                    "tile {t} must be a multiple of 16 from 64 to 2048 model pixels"
                )));
            }
        }
        if !(self.tasks.atoms || self.tasks.vacancies || self.tasks.polymorph || self.tasks.carbon)
        {
            return Err(Error::invalid(
                "no task chosen (choose from atoms,vacancies,polymorph,carbon)",
            ));
        }
        Ok(())
    }
}

/// Everything one analysis produces.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub report: Report,
    /// Polymorph class per input pixel (0 = vacuum, then `POLYMORPH_CLASSES`).
    pub polymorph_map: Vec<u8>,
    /// Probability of that class per input pixel (how sure the network is).
    pub polymorph_probability: Vec<f32>,
    /// Carbon map per input pixel (0..1; × scale = Å).
    pub carbon_map: Vec<f32>,
    /// The contamination call per input pixel ([`carbon::Call`] as u8): whether it is
    /// left out of the clean statistics, and why.
    pub contamination: Vec<u8>,
    /// The hollows' local excess signal per input pixel (`NaN` where the lattice shows
    /// too few hollows), what [`carbon::calls`] weighs against the map.
    pub hollow_excess: Vec<f32>,
    /// Each atom's position by the other sub-pixel refinement (for `stemsight eval`).
    pub alt_positions: Vec<(f64, f64)>,
    /// Vacancies found within `EDGE_MARGIN_A` of the border or `HOLE_MARGIN_A` of
    /// vacuum, which the report leaves out. `stemsight eval` still matches them: a
    /// vacancy just inside the band whose found position falls just outside it is a
    /// boundary effect, not a miss.
    pub edge_vacancies: Vec<Vacancy>,
    /// Per report atom: whether the summary counts it (clean, away from the border and
    /// from holes).
    pub counted_atoms: Vec<bool>,
    pub width: usize,
    pub height: usize,
}

/// A loaded model set, ready to analyze any number of images.
#[derive(Debug)]
pub struct Analyzer {
    pub network: Network,
}

/// Where the shipped models are when no directory is given: `STEMSIGHT_MODELS`,
/// else `models/` next to the repository the executable was built in, else `./models`.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STEMSIGHT_MODELS") {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            let candidate = dir.join("models");
            if candidate.join("README.md").is_file() && find_model_dir(&candidate).is_some() {
                return candidate;
            }
        }
    }
    PathBuf::from("models")
}

/// The first sub-directory (or the directory itself) holding a `model.json`.
fn find_model_dir(dir: &Path) -> Option<PathBuf> {
    if dir.join("model.json").is_file() {
        return Some(dir.to_path_buf());
    }
    let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.json").is_file())
        .collect();
    subs.sort();
    subs.into_iter().next()
}

impl Analyzer {
    /// Loads the model from `dir` (or its first sub-directory with a `model.json`).
    pub fn load(dir: &Path) -> Result<Analyzer> {
        let model_dir = find_model_dir(dir).ok_or_else(|| {
            Error::new(
                ErrorKind::Model,
                "no model found (expected model.json in this directory or a sub-directory; \
                 set --models or STEMSIGHT_MODELS)",
            )
            .with_path(dir)
        })?;
        Ok(Analyzer {
            network: Network::load(&model_dir)?,
        })
    }

    /// Moves inference to `device`; where CUDA cannot be used the analyzer stays on
    /// the CPU and the error says why (see `Network::use_device`).
    pub fn use_device(
        &mut self,
        device: crate::device::Device,
    ) -> std::result::Result<crate::device::DeviceInfo, String> {
        self.network.use_device(device)
    }

    /// Analyzes one image. `progress(done, total)` is called as tiles finish;
    /// returning `false` cancels with `ErrorKind::Cancelled`. The image is not modified.
    pub fn analyze(
        &self,
        image: &Image,
        pixel_size: f64,
        options: &Options,
        progress: &(dyn Fn(usize, usize) -> bool + Sync),
    ) -> Result<Analysis> {
        let t_start = Instant::now();
        let mut timing = BTreeMap::new();
        let mut warnings = Vec::new();
        options.validate()?;
        validate(image, pixel_size)?;
        let pixels = repair(&image.data, &mut warnings)?;
        let f = Frame::new(image, &pixels, pixel_size, &self.network.card, options);

        let lap = Instant::now();
        let resampled = f.grid.resample(&pixels);
        let input = normalize(&resampled, &f.card.input.normalization);
        timing.insert("resample_ms".to_string(), ms(lap));

        let lap = Instant::now();
        let plan = tile_plan(&f)?;
        let over_tiles =
            options.parallel_tiles || plan.cores.len() >= 2 * rayon::current_num_threads();
        let maps = tiling::run_tiled(
            &self.network,
            &input,
            &plan,
            over_tiles,
            options.views,
            progress,
        )?;
        timing.insert("inference_ms".to_string(), ms(lap));
        drop(input);
        // The stages after inference ask the caller again between them, so a cancel
        // takes effect within one stage (the longest, smoothing an 8192² map, ≈ 1 s).
        let tiles = plan.cores.len();
        let checkpoint = || -> Result<()> {
            if progress(tiles, tiles) {
                Ok(())
            } else {
                Err(Error::new(ErrorKind::Cancelled, "analysis cancelled"))
            }
        };

        let lap = Instant::now();
        let polymorphs = polymorph_map(&f, &maps)?;
        checkpoint()?;
        let carbon_maps = carbon_maps(&f, &maps)?;
        checkpoint()?;
        let measure = Measure::new(&f, &resampled);
        let atoms_head = model_head(&maps, "atoms")?;
        let peaks = locate_columns(&f, atoms_head);
        checkpoint()?;
        let located = refine_columns(&f, &peaks, atoms_head, &polymorphs, &carbon_maps);
        checkpoint()?;
        let line_correction = corrects_scan_lines(options);
        let located = correct_scan_lines(&f, located, line_correction);
        checkpoint()?;
        let positions = &located.positions;
        let dirt = contamination(&f, positions, &carbon_maps);
        let columns = column_intensities(&f, &peaks, positions, &polymorphs, &dirt, &measure);
        let atoms = build_atoms(&f, &peaks, positions, &columns);
        let points = vacancy_candidates(&f, &maps)?;
        // Every head has been read: the network's maps (13 planes on the model grid) go
        // before the maps on the input grid are made, which lowers the peak on big images.
        drop(maps);
        let interior = Interior::new(&f, &polymorphs);
        let points = drop_metal_site_calls(&f, points, positions, &columns, &mut warnings);
        let (vacancies, edge_vacancies) = find_vacancies(
            &f,
            &points,
            &columns,
            &measure,
            &dirt,
            &polymorphs,
            &interior,
        );
        let areas = material_areas(&f, &polymorphs, &dirt, &interior);
        let (summary, counted_atoms) = count_summary(&f, &atoms, &vacancies, &areas, &interior);
        let histogram = histograms(&atoms, &vacancies);
        timing.insert("analysis_ms".to_string(), ms(lap));

        let lap = Instant::now();
        let input_maps = maps_on_input_grid(&f, &polymorphs, &carbon_maps, &dirt);
        timing.insert("maps_ms".to_string(), ms(lap));

        // The calibration checked against the columns' lattice.
        let lattice = calibration::check(positions, pixel_size, options.chemistry);
        warnings.extend(lattice.warning());
        timing.insert("total".to_string(), ms(t_start));
        let findings = Findings {
            lattice,
            atoms,
            vacancies,
            summary,
            histogram,
            warnings,
        };
        let report = build_report(&f, &plan, findings, &areas, &dirt, line_correction, timing);
        Ok(Analysis {
            report,
            polymorph_map: input_maps.polymorph,
            polymorph_probability: input_maps.probability,
            carbon_map: input_maps.carbon,
            contamination: input_maps.contamination,
            hollow_excess: input_maps.hollow_excess,
            alt_positions: kept(options.tasks.atoms, located.alt_positions),
            edge_vacancies: kept(options.tasks.vacancies, edge_vacancies),
            counted_atoms: kept(options.tasks.atoms, counted_atoms),
            width: f.w,
            height: f.h,
        })
    }
}

/// What every stage after inference shares: the image (as given and repaired), its
/// calibration, the model grid it is resampled to, the model card and the settings.
struct Frame<'a> {
    image: &'a Image,
    /// The image with NaN/Inf pixels repaired: what positions and intensities are
    /// measured on.
    pixels: &'a [f32],
    w: usize,
    h: usize,
    /// Input pixel size, Å/px.
    pixel_size: f64,
    grid: Grid,
    /// Model grid size, px.
    gw: usize,
    gh: usize,
    card: &'a ModelCard,
    options: &'a Options,
}

impl<'a> Frame<'a> {
    fn new(
        image: &'a Image,
        pixels: &'a [f32],
        pixel_size: f64,
        card: &'a ModelCard,
        options: &'a Options,
    ) -> Frame<'a> {
        let (w, h) = (image.width, image.height);
        let grid = Grid::new(w, h, pixel_size / card.pixel_size_angstrom);
        Frame {
            image,
            pixels,
            w,
            h,
            pixel_size,
            grid,
            gw: grid.out_width,
            gh: grid.out_height,
            card,
            options,
        }
    }

    /// Pixels in one plane of the model grid.
    fn plane(&self) -> usize {
        self.gw * self.gh
    }

    /// Model pixel size, Å/px.
    fn model_px(&self) -> f64 {
        self.card.pixel_size_angstrom
    }

    /// Whether contaminated areas are left out of the statistics.
    fn filter(&self) -> bool {
        self.options.carbon_filter && self.options.tasks.carbon
    }

    /// The TMD named in the report (MoS₂ when none is given).
    fn chemistry(&self) -> Chemistry {
        self.options.chemistry.unwrap_or_default()
    }

    /// The model-grid pixel nearest to input point (x, y).
    fn model_index(&self, x: f64, y: f64) -> usize {
        let (cx, cy) = self.grid.to_canonical(x, y);
        nearest(cx, cy, self.gw, self.gh)
    }

    /// Whether an input point lies within the heatmap fit's window of the border, where
    /// the network sees a mirrored half column.
    fn near_heatmap_edge(&self, (x, y): (f64, f64)) -> bool {
        let edge = HEATMAP_WINDOW_A / self.pixel_size;
        let (w, h) = (self.w, self.h);
        x < edge || y < edge || x > (w - 1) as f64 - edge || y > (h - 1) as f64 - edge
    }
}

/// `v` where its task is reported, else empty.
fn kept<T>(on: bool, v: Vec<T>) -> Vec<T> {
    if on {
        v
    } else {
        Vec::new()
    }
}

/// One output head of the network, or an error naming the head the model lacks.
fn model_head<'m>(maps: &'m Maps, name: &str) -> Result<&'m HeadMap> {
    maps.head(name).ok_or_else(|| {
        Error::new(
            ErrorKind::Model,
            format!("the model has no '{name}' output"),
        )
    })
}

/// The tiles the network runs on: the size the options force, else whichever of the
/// standard sizes and those that fit this image exactly computes the fewest pixels.
fn tile_plan(f: &Frame) -> Result<TilePlan> {
    let options = f.options;
    Ok(match options.tile {
        Some(t) if t > 2 * options.halo => TilePlan::with_tile(f.gw, f.gh, t, options.halo),
        Some(t) => {
            return Err(Error::invalid(format!(
                "tile {t} must be larger than twice the halo {}",
                options.halo
            )))
        }
        None => {
            let mut sizes = tiling::TILE_SIZES.to_vec();
            sizes.extend(tiling::fitted_sizes(
                f.gw,
                f.gh,
                options.halo,
                f.card.multiple(),
                tiling::MAX_FITTED_TILE,
            ));
            TilePlan::choose(f.gw, f.gh, options.halo, &sizes)?
        }
    })
}

/// The polymorph class per model pixel (0 = vacuum, then `POLYMORPH_CLASSES`) and
/// its probability, after smoothing.
struct PolymorphMap {
    classes: Vec<u8>,
    probability: Vec<f32>,
}

impl PolymorphMap {
    /// The class at input point (x, y).
    fn class_at(&self, f: &Frame, x: f64, y: f64) -> u8 {
        self.classes[f.model_index(x, y)]
    }
}

/// The polymorph head's probabilities, averaged over `polymorph_smoothing_a`, each
/// pixel taking its most likely class.
fn polymorph_map(f: &Frame, maps: &Maps) -> Result<PolymorphMap> {
    let p = model_head(maps, "polymorph")?;
    let r = (f.options.polymorph_smoothing_a.max(0.0) / f.model_px()).round();
    let (classes, probability) =
        polymorph::smoothed_class_map(&p.data, p.channels, f.gw, f.gh, r as usize);
    Ok(PolymorphMap {
        classes,
        probability,
    })
}

/// The carbon head's map on the model grid, as the network gives it and averaged over
/// `carbon_smoothing_a` (what is thresholded and written).
struct CarbonMaps {
    raw: Vec<f32>,
    smoothed: Vec<f32>,
}

/// The carbon head's map, and its average over `carbon_smoothing_a`.
fn carbon_maps(f: &Frame, maps: &Maps) -> Result<CarbonMaps> {
    let raw = model_head(maps, "carbon")?.channel(0, f.plane()).to_vec();
    let smoothed = carbon::smoothed(
        &raw,
        f.gw,
        f.gh,
        f.options.carbon_smoothing_a.max(0.0) / f.model_px(),
    );
    Ok(CarbonMaps { raw, smoothed })
}

/// Background-subtracted intensity in a disk around a point of the input image; the
/// background is measured on the model grid in input intensity units.
struct Measure<'a> {
    integrator: intensity::Integrator<'a>,
    background: Vec<f32>,
    grid: Grid,
    gw: usize,
    gh: usize,
}

impl<'a> Measure<'a> {
    fn new(f: &Frame<'a>, resampled: &[f32]) -> Measure<'a> {
        let background = intensity::background(
            resampled,
            f.gw,
            f.gh,
            (intensity::BACKGROUND_WINDOW_A / f.model_px()).round() as usize,
        );
        Measure {
            integrator: intensity::Integrator {
                image: f.pixels,
                width: f.w,
                height: f.h,
                radius_px: intensity::INTEGRATION_RADIUS_A / f.pixel_size,
                pixel_area_a2: f.pixel_size * f.pixel_size,
            },
            background,
            grid: f.grid,
            gw: f.gw,
            gh: f.gh,
        }
    }

    /// The integrated intensity at input point (x, y).
    fn at(&self, x: f64, y: f64) -> f64 {
        let (cx, cy) = self.grid.to_canonical(x, y);
        let bg = bilinear(&self.background, self.gw, self.gh, cx, cy);
        self.integrator.at(x, y, bg)
    }
}

/// The atom head's peaks on the model grid: metal-containing (channel 0) and
/// chalcogen-only (channel 1) columns at least 1 Å apart.
fn locate_columns(f: &Frame, atoms_head: &HeadMap) -> Vec<localize::Peak> {
    let plane = f.plane();
    localize::find_peaks(
        &[atoms_head.channel(0, plane), atoms_head.channel(1, plane)],
        f.gw,
        f.gh,
        f.options.atom_threshold,
        1.0 / f.model_px(),
    )
}

/// Column positions on the input grid: by the chosen refinement, and by the other one
/// (for `stemsight eval`).
struct Located {
    positions: Vec<(f64, f64)>,
    alt_positions: Vec<(f64, f64)>,
}

/// Each peak's sub-pixel position on the input grid, by `options.refinement`.
fn refine_columns(
    f: &Frame,
    peaks: &[localize::Peak],
    atoms_head: &HeadMap,
    polymorphs: &PolymorphMap,
    carbon_maps: &CarbonMaps,
) -> Located {
    let (w, h) = (f.w, f.h);
    let refine_r = 0.5 / f.pixel_size;
    let heatmap_pos = heatmap_positions(f, peaks, atoms_head);
    let centroid_pos: Vec<(f64, f64)> = heatmap_pos
        .par_iter()
        .map(|&(x, y)| localize::centroid(f.pixels, w, h, x, y, refine_r))
        .collect();
    match f.options.refinement {
        Refinement::Heatmap => Located {
            positions: heatmap_pos,
            alt_positions: centroid_pos,
        },
        Refinement::Centroid => Located {
            positions: centroid_pos,
            alt_positions: heatmap_pos,
        },
        Refinement::Gaussian | Refinement::Combined => {
            fit_on_image(f, peaks, heatmap_pos, centroid_pos, polymorphs, carbon_maps)
        }
    }
}

/// Each peak located on the atom heatmap itself, mapped to the input grid.
fn heatmap_positions(f: &Frame, peaks: &[localize::Peak], atoms_head: &HeadMap) -> Vec<(f64, f64)> {
    let (grid, plane) = (&f.grid, f.plane());
    // The heatmap's bumps are the training labels' Gaussians (σ 0.4 Å): a Gaussian
    // fit over 0.7 Å locates them without the pixel locking of a 3-point parabola
    // (tuning set: combined RMSE 5.05 → 4.70 pm).
    // At the image border the network sees a mirrored half column, whose bump
    // merges with its mirror image and drags a fit outwards: the parabola stands there.
    peaks
        .par_iter()
        .map(|p| {
            if f.near_heatmap_edge(grid.to_input(p.x, p.y)) {
                return grid.to_input(p.x, p.y);
            }
            let map = atoms_head.channel(p.channel, plane);
            let (x, y) = localize::gaussian_fit(
                map,
                f.gw,
                f.gh,
                p.x,
                p.y,
                HEATMAP_WINDOW_A / f.model_px(),
                HEATMAP_SIGMA_A / f.model_px(),
            );
            grid.to_input(x, y)
        })
        .collect()
}

/// Gaussian fits on the image from the centroids (`Refinement::Gaussian`), or those
/// blended with the heatmap positions by how far the image can be trusted there
/// (`Refinement::Combined`).
fn fit_on_image(
    f: &Frame,
    peaks: &[localize::Peak],
    heatmap_pos: Vec<(f64, f64)>,
    centroid_pos: Vec<(f64, f64)>,
    polymorphs: &PolymorphMap,
    carbon_maps: &CarbonMaps,
) -> Located {
    let (w, h) = (f.w, f.h);
    let fit_r = GAUSSIAN_WINDOW_A / f.pixel_size;
    let sigma = PROBE_SIGMA_A / f.pixel_size;
    // A single-S column of 1T sits 1.82 Å from three Mo columns five times
    // brighter; their tails bend a one-Gaussian fit more than a centroid
    // (measured 11–16 pm vs 9–14 pm), so those keep the centroid.
    let contents: Vec<ColumnContent> = centroid_pos
        .iter()
        .zip(peaks)
        .map(|(&(x, y), p)| match p.channel {
            0 => ColumnContent::Metal,
            _ if polymorphs.class_at(f, x, y) == ONE_T_CLASS => ColumnContent::SingleChalcogen,
            _ => ColumnContent::Chalcogen,
        })
        .collect();
    let fitted: Vec<(f64, f64)> = centroid_pos
        .par_iter()
        .zip(&contents)
        .map(|(&(x, y), &content)| {
            if content == ColumnContent::SingleChalcogen {
                (x, y)
            } else {
                localize::gaussian_fit(f.pixels, w, h, x, y, fit_r, sigma)
            }
        })
        .collect();
    if f.options.refinement == Refinement::Gaussian {
        return Located {
            positions: fitted,
            alt_positions: centroid_pos,
        };
    }
    let combined = fitted
        .iter()
        .zip(&heatmap_pos)
        .zip(&contents)
        .map(|((&(ix, iy), &(hx, hy)), &content)| {
            let (cx, cy) = f.grid.to_canonical(ix, iy);
            let carbon = bilinear(&carbon_maps.raw, f.gw, f.gh, cx, cy) as f64;
            let k = if f.near_heatmap_edge((ix, iy)) {
                1.0
            } else {
                localize::image_weight(content, carbon)
            };
            (k * ix + (1.0 - k) * hx, k * iy + (1.0 - k) * hy)
        })
        .collect();
    Located {
        positions: combined,
        alt_positions: fitted,
    }
}

/// Whether scan-line jitter is removed: heatmap positions come from the network's
/// grid, not from the scan lines.
fn corrects_scan_lines(options: &Options) -> bool {
    options.line_correction && options.refinement != Refinement::Heatmap
}

/// Scan-line jitter: measured from all columns at once, removed from each — fast x
/// offsets line by line, then slow x/y line displacements against the fitted lattice.
fn correct_scan_lines(f: &Frame, located: Located, on: bool) -> Located {
    if !on {
        return located;
    }
    let Located {
        positions,
        alt_positions,
    } = located;
    let (w, h, pixel_size) = (f.w, f.h, f.pixel_size);
    let offsets = scanline::line_offsets(
        f.pixels,
        w,
        h,
        &positions,
        LINE_HALF_WIDTH_A / pixel_size,
        LINE_HALF_HEIGHT_A / pixel_size,
        (LINE_SMOOTH_A / pixel_size).round() as usize,
    );
    let half = LINE_HALF_HEIGHT_A / pixel_size;
    let positions = scanline::correct(&positions, &offsets, half);
    let alt_positions = scanline::correct(&alt_positions, &offsets, half);
    match lattice::fit(&positions, lattice::COLUMN_SPACING_A / pixel_size) {
        Some(fit) => {
            let slow = scanline::slow_offsets(&positions, &fit, h, SLOW_BAND_A / pixel_size);
            Located {
                positions: scanline::correct_slow(&positions, &slow),
                alt_positions: scanline::correct_slow(&alt_positions, &slow),
            }
        }
        None => Located {
            positions,
            alt_positions,
        },
    }
}

/// The contamination call per model pixel and the hollow-site evidence behind it.
struct Contamination {
    /// Third (hollow) sites holding a column, and all third sites checked.
    held_third_sites: usize,
    third_sites: usize,
    /// Hollow sites measured.
    hollow_sites: usize,
    /// The hollows' local excess signal and how many hollows it averages, per model pixel.
    local_excess: Vec<f32>,
    local_count: Vec<f32>,
    calls: Vec<carbon::Call>,
    /// Whether each model pixel is left out of the clean statistics.
    dirty: Vec<bool>,
}

impl Contamination {
    /// Whether input point (x, y) lies in an excluded area.
    fn is_dirty(&self, f: &Frame, x: f64, y: f64) -> bool {
        self.dirty[f.model_index(x, y)]
    }
}

/// Contamination: the map's call, checked against the hollows' signal.
fn contamination(f: &Frame, positions: &[(f64, f64)], carbon_maps: &CarbonMaps) -> Contamination {
    let (w, h, pixel_size) = (f.w, f.h, f.pixel_size);
    let options = f.options;
    let spacing = lattice::COLUMN_SPACING_A / pixel_size;
    let sites = hollow::ThirdSites::find(positions, spacing, w, h);
    let (held_third_sites, third_sites) = sites.occupancy();
    let hollows = sites.hollows();
    let hollow_levels = hollow::levels(
        f.pixels,
        w,
        h,
        positions,
        &hollows,
        spacing,
        hollow::SIGNAL_RADIUS_A / pixel_size,
    );
    let (mut local_excess, local_count) = hollow::local_mean(
        &hollows,
        &hollow_levels,
        f.gw,
        f.gh,
        carbon::HOLLOW_SMOOTHING_A / f.model_px(),
        |x, y| f.grid.to_canonical(x, y),
    );
    hollow::relative_to_cleanest(
        &mut local_excess,
        &local_count,
        f.gw,
        carbon::HOLLOW_MIN_COUNT,
    );
    let no_hollows = vec![0f32; local_count.len()];
    let calls = carbon::calls(
        &carbon::mask(&carbon_maps.smoothed, options.carbon_threshold),
        &local_excess,
        if options.hollow_check {
            &local_count
        } else {
            &no_hollows
        },
    );
    let dirty: Vec<bool> = calls.iter().map(|c| c.excluded()).collect();
    Contamination {
        held_third_sites,
        third_sites,
        hollow_sites: hollows.len(),
        local_excess,
        local_count,
        calls,
        dirty,
    }
}

/// Per column: its integrated intensity, label, polymorph and whether it is left out
/// as contaminated; and the local references its intensity is normalized by.
struct ColumnIntensities {
    intensities: Vec<f64>,
    /// The atom head's label: metal-containing (channel 0) or chalcogen-only.
    metal: Vec<bool>,
    class: Vec<u8>,
    dirty: Vec<bool>,
    /// (x, y, intensity) of the chalcogen-only and of the metal-containing columns.
    chalcogen_refs: Vec<(f64, f64, f64)>,
    metal_refs: Vec<(f64, f64, f64)>,
    /// Per column, the local median of the chalcogen-only and of the metal columns.
    s2_ref: Vec<f64>,
    metal_ref: Vec<f64>,
}

/// Column intensities measured on the input image, with their local references.
fn column_intensities(
    f: &Frame,
    peaks: &[localize::Peak],
    positions: &[(f64, f64)],
    polymorphs: &PolymorphMap,
    dirt: &Contamination,
    measure: &Measure,
) -> ColumnIntensities {
    let filter = f.filter();
    let intensities: Vec<f64> = positions
        .par_iter()
        .map(|&(x, y)| measure.at(x, y))
        .collect();
    let metal: Vec<bool> = peaks.iter().map(|p| p.channel == 0).collect();
    let class: Vec<u8> = positions
        .iter()
        .map(|&(x, y)| polymorphs.class_at(f, x, y))
        .collect();
    let dirty: Vec<bool> = positions
        .iter()
        .map(|&(x, y)| filter && dirt.is_dirty(f, x, y))
        .collect();

    // Intensity reference: chalcogen-only columns nearby (S₂ median = 1); where a
    // polymorph has none (2H-2L, 3R-3L), the same-channel median stands in.
    let reference_radius = intensity::REFERENCE_RADIUS_A / f.pixel_size;
    let refs_of = |want_metal: bool| -> Vec<(f64, f64, f64)> {
        positions
            .iter()
            .zip(&intensities)
            .zip(&metal)
            .filter(|(_, &m)| m == want_metal)
            .map(|((&(x, y), &i), _)| (x, y, i))
            .collect()
    };
    let chalcogen_refs = refs_of(false);
    let metal_refs = refs_of(true);
    let s2_ref = intensity::local_reference(positions, &chalcogen_refs, reference_radius);
    let metal_ref = intensity::local_reference(positions, &metal_refs, reference_radius);
    ColumnIntensities {
        intensities,
        metal,
        class,
        dirty,
        chalcogen_refs,
        metal_refs,
        s2_ref,
        metal_ref,
    }
}

/// The report's atoms: each column with its site, species and normalized intensity.
fn build_atoms(
    f: &Frame,
    peaks: &[localize::Peak],
    positions: &[(f64, f64)],
    columns: &ColumnIntensities,
) -> Vec<Atom> {
    let chemistry = f.chemistry();
    let to_a = |v: f64| v * f.pixel_size;
    let c = columns;
    let mut atoms = Vec::with_capacity(peaks.len());
    for (k, p) in peaks.iter().enumerate() {
        let (x, y) = positions[k];
        let same = if c.metal[k] {
            c.metal_ref[k]
        } else {
            c.s2_ref[k]
        };
        let relative = if same > 0.0 {
            c.intensities[k] / same
        } else {
            1.0
        };
        let site = polymorph::site_label(c.class[k], c.metal[k], relative);
        let norm = if c.s2_ref[k] > 0.0 && !c.chalcogen_refs.is_empty() {
            c.intensities[k] / c.s2_ref[k]
        } else {
            f64::NAN
        };
        atoms.push(Atom {
            x,
            y,
            x_a: to_a(x),
            y_a: to_a(y),
            species: chemistry.species(&site),
            site,
            intensity: c.intensities[k],
            normalized_intensity: norm,
            polymorph: POLYMORPH_CLASSES[c.class[k] as usize].to_string(),
            score: p.score as f64,
            in_contaminated_area: c.dirty[k],
        });
    }
    atoms
}

/// The vacancy head's VS1 and VS2 blobs on the model grid.
fn vacancy_candidates(f: &Frame, maps: &Maps) -> Result<Vec<vacancy::VacancyPoint>> {
    let vac_head = model_head(maps, "vacancy")?;
    let plane = f.plane();
    let disk_px = std::f64::consts::PI * (0.95 / f.model_px()).powi(2);
    Ok(vacancy::find_vacancies(
        vac_head.channel(1, plane),
        vac_head.channel(2, plane),
        f.gw,
        f.gh,
        f.options.vacancy_threshold,
        ((0.15 * disk_px).round() as usize).max(3),
    ))
}

/// Where vacancies are called and sites and area counted: away from the image border
/// and from vacuum.
struct Interior {
    /// A column within EDGE_MARGIN_A of the border is cut by it and looks dimmer than
    /// it is: no vacancy is called there.
    edge: f64,
    /// The rim of a hole is an edge too: a vacancy there cannot be told from the hole.
    near_hole: Vec<bool>,
}

impl Interior {
    fn new(f: &Frame, polymorphs: &PolymorphMap) -> Interior {
        let hole_margin = HOLE_MARGIN_A / f.model_px();
        Interior {
            edge: EDGE_MARGIN_A / f.pixel_size,
            near_hole: near_vacuum(&polymorphs.classes, f.gw, f.gh, hole_margin),
        }
    }

    /// Whether input point (x, y) is inside.
    fn contains(&self, f: &Frame, x: f64, y: f64) -> bool {
        let edge = self.edge;
        x >= edge
            && y >= edge
            && x <= f.w as f64 - 1.0 - edge
            && y <= f.h as f64 - 1.0 - edge
            && (self.near_hole.is_empty() || !self.near_hole[f.model_index(x, y)])
    }
}

/// VS2 calls on metal sites (a missing metal, not two chalcogens) are dropped; warns
/// when the atom head's metal/chalcogen labels run against the vacancies' rings.
fn drop_metal_site_calls(
    f: &Frame,
    points: Vec<vacancy::VacancyPoint>,
    positions: &[(f64, f64)],
    columns: &ColumnIntensities,
    warnings: &mut Vec<String>,
) -> Vec<vacancy::VacancyPoint> {
    let (grid, pixel_size) = (&f.grid, f.pixel_size);
    let shell = (SECOND_SHELL_A.0 / pixel_size, SECOND_SHELL_A.1 / pixel_size);
    let first_shell = (FIRST_SHELL_A.0 / pixel_size, FIRST_SHELL_A.1 / pixel_size);
    let neighbours = NeighborGrid::from_points(positions.iter().copied(), shell.1);
    // Each call's ring, read once: all of them calibrate, the VS2 ones are judged.
    let point_rings: Vec<Option<f64>> = points
        .iter()
        .map(|p| {
            let (x, y) = grid.to_input(p.x, p.y);
            let i = &columns.intensities;
            vacancy::ring_contrast(x, y, &neighbours, i, first_shell, shell)
        })
        .collect();
    let mut rings: Vec<f64> = point_rings.iter().flatten().copied().collect();
    let chalcogen_ring = vacancy::chalcogen_ring(&mut rings, RING_CONTRAST_MARGIN);
    if let Some(ring) = chalcogen_ring {
        let median_of = |refs: &[(f64, f64, f64)]| {
            let mut v: Vec<f64> = refs.iter().map(|r| r.2).collect();
            (v.len() >= MIN_LABELLED_COLUMNS).then(|| intensity::median(&mut v))
        };
        let metal_median = median_of(&columns.metal_refs);
        if let (Some(m), Some(c)) = (metal_median, median_of(&columns.chalcogen_refs)) {
            if vacancy::labels_contradict_rings(m / c, ring, RING_CONTRAST_MARGIN) {
                warnings.push(LABELS_SWAPPED_WARNING.to_string());
            }
        }
    }
    // A VS2 call on a metal site is a missing metal. Where the image's vacancy calls
    // show which way a chalcogen site's ring reads, the call's own ring decides;
    // otherwise the atom head's labels do, overruled only by a ring that reads
    // chalcogen the MoS₂ way.
    points
        .into_iter()
        .zip(point_rings)
        .filter(|&(p, c)| {
            if p.missing != 2 {
                return true;
            }
            let metal_site = match (chalcogen_ring, c) {
                (Some(reference), Some(c)) => {
                    vacancy::reads_as_metal_site(c, reference, RING_CONTRAST_MARGIN)
                }
                _ => {
                    let (x, y) = grid.to_input(p.x, p.y);
                    vacancy::on_metal_site(x, y, &neighbours, &columns.metal, shell)
                        && c.is_none_or(|c| c >= RING_CONTRAST_MARGIN)
                }
            };
            !metal_site
        })
        .map(|(p, _)| p)
        .collect()
}

/// The report's vacancies on the input grid, and those left out near the border or
/// vacuum (`Analysis::edge_vacancies`).
fn find_vacancies(
    f: &Frame,
    points: &[vacancy::VacancyPoint],
    columns: &ColumnIntensities,
    measure: &Measure,
    dirt: &Contamination,
    polymorphs: &PolymorphMap,
    interior: &Interior,
) -> (Vec<Vacancy>, Vec<Vacancy>) {
    let chemistry = f.chemistry();
    let filter = f.filter();
    let to_a = |v: f64| v * f.pixel_size;
    let reference_radius = intensity::REFERENCE_RADIUS_A / f.pixel_size;
    let vac_pos: Vec<(f64, f64)> = points.iter().map(|p| f.grid.to_input(p.x, p.y)).collect();
    let vac_ref = intensity::local_reference(&vac_pos, &columns.chalcogen_refs, reference_radius);
    let vacancies: Vec<Vacancy> = points
        .iter()
        .zip(&vac_pos)
        .zip(&vac_ref)
        .map(|((p, &(x, y)), &r)| Vacancy {
            x,
            y,
            x_a: to_a(x),
            y_a: to_a(y),
            kind: p.type_name().to_string(),
            species: chemistry.species(p.type_name()),
            confidence: p.confidence,
            in_contaminated_area: filter && dirt.is_dirty(f, x, y),
            normalized_intensity: if r > 0.0 {
                measure.at(x, y) / r
            } else {
                f64::NAN
            },
            polymorph: POLYMORPH_CLASSES[polymorphs.class_at(f, x, y) as usize].to_string(),
        })
        .collect();
    vacancies
        .into_iter()
        .partition(|v| interior.contains(f, v.x, v.y))
}

/// Areas and fractions on the model grid, in model pixels (each model_px² Å²).
struct Areas {
    /// Plane size, material (not vacuum) and contaminated material.
    plane: usize,
    material: usize,
    material_dirty: usize,
    /// Material the map flags but the hollows clear, and material with no hollows to check.
    cleared: usize,
    unchecked: usize,
    /// Material left out of the statistics.
    excluded: usize,
    /// Clean material inside the border band and away from vacuum.
    counted: usize,
    fractions: BTreeMap<String, f64>,
    fractions_clean: BTreeMap<String, f64>,
}

impl Areas {
    /// `n` as a share of the material.
    fn of_material(&self, n: usize) -> f64 {
        if self.material > 0 {
            n as f64 / self.material as f64
        } else {
            0.0
        }
    }
}

/// Material, contaminated and counted areas on the model grid, and the polymorph
/// fractions over all and over clean material.
fn material_areas(
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
        excluded: if filter { material_dirty } else { 0 },
        counted,
        fractions: polymorph::fractions(classes, |_| true),
        fractions_clean: polymorph::fractions(classes, |i| !(filter && dirty[i])),
    }
}

/// Summary over clean material, and per atom whether it counts.
fn count_summary(
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
    for a in clean_atoms {
        if a.site.contains("Mo") {
            n_mo += 1;
        } else {
            n_chalcogen += 1;
        }
    }
    let n_vs1 = vacancies
        .iter()
        .filter(|v| !v.in_contaminated_area && v.kind == "VS1")
        .count();
    let n_vs2 = vacancies
        .iter()
        .filter(|v| !v.in_contaminated_area && v.kind == "VS2")
        .count();
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

/// The maps of [`Analysis`], per input pixel.
struct InputMaps {
    polymorph: Vec<u8>,
    probability: Vec<f32>,
    carbon: Vec<f32>,
    contamination: Vec<u8>,
    hollow_excess: Vec<f32>,
}

/// The model-grid maps brought back to the input grid (nearest pixel; the carbon map
/// bilinear).
fn maps_on_input_grid(
    f: &Frame,
    polymorphs: &PolymorphMap,
    carbon_maps: &CarbonMaps,
    dirt: &Contamination,
) -> InputMaps {
    let (w, h, gw, gh) = (f.w, f.h, f.gw, f.gh);
    let mut polymorph_map = vec![0u8; w * h];
    let mut polymorph_probability = vec![0f32; w * h];
    let mut carbon_out = vec![0f32; w * h];
    let mut contamination = vec![0u8; w * h];
    let mut excess_out = vec![0f32; w * h];
    polymorph_map
        .par_chunks_mut(w)
        .zip(polymorph_probability.par_chunks_mut(w))
        .zip(
            carbon_out
                .par_chunks_mut(w)
                .zip(contamination.par_chunks_mut(w)),
        )
        .zip(excess_out.par_chunks_mut(w))
        .enumerate()
        .for_each(
            |(y, (((class_row, prob_row), (carbon_row, call_row)), excess_row))| {
                for x in 0..w {
                    let (cx, cy) = f.grid.to_canonical(x as f64, y as f64);
                    let k = nearest(cx, cy, gw, gh);
                    class_row[x] = polymorphs.classes[k];
                    prob_row[x] = polymorphs.probability[k];
                    carbon_row[x] = bilinear(&carbon_maps.smoothed, gw, gh, cx, cy);
                    call_row[x] = dirt.calls[k] as u8;
                    excess_row[x] = if dirt.local_count[k] >= carbon::HOLLOW_MIN_COUNT {
                        dirt.local_excess[k]
                    } else {
                        f32::NAN
                    };
                }
            },
        );
    InputMaps {
        polymorph: polymorph_map,
        probability: polymorph_probability,
        carbon: carbon_out,
        contamination,
        hollow_excess: excess_out,
    }
}

/// What the stages found, for the report.
struct Findings {
    lattice: LatticeCheck,
    atoms: Vec<Atom>,
    vacancies: Vec<Vacancy>,
    summary: Summary,
    histogram: IntensityHistogram,
    warnings: Vec<String>,
}

/// The report: findings, the settings they were made with, and the plausibility
/// warnings read from the finished report.
fn build_report(
    f: &Frame,
    plan: &TilePlan,
    found: Findings,
    areas: &Areas,
    dirt: &Contamination,
    line_correction: bool,
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
            path: String::new(),
            width: f.w,
            height: f.h,
            pixel_size_angstrom: f.pixel_size,
            pixel_size_source: String::new(),
            frame: 0,
            frames: 1,
            acquisition: Default::default(),
        },
        lattice: found.lattice,
        chemistry: crate::report::ChemistryInfo {
            name: chemistry.name().to_string(),
            source: if options.chemistry.is_some() {
                "given"
            } else {
                "assumed"
            }
            .to_string(),
        },
        atoms: kept(options.tasks.atoms, found.atoms),
        vacancies: kept(options.tasks.vacancies, found.vacancies),
        polymorph: PolymorphSummary {
            classes: POLYMORPH_CLASSES.iter().map(|s| s.to_string()).collect(),
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
        },
        carbon: CarbonSummary {
            contaminated_fraction: areas.of_material(areas.material_dirty),
            threshold: options.carbon_threshold,
            scale_angstrom: scale,
            above_film: carbon_card.is_some_and(|h| h.above_film),
            filter_applied: filter,
            map_fraction: areas.of_material(areas.material_dirty + areas.cleared),
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
            line_correction,
            polymorph_smoothing_angstrom: options.polymorph_smoothing_a.max(0.0),
            carbon_smoothing_angstrom: options.carbon_smoothing_a.max(0.0),
            views: options.views,
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
}

impl Analyzer {
    /// Analyzes an image at the pixel size its own lattice gives for `chemistry`: a
    /// first pixel size from the power spectrum's {100} ring, a first analysis there,
    /// the lattice fitted to the columns it found, and the analysis run again at the
    /// pixel size that gives the chemistry's lattice constant. The report's
    /// `pixel_size_source` is "lattice".
    pub fn analyze_self_calibrated(
        &self,
        image: &Image,
        chemistry: Chemistry,
        options: &Options,
        progress: &(dyn Fn(usize, usize) -> bool + Sync),
    ) -> Result<Analysis> {
        let mut ignored = Vec::new();
        let pixels = repair(&image.data, &mut ignored)?;
        let spacing_a = chemistry.lattice_a_angstrom() / 3f64.sqrt();
        let no_lattice = |why: &str| {
            Error::invalid(format!(
                "cannot calibrate from the lattice: {why}; pass --pixel-size in Å"
            ))
        };
        let first = calibration::spectral_column_spacing_px(&pixels, image.width, image.height)
            .ok_or_else(|| no_lattice("no sixfold lattice ring in the power spectrum"))?;
        let guess = spacing_a / first;
        if !(PIXEL_SIZE_RANGE.0..=PIXEL_SIZE_RANGE.1).contains(&guess) {
            return Err(no_lattice(&format!(
                "the power spectrum implies {guess:.4} Å/px, outside {}–{} Å/px",
                PIXEL_SIZE_RANGE.0, PIXEL_SIZE_RANGE.1
            )));
        }
        let options = Options {
            chemistry: Some(chemistry),
            ..options.clone()
        };
        let first_pass = Options {
            tasks: Tasks {
                atoms: true,
                ..options.tasks
            },
            ..options.clone()
        };
        let pass = self.analyze(image, guess, &first_pass, progress)?;
        let positions: Vec<(f64, f64)> = pass.report.atoms.iter().map(|a| (a.x, a.y)).collect();
        let (spacing, _) = calibration::column_spacing_px(&positions, first)
            .ok_or_else(|| no_lattice("the columns found do not form a lattice"))?;
        let pixel_size = spacing_a / spacing;
        let mut analysis = self.analyze(image, pixel_size, &options, progress)?;
        let r = &mut analysis.report;
        r.image.pixel_size_source = "lattice".to_string();
        r.lattice.spectrum_pixel_size_angstrom = Some(guess);
        Ok(analysis)
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[inline]
fn nearest(x: f64, y: f64, w: usize, h: usize) -> usize {
    let c = (x.round().max(0.0) as usize).min(w - 1);
    let r = (y.round().max(0.0) as usize).min(h - 1);
    r * w + c
}

/// Refuses what cannot be analyzed, with a message that says what to change.
pub fn validate(image: &Image, pixel_size: f64) -> Result<()> {
    if image.width < MIN_SIDE || image.height < MIN_SIDE {
        return Err(Error::invalid(format!(
            "image is {}x{} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed",
            image.width, image.height
        )));
    }
    if image.data.len() != image.width * image.height {
        return Err(Error::invalid("pixel buffer does not match the image size"));
    }
    check_pixel_size(pixel_size)
}

/// Refuses a pixel size outside [`PIXEL_SIZE_RANGE`], with what to check.
pub fn check_pixel_size(pixel_size: f64) -> Result<()> {
    let (lo, hi) = PIXEL_SIZE_RANGE;
    if !pixel_size.is_finite() || pixel_size < lo || pixel_size > hi {
        return Err(Error::invalid(format!(
            "pixel size {pixel_size} Å is outside {lo}–{hi} Å; check the calibration \
             (is it in nm or pm?) or pass --pixel-size in Å"
        )));
    }
    Ok(())
}

/// Pixels of a `w × h` class map closer than `margin` pixels to vacuum (class 0);
/// empty when the map holds no vacuum.
fn near_vacuum(classes: &[u8], w: usize, h: usize, margin: f64) -> Vec<bool> {
    if margin <= 0.0 || !classes.contains(&0) {
        return Vec::new();
    }
    let vacuum: Vec<bool> = classes.iter().map(|&c| c == 0).collect();
    distance::squared_distance(&vacuum, w, h)
        .into_iter()
        .map(|d2| d2 < margin * margin)
        .collect()
}

/// NaN/Inf pixels: a few are replaced by the median (warned); many are refused.
/// A clean image (the usual case) is borrowed, not copied.
fn repair<'a>(data: &'a [f32], warnings: &mut Vec<String>) -> Result<Cow<'a, [f32]>> {
    let bad = data.iter().filter(|v| !v.is_finite()).count();
    if bad == 0 {
        return Ok(Cow::Borrowed(data));
    }
    if bad as f64 > MAX_BAD_PIXEL_FRACTION * data.len() as f64 || bad == data.len() {
        return Err(Error::invalid(format!(
            "{bad} of {} pixels are NaN or infinite",
            data.len()
        )));
    }
    let mut good: Vec<f64> = data
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| v as f64)
        .collect();
    let fill = intensity::median(&mut good) as f32;
    warnings.push(format!("{bad} NaN/infinite pixels replaced by the median"));
    Ok(Cow::Owned(
        data.iter()
            .map(|&v| if v.is_finite() { v } else { fill })
            .collect(),
    ))
}

fn histograms(atoms: &[Atom], vacancies: &[Vacancy]) -> IntensityHistogram {
    const BINS: usize = 60;
    let (lo, hi) = (0.0, 6.0);
    let edges: Vec<f64> = (0..=BINS)
        .map(|i| lo + (hi - lo) * i as f64 / BINS as f64)
        .collect();
    let mut by_site: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for a in atoms.iter().filter(|a| !a.in_contaminated_area) {
        by_site
            .entry(a.site.clone())
            .or_default()
            .push(a.normalized_intensity);
    }
    let mut by_vac: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for v in vacancies.iter().filter(|v| !v.in_contaminated_area) {
        by_vac
            .entry(v.kind.clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_checked_against_its_range() {
        let d = Options::default();
        d.validate().expect("the defaults are valid");
        for r in RANGES {
            for bad in [r.min - 1.0, r.max * 2.0 + 1.0, f64::NAN, f64::INFINITY] {
                let mut o = d.clone();
                match r.name {
                    "atom-threshold" => o.atom_threshold = bad as f32,
                    "vacancy-threshold" => o.vacancy_threshold = bad as f32,
                    "carbon-threshold" => o.carbon_threshold = bad,
                    "carbon-smoothing" => o.carbon_smoothing_a = bad,
                    "polymorph-smoothing" => o.polymorph_smoothing_a = bad,
                    // Integers: NaN and infinity saturate to 0 and MAX, both out of range.
                    "halo" => o.halo = bad.max(0.0) as usize,
                    "views" => o.views = bad.max(0.0) as usize,
                    other => panic!("range {other} is not tested"),
                }
                let e = o.validate().expect_err(r.name);
                assert_eq!(e.kind, ErrorKind::InvalidParameter);
                assert!(e.message.contains(r.name), "{}", e.message);
            }
        }
        let none = Options {
            tasks: Tasks::parse(",").unwrap(),
            ..d.clone()
        };
        assert!(none.validate().is_err());
        let tile = Options {
            tile: Some(100),
            ..d
        };
        assert!(tile.validate().is_err());
        assert!(threads_range().check(100_000.0).is_err());
        assert!(threads_range().check(1.0).is_ok());
    }

    #[test]
    fn the_rim_of_a_hole_is_marked_and_the_rest_is_not() {
        let (w, h) = (40, 40);
        // A hole of radius 5 px around (20, 20) in a 2H-1L flake.
        let classes: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64 - 20.0, (i / w) as f64 - 20.0);
                u8::from(x.hypot(y) > 5.0)
            })
            .collect();
        // 1.5 Å on the 0.2 Å model grid.
        let near = near_vacuum(&classes, w, h, HOLE_MARGIN_A / 0.2);
        assert!(near[20 * w + 32], "7 px from the hole's edge");
        assert!(!near[20 * w + 33], "8 px from it");
        assert!(near[20 * w + 20], "inside the hole");
        assert!(near_vacuum(&[1u8; 16], 4, 4, 7.5).is_empty());
    }
}
