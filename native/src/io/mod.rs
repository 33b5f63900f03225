//! Reading and writing images and arrays: calibrated TIFF, viewable PNG, numpy `.npy`;
//! reading microscope images (`read`).

pub mod npy;
pub mod png;
pub mod read;
pub mod tiff;
