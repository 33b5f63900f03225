//! HAADF-STEM image simulator for MoS₂ polymorphs, vacancies and carbon contamination.
//!
//! Incoherent imaging (Kirkland's "incostem" idea): atoms are deposited with bilinear
//! sub-pixel weights proportional to their HAADF cross-section, convolved with the probe
//! intensity by FFT ([`probe`]), then degraded by scan distortions ([`scan`]), shot and
//! detector noise ([`noise`]). Labels are exact because they come from the same atoms.
//!
//! Flow: [`SimRequest`] → [`SimParams::draw`] → [`render`] → [`Sample`].

pub mod field;
pub mod labels;
pub mod noise;
pub mod params;
pub mod probe;
pub mod regions;
mod render;
pub mod scan;
pub mod structure;

pub use params::{BoundaryShape, SimParams, SimRequest};
pub use render::render;
pub use structure::{Chemistry, Element, Polymorph, POLYMORPH_CLASSES};

use crate::error::Result;
use crate::image::Image;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// One atom column in the image, as the truth the models are scored against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnTruth {
    /// Position in image pixels (x = column, y = row; pixel centres at integers).
    pub x: f64,
    pub y: f64,
    /// What the column holds now, e.g. "Mo", "S2", "S" (a VS1 site), "Mo+S2".
    pub site: String,
    /// What it would hold without vacancies.
    pub nominal_site: String,
    pub polymorph: String,
    /// Sub-lattice of the hexagonal projection: "A", "B" or "C".
    pub sublattice: String,
    pub layers: usize,
    /// Whether the column holds at least one Mo atom.
    pub metal: bool,
}

/// A sulfur vacancy in 2H monolayer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VacancyTruth {
    pub x: f64,
    pub y: f64,
    /// "VS1" (one S of the S₂ pair missing) or "VS2" (both).
    #[serde(rename = "type")]
    pub kind: String,
}

/// Things that are neither lattice columns nor S vacancies: Mo vacancies, adatoms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistractorTruth {
    pub x: f64,
    pub y: f64,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A simulated image with its exact labels.
#[derive(Debug, Clone)]
pub struct Sample {
    pub image: Image,
    /// Polymorph class per pixel (0 = vacuum, 1..=6 as [`POLYMORPH_CLASSES`]).
    pub polymorph_map: Vec<u8>,
    /// Local amorphous-carbon thickness per pixel, Å.
    pub carbon_map: Vec<f32>,
    pub columns: Vec<ColumnTruth>,
    pub vacancies: Vec<VacancyTruth>,
    pub distractors: Vec<DistractorTruth>,
    pub params: SimParams,
    /// Where each scan line really read the specimen, relative to its nominal place
    /// (px, x and y, one per row): the line jitter, kept so tests can score its removal.
    pub line_jitter_px: (Vec<f64>, Vec<f64>),
}

/// `truth.json` as the command-line contract defines it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    pub pixel_size_angstrom: f64,
    pub width: usize,
    pub height: usize,
    pub polymorph_classes: Vec<String>,
    pub columns: Vec<ColumnTruth>,
    pub vacancies: Vec<VacancyTruth>,
    pub distractors: Vec<DistractorTruth>,
    pub params: SimParams,
}

impl Sample {
    pub fn truth(&self) -> Truth {
        Truth {
            pixel_size_angstrom: self.params.pixel_size_angstrom,
            width: self.image.width,
            height: self.image.height,
            polymorph_classes: POLYMORPH_CLASSES.iter().map(|s| s.to_string()).collect(),
            columns: self.columns.clone(),
            vacancies: self.vacancies.clone(),
            distractors: self.distractors.clone(),
            params: self.params.clone(),
        }
    }
}

/// Simulate one image. The same request and seed give identical bytes.
pub fn simulate(req: &SimRequest, seed: u64) -> Result<Sample> {
    req.validate()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let params = SimParams::draw(req, &mut rng);
    Ok(render(&params, &mut rng))
}
