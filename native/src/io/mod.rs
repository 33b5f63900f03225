//! Reading and writing images and arrays: calibrated TIFF, viewable PNG, numpy `.npy`;
//! reading microscope images (`read`, Velox EMD in `emd`).

pub mod emd;
pub mod npy;
pub mod png;
pub mod read;
pub mod tiff;
