//! HAADF-STEM image simulator for MoS₂ polymorphs, vacancies and carbon contamination.
//!
//! Incoherent imaging (Kirkland's "incostem" idea): columns are deposited with bilinear
//! sub-pixel weights equal to their signal in a frozen-phonon multislice library
//! ([`response`]: by content in beam order, voltage and detector), convolved with the probe
//! intensity by FFT ([`probe`]) and a diffuse halo, then degraded by scan distortions
//! ([`scan`]), shot and detector noise ([`noise`]). Labels are exact because they come from
//! the same atoms.
//!
//! Flow: [`SimRequest`] → [`SimParams::draw`] → [`render`] → [`Sample`].

pub mod field;
pub mod labels;
pub mod noise;
pub mod params;
pub mod probe;
pub mod reference;
pub mod regions;
mod render;
pub mod response;
pub mod scan;

pub use params::{BoundaryShape, SimParams, SimRequest};
pub use render::render;
pub mod dataset;
pub mod folder;

use crate::crystal::{
    display_by_name, serde_by_name, Column, Polymorph, PolymorphClass, Role, Site, VacancyKind,
};
use crate::error::{Error, Result};
use crate::image::Image;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One atom column in the image, as the truth the models are scored against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnTruth {
    /// Position in image pixels (x = column, y = row; pixel centres at integers).
    pub x: f64,
    pub y: f64,
    /// What the column holds now, e.g. "Mo", "S2", "S" (a VS1 site), "Mo+S2".
    pub site: Column,
    /// What it would hold without vacancies.
    pub nominal_site: Column,
    pub polymorph: Polymorph,
    /// Sub-lattice of the hexagonal projection: "A", "B" or "C" (absent from truth
    /// written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sublattice: Option<Site>,
    pub layers: usize,
    /// Whether the column holds at least one metal atom.
    pub metal: bool,
}

/// A chalcogen vacancy in 2H monolayer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VacancyTruth {
    pub x: f64,
    pub y: f64,
    /// "VS1" (one S of the S₂ pair missing) or "VS2" (both).
    #[serde(rename = "type")]
    pub kind: VacancyKind,
}

/// What a distractor is: a missing metal, or an extra atom on top of the film.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DistractorKind {
    MetalVacancy,
    Adatom(Role),
}

impl DistractorKind {
    pub const ALL: [DistractorKind; 3] = [
        DistractorKind::MetalVacancy,
        DistractorKind::Adatom(Role::Metal),
        DistractorKind::Adatom(Role::Chalcogen),
    ];

    /// "VMo", "adatom-Mo" or "adatom-S" (MoS₂'s symbols, as every truth name).
    pub fn name(self) -> &'static str {
        match self {
            DistractorKind::MetalVacancy => "VMo",
            DistractorKind::Adatom(Role::Metal) => "adatom-Mo",
            DistractorKind::Adatom(Role::Chalcogen) => "adatom-S",
        }
    }
}

impl std::str::FromStr for DistractorKind {
    type Err = String;

    fn from_str(name: &str) -> std::result::Result<DistractorKind, String> {
        DistractorKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| format!("unknown distractor type '{name}'"))
    }
}

display_by_name!(DistractorKind);
serde_by_name!(DistractorKind);

/// Things that are neither lattice columns nor S vacancies: Mo vacancies, adatoms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistractorTruth {
    pub x: f64,
    pub y: f64,
    #[serde(rename = "type")]
    pub kind: DistractorKind,
}

/// A simulated image with its exact labels.
#[derive(Debug, Clone)]
pub struct Sample {
    pub image: Image,
    /// Polymorph class per pixel ([`PolymorphClass::index`]: 0 = vacuum, 1..=6).
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

/// `truth.json` as the command-line contract defines it; what `stemsight eval` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    pub pixel_size_angstrom: f64,
    pub width: usize,
    pub height: usize,
    #[serde(default)]
    pub polymorph_classes: Vec<String>,
    pub columns: Vec<ColumnTruth>,
    pub vacancies: Vec<VacancyTruth>,
    #[serde(default)]
    pub distractors: Vec<DistractorTruth>,
    pub params: SimParams,
}

impl Truth {
    /// Reads a `truth.json`.
    pub fn read(path: &Path) -> Result<Truth> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::decode(path, e))
    }
}

impl Sample {
    pub fn truth(&self) -> Truth {
        Truth {
            pixel_size_angstrom: self.params.pixel_size_angstrom,
            width: self.image.width,
            height: self.image.height,
            polymorph_classes: PolymorphClass::names(),
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
