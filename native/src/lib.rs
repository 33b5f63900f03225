//! StemSight: atoms, sulfur vacancies, stacking polymorphs and carbon contamination in
//! atomic-resolution HAADF-STEM images of MoS₂.
//!
//! # Overview
//! Stage folders, each importing only from those above it in this list (checked by
//! `tests/layout.rs`):
//! - [`error`], [`image`], [`math`]: the one error type, the calibrated image, and
//!   geometry and numerics that know nothing of crystals.
//! - [`crystal`]: TMD crystallography — chemistries, polymorphs, column contents, sites.
//! - [`io`]: the files microscopes write, read with bounded allocation; TIFF/PNG/NPY writing.
//! - [`findings`]: what an analysis found, as `report.json` carries it (the contract).
//! - [`sim`]: a physics-based HAADF-STEM simulator that makes training and test images
//!   with exact labels (structure → probe → scan → noise), and the datasets built from it.
//! - [`nn`]: the network — model card, normalization, halo tiling, tract inference, and
//!   with the `cuda` feature the GPU runner.
//! - [`analysis`]: the engine — one calibrated image in, a [`findings::Report`] and maps out.
//! - [`report`]: CSV tables, the summary line, the overlay and the atomic result folder.
//! - [`eval`]: end-to-end scores against simulator truth (SCIENCE.md §4).
//! - [`jni`]: the entry points of the Java binding.
//!
//! # Conventions
//! Positions are in pixels of the image, numpy convention: the centre of pixel
//! (row r, column c) is (x = c, y = r), x to the right, y down. Lengths in Å unless
//! the name says otherwise (`_nm`, `_px`). Images are single-channel `f32`.

pub mod analysis;
pub mod crystal;
pub mod error;
pub mod eval;
pub mod findings;
pub mod image;
pub mod io;
pub mod jni;
pub mod math;
pub mod nn;
pub mod report;
pub mod sim;

pub use analysis::{Analysis, Analyzer, Options, Tasks};
pub use error::{Error, ErrorKind, Result};
pub use image::Image;
pub use nn::device::{cuda_status, Device, DeviceInfo};
