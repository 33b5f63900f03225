//! Reading and writing images and arrays: calibrated TIFF, viewable PNG, numpy `.npy`.

pub mod npy;
pub mod png;
pub mod tiff;
