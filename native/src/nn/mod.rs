//! The network: its model card and checksum ([`card`]), input normalization, halo
//! tiling, the ONNX graph as a typed op list with a CPU reference ([`graph`]), the tract
//! runner ([`network`]), the device choice and, with the `cuda` feature, the GPU runner.

pub mod card;
pub mod device;
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod graph;
pub mod network;
pub mod normalize;
pub mod tiling;
