//! The network's maps on the model grid: the tile plan, the polymorph classes, the
//! carbon map and the contamination call that combines it with the hollow sites, and
//! these maps brought back onto the input grid.

use super::carbon;
use super::frame::*;
use super::hollow;
use super::lattice;
use super::polymorph;
use crate::crystal::PolymorphClass;
use crate::error::{Error, ErrorKind, Result};
use crate::findings::VacancyDepth;
use crate::math::resample::bilinear;
use crate::nn::tiling::{self, HeadMap, Maps, TilePlan};
use rayon::prelude::*;

/// One output head of the network, or an error naming the head the model lacks.
pub(super) fn model_head<'m>(maps: &'m Maps, name: &str) -> Result<&'m HeadMap> {
    maps.head(name).ok_or_else(|| {
        Error::new(
            ErrorKind::Model,
            format!("the model has no '{name}' output"),
        )
    })
}

/// The tiles the network runs on: the size the options force, else whichever of the
/// standard sizes and those that fit this image exactly computes the fewest pixels.
pub(super) fn tile_plan(f: &Frame) -> Result<TilePlan> {
    let options = f.options;
    Ok(match options.tile {
        Some(t) if t > 2 * options.halo => TilePlan::with_tile(f.gw, f.gh, t, options.halo),
        Some(t) => {
            return Err(Error::invalid(format!(
                "tile {t} must be larger than twice the halo {}",
                options.halo
            )))
        }
        None => {
            let mut sizes = tiling::TILE_SIZES.to_vec();
            sizes.extend(tiling::fitted_sizes(
                f.gw,
                f.gh,
                options.halo,
                f.card.multiple(),
                tiling::MAX_FITTED_TILE,
            ));
            TilePlan::choose(f.gw, f.gh, options.halo, &sizes)?
        }
    })
}

/// The polymorph class per model pixel (its [`PolymorphClass::index`]) and its
/// probability, after smoothing.
pub(super) struct PolymorphMap {
    pub(super) classes: Vec<u8>,
    pub(super) probability: Vec<f32>,
    /// What the vacancies' depth said of the areas read as 2H stacks, once
    /// [`super::vacancy_depth::relabel`] has read it.
    pub(super) vacancy_depth: Option<VacancyDepth>,
    /// With the dose known, each 2H pixel's signal over the simulated share of the stack it
    /// was counted as (`NaN` near a change of class and outside the 2H family); empty
    /// without the dose ([`super::layers::relabel`]).
    pub(super) signal_excess: Vec<f32>,
}

impl PolymorphMap {
    /// The class at input point (x, y); a value beyond the six polymorphs (a model
    /// with more classes) reads as vacuum.
    pub(super) fn class_at(&self, f: &Frame, x: f64, y: f64) -> PolymorphClass {
        PolymorphClass::from_index(self.classes[f.model_index(x, y)]).unwrap_or_default()
    }
}

/// The polymorph head's probabilities, averaged over `polymorph_smoothing_a`, each
/// pixel taking its most likely class.
pub(super) fn polymorph_map(f: &Frame, maps: &Maps) -> Result<PolymorphMap> {
    let p = model_head(maps, "polymorph")?;
    let r = (f.options.polymorph_smoothing_a.max(0.0) / f.model_px()).round();
    let mask: Vec<bool> = (0..p.channels)
        .map(|c| match PolymorphClass::from_index(c as u8) {
            Some(PolymorphClass::Material(m)) => f.options.allows(m),
            _ => true,
        })
        .collect();
    let (classes, probability) =
        polymorph::smoothed_class_map(&p.data, p.channels, f.gw, f.gh, r as usize, &mask);
    Ok(PolymorphMap {
        classes,
        probability,
        vacancy_depth: None,
        signal_excess: Vec::new(),
    })
}

/// The carbon head's map on the model grid, as the network gives it and averaged over
/// `carbon_smoothing_a` (what is thresholded and written).
pub(super) struct CarbonMaps {
    pub(super) raw: Vec<f32>,
    pub(super) smoothed: Vec<f32>,
}

/// The carbon head's map, and its average over `carbon_smoothing_a`.
pub(super) fn carbon_maps(f: &Frame, maps: &Maps) -> Result<CarbonMaps> {
    let raw = model_head(maps, "carbon")?.channel(0, f.plane()).to_vec();
    let smoothed = carbon::smoothed(
        &raw,
        f.gw,
        f.gh,
        f.options.carbon_smoothing_a.max(0.0) / f.model_px(),
    );
    Ok(CarbonMaps { raw, smoothed })
}

/// The contamination call per model pixel and the hollow-site evidence behind it.
pub(super) struct Contamination {
    /// Third (hollow) sites holding a column, and all third sites checked.
    pub(super) held_third_sites: usize,
    pub(super) third_sites: usize,
    /// Hollow sites measured, and troughs of filled lattices.
    pub(super) hollow_sites: usize,
    pub(super) trough_sites: usize,
    /// The hollows' local excess signal and how many hollows it averages, per model pixel.
    pub(super) local_excess: Vec<f32>,
    pub(super) local_count: Vec<f32>,
    pub(super) calls: Vec<carbon::Call>,
    /// Whether each model pixel is left out of the clean statistics.
    pub(super) dirty: Vec<bool>,
    /// Material pixels the carbon map puts above its threshold, whatever else decided.
    pub(super) map_material: usize,
}

impl Contamination {
    /// Whether input point (x, y) lies in an excluded area.
    pub(super) fn is_dirty(&self, f: &Frame, x: f64, y: f64) -> bool {
        self.dirty[f.model_index(x, y)]
    }
}

/// The local mean excess of empty `sites` (hollows or troughs) per model pixel, relative to
/// the image's cleanest, and how many sites stand behind each pixel.
fn site_excess(
    f: &Frame,
    positions: &[(f64, f64)],
    sites: &[(f64, f64)],
    spacing: f64,
) -> (Vec<f32>, Vec<f32>) {
    let levels = hollow::levels(
        f.pixels,
        f.w,
        f.h,
        positions,
        sites,
        spacing,
        hollow::SIGNAL_RADIUS_A / f.pixel_size,
    );
    let (mut excess, count) = hollow::local_mean(
        sites,
        &levels,
        f.gw,
        f.gh,
        carbon::HOLLOW_SMOOTHING_A / f.model_px(),
        |x, y| f.grid.to_canonical(x, y),
    );
    hollow::relative_to_cleanest(&mut excess, &count, f.gw, carbon::HOLLOW_MIN_COUNT);
    (excess, count)
}

/// Contamination: the map's call, checked against the signal of the empty sites (hollows,
/// or troughs where the lattice is filled).
pub(super) fn contamination(
    f: &Frame,
    positions: &[(f64, f64)],
    carbon_maps: &CarbonMaps,
    polymorphs: &PolymorphMap,
) -> Contamination {
    let (w, h, pixel_size) = (f.w, f.h, f.pixel_size);
    let options = f.options;
    let spacing = lattice::COLUMN_SPACING_A / pixel_size;
    let sites = hollow::ThirdSites::find(positions, spacing, w, h);
    let (held_third_sites, third_sites) = sites.occupancy();
    let hollows = sites.hollows();
    let (local_excess, local_count) = site_excess(f, positions, &hollows, spacing);
    let troughs = hollow::troughs(positions, spacing, w, h);
    // A 2H image has no troughs: no grids are made for them (an 8192² image's model grid
    // holds 16 M pixels).
    let (trough_excess, trough_count) = if troughs.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        site_excess(f, positions, &troughs, spacing)
    };
    // Without the hollow check no evidence is passed: every flagged pixel is unchecked.
    let evidence = |excess, count, clean_excess| carbon::Evidence {
        excess,
        count: if options.hollow_check { count } else { &[] },
        clean_excess,
    };
    let map_dirty = carbon::mask(&carbon_maps.smoothed, options.carbon_threshold);
    let map_material = map_dirty
        .iter()
        .zip(&polymorphs.classes)
        .filter(|&(&d, &c)| d && c != 0)
        .count();
    let mut calls = carbon::calls(
        &map_dirty,
        evidence(&local_excess, &local_count, carbon::HOLLOW_CLEAN_EXCESS),
        evidence(&trough_excess, &trough_count, carbon::TROUGH_CLEAN_EXCESS),
    );
    carbon::with_signal(&mut calls, &polymorphs.signal_excess);
    let dirty: Vec<bool> = calls.iter().map(|c| c.excluded()).collect();
    Contamination {
        held_third_sites,
        third_sites,
        hollow_sites: hollows.len(),
        trough_sites: troughs.len(),
        local_excess,
        local_count,
        calls,
        dirty,
        map_material,
    }
}

/// The maps of [`Analysis`], per input pixel.
pub(super) struct InputMaps {
    pub(super) polymorph: Vec<u8>,
    pub(super) probability: Vec<f32>,
    pub(super) carbon: Vec<f32>,
    pub(super) contamination: Vec<u8>,
    pub(super) hollow_excess: Vec<f32>,
}

/// The model-grid maps brought back to the input grid (nearest pixel; the carbon map
/// bilinear).
pub(super) fn maps_on_input_grid(
    f: &Frame,
    polymorphs: &PolymorphMap,
    carbon_maps: &CarbonMaps,
    dirt: &Contamination,
) -> InputMaps {
    let (w, h, gw, gh) = (f.w, f.h, f.gw, f.gh);
    let mut polymorph_map = vec![0u8; w * h];
    let mut polymorph_probability = vec![0f32; w * h];
    let mut carbon_out = vec![0f32; w * h];
    let mut contamination = vec![0u8; w * h];
    let mut excess_out = vec![0f32; w * h];
    polymorph_map
        .par_chunks_mut(w)
        .zip(polymorph_probability.par_chunks_mut(w))
        .zip(
            carbon_out
                .par_chunks_mut(w)
                .zip(contamination.par_chunks_mut(w)),
        )
        .zip(excess_out.par_chunks_mut(w))
        .enumerate()
        .for_each(
            |(y, (((class_row, prob_row), (carbon_row, call_row)), excess_row))| {
                for x in 0..w {
                    let (cx, cy) = f.grid.to_canonical(x as f64, y as f64);
                    let k = nearest(cx, cy, gw, gh);
                    class_row[x] = polymorphs.classes[k];
                    prob_row[x] = polymorphs.probability[k];
                    carbon_row[x] = bilinear(&carbon_maps.smoothed, gw, gh, cx, cy);
                    call_row[x] = dirt.calls[k] as u8;
                    excess_row[x] = if dirt.local_count[k] >= carbon::HOLLOW_MIN_COUNT {
                        dirt.local_excess[k]
                    } else {
                        f32::NAN
                    };
                }
            },
        );
    InputMaps {
        polymorph: polymorph_map,
        probability: polymorph_probability,
        carbon: carbon_out,
        contamination,
        hollow_excess: excess_out,
    }
}
