//! `stemsight eval`: scores the whole pipeline on simulated folders with truth,
//! following SCIENCE.md §4.
//!
//! - Points (columns, VS1, VS2) match one-to-one within 0.7 Å, greedily by
//!   distance; precision, recall, F1 per class; position RMSE in pm over matched
//!   columns, for the chosen sub-pixel refinement and its fallback.
//! - Polymorphs per pixel over the truly non-vacuum area: per-class accuracy and
//!   a confusion matrix, on all pixels and on clean ones (true carbon < 3 Å).
//! - Vacancies are scored over all areas, over truly clean ones (true carbon < 3 Å;
//!   "VS1c") and over the area the tool itself counts in, where its own carbon map is
//!   below the threshold ("VS1a": what the report's summary rests on).
//! - Vacancy density: VS1 and VS2 per 2H-1L S₂ site over the area the report counts in,
//!   against the truth's over the whole image (ratio 1 = the count is unbiased; a
//!   carbon filter that looks at what sits on a site moves it).
//! - Carbon: mean absolute thickness error (Å, truth clipped to the model's
//!   10 Å scale) and IoU of the contaminated masks.
//! - Columns within half a match radius of the border are left out on both sides.
//!   True vacancies within 1 Å of it (where the report calls none: a column the border
//!   cuts looks dimmer) are not scored, but the engine's finds there still match the
//!   truths just inside (a guard band: `match_in_scope`); the same holds at the edges
//!   of the clean and the kept areas.
//! - Atom RMSE is also given along x and y, with each image's mean offset removed
//!   (a rigid shift of the frame is not observable), per true column content, and over
//!   columns in clean areas (true carbon < 3 Å).
//! - Every score is also broken down by dose decade and by carbon level.
//!
//! Counts are summed over images before dividing (micro-averages), so an image
//! with many columns weighs more than a small one.

mod truth;

mod scene;

mod bins;

mod bootstrap;

mod table;

pub mod matching;

pub mod tally;

use crate::analysis::{Analyzer, Options};
use crate::crystal::PolymorphClass;
use crate::error::{Error, ErrorKind, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bins::*;
use bootstrap::*;
use scene::*;
pub use table::summary_table;
use tally::*;

/// Folders under `data` that hold a simulation with truth.
pub fn sample_dirs(data: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(data)
        .map_err(|e| Error::io(data, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("truth.json").is_file() && p.join("image.tif").is_file())
        .collect();
    if data.join("truth.json").is_file() {
        dirs.push(data.to_path_buf());
    }
    dirs.sort();
    if dirs.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidParameter,
            "no simulation folders (image.tif + truth.json) found",
        )
        .with_path(data));
    }
    Ok(dirs)
}

/// Evaluates every folder; `progress(done, total)` after each one.
pub fn evaluate(
    analyzer: &Analyzer,
    data: &Path,
    options: &Options,
    progress: &dyn Fn(usize, usize),
) -> Result<EvalReport> {
    let dirs = sample_dirs(data)?;
    let mut overall = Tally::default();
    let mut by_dose: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_carbon: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_px: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_scan: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_chem: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut per_image = Vec::with_capacity(dirs.len());
    for (k, dir) in dirs.iter().enumerate() {
        match eval_one(analyzer, dir, options) {
            Ok((t, params, px, _)) => {
                overall.add(&t);
                per_image.push((t.points(), t.density));
                by_dose.entry(dose_bin(&params)).or_default().add(&t);
                by_carbon.entry(carbon_bin(&params)).or_default().add(&t);
                by_px.entry(pixel_bin(px)).or_default().add(&t);
                by_scan.entry(scan_bin(&params)).or_default().add(&t);
                by_chem.entry(chemistry_bin(&params)).or_default().add(&t);
            }
            Err(e) => failures.push(format!("{}: {e}", dir.display())),
        }
        progress(k + 1, dirs.len());
    }
    if overall.images == 0 {
        return Err(Error::invalid(format!(
            "every folder failed; first: {}",
            failures.first().cloned().unwrap_or_default()
        )));
    }
    let card = &analyzer.network.card;
    Ok(EvalReport {
        data: data.display().to_string(),
        models: vec![crate::findings::ModelRef {
            name: card.name.clone(),
            sha256: card.sha256.clone(),
        }],
        refinement: options.refinement.name().to_string(),
        overall: overall.scores(),
        by_dose: by_dose
            .iter()
            .map(|(k, t)| (k.clone(), t.scores()))
            .collect(),
        by_carbon: by_carbon
            .iter()
            .map(|(k, t)| (k.clone(), t.scores()))
            .collect(),
        by_pixel_size: by_px.iter().map(|(k, t)| (k.clone(), t.scores())).collect(),
        by_scan_noise: by_scan
            .iter()
            .map(|(k, t)| (k.clone(), t.scores()))
            .collect(),
        by_chemistry: by_chem
            .iter()
            .map(|(k, t)| (k.clone(), t.scores()))
            .collect(),
        confusion: overall.confusion.clone(),
        confusion_clean: overall.confusion_clean.clone(),
        classes: PolymorphClass::names(),
        interval95: bootstrap(&per_image, BOOTSTRAP_RESAMPLES, 7),
        failures,
    })
}
