//! Training data: many simulated samples drawn from a config of ranges, made in
//! parallel and written as numpy shards with their labels.
//!
//! Layout of an output directory (read by `scripts/train/data.py`):
//! - `manifest.json`: n, seed, size, classes, shards, the config.
//! - per shard `shard-NNNNN`: `.image.npy` f32 [n,H,W], `.polymorph.npy` u8,
//!   `.carbon.npy` f32 (Å), `.vacancy.npy` u8 (0/1 VS1/2 VS2 disks), `.atoms.npy` u8
//!   (1 metal-containing column, 2 chalcogen-only), `.meta.jsonl` (one line per sample).
//!
//! Sample k uses seed `mix(seed, k)`, so a dataset is identical whatever the thread
//! count or shard size, and disjoint seed ranges give disjoint data.

use crate::crystal::{Chemistry, Polymorph, PolymorphClass};
use crate::error::{Error, Result};
use crate::io::npy;
use crate::sim::labels::{atom_mask, vacancy_mask};
use crate::sim::{simulate, BoundaryShape, Sample, SimRequest};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Ranges the dataset draws each sample's request from. Pairs are [min, max].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetConfig {
    pub size: usize,
    pub pixel_size_angstrom: [f64; 2],
    /// Relative frequency of each primary polymorph.
    pub polymorph_weights: BTreeMap<String, f64>,
    pub second_polymorph_probability: f64,
    pub vs1_fraction: [f64; 2],
    pub vs2_fraction: [f64; 2],
    /// Log-uniform.
    pub dose_e_per_angstrom2: [f64; 2],
    pub carbon: [f64; 2],
    pub carbon_free_probability: f64,
    pub scan_noise: [f64; 2],
    pub hole_probability: f64,
    pub hole_fraction: [f64; 2],
    pub strain: f64,
    pub mo_vacancy_fraction: [f64; 2],
    pub adatoms_per_nm2: [f64; 2],
    pub shard_size: usize,
    /// Relative frequency of each chemistry (MoS2, WS2, MoSe2, WSe2); empty = MoS₂ only.
    /// Drawn last, and only when set, so configs without it keep their images per seed.
    pub chemistry_weights: BTreeMap<String, f64>,
    /// Share of samples recorded with a low-angle annular detector
    /// ([`super::params::LOW_ANGLE_ADF_MRAD`]); drawn after the chemistry, and only when
    /// above 0, so configs without it keep their images per seed.
    pub low_angle_adf_probability: f64,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        let weights = [
            ("2H-1L", 3.0),
            ("2H-2L", 1.0),
            ("2H-3L", 1.0),
            ("3R-2L", 1.0),
            ("3R-3L", 1.0),
            ("1T", 1.0),
        ];
        DatasetConfig {
            size: 160,
            pixel_size_angstrom: [0.16, 0.24],
            polymorph_weights: weights.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            second_polymorph_probability: 0.4,
            vs1_fraction: [0.0, 0.08],
            vs2_fraction: [0.0, 0.03],
            dose_e_per_angstrom2: [1e3, 1e6],
            carbon: [0.0, 1.0],
            carbon_free_probability: 0.3,
            scan_noise: [0.0, 1.0],
            hole_probability: 0.15,
            hole_fraction: [0.05, 0.3],
            strain: 0.02,
            mo_vacancy_fraction: [0.0, 0.01],
            adatoms_per_nm2: [0.0, 0.2],
            shard_size: 256,
            chemistry_weights: BTreeMap::new(),
            low_angle_adf_probability: 0.0,
        }
    }
}

/// Seed of sample `index` in a dataset with base `seed` (SplitMix64 finalizer).
pub fn sample_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl DatasetConfig {
    pub fn validate(&self) -> Result<()> {
        if self.polymorph_weights.is_empty() {
            return Err(Error::invalid(
                "polymorph_weights must name at least one polymorph",
            ));
        }
        for (name, w) in &self.polymorph_weights {
            if Polymorph::from_name(name).is_none() {
                return Err(Error::invalid(format!(
                    "unknown polymorph '{name}' in polymorph_weights"
                )));
            }
            if !(w.is_finite() && *w >= 0.0) {
                return Err(Error::invalid(format!("weight of {name} must be ≥ 0")));
            }
        }
        for (name, w) in &self.chemistry_weights {
            if Chemistry::from_name(name).is_none() {
                return Err(Error::invalid(format!(
                    "unknown chemistry '{name}' in chemistry_weights (MoS2, WS2, MoSe2, WSe2)"
                )));
            }
            if !(w.is_finite() && *w >= 0.0) {
                return Err(Error::invalid(format!("weight of {name} must be ≥ 0")));
            }
        }
        if !self.chemistry_weights.is_empty() && self.chemistry_weights.values().sum::<f64>() <= 0.0
        {
            return Err(Error::invalid("chemistry_weights must not all be zero"));
        }
        if self.shard_size == 0 {
            return Err(Error::invalid("shard_size must be ≥ 1"));
        }
        for (name, r) in [
            ("pixel_size_angstrom", self.pixel_size_angstrom),
            ("vs1_fraction", self.vs1_fraction),
            ("vs2_fraction", self.vs2_fraction),
            ("dose_e_per_angstrom2", self.dose_e_per_angstrom2),
            ("carbon", self.carbon),
            ("scan_noise", self.scan_noise),
            ("hole_fraction", self.hole_fraction),
            ("mo_vacancy_fraction", self.mo_vacancy_fraction),
            ("adatoms_per_nm2", self.adatoms_per_nm2),
        ] {
            if !(r[0].is_finite() && r[1].is_finite() && r[0] <= r[1]) {
                return Err(Error::invalid(format!(
                    "{name} must be [min, max] with min ≤ max"
                )));
            }
        }
        if self.dose_e_per_angstrom2[0] <= 0.0 {
            return Err(Error::invalid("dose range must be positive"));
        }
        if !(0.0..=1.0).contains(&self.low_angle_adf_probability) {
            return Err(Error::invalid(
                "low_angle_adf_probability must be within 0..1",
            ));
        }
        Ok(())
    }

    /// The request for sample `index`.
    pub fn request(&self, rng: &mut impl Rng) -> SimRequest {
        let mut u = |r: [f64; 2]| {
            if r[0] == r[1] {
                r[0]
            } else {
                rng.gen_range(r[0]..=r[1])
            }
        };
        let pixel = u(self.pixel_size_angstrom);
        let vs1 = u(self.vs1_fraction);
        let vs2 = u(self.vs2_fraction);
        let carbon = u(self.carbon);
        let scan_noise = u(self.scan_noise);
        let hole_fraction = u(self.hole_fraction);
        let mo_vac = u(self.mo_vacancy_fraction);
        let adatoms = u(self.adatoms_per_nm2);
        let log_dose = u([
            self.dose_e_per_angstrom2[0].ln(),
            self.dose_e_per_angstrom2[1].ln(),
        ]);
        let pick = |rng: &mut dyn rand::RngCore| {
            let total: f64 = self.polymorph_weights.values().sum();
            let mut t = rng.gen::<f64>() * total;
            for (name, w) in &self.polymorph_weights {
                if t < *w {
                    return Polymorph::from_name(name).expect("validated");
                }
                t -= w;
            }
            Polymorph::from_name(self.polymorph_weights.keys().next().expect("validated"))
                .expect("validated")
        };
        let polymorph = pick(rng);
        let second = if rng.gen::<f64>() < self.second_polymorph_probability {
            let mut s = pick(rng);
            for _ in 0..8 {
                if s != polymorph {
                    break;
                }
                s = pick(rng);
            }
            (s != polymorph).then_some(s)
        } else {
            None
        };
        let mut req = SimRequest {
            polymorph,
            second_polymorph: second,
            boundary: BoundaryShape::Random,
            width: self.size,
            height: self.size,
            pixel_size_angstrom: pixel,
            rotation_deg: None,
            strain: self.strain,
            vs1_fraction: vs1,
            vs2_fraction: vs2,
            mo_vacancy_fraction: mo_vac,
            adatoms_per_nm2: adatoms,
            hole_fraction: if rng.gen::<f64>() < self.hole_probability {
                hole_fraction
            } else {
                0.0
            },
            dose_e_per_angstrom2: log_dose.exp(),
            carbon: if rng.gen::<f64>() < self.carbon_free_probability {
                0.0
            } else {
                carbon
            },
            scan_noise,
            clean: false,
            chemistry: Chemistry::MoS2,
            low_angle_adf: false,
        };
        if !self.chemistry_weights.is_empty() {
            let total: f64 = self.chemistry_weights.values().sum();
            let mut t = rng.gen::<f64>() * total;
            for (name, w) in &self.chemistry_weights {
                if t < *w {
                    req.chemistry = Chemistry::from_name(name).expect("validated");
                    break;
                }
                t -= w;
            }
        }
        if self.low_angle_adf_probability > 0.0 {
            req.low_angle_adf = rng.gen::<f64>() < self.low_angle_adf_probability;
        }
        req
    }
}

/// Simulate sample `index` of a dataset.
pub fn make_sample(cfg: &DatasetConfig, seed: u64, index: u64) -> Result<Sample> {
    let s = sample_seed(seed, index);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s);
    let req = cfg.request(&mut rng);
    simulate(&req, s ^ 0x5354_454D)
}

#[derive(Serialize)]
struct ShardEntry {
    prefix: String,
    n: usize,
}

#[derive(Serialize)]
struct Manifest<'a> {
    n: usize,
    seed: u64,
    size: [usize; 2],
    classes: Vec<&'static str>,
    shards: Vec<ShardEntry>,
    config: &'a DatasetConfig,
    tool_version: &'static str,
}

/// Write `n` samples to `out`, calling `progress(done)` after each shard.
pub fn write_dataset(
    cfg: &DatasetConfig,
    n: usize,
    seed: u64,
    out: &Path,
    mut progress: impl FnMut(usize),
) -> Result<()> {
    cfg.validate()?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut shards = Vec::new();
    let mut done = 0;
    for (k, start) in (0..n).step_by(cfg.shard_size).enumerate() {
        let end = (start + cfg.shard_size).min(n);
        let samples: Vec<Sample> = (start..end)
            .into_par_iter()
            .map(|i| make_sample(cfg, seed, i as u64))
            .collect::<Result<_>>()?;
        let prefix = format!("shard-{k:05}");
        write_shard(out, &prefix, cfg.size, &samples)?;
        shards.push(ShardEntry {
            prefix,
            n: samples.len(),
        });
        done += samples.len();
        progress(done);
    }
    let manifest = Manifest {
        n,
        seed,
        size: [cfg.size, cfg.size],
        classes: PolymorphClass::all().map(PolymorphClass::name).collect(),
        shards,
        config: cfg,
        tool_version: env!("CARGO_PKG_VERSION"),
    };
    let path = out.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

/// Writes `n` held-out samples as `stemsight simulate`-style folders
/// (`out/sample-NNNNN/`) for `stemsight eval`. With `field_angstrom`, each image
/// is sized to that field of view at its drawn pixel size instead of `cfg.size`,
/// so mixed pixel sizes still show the same amount of lattice.
pub fn write_testset(
    cfg: &DatasetConfig,
    n: usize,
    seed: u64,
    field_angstrom: Option<f64>,
    out: &Path,
    progress: impl Fn(usize) + Sync,
) -> Result<()> {
    cfg.validate()?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    (0..n).into_par_iter().try_for_each(|i| {
        let s = sample_seed(seed, i as u64);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s);
        let mut req = cfg.request(&mut rng);
        if let Some(field) = field_angstrom {
            let side = (field / req.pixel_size_angstrom).round().max(32.0) as usize;
            req.width = side;
            req.height = side;
        }
        let sample = simulate(&req, s ^ 0x5354_454D)?;
        crate::sim::folder::write_simulation(&out.join(format!("sample-{i:05}")), &sample, false)?;
        progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
        Ok(())
    })
}

fn write_shard(dir: &Path, prefix: &str, size: usize, samples: &[Sample]) -> Result<()> {
    let shape = [samples.len() as u64, size as u64, size as u64];
    let path = |kind: &str| dir.join(format!("{prefix}.{kind}"));
    let concat_f32 = |f: &dyn Fn(&Sample) -> &[f32]| {
        samples
            .iter()
            .flat_map(|s| f(s).iter().copied())
            .collect::<Vec<f32>>()
    };
    npy::write(&path("image.npy"), &shape, &concat_f32(&|s| &s.image.data))?;
    npy::write(&path("carbon.npy"), &shape, &concat_f32(&|s| &s.carbon_map))?;
    let poly: Vec<u8> = samples
        .iter()
        .flat_map(|s| s.polymorph_map.iter().copied())
        .collect();
    npy::write(&path("polymorph.npy"), &shape, &poly)?;
    let vac: Vec<u8> = samples.iter().flat_map(vacancy_mask).collect();
    npy::write(&path("vacancy.npy"), &shape, &vac)?;
    let atoms: Vec<u8> = samples.iter().flat_map(atom_mask).collect();
    npy::write(&path("atoms.npy"), &shape, &atoms)?;
    let meta_path = path("meta.jsonl");
    let mut meta = std::io::BufWriter::new(
        std::fs::File::create(&meta_path).map_err(|e| Error::io(&meta_path, e))?,
    );
    for s in samples {
        let line = serde_json::json!({
            "pixel_size_angstrom": s.params.pixel_size_angstrom,
            "columns": s.columns,
            "vacancies": s.vacancies,
            "distractors": s.distractors,
            "params": s.params,
        });
        writeln!(meta, "{line}").map_err(|e| Error::io(&meta_path, e))?;
    }
    meta.flush().map_err(|e| Error::io(&meta_path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_training_config_parses_and_validates() {
        let cfg: DatasetConfig =
            serde_json::from_str(include_str!("../../../scripts/data/train.json")).unwrap();
        cfg.validate().unwrap();
        assert_eq!(
            cfg,
            DatasetConfig::default(),
            "train.json documents the defaults"
        );
    }

    #[test]
    fn a_low_angle_share_records_some_samples_with_a_low_angle_detector_only() {
        let base: DatasetConfig =
            serde_json::from_str(include_str!("../../../scripts/data/train3.json")).unwrap();
        let laadf: DatasetConfig =
            serde_json::from_str(include_str!("../../../scripts/data/train5.json")).unwrap();
        laadf.validate().unwrap();
        assert_eq!(laadf.low_angle_adf_probability, 0.35);
        let draw = |cfg: &DatasetConfig, k: u64| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(sample_seed(6000, k));
            cfg.request(&mut rng)
        };
        let mut low = 0;
        for k in 0..400 {
            let (a, b) = (draw(&base, k), draw(&laadf, k));
            // The share is drawn last: everything else of the request is the same.
            assert_eq!(
                SimRequest {
                    low_angle_adf: false,
                    ..b.clone()
                },
                a
            );
            if !b.low_angle_adf {
                continue;
            }
            low += 1;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(k);
            let p = crate::sim::SimParams::draw(&b, &mut rng);
            let conv = p.probe.convergence_mrad;
            assert!(
                p.adf_inner_mrad >= (conv + 5.0).max(25.0) - 1e-9 && p.adf_inner_mrad <= 40.0,
                "inner {} at {conv} mrad",
                p.adf_inner_mrad
            );
            assert!((60.0..=120.0).contains(&p.adf_outer_mrad));
        }
        assert!((110..=170).contains(&low), "{low} of 400 low-angle");
        let bad = DatasetConfig {
            low_angle_adf_probability: 1.5,
            ..base
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn sample_seeds_do_not_collide_across_split_seeds() {
        let train: std::collections::HashSet<u64> =
            (0..10_000).map(|k| sample_seed(1000, k)).collect();
        assert_eq!(train.len(), 10_000);
        assert!((0..10_000).all(|k| !train.contains(&sample_seed(500_000, k))));
    }
}
