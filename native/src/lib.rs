//! StemSight: atoms, sulfur vacancies, stacking polymorphs and carbon contamination in
//! atomic-resolution HAADF-STEM images of MoS₂.
//!
//! # Overview
//! - [`sim`]: a physics-based HAADF-STEM simulator that makes training and test images
//!   with exact labels (structure → probe → scan → noise).
//! - [`io`]: calibrated TIFF/PNG/NPY writing.
//! - [`dataset`]: many simulated samples in parallel, written as `.npy` shards.
//! - [`analyze`]: the analysis engine — [`resample`] to the model pixel size,
//!   [`normalize`], [`tiling`] with halos, [`network`] (tract), then [`localize`]
//!   (atoms) with [`scanline`] jitter correction, [`intensity`], [`vacancy`], [`polymorph`] and [`carbon`], giving a
//!   [`report::Report`] and an [`overlay`].
//! - [`eval`]: end-to-end scores against simulator truth (SCIENCE.md §4).
//! - [`graph`]: the ONNX network as a typed op list with a plain CPU reference; with the
//!   `cuda` feature, `gpu` runs it on an NVIDIA GPU ([`device`] chooses, [`cuda_status`] probes).
//!
//! # Conventions
//! Positions are in pixels of the image, numpy convention: the centre of pixel
//! (row r, column c) is (x = c, y = r), x to the right, y down. Lengths in Å unless
//! the name says otherwise (`_nm`, `_px`). Images are single-channel `f32`.

pub mod analyze;
pub mod calibration;
pub mod carbon;
pub mod dataset;
pub mod device;
pub mod distance;
pub mod error;
pub mod eval;
pub mod fft;
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod graph;
pub mod hollow;
pub mod image;
pub mod intensity;
pub mod io;
pub mod jni_api;
pub mod lattice;
pub mod localize;
pub mod neighbors;
pub mod network;
pub mod normalize;
pub mod outputs;
pub mod overlay;
pub mod plausibility;
pub mod polymorph;
pub mod report;
pub mod resample;
pub mod scanline;
pub mod sim;
pub mod smooth;
pub mod tiling;
pub mod vacancy;

pub use analyze::{Analysis, Analyzer, Options, Tasks};
pub use device::{cuda_status, Device, DeviceInfo};
pub use error::{Error, ErrorKind, Result};
pub use image::Image;
