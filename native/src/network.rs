//! The trained network: its card (`model.json`), checksum verification and
//! tract inference with one optimized plan cached per tile size.
//!
//! The ONNX graph is exported with a fixed `[1, 1, T, T]` input. tract re-types
//! it for any tile size that is a multiple of 2^depth; fixed shapes let it fold
//! every shape computation and run several times faster than symbolic H/W.

use crate::device::{Device, DeviceInfo};
use crate::error::{Error, ErrorKind, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tract_onnx::prelude::*;

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

type Plan = Arc<TypedRunnableModel>;

/// Plans kept at once (each holds its own copy of the weights, ~5 MB).
const MAX_CACHED_PLANS: usize = 16;

/// One loaded network. Plans are built lazily per tile size and shared between threads.
pub struct Network {
    pub card: ModelCard,
    pub dir: PathBuf,
    model: InferenceModel,
    plans: Mutex<HashMap<usize, Plan>>,
    /// Set by `use_device(Device::Cuda)`; `run_batch` then runs on the GPU.
    #[cfg(feature = "cuda")]
    cuda: Option<crate::gpu::CudaWorker>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("name", &self.card.name)
            .field("dir", &self.dir)
            .finish()
    }
}

/// Output of one tile: per head, `channels × T × T` values, channel-major.
pub type TileOutput = Vec<Vec<f32>>;

fn model_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Model, msg)
}

/// Lowercase hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Plans split each matrix product over rayon's current pool (the CLI's `--threads`),
/// so one tile at a time uses every core: measured faster than rayon over tiles
/// and with a third less peak memory, since only one tile's activations are alive.
fn run_options() -> RunOptions {
    RunOptions {
        executor: Some(tract_linalg::multithread::Executor::RayonGlobal),
        ..Default::default()
    }
}

impl Network {
    /// Loads `dir/model.json` and the ONNX file it names, refusing a checksum mismatch.
    pub fn load(dir: &Path) -> Result<Network> {
        let card_path = dir.join("model.json");
        let text = std::fs::read_to_string(&card_path)
            .map_err(|e| model_err(format!("cannot read model card: {e}")).with_path(&card_path))?;
        let card: ModelCard = serde_json::from_str(&text)
            .map_err(|e| model_err(format!("invalid model card: {e}")).with_path(&card_path))?;
        let onnx = dir.join(&card.file);
        if !onnx.is_file() {
            return Err(model_err("model file is missing").with_path(&onnx));
        }
        let digest = sha256_file(&onnx)?;
        if !digest.eq_ignore_ascii_case(&card.sha256) {
            return Err(model_err(format!(
                "checksum mismatch: file has sha256 {digest}, its card says {}",
                card.sha256
            ))
            .with_path(&onnx));
        }
        if card.input.normalization.method != "median_percentile_range" {
            return Err(model_err(format!(
                "unknown input normalization '{}'",
                card.input.normalization.method
            ))
            .with_path(&card_path));
        }
        let model = tract_onnx::onnx()
            .with_ignore_output_shapes(true)
            .model_for_path(&onnx)
            .map_err(|e| model_err(format!("cannot parse ONNX: {e}")).with_path(&onnx))?;
        Ok(Network {
            card,
            dir: dir.to_path_buf(),
            model,
            plans: Mutex::new(HashMap::new()),
            #[cfg(feature = "cuda")]
            cuda: None,
        })
    }

    /// Tiles must be positive multiples of 2^depth for the U-Net's pooling to line up.
    fn check_tile(&self, tile: usize) -> Result<()> {
        if tile == 0 || !tile.is_multiple_of(self.card.multiple()) {
            return Err(Error::invalid(format!(
                "tile {tile} is not a multiple of {}",
                self.card.multiple()
            )));
        }
        Ok(())
    }

    /// The optimized plan for `tile × tile` inputs, built on first use.
    pub fn plan(&self, tile: usize) -> Result<Plan> {
        self.check_tile(tile)?;
        let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = plans.get(&tile) {
            return Ok(p.clone());
        }
        // Image-fitted tiles make one size per image shape; a batch of mixed shapes
        // must not grow the cache without bound, and a rebuild costs only ~30 ms.
        if plans.len() >= MAX_CACHED_PLANS {
            plans.clear();
        }
        let plan = self
            .model
            .clone()
            .with_input_fact(0, f32::fact([1, 1, tile, tile]).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable_with_options(&run_options()))
            .map_err(|e| model_err(format!("cannot prepare network for {tile}² tiles: {e}")))?;
        plans.insert(tile, plan.clone());
        Ok(plan)
    }

    /// Runs one normalized `tile × tile` input; returns every head in card order.
    pub fn run(&self, tile: usize, input: Vec<f32>) -> Result<TileOutput> {
        let plan = self.plan(tile)?;
        let tensor = tract_ndarray::Array4::from_shape_vec((1, 1, tile, tile), input)
            .map_err(|e| Error::invalid(format!("tile buffer: {e}")))?;
        let outputs = plan
            .run(tvec!(Tensor::from(tensor).into()))
            .map_err(|e| model_err(format!("inference failed: {e}")))?;
        outputs
            .iter()
            .map(|o| {
                let view = o
                    .to_plain_array_view::<f32>()
                    .map_err(|e| model_err(format!("network output is not f32: {e}")))?;
                Ok(view.iter().copied().collect())
            })
            .collect()
    }

    /// Index of a head in the outputs, if the network has it.
    pub fn head(&self, name: &str) -> Option<usize> {
        self.card.outputs.iter().position(|n| n == name)
    }
}

/// Device choice and batched inference. `run` and its plans stay CPU-only (tract);
/// the GPU runs the same ONNX file parsed by [`crate::graph`].
impl Network {
    /// Runs `run_batch` on `device` from now on. When CUDA cannot be used, the network
    /// stays on the CPU and the error says why, in one line.
    pub fn use_device(&mut self, device: Device) -> std::result::Result<DeviceInfo, String> {
        match device {
            Device::Cpu => {
                #[cfg(feature = "cuda")]
                {
                    self.cuda = None;
                }
                Ok(DeviceInfo::cpu())
            }
            Device::Cuda => self.start_cuda(),
        }
    }

    #[cfg(feature = "cuda")]
    fn start_cuda(&mut self) -> std::result::Result<DeviceInfo, String> {
        let graph = crate::graph::Graph::load(&self.dir.join(&self.card.file))
            .map_err(|e| e.to_string())?;
        let worker = crate::gpu::CudaWorker::start(graph, 0)?;
        let info = DeviceInfo {
            device: Device::Cuda,
            description: worker.description().to_string(),
        };
        self.cuda = Some(worker);
        Ok(info)
    }

    #[cfg(not(feature = "cuda"))]
    fn start_cuda(&mut self) -> std::result::Result<DeviceInfo, String> {
        Err(crate::device::NO_CUDA_BUILD.to_string())
    }

    /// Where `run_batch` runs.
    pub fn device(&self) -> Device {
        #[cfg(feature = "cuda")]
        if self.cuda.is_some() {
            return Device::Cuda;
        }
        Device::Cpu
    }

    /// Runs several normalized `tile × tile` inputs; per input, the same as `run`.
    /// On CUDA they go through the GPU as one batch; on the CPU one after the other,
    /// since each tract run already uses every core.
    pub fn run_batch(&self, tile: usize, inputs: Vec<Vec<f32>>) -> Result<Vec<TileOutput>> {
        #[cfg(feature = "cuda")]
        if let Some(gpu) = &self.cuda {
            self.check_tile(tile)?;
            return gpu.run_batch(tile, inputs);
        }
        inputs
            .into_iter()
            .map(|input| self.run(tile, input))
            .collect()
    }
}
