//! The model card (`model.json`): what the engine reads of the network it runs — its
//! pixel size, input normalization, heads and their channels, architecture — and the
//! ONNX file's checksum.

use crate::error::{Error, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The fields of `model.json` the engine relies on.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub tile: usize,
    pub pixel_size_angstrom: f64,
    pub outputs: Vec<String>,
    pub heads: BTreeMap<String, HeadCard>,
    pub classes: Vec<String>,
    pub input: InputCard,
    pub architecture: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HeadCard {
    pub index: usize,
    pub channels: Vec<String>,
    pub activation: String,
    #[serde(default)]
    pub scale_angstrom: Option<f64>,
    /// The carbon head estimates the carbon above a uniform film (patches), not the
    /// whole thickness.
    #[serde(default)]
    pub above_film: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputCard {
    /// The graph input's name; checked against the ONNX file at load when given.
    #[serde(default)]
    pub name: Option<String>,
    pub normalization: Normalization,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Normalization {
    pub method: String,
    pub center_percentile: f64,
    pub low_percentile: f64,
    pub high_percentile: f64,
    pub eps: f64,
}

impl ModelCard {
    /// Tiles must be multiples of 2^depth for the U-Net's poolings to line up, and of
    /// 2^(depth + 3) when a head reads the features through its own three-level branch.
    pub fn multiple(&self) -> usize {
        let depth = self
            .architecture
            .get("depth")
            .and_then(|d| d.as_u64())
            .unwrap_or(4);
        let branched = self
            .architecture
            .get("branches")
            .and_then(|b| b.as_object())
            .is_some_and(|b| !b.is_empty());
        1 << (depth + if branched { BRANCH_LEVELS } else { 0 })
    }

    pub fn channels(&self, head: &str) -> usize {
        self.heads.get(head).map_or(0, |h| h.channels.len())
    }
}

/// Pooling levels of a head branch (`scripts/train/model.py`, `Branch`).
const BRANCH_LEVELS: u64 = 3;

/// Lowercase hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}
