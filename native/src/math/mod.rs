//! Geometry and numerics every stage shares, with no knowledge of crystals or images:
//! point distances, a neighbour grid, box smoothing, FFTs and resampling between grids.

pub mod distance;
pub mod fft;
pub mod neighbors;
pub mod resample;
pub mod smooth;
