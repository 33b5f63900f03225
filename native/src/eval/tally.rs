//! Counts summed over images (micro-averages) and the scores made from them.

use crate::crystal::{Column, Polymorph, PolymorphClass};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Vacancies per S₂ site of the monolayer: the report's counts against the truth's over
/// the image. The report counts in the area its carbon map keeps; if that area were
/// chosen blind to the defects, its density would estimate the image's.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct DensityCounts {
    pub report_vs1: u64,
    pub report_vs2: u64,
    pub report_sites: u64,
    pub truth_vs1: u64,
    pub truth_vs2: u64,
    pub truth_sites: u64,
}

impl DensityCounts {
    pub(super) fn add(&mut self, o: &DensityCounts) {
        self.report_vs1 += o.report_vs1;
        self.report_vs2 += o.report_vs2;
        self.report_sites += o.report_sites;
        self.truth_vs1 += o.truth_vs1;
        self.truth_vs2 += o.truth_vs2;
        self.truth_sites += o.truth_sites;
    }

    /// VS1 and VS2 per S₂ site as reported over as true (1 = unbiased).
    pub(super) fn ratios(&self) -> (f64, f64) {
        let per = |n: u64, sites: u64| n as f64 / sites.max(1) as f64;
        let ratio = |r: u64, t: u64| {
            let truth = per(t, self.truth_sites);
            if truth > 0.0 {
                per(r, self.report_sites) / truth
            } else {
                f64::NAN
            }
        };
        (
            ratio(self.report_vs1, self.truth_vs1),
            ratio(self.report_vs2, self.truth_vs2),
        )
    }
}

/// Matching counts for one class of points.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct PointCounts {
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    pub sq_err_a2: f64,
    pub sq_err_alt_a2: f64,
    /// The part of `sq_err_a2` along x, the fast-scan direction (scan jitter lives there).
    #[serde(default)]
    pub sq_err_x_a2: f64,
    /// `sq_err_a2` after each image's mean offset is removed: a rigid translation of
    /// the whole frame (a comatic probe's shift, for one) is unobservable in any image.
    #[serde(default)]
    pub sq_err_registered_a2: f64,
}

impl PointCounts {
    pub(super) fn add(&mut self, o: &PointCounts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.sq_err_a2 += o.sq_err_a2;
        self.sq_err_alt_a2 += o.sq_err_alt_a2;
        self.sq_err_x_a2 += o.sq_err_x_a2;
        self.sq_err_registered_a2 += o.sq_err_registered_a2;
    }

    pub fn scores(&self) -> PointScores {
        let p = self.tp as f64 / (self.tp + self.fp).max(1) as f64;
        let r = self.tp as f64 / (self.tp + self.fn_).max(1) as f64;
        PointScores {
            precision: if self.tp + self.fp == 0 { 1.0 } else { p },
            recall: if self.tp + self.fn_ == 0 { 1.0 } else { r },
            f1: if self.tp + self.fp + self.fn_ == 0 {
                1.0
            } else {
                2.0 * self.tp as f64 / (2 * self.tp + self.fp + self.fn_) as f64
            },
            rmse_pm: (self.sq_err_a2 / self.tp.max(1) as f64).sqrt() * 100.0,
            rmse_x_pm: (self.sq_err_x_a2 / self.tp.max(1) as f64).sqrt() * 100.0,
            rmse_y_pm: ((self.sq_err_a2 - self.sq_err_x_a2).max(0.0) / self.tp.max(1) as f64)
                .sqrt()
                * 100.0,
            n_true: self.tp + self.fn_,
            n_pred: self.tp + self.fp,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PointScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub rmse_pm: f64,
    /// RMSE along the fast-scan (x) and slow-scan (y) directions.
    pub rmse_x_pm: f64,
    pub rmse_y_pm: f64,
    pub n_true: usize,
    pub n_pred: usize,
}

/// Everything summed over a group of images.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tally {
    pub images: usize,
    pub atoms: PointCounts,
    pub vs1: PointCounts,
    pub vs2: PointCounts,
    pub vs1_clean: PointCounts,
    pub vs2_clean: PointCounts,
    /// Vacancies where the tool's own carbon map is below its threshold: the area whose
    /// counts the report's summary gives (the seed paper's filter-then-count).
    pub vs1_analyzed: PointCounts,
    pub vs2_analyzed: PointCounts,
    /// Σ squared position error (Å²) and matched count per true column content
    /// ("Mo", "S2", "S", "Mo+S2", …).
    pub atoms_by_site: BTreeMap<Column, (f64, usize)>,
    /// The same over matched columns whose true carbon is below 3 Å.
    pub atoms_clean: (f64, usize),
    /// confusion[true][pred] over truly non-vacuum pixels.
    pub confusion: Vec<Vec<u64>>,
    pub confusion_clean: Vec<Vec<u64>>,
    pub carbon_abs_err_sum_a: f64,
    pub carbon_pixels: u64,
    pub carbon_intersection: u64,
    pub carbon_union: u64,
    /// Truly non-vacuum pixels, and those the tool's carbon map keeps for counting.
    pub material_pixels: u64,
    pub kept_pixels: u64,
    #[serde(default)]
    pub density: DensityCounts,
    pub time_ms: f64,
}

impl Default for Tally {
    fn default() -> Tally {
        let n = PolymorphClass::COUNT;
        Tally {
            images: 0,
            atoms: PointCounts::default(),
            vs1: PointCounts::default(),
            vs2: PointCounts::default(),
            vs1_clean: PointCounts::default(),
            vs2_clean: PointCounts::default(),
            vs1_analyzed: PointCounts::default(),
            vs2_analyzed: PointCounts::default(),
            atoms_by_site: BTreeMap::new(),
            atoms_clean: (0.0, 0),
            confusion: vec![vec![0; n]; n],
            confusion_clean: vec![vec![0; n]; n],
            carbon_abs_err_sum_a: 0.0,
            carbon_pixels: 0,
            carbon_intersection: 0,
            carbon_union: 0,
            material_pixels: 0,
            kept_pixels: 0,
            density: DensityCounts::default(),
            time_ms: 0.0,
        }
    }
}

impl Tally {
    /// The point counts that get intervals, by the name their interval keys start with.
    pub(super) fn points(&self) -> [(&'static str, PointCounts); 7] {
        [
            ("atoms", self.atoms),
            ("vs1", self.vs1),
            ("vs2", self.vs2),
            ("vs1c", self.vs1_clean),
            ("vs2c", self.vs2_clean),
            ("vs1a", self.vs1_analyzed),
            ("vs2a", self.vs2_analyzed),
        ]
    }

    pub(super) fn add(&mut self, o: &Tally) {
        self.images += o.images;
        self.atoms.add(&o.atoms);
        self.vs1.add(&o.vs1);
        self.vs2.add(&o.vs2);
        self.vs1_clean.add(&o.vs1_clean);
        self.vs2_clean.add(&o.vs2_clean);
        self.vs1_analyzed.add(&o.vs1_analyzed);
        self.vs2_analyzed.add(&o.vs2_analyzed);
        for (&site, &(sq, n)) in &o.atoms_by_site {
            let e = self.atoms_by_site.entry(site).or_default();
            e.0 += sq;
            e.1 += n;
        }
        self.atoms_clean.0 += o.atoms_clean.0;
        self.atoms_clean.1 += o.atoms_clean.1;
        for (a, b) in self.confusion.iter_mut().zip(&o.confusion) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        for (a, b) in self.confusion_clean.iter_mut().zip(&o.confusion_clean) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        self.carbon_abs_err_sum_a += o.carbon_abs_err_sum_a;
        self.carbon_pixels += o.carbon_pixels;
        self.carbon_intersection += o.carbon_intersection;
        self.carbon_union += o.carbon_union;
        self.material_pixels += o.material_pixels;
        self.kept_pixels += o.kept_pixels;
        self.density.add(&o.density);
        self.time_ms += o.time_ms;
    }

    pub fn scores(&self) -> Scores {
        let acc = |m: &Vec<Vec<u64>>| -> BTreeMap<String, Option<f64>> {
            Polymorph::ALL
                .iter()
                .map(|p| {
                    let k = p.class_index() as usize;
                    let total: u64 = m[k].iter().sum();
                    let v = (total > 0).then(|| m[k][k] as f64 / total as f64);
                    (p.name().to_string(), v)
                })
                .collect()
        };
        let overall = |m: &Vec<Vec<u64>>| {
            let total: u64 = m.iter().skip(1).flat_map(|r| r.iter()).sum();
            let correct: u64 = (1..m.len()).map(|k| m[k][k]).sum();
            correct as f64 / total.max(1) as f64
        };
        let atoms = self.atoms.scores();
        let (vs1_density_ratio, vs2_density_ratio) = self.density.ratios();
        let rmse = |&(sq, n): &(f64, usize)| (sq / n.max(1) as f64).sqrt() * 100.0;
        Scores {
            atoms_rmse_by_site_pm: self
                .atoms_by_site
                .iter()
                .map(|(site, v)| (site.name(), rmse(v)))
                .collect(),
            atoms_rmse_clean_pm: rmse(&self.atoms_clean),
            images: self.images,
            atoms,
            atoms_rmse_alt_pm: (self.atoms.sq_err_alt_a2 / self.atoms.tp.max(1) as f64).sqrt()
                * 100.0,
            atoms_rmse_registered_pm: (self.atoms.sq_err_registered_a2
                / self.atoms.tp.max(1) as f64)
                .sqrt()
                * 100.0,
            vs1: self.vs1.scores(),
            vs2: self.vs2.scores(),
            vs1_clean: self.vs1_clean.scores(),
            vs2_clean: self.vs2_clean.scores(),
            vs1_analyzed: self.vs1_analyzed.scores(),
            vs2_analyzed: self.vs2_analyzed.scores(),
            polymorph_accuracy: acc(&self.confusion),
            polymorph_accuracy_clean: acc(&self.confusion_clean),
            polymorph_pixel_accuracy: overall(&self.confusion),
            polymorph_pixel_accuracy_clean: overall(&self.confusion_clean),
            carbon_mae_a: self.carbon_abs_err_sum_a / self.carbon_pixels.max(1) as f64,
            carbon_iou: if self.carbon_union == 0 {
                1.0
            } else {
                self.carbon_intersection as f64 / self.carbon_union as f64
            },
            kept_fraction: self.kept_pixels as f64 / self.material_pixels.max(1) as f64,
            vs1_density_ratio,
            vs2_density_ratio,
            mean_time_ms: self.time_ms / self.images.max(1) as f64,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    pub images: usize,
    pub atoms: PointScores,
    /// RMSE of the fallback refinement (centroid for gaussian, heatmap for centroid, centroid for heatmap).
    pub atoms_rmse_alt_pm: f64,
    /// RMSE with each image's mean offset removed (relative positions only).
    pub atoms_rmse_registered_pm: f64,
    /// RMSE per true column content: a single S column is five times dimmer than Mo
    /// and cannot be located as precisely.
    pub atoms_rmse_by_site_pm: BTreeMap<String, f64>,
    /// RMSE over columns where the true carbon is below 3 Å.
    pub atoms_rmse_clean_pm: f64,
    pub vs1: PointScores,
    pub vs2: PointScores,
    /// Vacancies where the true carbon is below 3 Å.
    pub vs1_clean: PointScores,
    pub vs2_clean: PointScores,
    /// Vacancies in the area the tool's carbon map leaves for counting, both sides.
    pub vs1_analyzed: PointScores,
    pub vs2_analyzed: PointScores,
    pub polymorph_accuracy: BTreeMap<String, Option<f64>>,
    pub polymorph_accuracy_clean: BTreeMap<String, Option<f64>>,
    pub polymorph_pixel_accuracy: f64,
    pub polymorph_pixel_accuracy_clean: f64,
    pub carbon_mae_a: f64,
    pub carbon_iou: f64,
    /// Share of the truly non-vacuum area the tool's carbon map keeps for counting.
    pub kept_fraction: f64,
    /// VS1 and VS2 per 2H-1L S₂ site in the counted area over the truth's (1 = unbiased).
    pub vs1_density_ratio: f64,
    pub vs2_density_ratio: f64,
    pub mean_time_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub data: String,
    pub models: Vec<crate::findings::ModelRef>,
    pub refinement: String,
    pub overall: Scores,
    pub by_dose: BTreeMap<String, Scores>,
    pub by_carbon: BTreeMap<String, Scores>,
    pub by_pixel_size: BTreeMap<String, Scores>,
    /// By scan-noise level: line jitter is not in the truth positions, so it sets a floor on RMSE.
    pub by_scan_noise: BTreeMap<String, Scores>,
    /// By compound (MoS2, WS2, MoSe2, WSe2): the same network for every TMD.
    pub by_chemistry: BTreeMap<String, Scores>,
    pub confusion: Vec<Vec<u64>>,
    pub confusion_clean: Vec<Vec<u64>>,
    pub classes: Vec<String>,
    /// 95 % intervals of the overall point scores, by resampling the images
    /// (`BOOTSTRAP_RESAMPLES`, fixed seed): how far a score could move on another set
    /// of the same size. With about a hundred true VS2, one miss is 0.5 % of F1.
    pub interval95: BTreeMap<String, [f64; 2]>,
    pub failures: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_ratio_is_one_when_the_counted_area_is_a_fair_sample() {
        // Half the image counted, holding half the sites and half the vacancies.
        let fair = DensityCounts {
            report_vs1: 20,
            report_vs2: 5,
            report_sites: 500,
            truth_vs1: 40,
            truth_vs2: 10,
            truth_sites: 1000,
        };
        assert_eq!(fair.ratios(), (1.0, 1.0));
        // A filter that keeps the vacancies but drops a third of their sites.
        let biased = DensityCounts {
            report_sites: 333,
            ..fair
        };
        let (vs1, vs2) = biased.ratios();
        assert!((vs1 - 1.5015).abs() < 1e-3 && (vs2 - 1.5015).abs() < 1e-3);
        assert!(DensityCounts::default().ratios().0.is_nan());
    }
}
