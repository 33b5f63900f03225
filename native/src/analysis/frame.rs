//! What every stage after inference shares ([`Frame`]): the image as given and repaired,
//! its calibration, the model grid it is resampled to, the model card and the settings.

use super::intensity;
use super::settings::*;
use crate::crystal::Chemistry;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::math::resample::Grid;
use crate::nn::card::ModelCard;
use std::borrow::Cow;

/// Window and starting width of the Gaussian fitted to a heatmap bump (the training
/// labels are Gaussians of σ 0.4 Å).
pub(super) const HEATMAP_WINDOW_A: f64 = 0.7;

pub(super) const HEATMAP_SIGMA_A: f64 = 0.4;

/// What every stage after inference shares: the image (as given and repaired), its
/// calibration, the model grid it is resampled to, the model card and the settings.
pub(super) struct Frame<'a> {
    pub(super) image: &'a Image,
    /// The image with NaN/Inf pixels repaired: what positions and intensities are
    /// measured on.
    pub(super) pixels: &'a [f32],
    pub(super) w: usize,
    pub(super) h: usize,
    /// Input pixel size, Å/px.
    pub(super) pixel_size: f64,
    pub(super) grid: Grid,
    /// Model grid size, px.
    pub(super) gw: usize,
    pub(super) gh: usize,
    pub(super) card: &'a ModelCard,
    pub(super) options: &'a Options,
}

impl<'a> Frame<'a> {
    pub(super) fn new(
        image: &'a Image,
        pixels: &'a [f32],
        pixel_size: f64,
        card: &'a ModelCard,
        options: &'a Options,
    ) -> Frame<'a> {
        let (w, h) = (image.width, image.height);
        let grid = Grid::new(w, h, pixel_size / card.pixel_size_angstrom);
        Frame {
            image,
            pixels,
            w,
            h,
            pixel_size,
            grid,
            gw: grid.out_width,
            gh: grid.out_height,
            card,
            options,
        }
    }

    /// Pixels in one plane of the model grid.
    pub(super) fn plane(&self) -> usize {
        self.gw * self.gh
    }

    /// Model pixel size, Å/px.
    pub(super) fn model_px(&self) -> f64 {
        self.card.pixel_size_angstrom
    }

    /// Whether contaminated areas are left out of the statistics.
    pub(super) fn filter(&self) -> bool {
        self.options.carbon_filter && self.options.tasks.carbon
    }

    /// The TMD named in the report (MoS₂ when none is given).
    pub(super) fn chemistry(&self) -> Chemistry {
        self.options.chemistry.unwrap_or_default()
    }

    /// The nearest-neighbour column distance a/√3 of the chemistry, in input px: the
    /// shells the sublattice, vacancy-depth and contrast readings look in.
    pub(super) fn column_spacing_px(&self) -> f64 {
        self.chemistry().lattice_a_angstrom() / 3f64.sqrt() / self.pixel_size
    }

    /// The model-grid pixel nearest to input point (x, y).
    pub(super) fn model_index(&self, x: f64, y: f64) -> usize {
        let (cx, cy) = self.grid.to_canonical(x, y);
        nearest(cx, cy, self.gw, self.gh)
    }

    /// Whether an input point lies within the heatmap fit's window of the border, where
    /// the network sees a mirrored half column.
    pub(super) fn near_heatmap_edge(&self, (x, y): (f64, f64)) -> bool {
        let edge = HEATMAP_WINDOW_A / self.pixel_size;
        let (w, h) = (self.w, self.h);
        x < edge || y < edge || x > (w - 1) as f64 - edge || y > (h - 1) as f64 - edge
    }
}

/// NaN/Inf pixels: a few are replaced by the median (warned); many are refused.
/// A clean image (the usual case) is borrowed, not copied.
pub(super) fn repair<'a>(data: &'a [f32], warnings: &mut Vec<String>) -> Result<Cow<'a, [f32]>> {
    let bad = data.iter().filter(|v| !v.is_finite()).count();
    if bad == 0 {
        return Ok(Cow::Borrowed(data));
    }
    if bad as f64 > MAX_BAD_PIXEL_FRACTION * data.len() as f64 || bad == data.len() {
        return Err(Error::invalid(format!(
            "{bad} of {} pixels are NaN or infinite",
            data.len()
        )));
    }
    let mut good: Vec<f64> = data
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| v as f64)
        .collect();
    let fill = intensity::median(&mut good) as f32;
    warnings.push(format!("{bad} NaN/infinite pixels replaced by the median"));
    Ok(Cow::Owned(
        data.iter()
            .map(|&v| if v.is_finite() { v } else { fill })
            .collect(),
    ))
}

/// `v` where its task is reported, else empty.
pub(super) fn kept<T>(on: bool, v: Vec<T>) -> Vec<T> {
    if on {
        v
    } else {
        Vec::new()
    }
}

#[inline]
pub(super) fn nearest(x: f64, y: f64, w: usize, h: usize) -> usize {
    let c = (x.round().max(0.0) as usize).min(w - 1);
    let r = (y.round().max(0.0) as usize).min(h - 1);
    r * w + c
}
