//! The analysis pipeline: one calibrated image in, a [`Report`] and maps out.
//!
//! input grid → resample to the model pixel size → normalize → halo tiles →
//! network → (atoms, vacancies, polymorph, carbon) on the model grid → points
//! mapped back to the input grid → intensities measured on the input image →
//! statistics with contaminated areas excluded.

pub mod calibration;

pub mod carbon;
pub mod contrast;

pub mod hollow;

pub mod intensity;

pub mod lattice;
pub mod layers;

pub mod localize;
pub mod neighbourhood;

pub mod plausibility;

pub mod polymorph;

pub mod scanline;
pub mod sublattice;

pub mod vacancy;
pub mod vacancy_depth;

mod columns;
mod frame;
mod maps;
pub mod scope;
pub mod settings;
mod source;
mod summary;
mod vacancy_calls;

use crate::crystal::Chemistry;
use crate::error::{Error, ErrorKind, Result};
use crate::findings::*;
use crate::image::Image;
use crate::nn::network::Network;
use crate::nn::normalize::normalize;
use crate::nn::tiling::{self, Maps, TilePlan};
use columns::*;
use frame::*;
use maps::*;
use scope::*;
pub use scope::{EDGE_MARGIN_A, HOLE_MARGIN_A};
pub use settings::*;
pub use source::{PixelSizeSource, Source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use summary::*;
use vacancy_calls::*;

/// Everything one analysis produces.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub report: Report,
    /// Polymorph class per input pixel ([`crate::crystal::PolymorphClass::index`]).
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
/// else the repository's `models/` above the executable ([`models_dir_above`]), else
/// `./models`.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STEMSIGHT_MODELS") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| models_dir_above(exe.parent()?))
        .unwrap_or_else(|| PathBuf::from("models"))
}

/// The `models/` folder of a StemSight repository in `start` or a folder above it: one
/// that holds the models README and a model ([`holds_model`]). The Java binding looks
/// above its jar and the working directory with this too.
pub fn models_dir_above(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("models"))
        .find(|candidate| candidate.join("README.md").is_file() && holds_model(candidate))
}

/// Whether `dir`, or one of its sub-directories, holds a `model.json`: what
/// [`Analyzer::load`] accepts.
pub fn holds_model(dir: &Path) -> bool {
    find_model_dir(dir).is_some()
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
        device: crate::nn::device::Device,
    ) -> Result<crate::nn::device::DeviceInfo> {
        self.network.use_device(device)
    }

    /// Analyzes one image at `pixel_size` Å/px; `source` (where the image came from)
    /// fills the report's `image` section and adds the reader's warnings.
    /// `progress(done, total)` is called as tiles finish; returning `false` cancels with
    /// `ErrorKind::Cancelled`. The image is not modified.
    pub fn analyze(
        &self,
        image: &Image,
        pixel_size: f64,
        source: &Source,
        options: &Options,
        progress: &(dyn Fn(usize, usize) -> bool + Sync),
    ) -> Result<Analysis> {
        let t_start = Instant::now();
        let mut timing = BTreeMap::new();
        let mut warnings = Vec::new();
        options.validate()?;
        validate(image, pixel_size)?;
        let pixels = repair(&image.data, &mut warnings)?;
        let optics = layers::optics(&options.exposure, &source.acquisition)?;
        let f = Frame::new(image, &pixels, pixel_size, &self.network.card, options);

        let lap = Instant::now();
        let resampled = f.grid.resample(&pixels);
        let input = normalize(&resampled, &f.card.input.normalization);
        timing.insert("resample_ms".to_string(), ms(lap));

        let lap = Instant::now();
        let plan = tile_plan(&f)?;
        let maps = self.infer(&input, &plan, options, progress)?;
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
        let mut polymorphs = polymorph_map(&f, &maps)?;
        checkpoint()?;
        let carbon_maps = carbon_maps(&f, &maps)?;
        let layer_count = layers::relabel(&f, &resampled, &mut polymorphs, optics.as_ref())?;
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
        let dirt = contamination(&f, positions, &carbon_maps, &polymorphs);
        let points = vacancy_candidates(&f, &maps)?;
        vacancy_depth::relabel(&f, &mut polymorphs, &measure, positions, &points);
        let column_contrast = contrast::read(&f, &mut polymorphs, &measure, positions, source);
        let roles = column_roles(&f, &peaks, positions, &polymorphs, &points, &mut warnings);
        let points = drop_calls_on_metal_sites(points, &roles.calls_on_metal, &mut warnings);
        let columns = column_intensities(&f, roles.metal, positions, &polymorphs, &dirt, &measure);
        let atoms = build_atoms(&f, &peaks, positions, &columns);
        // Every head has been read: the network's maps (13 planes on the model grid) go
        // before the maps on the input grid are made, which lowers the peak on big images.
        drop(maps);
        let interior = Interior::new(&f, &polymorphs);
        let points = drop_metal_site_calls(&f, points, positions, &columns, &mut warnings);
        let (vacancies, edge_vacancies) = find_vacancies(
            &f,
            &points,
            (&columns, &measure),
            &dirt,
            &polymorphs,
            &interior,
            &mut warnings,
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
            layer_count,
            vacancy_depth: polymorphs.vacancy_depth.clone(),
            column_contrast,
            warnings,
        };
        let report = build_report(&f, &plan, findings, &areas, &dirt, source, timing);
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

impl Analyzer {
    /// The network over every tile of `plan`: in parallel over the tiles when there are at
    /// least two per thread (or the options ask), else one tile at a time with its
    /// convolutions split over the threads.
    fn infer(
        &self,
        input: &[f32],
        plan: &TilePlan,
        options: &Options,
        progress: &(dyn Fn(usize, usize) -> bool + Sync),
    ) -> Result<Maps> {
        let over_tiles =
            options.parallel_tiles || plan.cores.len() >= 2 * rayon::current_num_threads();
        tiling::run_tiled(
            &self.network,
            input,
            plan,
            over_tiles,
            options.views,
            progress,
        )
    }

    /// Analyzes an image at the pixel size its own lattice gives for `chemistry`: a
    /// first pixel size from the power spectrum's {100} ring, a first analysis there,
    /// the lattice fitted to the columns it found, and the analysis run again at the
    /// pixel size that gives the chemistry's lattice constant. The report's
    /// `pixel_size_source` is "lattice", whatever `source` says.
    pub fn analyze_self_calibrated(
        &self,
        image: &Image,
        chemistry: Chemistry,
        source: &Source,
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
        let source = Source {
            pixel_size_source: PixelSizeSource::Lattice,
            ..source.clone()
        };
        let first_pass = Options {
            tasks: Tasks {
                atoms: true,
                ..options.tasks
            },
            ..options.clone()
        };
        let pass = self.analyze(image, guess, &source, &first_pass, progress)?;
        let positions: Vec<(f64, f64)> = pass.report.atoms.iter().map(|a| (a.x, a.y)).collect();
        let (spacing, _) = calibration::column_spacing_px(&positions, first)
            .ok_or_else(|| no_lattice("the columns found do not form a lattice"))?;
        let pixel_size = spacing_a / spacing;
        let mut analysis = self.analyze(image, pixel_size, &source, &options, progress)?;
        analysis.report.lattice.spectrum_pixel_size_angstrom = Some(guess);
        Ok(analysis)
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
