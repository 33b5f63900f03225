//! What every reader hands back ([`Loaded`]: frames, warnings, [`Acquisition`]) and the
//! limits every reader checks before it allocates ([`ReadOptions`], [`MAX_EXPANSION`]).

use crate::error::{Error, ErrorKind, Result};
use crate::image::Image;
use serde::{Deserialize, Serialize};

/// The largest frame side the engine analyzes (px). 16384² float32 is 1 GiB of input;
/// the engine's own working set is several times that, so larger frames are refused
/// before any pixel is decoded (override with `ReadOptions::max_frame_pixels`).
pub const MAX_FRAME_SIDE: usize = 16384;

/// How to read a file.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Which detector's image to read from a multi-detector file (case-insensitive
    /// substring of the detector name, e.g. "HAADF", "ADF2"); `None` picks the HAADF
    /// or the highest-angle annular detector.
    pub detector: Option<String>,
    /// Largest number of pixels one frame may declare.
    pub max_frame_pixels: usize,
    /// Largest number of pixels all frames of one file may declare together.
    pub max_total_pixels: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            detector: None,
            max_frame_pixels: MAX_FRAME_SIDE * MAX_FRAME_SIDE,
            max_total_pixels: 4 * MAX_FRAME_SIDE * MAX_FRAME_SIDE,
        }
    }
}

impl ReadOptions {
    /// Refuses a declared frame size before anything is allocated for it.
    pub fn check_size(&self, width: usize, height: usize, frames: usize) -> Result<()> {
        let too_big = |what: String| Error::new(ErrorKind::Unsupported, what);
        if width == 0 || height == 0 || frames == 0 {
            return Err(Error::new(
                ErrorKind::Decode,
                format!("the file declares an empty image ({width}×{height}, {frames} frames)"),
            ));
        }
        let px = width.saturating_mul(height);
        if px > self.max_frame_pixels {
            return Err(too_big(format!(
                "the file declares a {width}×{height} frame, more than the {} pixels per frame the engine analyzes",
                self.max_frame_pixels
            )));
        }
        if px.saturating_mul(frames) > self.max_total_pixels {
            return Err(too_big(format!(
                "the file declares {frames} frames of {width}×{height}, more than the {} pixels per file the engine reads",
                self.max_total_pixels
            )));
        }
        Ok(())
    }
}

/// What the file says about how the image was acquired; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Acquisition {
    /// Accelerating voltage (kV).
    pub voltage_kv: Option<f64>,
    /// Name of the detector whose image was read (e.g. "HAADF", "ADF1").
    pub detector: Option<String>,
    /// Detector collection angles (mrad).
    pub detector_inner_mrad: Option<f64>,
    pub detector_outer_mrad: Option<f64>,
    /// Probe convergence semi-angle (mrad).
    pub convergence_mrad: Option<f64>,
    /// Pixel dwell time (µs).
    pub dwell_time_us: Option<f64>,
    /// Indicated magnification.
    pub magnification: Option<f64>,
    /// Microscope name or model.
    pub microscope: Option<String>,
    /// Every detector image the file holds, in file order (empty for single-image files).
    pub detectors_in_file: Vec<String>,
}

/// Picks one detector's image among several by name: the one matching `wanted`
/// (case-insensitive substring) if given, else the HAADF, else the highest-angle
/// annular detector the names reveal (ADF2 over ADF1, DF4 over DF2), else the first.
/// `Err` names the detectors when `wanted` matches none.
pub fn pick_detector(names: &[String], wanted: Option<&str>) -> Result<usize> {
    if names.is_empty() {
        return Err(Error::new(ErrorKind::Decode, "the file holds no image"));
    }
    let upper: Vec<String> = names.iter().map(|n| n.to_ascii_uppercase()).collect();
    if let Some(w) = wanted {
        let w = w.to_ascii_uppercase();
        return upper
            .iter()
            .position(|n| *n == w)
            .or_else(|| upper.iter().position(|n| n.contains(&w)))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "no detector named '{}' in the file (it holds {})",
                    wanted.unwrap_or_default(),
                    names.join(", ")
                ))
            });
    }
    if let Some(i) = upper.iter().position(|n| n.contains("HAADF")) {
        return Ok(i);
    }
    // Annular detectors by rank: a trailing number orders ADF1 < ADF2 and DF2 < DF4
    // (JEOL and Velox number them outwards); bright field ranks last.
    let rank = |n: &str| -> i64 {
        if n.contains("BF") && !n.contains("ADF") && !n.contains("DF") {
            return -1;
        }
        if n.contains("DF") {
            let digits: String = n
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return 1 + digits.parse::<i64>().unwrap_or(0);
        }
        0
    };
    let best = (0..names.len())
        .max_by_key(|&i| (rank(&upper[i]), -(i as i64)))
        .unwrap_or(0);
    Ok(best)
}

/// Frames of one file, with what the reader had to say about them.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub frames: Vec<Image>,
    /// Things the user should know (e.g. RGB converted to gray).
    pub warnings: Vec<String>,
    /// What the file says about the acquisition (empty for TIFF and PNG).
    pub acquisition: Acquisition,
}

impl Loaded {
    /// Frames without warnings or acquisition metadata.
    pub fn frames(frames: Vec<Image>) -> Self {
        Loaded {
            frames,
            warnings: Vec::new(),
            acquisition: Acquisition::default(),
        }
    }
}

/// The most a compressed byte can expand to: deflate's limit is about 1032:1 (LZW and
/// PackBits expand less), so no TIFF or PNG of n bytes honestly holds more than
/// `MAX_EXPANSION × n` bytes of pixels.
pub const MAX_EXPANSION: usize = 1100;

/// Interleaved channels to one gray channel (alpha dropped), warning once.
pub(crate) fn to_gray(
    values: Vec<f32>,
    n: usize,
    channels: usize,
    warnings: &mut Vec<String>,
) -> Vec<f32> {
    if channels == 1 {
        let mut v = values;
        v.truncate(n);
        return v;
    }
    let color = channels >= 3;
    let msg = if color {
        "RGB image converted to gray (mean of R, G, B); HAADF data should be saved as grayscale"
    } else {
        "alpha channel dropped"
    };
    if !warnings.iter().any(|w| w == msg) {
        warnings.push(msg.to_string());
    }
    (0..n)
        .map(|i| {
            let p = &values[i * channels..(i + 1) * channels];
            if color {
                (p[0] + p[1] + p[2]) / 3.0
            } else {
                p[0]
            }
        })
        .collect()
}
