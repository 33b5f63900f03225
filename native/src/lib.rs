//! StemSight: atoms, sulfur vacancies, stacking polymorphs and carbon contamination in
//! atomic-resolution HAADF-STEM images of MoS₂.
//!
//! # Overview
//! - [`sim`]: a physics-based HAADF-STEM simulator that makes training and test images
//!   with exact labels (structure → probe → scan → noise).
//! - [`io`]: calibrated TIFF/PNG/NPY writing.
//! - [`dataset`]: many simulated samples in parallel, written as `.npy` shards.
//!
//! # Conventions
//! Positions are in pixels of the image, numpy convention: the centre of pixel
//! (row r, column c) is (x = c, y = r), x to the right, y down. Lengths in Å unless
//! the name says otherwise (`_nm`, `_px`). Images are single-channel `f32`.

pub mod dataset;
pub mod error;
pub mod fft;
pub mod image;
pub mod io;
pub mod sim;

pub use error::{Error, ErrorKind, Result};
pub use image::Image;
