//! What an analysis found, as `report.json` carries it, exactly as `CONTRACT.md` names it.
//! Fields beyond the contract are additions (frame, polymorph per point,
//! histograms, settings, warnings); none of the contract's names change.

use crate::crystal::{display_by_name, serde_by_name};
use crate::crystal::{Chemistry, ChemistrySource, Column, Polymorph, PolymorphClass, VacancyKind};
pub use crate::io::Acquisition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub tool_version: String,
    pub models: Vec<ModelRef>,
    pub image: ImageInfo,
    pub atoms: Vec<Atom>,
    pub vacancies: Vec<Vacancy>,
    pub polymorph: PolymorphSummary,
    pub carbon: CarbonSummary,
    pub summary: Summary,
    pub intensity_histogram: IntensityHistogram,
    pub settings: Settings,
    /// The columns' lattice constant and what it says about the calibration.
    #[serde(default)]
    pub lattice: LatticeCheck,
    /// The chemistry the site names (`species`) are written in.
    #[serde(default)]
    pub chemistry: ChemistryInfo,
    pub warnings: Vec<String>,
    pub timing_ms: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChemistryInfo {
    /// "MoS2", "WS2", "MoSe2" or "WSe2".
    pub name: Chemistry,
    /// "given" (an option) or "assumed" (MoS₂ when none was given).
    pub source: ChemistrySource,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelRef {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageInfo {
    pub path: String,
    pub width: usize,
    pub height: usize,
    pub pixel_size_angstrom: f64,
    /// Where the pixel size came from: "argument", "file", "calibration" (the host
    /// application's) or "lattice" (measured on the image's own columns).
    pub pixel_size_source: PixelSizeSource,
    /// Frame index within a stack (0 for single images).
    pub frame: usize,
    pub frames: usize,
    /// What the file says about the acquisition (null where it says nothing).
    #[serde(default)]
    pub acquisition: Acquisition,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Atom {
    pub x: f64,
    pub y: f64,
    #[serde(rename = "x_A")]
    pub x_a: f64,
    #[serde(rename = "y_A")]
    pub y_a: f64,
    /// The column's content in MoS₂'s symbols ("Mo", "S2", "Mo+S2", …).
    pub site: Column,
    /// The site in the report's chemistry ("W+Se2" for WSe₂'s "Mo+S2").
    #[serde(default)]
    pub species: String,
    /// Background-subtracted integrated intensity in counts·Å² (disk of 0.9 Å).
    pub intensity: f64,
    /// Intensity over the median of nearby chalcogen-only columns (S₂ = 1).
    pub normalized_intensity: f64,
    /// The polymorph class under the column ("vacuum" where the map says so).
    pub polymorph: PolymorphClass,
    /// Peak height of the atom heatmap (0..1).
    pub score: f64,
    pub in_contaminated_area: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vacancy {
    pub x: f64,
    pub y: f64,
    #[serde(rename = "x_A")]
    pub x_a: f64,
    #[serde(rename = "y_A")]
    pub y_a: f64,
    #[serde(rename = "type")]
    pub kind: VacancyKind,
    /// The type in the report's chemistry ("VSe1" for WSe₂'s "VS1").
    #[serde(default)]
    pub species: String,
    pub confidence: f64,
    pub in_contaminated_area: bool,
    /// Normalized column intensity at the vacancy (VS1 ≈ 0.5, VS2 ≈ 0 of an S₂ column).
    pub normalized_intensity: f64,
    pub polymorph: PolymorphClass,
    /// The share of a chalcogen column's signal left above the hollows' floor at the call
    /// ([`crate::analysis::neighbourhood::Neighbourhood::depth`]: monolayer VS1 ≈ 0.3–0.5,
    /// VS2 ≈ 0, an intact column 1); absent where too few columns stand around it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolymorphSummary {
    pub classes: Vec<String>,
    pub fractions: BTreeMap<String, f64>,
    pub fractions_clean: BTreeMap<String, f64>,
    /// Fraction of the image the network calls vacuum (holes, edges).
    pub vacuum_fraction: f64,
    /// The lattice's own word: of the third sites of the found columns' links (the
    /// hollows of 2H stacks, filled in 3R and 1T), the share that holds a column, and
    /// how many there were ([`crate::analysis::hollow::ThirdSites::occupancy`]).
    #[serde(default)]
    pub hollow_occupancy: Option<f64>,
    #[serde(default)]
    pub third_sites: usize,
    /// The 2H layer count read from the image's absolute signal, when the dose was given
    /// ([`crate::analysis::layers`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_count: Option<LayerCount>,
    /// The 2H areas the depth of their vacancies showed to be monolayers
    /// ([`crate::analysis::vacancy_depth`]); absent where 2H-1L was not allowed or the dose
    /// gave the layer count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vacancy_depth: Option<VacancyDepth>,
    /// How the two column kinds of each 2H class compare, against what the simulator gives
    /// each layer count ([`crate::analysis::contrast`]); empty where no 2H class holds
    /// enough columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_contrast: Vec<ColumnContrast>,
}

/// The column contrast of one 2H class: an entry of the report's `polymorph.column_contrast`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnContrast {
    /// The class the polymorph map gave the columns (2H-1L, 2H-2L or 2H-3L).
    pub polymorph: String,
    /// Columns measured on each sublattice.
    pub columns: [usize; 2],
    /// The dimmer sublattice's median signal above the hollows beside it over the
    /// brighter's (0.9 Å disks): the ratio of their columns' integrated signals.
    pub ratio: f64,
    /// The simulator's range of that ratio for this class of the chemistry.
    pub expected: [f64; 2],
    /// Whether `ratio` lies in `expected` (within [`crate::analysis::contrast::TOLERANCE`]).
    pub fits: bool,
    /// The 2H classes whose simulated range `ratio` fits.
    pub fitting: Vec<String>,
    /// The simulator's range for every 2H class, by name.
    pub simulated: BTreeMap<String, [f64; 2]>,
    /// Whether the ranges are at the voltage and detector the file or the options gave;
    /// else over every annular detector the simulator holds (inner 25–100 mrad, 60–200 kV,
    /// 20–35 mrad probes).
    pub optics_known: bool,
    /// The 2H class the columns were relabelled to: at known optics, where the contrast
    /// lies near another allowed 2H class's and clearly nearer than to the map's
    /// ([`crate::analysis::contrast::RELABEL_MARGIN`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relabelled_to: Option<String>,
    /// The chemistries whose simulated range for this class the ratio fits: where the
    /// chemistry was assumed, what the contrast says it may be.
    #[serde(default)]
    pub chemistries: Vec<String>,
}

/// What the layer count read from the absolute signal: the report's `polymorph.layer_count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerCount {
    /// Incident electrons per Å² the image was read at.
    pub dose_e_per_angstrom2: f64,
    pub kv: f64,
    pub convergence_mrad: f64,
    pub detector_mrad: [f64; 2],
    /// Share of the beam a perfect stack of each count sends to the detector at these
    /// optics, by polymorph name.
    pub reference_fraction: BTreeMap<String, f64>,
    /// The same share measured on the image, median over the pixels of the 2H family (a
    /// 1-in-16 sample of them).
    pub measured_fraction: Option<f64>,
    /// Of the 2H family's pixels, the share whose layer count the signal changed.
    pub relabelled_fraction: f64,
    /// The measured share lies more than [`crate::analysis::layers::DOSE_MISMATCH`] times
    /// outside the stacks' range: the image is not in detected electrons at this dose, and
    /// neither the layer count nor the carbon excess was read from it.
    #[serde(default)]
    pub dose_mismatch: bool,
}

/// What the vacancies' depth said of the areas read as 2H stacks: the report's
/// `polymorph.vacancy_depth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VacancyDepth {
    /// Vacancy calls in the areas read as 2H-2L / 2H-3L whose depth could be measured.
    pub calls: usize,
    /// Their median depth: the share of a chalcogen column's signal above the hollows'
    /// floor left at the call (monolayer VS1 0.5, VS2 0; 2H-2L 0.47–0.83).
    pub median_depth: Option<f64>,
    /// Linked areas read as 2H-2L / 2H-3L, and those relabelled 2H-1L.
    pub areas: usize,
    pub monolayer_areas: usize,
    /// Of the pixels read as 2H-2L / 2H-3L, the share relabelled 2H-1L (by their calls'
    /// depth or by their columns' signal).
    pub relabelled_fraction: f64,
    /// Areas without enough calls of their own relabelled 2H-1L because their columns
    /// shine no brighter than the monolayer's beside them
    /// ([`crate::analysis::vacancy_depth`]).
    #[serde(default)]
    pub signal_areas: usize,
    /// The limit on an area's median column signal over the monolayer's brighter
    /// sublattice below which it is the monolayer; absent where no monolayer reference
    /// was found or the chemistry's stacks do not stand clear of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_limit: Option<f64>,
    /// The highest such ratio among the areas relabelled by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_ratio: Option<f64>,
}

impl VacancyDepth {
    /// Share of the stacks' area that must be relabelled for the image to count as a known
    /// monolayer, as a declared one does (its sublattices read together, calls on the
    /// metal sublattice dropped).
    pub const KNOWN_MONOLAYER: f64 = 0.9;

    /// Whether the vacancies showed (nearly) all the area read as 2H stacks to be a
    /// monolayer.
    pub fn shows_monolayer(&self) -> bool {
        self.monolayer_areas + self.signal_areas > 0
            && self.relabelled_fraction >= Self::KNOWN_MONOLAYER
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CarbonSummary {
    /// Fraction of the non-vacuum area above the contamination threshold.
    pub contaminated_fraction: f64,
    /// Threshold on the carbon map (0..1; × scale = Å of carbon).
    pub threshold: f64,
    pub scale_angstrom: f64,
    /// The map is the carbon above a uniform thin film (patches), as the model estimates it.
    #[serde(default)]
    pub above_film: bool,
    pub filter_applied: bool,
    /// Fraction of the non-vacuum area the carbon map alone puts above its threshold.
    #[serde(default)]
    pub map_fraction: f64,
    /// Part of that area kept because its empty sites (hollows; troughs in 3R and 1T)
    /// showed no extra signal.
    #[serde(default)]
    pub cleared_by_hollows_fraction: f64,
    /// Part of the contaminated area where the lattice showed no empty sites to check.
    #[serde(default)]
    pub unchecked_fraction: f64,
    /// With the dose known, the part left out because the signal exceeds the simulated
    /// share of the stack by [`crate::analysis::carbon::SIGNAL_CARBON_EXCESS`] or more where
    /// the map and the hollows kept it.
    #[serde(default)]
    pub signal_excess_fraction: f64,
    /// Empty hollow sites found among the columns, and their median excess signal
    /// (units of the local column–hollow contrast, 0 at the image's cleanest hollows).
    #[serde(default)]
    pub hollow_sites: usize,
    #[serde(default)]
    pub hollow_excess_median: Option<f64>,
    /// Local hollow excess below which a flagged area is kept.
    #[serde(default)]
    pub hollow_clean_excess: f64,
    /// Troughs (centres of three columns) of filled lattices (3R, 1T), whose local excess
    /// decides where no hollow stands, and the level below which they read clean.
    #[serde(default)]
    pub trough_sites: usize,
    #[serde(default)]
    pub trough_clean_excess: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Clean columns holding a metal.
    pub n_mo: usize,
    /// Clean columns holding chalcogens (a stacked column, holding a metal and another
    /// layer's chalcogen pair, counts here and in `n_mo`), plus the VS2 sites.
    pub n_s2_sites: usize,
    pub n_vs1: usize,
    pub n_vs2: usize,
    pub vs_per_s2_site: f64,
    pub missing_s_per_s2_site: f64,
    pub vacancies_per_nm2: f64,
    pub analyzed_area_nm2: f64,
    pub excluded_area_nm2: f64,
    /// Vacancies found inside contaminated areas and left out of the counts above.
    pub n_vacancies_excluded: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntensityHistogram {
    /// Bin edges of normalized intensity (S₂ = 1).
    pub edges: Vec<f64>,
    /// Counts per site label, clean columns only.
    pub counts: BTreeMap<String, Vec<u64>>,
    /// Counts of vacancy sites (VS1 and VS2) by the same bins.
    pub vacancy_counts: BTreeMap<String, Vec<u64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub tasks: Vec<String>,
    pub model_pixel_size_angstrom: f64,
    pub tile: usize,
    pub halo: usize,
    pub tiles: usize,
    pub atom_threshold: f64,
    pub vacancy_threshold: f64,
    pub carbon_threshold: f64,
    pub carbon_filter: bool,
    /// Whether the carbon map's call was checked against the hollow sites.
    #[serde(default)]
    pub hollow_check: bool,
    pub refinement: String,
    /// Whether scan-line jitter was estimated and removed from the column positions.
    #[serde(default)]
    pub line_correction: bool,
    /// Å over which polymorph probabilities were averaged before the per-pixel class.
    #[serde(default)]
    pub polymorph_smoothing_angstrom: f64,
    /// Å (σ) over which the carbon map was averaged before thresholding.
    #[serde(default)]
    pub carbon_smoothing_angstrom: f64,
    /// Symmetric views of each tile whose network outputs were averaged.
    #[serde(default = "one")]
    pub views: usize,
    /// The polymorphs the map could choose from: all six unless the caller said which
    /// the specimen holds (`--polymorphs`).
    #[serde(default = "all_polymorphs")]
    pub polymorphs: Vec<Polymorph>,
}

fn all_polymorphs() -> Vec<Polymorph> {
    Polymorph::ALL.to_vec()
}

fn one() -> usize {
    1
}

/// What the found columns say about the lattice and the calibration (`report.lattice`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatticeCheck {
    /// In-plane lattice constant a from the columns at the analysis' pixel size (Å);
    /// `None` when too few columns form a lattice.
    pub a_angstrom: Option<f64>,
    /// Neighbour links between columns that measured it.
    pub links: usize,
    /// The chemistry a is compared with, and whether it was "given" or "assumed".
    pub chemistry: Chemistry,
    pub chemistry_source: ChemistrySource,
    /// The chemistry's lattice constant (Å).
    pub expected_a_angstrom: f64,
    /// a / expected − 1.
    pub deviation: Option<f64>,
    /// The pixel size at which the lattice would have the chemistry's constant (Å/px).
    pub implied_pixel_size_angstrom: Option<f64>,
    /// Whether `deviation` exceeds the tolerance.
    pub calibration_suspect: bool,
    /// With `--pixel-size lattice`: the first pixel size, from the power spectrum, that
    /// the columns were found at before the lattice fit set the final one.
    pub spectrum_pixel_size_angstrom: Option<f64>,
}

/// Where the pixel size came from (`report.image.pixel_size_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelSizeSource {
    /// Passed by the caller (`--pixel-size`, the Java binding's argument).
    #[default]
    Argument,
    /// Read from the file's calibration.
    File,
    /// The image's calibration in the host application (the Fiji plugin: ImageJ's,
    /// which the file set or the user changed).
    Calibration,
    /// Measured on the image's own columns (`Analyzer::analyze_self_calibrated`).
    Lattice,
}

impl PixelSizeSource {
    pub const ALL: [PixelSizeSource; 4] = [
        PixelSizeSource::Argument,
        PixelSizeSource::File,
        PixelSizeSource::Calibration,
        PixelSizeSource::Lattice,
    ];

    /// The name the report carries: "argument", "file", "calibration" or "lattice".
    pub fn name(self) -> &'static str {
        match self {
            PixelSizeSource::Argument => "argument",
            PixelSizeSource::File => "file",
            PixelSizeSource::Calibration => "calibration",
            PixelSizeSource::Lattice => "lattice",
        }
    }

    /// The source named `name` (as [`PixelSizeSource::name`] gives it), if any.
    pub fn from_name(name: &str) -> Option<PixelSizeSource> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::str::FromStr for PixelSizeSource {
    type Err = String;
    fn from_str(name: &str) -> std::result::Result<Self, String> {
        PixelSizeSource::from_name(name)
            .ok_or_else(|| format!("unknown pixel size source '{name}'"))
    }
}

display_by_name!(PixelSizeSource);
serde_by_name!(PixelSizeSource);
