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

use crate::analyze::{Analysis, Analyzer, Options, EDGE_MARGIN_A, HOLE_MARGIN_A};
use crate::error::{Error, ErrorKind, Result};
use crate::io::read::read_image;
use crate::neighbors::NeighborGrid;
use crate::sim::structure::POLYMORPH_CLASSES;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Match radius for columns and vacancies (SCIENCE.md §4).
pub const MATCH_RADIUS_A: f64 = 0.7;
/// True carbon thickness from which a pixel counts as contaminated.
pub const CARBON_TRUTH_THRESHOLD_A: f64 = 3.0;

#[derive(Debug, Clone, Deserialize)]
struct Truth {
    pixel_size_angstrom: f64,
    width: usize,
    height: usize,
    columns: Vec<TruthPoint>,
    vacancies: Vec<TruthPoint>,
    params: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
struct TruthPoint {
    x: f64,
    y: f64,
    #[serde(default)]
    site: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// What the column holds without defects ("S2" for a VS1's column).
    #[serde(default)]
    nominal_site: Option<String>,
    #[serde(default)]
    polymorph: Option<String>,
}

/// The polymorph that holds the vacancies (SCIENCE.md: VS1/VS2 in 2H monolayers).
const MONOLAYER: &str = "2H-1L";

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
    fn add(&mut self, o: &DensityCounts) {
        self.report_vs1 += o.report_vs1;
        self.report_vs2 += o.report_vs2;
        self.report_sites += o.report_sites;
        self.truth_vs1 += o.truth_vs1;
        self.truth_vs2 += o.truth_vs2;
        self.truth_sites += o.truth_sites;
    }

    /// VS1 and VS2 per S₂ site as reported over as true (1 = unbiased).
    fn ratios(&self) -> (f64, f64) {
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
    fn add(&mut self, o: &PointCounts) {
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
    pub atoms_by_site: BTreeMap<String, (f64, usize)>,
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
        let n = POLYMORPH_CLASSES.len();
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
    fn points(&self) -> [(&'static str, PointCounts); 7] {
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

    fn add(&mut self, o: &Tally) {
        self.images += o.images;
        self.atoms.add(&o.atoms);
        self.vs1.add(&o.vs1);
        self.vs2.add(&o.vs2);
        self.vs1_clean.add(&o.vs1_clean);
        self.vs2_clean.add(&o.vs2_clean);
        self.vs1_analyzed.add(&o.vs1_analyzed);
        self.vs2_analyzed.add(&o.vs2_analyzed);
        for (site, &(sq, n)) in &o.atoms_by_site {
            let e = self.atoms_by_site.entry(site.clone()).or_default();
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
            POLYMORPH_CLASSES
                .iter()
                .enumerate()
                .skip(1)
                .map(|(k, name)| {
                    let total: u64 = m[k].iter().sum();
                    let v = (total > 0).then(|| m[k][k] as f64 / total as f64);
                    (name.to_string(), v)
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
                .map(|(site, v)| (site.clone(), rmse(v)))
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
    pub models: Vec<crate::report::ModelRef>,
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

/// Greedy one-to-one matching by distance; returns (tp, fp, fn, Σ d², matched pairs).
fn match_points(
    pred: &[(f64, f64)],
    truth: &[(f64, f64)],
    radius: f64,
) -> (usize, usize, usize, f64, Vec<(usize, usize)>) {
    let grid = NeighborGrid::from_points(truth.iter().copied(), radius);
    let mut pairs: Vec<(f64, usize, usize)> = pred
        .iter()
        .enumerate()
        .flat_map(|(i, p)| grid.within(p.0, p.1).map(move |(j, d2)| (d2, i, j)))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut used_p, mut used_t) = (vec![false; pred.len()], vec![false; truth.len()]);
    let mut matched = Vec::new();
    let mut sq = 0.0;
    for (d2, i, j) in pairs {
        if !used_p[i] && !used_t[j] {
            used_p[i] = true;
            used_t[j] = true;
            sq += d2;
            matched.push((i, j));
        }
    }
    let tp = matched.len();
    (tp, pred.len() - tp, truth.len() - tp, sq, matched)
}

/// Matches every find against every truth (as `match_points`), then scores only what
/// lies in `scope`: a pair counts when its truth is in scope, a miss when an unmatched
/// truth is, a false find when an unmatched find is. A find just outside the scope that
/// matches a truth just inside it is a hit, and a find just inside matching a truth
/// just outside is neither. Returns (tp, fp, fn, Σ d², Σ dx²) in pixels.
fn match_in_scope(
    pred: &[(f64, f64)],
    truth: &[(f64, f64)],
    radius: f64,
    scope: impl Fn(f64, f64) -> bool,
) -> (usize, usize, usize, f64, f64) {
    let (_, _, _, _, matched) = match_points(pred, truth, radius);
    let (mut hit_p, mut hit_t) = (vec![false; pred.len()], vec![false; truth.len()]);
    let (mut tp, mut sq, mut sq_x) = (0, 0.0, 0.0);
    for &(i, j) in &matched {
        hit_p[i] = true;
        hit_t[j] = true;
        let (p, t) = (pred[i], truth[j]);
        if scope(t.0, t.1) {
            tp += 1;
            sq += (p.0 - t.0).powi(2) + (p.1 - t.1).powi(2);
            sq_x += (p.0 - t.0).powi(2);
        }
    }
    let fn_ = (0..truth.len())
        .filter(|&j| !hit_t[j] && scope(truth[j].0, truth[j].1))
        .count();
    let fp = (0..pred.len())
        .filter(|&i| !hit_p[i] && scope(pred[i].0, pred[i].1))
        .count();
    (tp, fp, fn_, sq, sq_x)
}

fn read_u8_map(path: &Path) -> Result<(usize, usize, Vec<u8>)> {
    let loaded = read_image(path)?;
    let f = &loaded.frames[0];
    Ok((f.width, f.height, f.data.iter().map(|&v| v as u8).collect()))
}

/// One folder's truth and the tool's analysis of it, with the geometry both are scored
/// in: the pixel a point falls on, the border and hole-rim bands left out, and the area
/// the report counts in.
struct Scene<'a> {
    truth: &'a Truth,
    analysis: &'a Analysis,
    w: usize,
    h: usize,
    px: f64,
    /// True polymorph class per pixel (0 = vacuum).
    true_classes: Vec<u8>,
    /// True carbon thickness per pixel (Å).
    carbon: Vec<f32>,
    /// Match radius in pixels.
    radius: f64,
    /// Within `HOLE_MARGIN_A` of true vacuum.
    near_hole: Vec<bool>,
    /// The border band of vacancies, in pixels.
    edge: f64,
    /// Whether the report leaves contaminated areas out.
    filtered: bool,
}

impl Scene<'_> {
    /// The pixel a point falls on, for reading per-pixel maps at it.
    fn pixel(&self, x: f64, y: f64) -> usize {
        let c = (x.round().max(0.0) as usize).min(self.w - 1);
        let r = (y.round().max(0.0) as usize).min(self.h - 1);
        r * self.w + c
    }

    fn clean(&self, x: f64, y: f64) -> bool {
        (self.carbon[self.pixel(x, y)] as f64) < CARBON_TRUTH_THRESHOLD_A
    }

    fn away_from_border(&self, margin: f64, x: f64, y: f64) -> bool {
        x >= margin
            && y >= margin
            && x <= self.w as f64 - 1.0 - margin
            && y <= self.h as f64 - 1.0 - margin
    }

    /// Points within half a match radius of the border are left out on both sides:
    /// a column cut by the edge is neither a fair miss nor a fair hit.
    fn inside(&self, x: f64, y: f64) -> bool {
        self.away_from_border(0.5 * self.radius, x, y)
    }

    /// Where vacancies are scored: away from the border band and from hole rims.
    fn inside_vacancy_scope(&self, x: f64, y: f64) -> bool {
        self.away_from_border(self.edge, x, y) && !self.near_hole[self.pixel(x, y)]
    }

    /// Whether the tool's contamination call leaves pixel `i` out.
    fn excluded(&self, i: usize) -> bool {
        crate::carbon::Call::excluded_code(self.analysis.contamination[i])
    }

    /// The area the report counts in: where the tool's own contamination call keeps it.
    fn analyzed(&self, x: f64, y: f64) -> bool {
        !self.filtered || !self.excluded(self.pixel(x, y))
    }
}

/// Scores one folder; also returns the analysis so callers can write it out.
fn eval_one(
    analyzer: &Analyzer,
    dir: &Path,
    options: &Options,
) -> Result<(Tally, serde_json::Value, f64, Analysis)> {
    let truth: Truth = serde_json::from_str(
        &std::fs::read_to_string(dir.join("truth.json")).map_err(|e| Error::io(dir, e))?,
    )
    .map_err(|e| Error::decode(dir.join("truth.json"), e))?;
    let loaded = read_image(&dir.join("image.tif"))?;
    let image = &loaded.frames[0];
    let px = truth.pixel_size_angstrom;
    let analysis = analyzer.analyze(image, px, options, &|_, _| true)?;
    let (w, h) = (truth.width, truth.height);
    let (pw, ph, true_classes) = read_u8_map(&dir.join("polymorph.tif"))?;
    let carbon = read_image(&dir.join("carbon.tif"))?.frames.remove(0);
    if (pw, ph) != (w, h) || (carbon.width, carbon.height) != (w, h) || image.width != w {
        return Err(Error::decode(dir, "image, truth and maps differ in size"));
    }
    let radius = MATCH_RADIUS_A / px;
    // The report leaves out vacancies within EDGE_MARGIN_A of the border (a column cut
    // by it looks dimmer than it is). Truths there are not scored; the engine's finds
    // there still match (a guard band): a true vacancy 1.05 Å from the border found at
    // 0.98 Å is found, and a find at 1.05 Å of a truth at 0.98 Å is no false one. Found
    // positions scatter by about 0.1 Å there, so a hard cut on both sides cost about 1 %
    // of recall on 160 2H-1L tuning images with no miss behind it.
    // The same for the rims of holes (true vacuum within HOLE_MARGIN_A), where the
    // report calls none either: a missing column there is part of the hole's edge.
    let vacuum: Vec<bool> = true_classes.iter().map(|&c| c == 0).collect();
    let margin = HOLE_MARGIN_A / px;
    let near_hole: Vec<bool> = crate::distance::squared_distance(&vacuum, w, h)
        .into_iter()
        .map(|d2| d2 < margin * margin)
        .collect();
    let scene = Scene {
        truth: &truth,
        analysis: &analysis,
        w,
        h,
        px,
        true_classes,
        carbon: carbon.data,
        radius,
        near_hole,
        edge: (EDGE_MARGIN_A / px).max(0.5 * radius),
        filtered: options.carbon_filter && options.tasks.carbon,
    };
    let mut tally = Tally {
        images: 1,
        time_ms: analysis
            .report
            .timing_ms
            .get("total")
            .copied()
            .unwrap_or(0.0),
        ..Default::default()
    };
    score_columns(&scene, &mut tally);
    score_vacancies(&scene, &mut tally);
    tally.density = score_densities(&scene);
    score_maps(&scene, &mut tally);
    drop(scene);
    Ok((tally, truth.params, px, analysis))
}

/// Columns: matched one to one within the match radius; position errors overall, by
/// true site, in truly clean areas, for the other refinement and with the frame's mean
/// offset removed.
fn score_columns(s: &Scene, tally: &mut Tally) {
    let (truth, analysis, px) = (s.truth, s.analysis, s.px);
    let t_kept: Vec<&TruthPoint> = truth
        .columns
        .iter()
        .filter(|c| c.site.as_deref() != Some("empty") && s.inside(c.x, c.y))
        .collect();
    let t_cols: Vec<(f64, f64)> = t_kept.iter().map(|c| (c.x, c.y)).collect();
    let atoms: Vec<usize> = (0..analysis.report.atoms.len())
        .filter(|&i| {
            let a = &analysis.report.atoms[i];
            s.inside(a.x, a.y)
        })
        .collect();
    let p_cols: Vec<(f64, f64)> = atoms
        .iter()
        .map(|&i| (analysis.report.atoms[i].x, analysis.report.atoms[i].y))
        .collect();
    let (tp, fp, fn_, sq, matched) = match_points(&p_cols, &t_cols, s.radius);
    for &(i, j) in &matched {
        let d2 =
            ((p_cols[i].0 - t_cols[j].0).powi(2) + (p_cols[i].1 - t_cols[j].1).powi(2)) * px * px;
        let site = t_kept[j].site.clone().unwrap_or_else(|| "?".into());
        let e = tally.atoms_by_site.entry(site).or_default();
        e.0 += d2;
        e.1 += 1;
        if s.clean(t_cols[j].0, t_cols[j].1) {
            tally.atoms_clean.0 += d2;
            tally.atoms_clean.1 += 1;
        }
    }
    let sq_alt: f64 = matched
        .iter()
        .map(|&(i, j)| {
            let (ax, ay) = analysis.alt_positions[atoms[i]];
            (ax - t_cols[j].0).powi(2) + (ay - t_cols[j].1).powi(2)
        })
        .sum();
    tally.atoms = PointCounts {
        tp,
        fp,
        fn_,
        sq_err_a2: sq * px * px,
        sq_err_alt_a2: sq_alt * px * px,
        sq_err_x_a2: matched
            .iter()
            .map(|&(i, j)| (p_cols[i].0 - t_cols[j].0).powi(2))
            .sum::<f64>()
            * px
            * px,
        sq_err_registered_a2: {
            let n = matched.len().max(1) as f64;
            let (mx, my) = matched.iter().fold((0.0, 0.0), |(sx, sy), &(i, j)| {
                (
                    sx + p_cols[i].0 - t_cols[j].0,
                    sy + p_cols[i].1 - t_cols[j].1,
                )
            });
            (sq - (mx * mx + my * my) / n).max(0.0) * px * px
        },
    };
}

/// VS1 and VS2, each over all areas, truly clean ones and the area the report counts in.
fn score_vacancies(s: &Scene, tally: &mut Tally) {
    let px = s.px;
    for (kind, slots) in [("VS1", [0, 1, 2]), ("VS2", [3, 4, 5])] {
        let t: Vec<(f64, f64)> = s
            .truth
            .vacancies
            .iter()
            .filter(|v| v.kind.as_deref() == Some(kind))
            .map(|v| (v.x, v.y))
            .collect();
        let p: Vec<(f64, f64)> = s
            .analysis
            .report
            .vacancies
            .iter()
            .chain(&s.analysis.edge_vacancies)
            .filter(|v| v.kind == kind)
            .map(|v| (v.x, v.y))
            .collect();
        let everywhere = |_: f64, _: f64| true;
        let clean = |x: f64, y: f64| s.clean(x, y);
        let analyzed = |x: f64, y: f64| s.analyzed(x, y);
        let areas: [&dyn Fn(f64, f64) -> bool; 3] = [&everywhere, &clean, &analyzed];
        for (slot, keep) in slots.into_iter().zip(areas) {
            let scope = |x: f64, y: f64| s.inside_vacancy_scope(x, y) && keep(x, y);
            let (tp, fp, fn_, sq, sq_x) = match_in_scope(&p, &t, s.radius, scope);
            let c = PointCounts {
                tp,
                fp,
                fn_,
                sq_err_a2: sq * px * px,
                sq_err_alt_a2: 0.0,
                sq_err_x_a2: sq_x * px * px,
                sq_err_registered_a2: 0.0,
            };
            match slot {
                0 => tally.vs1 = c,
                1 => tally.vs1_clean = c,
                2 => tally.vs1_analyzed = c,
                3 => tally.vs2 = c,
                4 => tally.vs2_clean = c,
                _ => tally.vs2_analyzed = c,
            }
        }
    }
}

/// Vacancy densities in the monolayer, where vacancies live: the report's calls and
/// chalcogen columns in the area it counts (its summary's rule, restricted to the
/// columns it places in 2H-1L) against the truth's over the whole image.
fn score_densities(s: &Scene) -> DensityCounts {
    let report = &s.analysis.report;
    let counted_calls = |kind: &str| {
        report
            .vacancies
            .iter()
            .filter(|v| v.kind == kind && !v.in_contaminated_area)
            .count() as u64
    };
    let counted_columns = report
        .atoms
        .iter()
        .zip(&s.analysis.counted_atoms)
        .filter(|(a, &counted)| counted && a.polymorph == MONOLAYER && !a.site.contains("Mo"))
        .count() as u64;
    let true_vacancies = |kind: &str| {
        s.truth
            .vacancies
            .iter()
            .filter(|v| v.kind.as_deref() == Some(kind) && s.inside_vacancy_scope(v.x, v.y))
            .count() as u64
    };
    let true_columns = s
        .truth
        .columns
        .iter()
        .filter(|c| {
            let site = c
                .nominal_site
                .as_deref()
                .or(c.site.as_deref())
                .unwrap_or("");
            c.polymorph.as_deref() == Some(MONOLAYER)
                && !site.contains("Mo")
                && s.inside_vacancy_scope(c.x, c.y)
        })
        .count() as u64;
    // A VS2 leaves no column behind, so its site is added to the columns.
    DensityCounts {
        report_vs1: counted_calls("VS1"),
        report_vs2: counted_calls("VS2"),
        report_sites: counted_columns + counted_calls("VS2"),
        truth_vs1: true_vacancies("VS1"),
        truth_vs2: true_vacancies("VS2"),
        truth_sites: true_columns + true_vacancies("VS2"),
    }
}

/// The maps pixel by pixel: carbon thickness error and the contamination call's overlap
/// with true carbon, the kept share of the material, and the polymorph confusion.
fn score_maps(s: &Scene, tally: &mut Tally) {
    let carbon = &s.analysis.report.carbon;
    let scale = carbon.scale_angstrom;
    // A head that estimates the carbon above the uniform film is scored against that.
    let film = if carbon.above_film {
        s.truth
            .params
            .pointer("/carbon/film_thickness_angstrom")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0)
    } else {
        0.0
    };
    let pixels = s
        .true_classes
        .iter()
        .zip(&s.analysis.polymorph_map)
        .zip(s.carbon.iter().zip(&s.analysis.carbon_map))
        .enumerate();
    for (i, ((&t, &p), (&tc, &pc))) in pixels {
        let (t, p) = (t as usize, p as usize);
        let total = tc as f64;
        let (tc, pc_raw) = ((total - film).max(0.0), pc as f64);
        let pc = pc_raw * scale;
        tally.carbon_abs_err_sum_a += (pc - tc.min(scale)).abs();
        tally.carbon_pixels += 1;
        let pd = s.excluded(i);
        let scored_dirty = tc >= CARBON_TRUTH_THRESHOLD_A;
        tally.carbon_intersection += (scored_dirty && pd) as u64;
        tally.carbon_union += (scored_dirty || pd) as u64;
        // "Clean" for polymorph scoring stays the whole thickness, as for vacancies.
        let td = total >= CARBON_TRUTH_THRESHOLD_A;
        if t == 0 || t >= POLYMORPH_CLASSES.len() {
            continue;
        }
        tally.material_pixels += 1;
        tally.kept_pixels += (!s.filtered || !pd) as u64;
        let p = p.min(POLYMORPH_CLASSES.len() - 1);
        tally.confusion[t][p] += 1;
        if !td {
            tally.confusion_clean[t][p] += 1;
        }
    }
}

fn dose_bin(params: &serde_json::Value) -> String {
    let d = params
        .get("dose_e_per_angstrom2")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    if d <= 0.0 || params.get("clean").and_then(|v| v.as_bool()) == Some(true) {
        return "noise-free".into();
    }
    let e = d.log10().floor() as i32;
    format!("1e{}-1e{}", e, e + 1)
}

fn carbon_bin(params: &serde_json::Value) -> String {
    let level = params
        .pointer("/carbon/level")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    match level {
        l if l <= 0.0 => "0 (none)".into(),
        l if l < 0.34 => "0-0.33 (light)".into(),
        l if l < 0.67 => "0.33-0.67 (moderate)".into(),
        _ => "0.67-1 (heavy)".into(),
    }
}

fn chemistry_bin(params: &serde_json::Value) -> String {
    // Truth written before chemistries existed is MoS₂.
    params
        .get("chemistry")
        .and_then(|v| v.as_str())
        .unwrap_or("MoS2")
        .to_string()
}

fn scan_bin(params: &serde_json::Value) -> String {
    // The simulator's scan-noise level s sets the line jitter σx = 0.35 Å·s.
    let jx = params
        .pointer("/scan/jitter_x_angstrom")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    let s = jx / 0.35;
    match s {
        s if s < 0.25 => "0-0.25 (low)".into(),
        s if s < 0.5 => "0.25-0.5 (moderate)".into(),
        _ => "0.5-1 (high)".into(),
    }
}

fn pixel_bin(px: f64) -> String {
    let lo = (px / 0.05).floor() * 0.05;
    format!("{:.2}-{:.2}", lo, lo + 0.05)
}

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
        models: vec![crate::report::ModelRef {
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
        classes: POLYMORPH_CLASSES.iter().map(|s| s.to_string()).collect(),
        interval95: bootstrap(&per_image, BOOTSTRAP_RESAMPLES, 7),
        failures,
    })
}

/// Resamples for the score intervals.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// Percentile intervals (2.5 %, 97.5 %) of F1 for every point class, and of precision,
/// recall and RMSE for atoms, over `resamples` draws of the images with replacement.
fn bootstrap(
    per_image: &[([(&'static str, PointCounts); 7], DensityCounts)],
    resamples: usize,
    seed: u64,
) -> BTreeMap<String, [f64; 2]> {
    use rand::{Rng, SeedableRng};
    let mut out = BTreeMap::new();
    if per_image.len() < 2 {
        return out;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut draws: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for _ in 0..resamples {
        let mut sum = per_image[0]
            .0
            .map(|(name, _)| (name, PointCounts::default()));
        let mut density = DensityCounts::default();
        for _ in 0..per_image.len() {
            let (t, d) = &per_image[rng.gen_range(0..per_image.len())];
            for ((_, s), (_, c)) in sum.iter_mut().zip(t) {
                s.add(c);
            }
            density.add(d);
        }
        let (vs1, vs2) = density.ratios();
        for (name, r) in [("vs1_density_ratio", vs1), ("vs2_density_ratio", vs2)] {
            if r.is_finite() {
                draws.entry(name.into()).or_default().push(r);
            }
        }
        for (name, c) in &sum {
            let sc = c.scores();
            draws.entry(format!("{name}_f1")).or_default().push(sc.f1);
            if *name == "atoms" {
                draws
                    .entry("atoms_precision".into())
                    .or_default()
                    .push(sc.precision);
                draws
                    .entry("atoms_recall".into())
                    .or_default()
                    .push(sc.recall);
                draws
                    .entry("atoms_rmse_pm".into())
                    .or_default()
                    .push(sc.rmse_pm);
            }
        }
    }
    for (name, mut v) in draws {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
        out.insert(name, [at(0.025), at(0.975)]);
    }
    out
}

/// A table a person reads on the terminal.
pub fn summary_table(r: &EvalReport) -> String {
    let mut s = String::new();
    let line = |name: &str, sc: &Scores| {
        let poly_min = sc
            .polymorph_accuracy
            .values()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min);
        format!(
            "{name:<22} {:>4} | atoms P {:.4} R {:.4} RMSE {:5.2} pm (x {:.2} y {:.2}, registered {:.2}) | VS1 F1 {:.3} | VS2 F1 {:.3} | \
             VS1c {:.3} VS2c {:.3} | VS1a {:.3} VS2a {:.3} | poly acc {:.3} (min class {:.3}) clean {:.3} | C MAE {:.2} Å IoU {:.2} kept {:.2} | per site VS1 ×{:.3} VS2 ×{:.3} | {:.0} ms\n",
            sc.images,
            sc.atoms.precision,
            sc.atoms.recall,
            sc.atoms.rmse_pm,
            sc.atoms.rmse_x_pm,
            sc.atoms.rmse_y_pm,
            sc.atoms_rmse_registered_pm,
            sc.vs1.f1,
            sc.vs2.f1,
            sc.vs1_clean.f1,
            sc.vs2_clean.f1,
            sc.vs1_analyzed.f1,
            sc.vs2_analyzed.f1,
            sc.polymorph_pixel_accuracy,
            if poly_min.is_finite() { poly_min } else { f64::NAN },
            sc.polymorph_pixel_accuracy_clean,
            sc.carbon_mae_a,
            sc.carbon_iou,
            sc.kept_fraction,
            sc.vs1_density_ratio,
            sc.vs2_density_ratio,
            sc.mean_time_ms
        )
    };
    s.push_str(&line("overall", &r.overall));
    s.push_str(&format!(
        "atom RMSE by true column (pm): clean areas {:.2} |",
        r.overall.atoms_rmse_clean_pm
    ));
    for (site, v) in &r.overall.atoms_rmse_by_site_pm {
        s.push_str(&format!(" {site} {v:.2}"));
    }
    s.push('\n');
    if !r.interval95.is_empty() {
        s.push_str(&format!(
            "95% interval over images ({BOOTSTRAP_RESAMPLES} resamples):"
        ));
        for (k, [lo, hi]) in &r.interval95 {
            s.push_str(&format!(" {k} {lo:.3}-{hi:.3}"));
        }
        s.push('\n');
    }
    for (k, v) in &r.by_dose {
        s.push_str(&line(&format!("dose {k}"), v));
    }
    for (k, v) in &r.by_carbon {
        s.push_str(&line(&format!("carbon {k}"), v));
    }
    for (k, v) in &r.by_pixel_size {
        s.push_str(&line(&format!("px {k} Å"), v));
    }
    for (k, v) in &r.by_scan_noise {
        s.push_str(&line(&format!("scan {k}"), v));
    }
    if r.by_chemistry.len() > 1 {
        for (k, v) in &r.by_chemistry {
            s.push_str(&line(k, v));
        }
    }
    s.push_str("polymorph accuracy per class (all / clean): ");
    for (k, v) in &r.overall.polymorph_accuracy {
        let c = r.overall.polymorph_accuracy_clean.get(k).copied().flatten();
        s.push_str(&format!(
            "{k} {} / {}  ",
            v.map_or("-".into(), |a| format!("{a:.3}")),
            c.map_or("-".into(), |a| format!("{a:.3}"))
        ));
    }
    s.push('\n');
    if !r.failures.is_empty() {
        s.push_str(&format!(
            "{} folders failed: {}\n",
            r.failures.len(),
            r.failures.join("; ")
        ));
    }
    s
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

    #[test]
    fn greedy_matching_is_one_to_one() {
        let pred = [(0.0, 0.0), (0.3, 0.0), (10.0, 10.0)];
        let truth = [(0.1, 0.0), (5.0, 5.0)];
        let (tp, fp, fn_, sq, _) = match_points(&pred, &truth, 1.0);
        assert_eq!((tp, fp, fn_), (1, 2, 1));
        assert!((sq - 0.01).abs() < 1e-12);
    }

    #[test]
    fn guard_band_scores_by_the_truth_side() {
        // Scope: x ≥ 10. A truth just inside found just outside is a hit; a find just
        // inside of a truth just outside is nothing; unmatched points count only inside.
        let scope = |x: f64, _: f64| x >= 10.0;
        let truth = [(10.2, 0.0), (9.8, 5.0), (20.0, 0.0), (2.0, 0.0)];
        let pred = [(9.9, 0.0), (10.1, 5.0), (30.0, 0.0), (3.0, 9.0)];
        let (tp, fp, fn_, sq, sq_x) = match_in_scope(&pred, &truth, 1.0, scope);
        assert_eq!((tp, fp, fn_), (1, 1, 1));
        assert!((sq - 0.09).abs() < 1e-12 && (sq_x - 0.09).abs() < 1e-12);
    }
}
