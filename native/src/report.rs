//! `report.json` and the CSV tables, exactly as `CONTRACT.md` names them.
//! Fields beyond the contract are additions (frame, polymorph per point,
//! histograms, settings, warnings); none of the contract's names change.

pub use crate::calibration::LatticeCheck;
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChemistryInfo {
    /// "MoS2", "WS2", "MoSe2" or "WSe2".
    pub name: String,
    /// "given" (an option) or "assumed" (MoS₂ when none was given).
    pub source: String,
}

impl Default for ChemistryInfo {
    fn default() -> Self {
        ChemistryInfo {
            name: crate::sim::Chemistry::default().name().to_string(),
            source: "assumed".to_string(),
        }
    }
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
    /// Where the pixel size came from: "argument", "file" or "lattice" (measured on the
    /// image's own columns, `--pixel-size lattice`).
    pub pixel_size_source: String,
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
    pub site: String,
    /// The site in the report's chemistry ("W+Se2" for WSe₂'s "Mo+S2").
    #[serde(default)]
    pub species: String,
    /// Background-subtracted integrated intensity in counts·Å² (disk of 0.9 Å).
    pub intensity: f64,
    /// Intensity over the median of nearby chalcogen-only columns (S₂ = 1).
    pub normalized_intensity: f64,
    pub polymorph: String,
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
    pub kind: String,
    /// The type in the report's chemistry ("VSe1" for WSe₂'s "VS1").
    #[serde(default)]
    pub species: String,
    pub confidence: f64,
    pub in_contaminated_area: bool,
    /// Normalized column intensity at the vacancy (VS1 ≈ 0.5, VS2 ≈ 0 of an S₂ column).
    pub normalized_intensity: f64,
    pub polymorph: String,
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
    /// how many there were ([`crate::hollow::ThirdSites::occupancy`]).
    #[serde(default)]
    pub hollow_occupancy: Option<f64>,
    #[serde(default)]
    pub third_sites: usize,
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
    /// Part of that area kept because its hollow sites showed no extra signal.
    #[serde(default)]
    pub cleared_by_hollows_fraction: f64,
    /// Part of the contaminated area where the lattice showed no hollows to check.
    #[serde(default)]
    pub unchecked_fraction: f64,
    /// Empty hollow sites found among the columns, and their median excess signal
    /// (units of the local column–hollow contrast, 0 at the image's cleanest hollows).
    #[serde(default)]
    pub hollow_sites: usize,
    #[serde(default)]
    pub hollow_excess_median: Option<f64>,
    /// Local hollow excess below which a flagged area is kept.
    #[serde(default)]
    pub hollow_clean_excess: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub n_mo: usize,
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
}

fn one() -> usize {
    1
}

fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Report {
    pub fn atoms_csv(&self) -> String {
        let mut s = String::from(
            "x,y,x_A,y_A,site,intensity,normalized_intensity,polymorph,score,in_contaminated_area,species\n",
        );
        for a in &self.atoms {
            s.push_str(&format!(
                "{:.4},{:.4},{:.4},{:.4},{},{:.6},{:.6},{},{:.4},{},{}\n",
                a.x,
                a.y,
                a.x_a,
                a.y_a,
                csv_escape(&a.site),
                a.intensity,
                a.normalized_intensity,
                csv_escape(&a.polymorph),
                a.score,
                a.in_contaminated_area,
                csv_escape(&a.species)
            ));
        }
        s
    }

    pub fn vacancies_csv(&self) -> String {
        let mut s = String::from(
            "x,y,x_A,y_A,type,confidence,in_contaminated_area,normalized_intensity,polymorph,species\n",
        );
        for v in &self.vacancies {
            s.push_str(&format!(
                "{:.4},{:.4},{:.4},{:.4},{},{:.4},{},{:.6},{},{}\n",
                v.x,
                v.y,
                v.x_a,
                v.y_a,
                v.kind,
                v.confidence,
                v.in_contaminated_area,
                v.normalized_intensity,
                csv_escape(&v.polymorph),
                csv_escape(&v.species)
            ));
        }
        s
    }

    /// A few lines a person reads on the terminal.
    pub fn summary_text(&self) -> String {
        let s = &self.summary;
        let mut fr: Vec<(&String, &f64)> = self.polymorph.fractions.iter().collect();
        fr.sort_by(|a, b| b.1.total_cmp(a.1));
        let poly = fr
            .iter()
            .filter(|(_, f)| **f >= 0.005)
            .map(|(k, f)| format!("{k} {:.1}%", **f * 100.0))
            .collect::<Vec<_>>()
            .join(", ");
        let lattice = match self.lattice.a_angstrom {
            Some(a) => format!("lattice a {a:.3} Å"),
            None => "no lattice".to_string(),
        };
        format!(
            "{} ({}x{}, {:.4} Å/px from {}; {lattice}): {} columns ({} Mo, {} S2 sites); VS1 {}, \
             VS2 {} ({:.4} vacancies per S2 site, {:.3} per nm²); polymorphs: {}; carbon {:.1}% \
             ({:.1} nm² analyzed, {:.1} nm² excluded); {:.0} ms",
            self.image.path,
            self.image.width,
            self.image.height,
            self.image.pixel_size_angstrom,
            self.image.pixel_size_source,
            self.atoms.len(),
            s.n_mo,
            s.n_s2_sites,
            s.n_vs1,
            s.n_vs2,
            s.vs_per_s2_site,
            s.vacancies_per_nm2,
            if poly.is_empty() { "none".into() } else { poly },
            self.carbon.contaminated_fraction * 100.0,
            s.analyzed_area_nm2,
            s.excluded_area_nm2,
            self.timing_ms.get("total").copied().unwrap_or(0.0)
        )
    }
}
