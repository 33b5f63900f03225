//! Every setting of an analysis once: the tasks, [`Options`] with their defaults, the
//! numeric [`Range`]s the CLI, JNI, Java binding and plugin read, and the checks of an
//! image and a pixel size before any work.

use super::carbon;
use super::localize::Refinement;
use crate::crystal::{Chemistry, Polymorph};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::nn::tiling::{self};

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

/// Default polymorph smoothing: on 60 tuning images (seed 600000) the worst class went
/// 0.958 → 0.971 / 0.974 / 0.974 / 0.972 / 0.964 at 1 / 2 / 3 / 4 / 6 Å.
pub const POLYMORPH_SMOOTHING_A: f64 = 3.0;

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
    /// The polymorphs the specimen can hold, when the user knows (a monolayer, a known
    /// stack): the polymorph map then chooses among these alone. Empty: all six.
    pub polymorphs: Vec<Polymorph>,
    /// What the user knows of the acquisition beyond the file's metadata; with a dose the
    /// image is read as detected electrons per pixel and the 2H layer count comes from its
    /// absolute signal ([`super::layers`]).
    pub exposure: Exposure,
}

/// The dose and optics of an acquisition as the user gives them; each overrides the
/// file's metadata, which fills what is absent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Exposure {
    /// Incident electrons per Å², the image being detected electrons per pixel.
    pub dose_e_per_a2: Option<f64>,
    pub kv: Option<f64>,
    /// Probe convergence semi-angle.
    pub convergence_mrad: Option<f64>,
    /// Annular detector inner and outer collection angles.
    pub detector_mrad: Option<(f64, f64)>,
}

impl Exposure {
    pub(super) fn validate(&self) -> Result<()> {
        let check = |r: &Range, v: Option<f64>| v.map_or(Ok(()), |v| r.check(v));
        check(&DOSE, self.dose_e_per_a2)?;
        check(&KV, self.kv)?;
        check(&CONVERGENCE, self.convergence_mrad)?;
        check(&DETECTOR_INNER, self.detector_mrad.map(|d| d.0))?;
        check(&DETECTOR_OUTER, self.detector_mrad.map(|d| d.1))?;
        if let Some((inner, outer)) = self.detector_mrad {
            if outer <= inner {
                return Err(Error::invalid(format!(
                    "detector outer angle {outer} mrad must exceed its inner angle {inner} mrad"
                )));
            }
        }
        Ok(())
    }
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
            polymorphs: Vec::new(),
            exposure: Exposure::default(),
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

/// The acquisition, when the user gives it ([`Exposure`]): bounds of what the
/// simulator's multislice response covers or extrapolates sensibly; the defaults are the
/// library's reference conditions, a dialog's starting values (none is assumed).
pub const DOSE: Range = Range {
    name: "dose",
    key: "dose_e_per_a2",
    default: 1e5,
    min: 10.0,
    max: 1e9,
    why: "incident electrons per Å²",
};

pub const KV: Range = Range {
    name: "kv",
    key: "kv",
    default: 80.0,
    min: 30.0,
    max: 300.0,
    why: "accelerating voltage, kV",
};

pub const CONVERGENCE: Range = Range {
    name: "convergence",
    key: "convergence_mrad",
    default: 23.0,
    min: 5.0,
    max: 60.0,
    why: "probe convergence semi-angle, mrad",
};

pub const DETECTOR_INNER: Range = Range {
    name: "detector-inner",
    key: "detector_inner_mrad",
    default: 40.0,
    min: 10.0,
    max: 300.0,
    why: "annular detector inner angle, mrad",
};

pub const DETECTOR_OUTER: Range = Range {
    name: "detector-outer",
    key: "detector_outer_mrad",
    default: 160.0,
    min: 20.0,
    max: 1000.0,
    why: "annular detector outer angle, mrad",
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

/// The acquisition's bounds: optional values, so not among [`RANGES`]' defaults.
pub const EXPOSURE_RANGES: [Range; 5] = [DOSE, KV, CONVERGENCE, DETECTOR_INNER, DETECTOR_OUTER];

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
    /// Whether the polymorph map may choose `p` (every polymorph when none was named).
    pub fn allows(&self, p: Polymorph) -> bool {
        self.polymorphs.is_empty() || self.polymorphs.contains(&p)
    }

    /// The polymorphs the map may choose, as named, or all six.
    pub fn allowed_polymorphs(&self) -> Vec<Polymorph> {
        if self.polymorphs.is_empty() {
            Polymorph::ALL.to_vec()
        } else {
            self.polymorphs.clone()
        }
    }

    /// Refuses any setting outside its range before any work, naming it and the range.
    pub fn validate(&self) -> Result<()> {
        ATOM_THRESHOLD.check(self.atom_threshold as f64)?;
        VACANCY_THRESHOLD.check(self.vacancy_threshold as f64)?;
        CARBON_THRESHOLD.check(self.carbon_threshold)?;
        CARBON_SMOOTHING_A.check(self.carbon_smoothing_a)?;
        POLYMORPH_SMOOTHING.check(self.polymorph_smoothing_a)?;
        HALO.check(self.halo as f64)?;
        VIEWS.check(self.views as f64)?;
        self.exposure.validate()?;
        if let Some(t) = self.tile {
            if t % 16 != 0 || !(64..=2048).contains(&t) {
                return Err(Error::invalid(format!(
                    "tile {t} must be a multiple of 16 from 64 to 2048 model pixels"
                )));
            }
        }
        for (i, p) in self.polymorphs.iter().enumerate() {
            if self.polymorphs[..i].contains(p) {
                return Err(Error::invalid(format!(
                    "polymorph {p} is named twice in the allowed polymorphs"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn every_setting_is_checked_against_its_range() {
        let d = Options::default();
        d.validate().expect("the defaults are valid");
        for r in RANGES.iter().chain(&EXPOSURE_RANGES) {
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
                    "dose" => o.exposure.dose_e_per_a2 = Some(bad),
                    "kv" => o.exposure.kv = Some(bad),
                    "convergence" => o.exposure.convergence_mrad = Some(bad),
                    "detector-inner" => o.exposure.detector_mrad = Some((bad, 1000.0)),
                    "detector-outer" => o.exposure.detector_mrad = Some((10.0, bad)),
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
}
