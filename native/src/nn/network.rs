//! The trained network: its card (`model.json`), checksum verification and
//! tract inference with one optimized plan cached per tile size.
//!
//! The ONNX graph is exported with a fixed `[1, 1, T, T]` input. tract re-types
//! it for any tile size that is a multiple of 2^depth; fixed shapes let it fold
//! every shape computation and run several times faster than symbolic H/W.

use crate::error::{Error, ErrorKind, Result};
use crate::nn::card::{sha256_file, ModelCard};
use crate::nn::device::{Device, DeviceInfo};
use crate::nn::graph::TileOutput;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tract_onnx::prelude::*;

type Plan = Arc<TypedRunnableModel>;

/// Plans kept at once (each holds its own copy of the weights, ~5 MB).
const MAX_CACHED_PLANS: usize = 16;

/// Smallest side of the load-time test tile (rounded up to the card's multiple):
/// the U-Net's bottleneck is then at least 4 px wide at depth 3, so every tap of its
/// 3 × 3 kernels meets real data, while the pass stays a few milliseconds.
const CHECK_TILE_MIN: usize = 32;

/// One loaded network. Plans are built lazily per tile size and shared between threads.
pub struct Network {
    pub card: ModelCard,
    pub dir: PathBuf,
    model: InferenceModel,
    plans: Mutex<HashMap<usize, Plan>>,
    /// Set by `use_device(Device::Cuda)`; `run_batch` then runs on the GPU.
    #[cfg(feature = "cuda")]
    cuda: Option<crate::nn::gpu::CudaWorker>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("name", &self.card.name)
            .field("dir", &self.dir)
            .finish()
    }
}

fn model_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Model, msg)
}

/// The load-time test input: a lattice-like pattern plus a ramp, in the range of
/// normalized images, so that no layer sees a constant it could pass unharmed.
fn check_input(tile: usize) -> Vec<f32> {
    (0..tile * tile)
        .map(|i| {
            let (y, x) = ((i / tile) as f32, (i % tile) as f32);
            0.4 * ((0.9 * x).sin() * (0.8 * y).cos()) + 0.002 * (x - y)
        })
        .collect()
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
    /// Loads `dir/model.json` and the ONNX file it names, refusing a checksum mismatch
    /// and a graph that disagrees with its card (see [`Network::verify`]).
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
        let net = Network {
            card,
            dir: dir.to_path_buf(),
            model,
            plans: Mutex::new(HashMap::new()),
            #[cfg(feature = "cuda")]
            cuda: None,
        };
        net.verify().map_err(|e| e.with_path(&onnx))?;
        Ok(net)
    }

    /// Checks the graph against its card, so a mismatch is a `Model` error at load
    /// rather than a panic or nonsense maps later: one input, named as the card says;
    /// the outputs the card lists, in its order, each with a head; and one forward pass
    /// on a small deterministic tile whose outputs must have the card's channel counts
    /// and be finite everywhere; then every float weight must be finite (NaN weights
    /// before a sigmoid give saturated, finite maps). Costs ~35 ms on two cores.
    pub fn verify(&self) -> Result<()> {
        let inputs = self
            .model
            .input_outlets()
            .map_err(|e| model_err(format!("cannot read the graph's inputs: {e}")))?;
        if inputs.len() != 1 {
            return Err(model_err(format!(
                "the graph has {} inputs, the engine feeds one image",
                inputs.len()
            )));
        }
        let input = &self.model.node(inputs[0].node).name;
        if let Some(name) = &self.card.input.name {
            if input != name {
                return Err(model_err(format!(
                    "input is named '{input}' in the graph, '{name}' in the card"
                )));
            }
        }
        let outputs: Vec<String> = self
            .model
            .output_outlets()
            .map_err(|e| model_err(format!("cannot read the graph's outputs: {e}")))?
            .iter()
            .map(|&o| {
                self.model
                    .outlet_label(o)
                    .unwrap_or(&self.model.node(o.node).name)
                    .to_string()
            })
            .collect();
        if outputs != self.card.outputs {
            return Err(model_err(format!(
                "outputs are {outputs:?} in the graph, {:?} in the card",
                self.card.outputs
            )));
        }
        for (k, name) in self.card.outputs.iter().enumerate() {
            let head = self
                .card
                .heads
                .get(name)
                .ok_or_else(|| model_err(format!("output '{name}' has no head in the card")))?;
            if head.channels.is_empty() {
                return Err(model_err(format!(
                    "head '{name}' lists no channels in the card"
                )));
            }
            if head.index != k {
                return Err(model_err(format!(
                    "head '{name}' has index {} in the card but is output {k} of the graph",
                    head.index
                )));
            }
        }
        let tile = CHECK_TILE_MIN.next_multiple_of(self.card.multiple());
        let plan = self.build_plan(tile)?;
        let outs = self.run_plan(&plan, tile, check_input(tile))?;
        for (name, values) in self.card.outputs.iter().zip(&outs) {
            let bad = values.iter().filter(|v| !v.is_finite()).count();
            if bad > 0 {
                return Err(model_err(format!(
                    "non-finite outputs: head '{name}' gives {bad} NaN or infinite values \
                     of {} on a {tile}² test tile (NaN or infinite weights?)",
                    values.len()
                )));
            }
        }
        // Sigmoid and softmax clamp their inputs, so NaN weights feeding them give
        // finite (saturated) outputs: the weights are checked themselves as well.
        for node in self.model.nodes() {
            let Some(konst) = node.op_as::<tract_onnx::tract_hir::ops::konst::Const>() else {
                continue;
            };
            let Ok(values) = konst.val().to_plain_array_view::<f32>() else {
                continue;
            };
            let bad = values.iter().filter(|v| !v.is_finite()).count();
            if bad > 0 {
                return Err(model_err(format!(
                    "non-finite weights: initializer '{}' holds {bad} NaN or infinite values of {}",
                    node.name,
                    values.len()
                )));
            }
        }
        Ok(())
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
        let plan = self.build_plan(tile)?;
        plans.insert(tile, plan.clone());
        Ok(plan)
    }

    /// A fresh optimized plan for `tile × tile` inputs, not cached.
    fn build_plan(&self, tile: usize) -> Result<Plan> {
        self.check_tile(tile)?;
        let plan = self
            .model
            .clone()
            .with_input_fact(0, f32::fact([1, 1, tile, tile]).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable_with_options(&run_options()))
            .map_err(|e| model_err(format!("cannot prepare network for {tile}² tiles: {e}")))?;
        Ok(plan)
    }

    /// Runs one normalized `tile × tile` input; returns every head in card order.
    pub fn run(&self, tile: usize, input: Vec<f32>) -> Result<TileOutput> {
        let plan = self.plan(tile)?;
        self.run_plan(&plan, tile, input).map_err(|e| match e.kind {
            ErrorKind::Model => e.with_path(self.dir.join(&self.card.file)),
            _ => e,
        })
    }

    /// Runs `plan` on one input, refusing outputs that are not the card's heads with
    /// their channel counts, each `1 × channels × tile × tile`.
    fn run_plan(&self, plan: &Plan, tile: usize, input: Vec<f32>) -> Result<TileOutput> {
        let tensor = tract_ndarray::Array4::from_shape_vec((1, 1, tile, tile), input)
            .map_err(|e| Error::invalid(format!("tile buffer: {e}")))?;
        let outputs = plan
            .run(tvec!(Tensor::from(tensor).into()))
            .map_err(|e| model_err(format!("inference failed: {e}")))?;
        if outputs.len() != self.card.outputs.len() {
            return Err(model_err(format!(
                "the graph gives {} outputs, the card lists {}",
                outputs.len(),
                self.card.outputs.len()
            )));
        }
        outputs
            .iter()
            .zip(&self.card.outputs)
            .map(|(o, name)| {
                let channels = self.card.channels(name);
                let shape = o.shape();
                if shape.len() == 4 && shape[1] != channels {
                    return Err(model_err(format!(
                        "head '{name}' has {} channels in the graph, {channels} in the card",
                        shape[1]
                    )));
                }
                if shape != [1, channels, tile, tile] {
                    return Err(model_err(format!(
                        "head '{name}' has shape {shape:?} for a {tile}² tile, \
                         the card expects [1, {channels}, {tile}, {tile}]"
                    )));
                }
                let view = o
                    .to_plain_array_view::<f32>()
                    .map_err(|e| model_err(format!("network output is not f32: {e}")))?;
                Ok(view.iter().copied().collect())
            })
            .collect()
    }

    /// Checks one tile's outputs from any backend against the card: one entry per
    /// head, each `channels × tile × tile` values.
    pub fn check_output(&self, tile: usize, out: &TileOutput) -> Result<()> {
        let err = |msg: String| model_err(msg).with_path(self.dir.join(&self.card.file));
        if out.len() != self.card.outputs.len() {
            return Err(err(format!(
                "the network returned {} heads, the card lists {}",
                out.len(),
                self.card.outputs.len()
            )));
        }
        for (name, values) in self.card.outputs.iter().zip(out) {
            let channels = self.card.channels(name);
            if values.len() != channels * tile * tile {
                return Err(err(format!(
                    "head '{name}' returned {} values for a {tile}² tile, \
                     its {channels} channels in the card need {}",
                    values.len(),
                    channels * tile * tile
                )));
            }
        }
        Ok(())
    }
}

/// Device choice and batched inference. `run` and its plans stay CPU-only (tract);
/// the GPU runs the same ONNX file parsed by [`crate::nn::graph`].
impl Network {
    /// Runs `run_batch` on `device` from now on. When CUDA cannot be used, the network
    /// stays on the CPU and the error ([`ErrorKind::Device`], or [`ErrorKind::Model`] for
    /// a graph the GPU backend cannot run) says why, in one line.
    pub fn use_device(&mut self, device: Device) -> Result<DeviceInfo> {
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
    fn start_cuda(&mut self) -> Result<DeviceInfo> {
        let graph = crate::nn::graph::Graph::load(&self.dir.join(&self.card.file))?;
        let worker = crate::nn::gpu::CudaWorker::start(graph, 0)?;
        let info = DeviceInfo {
            device: Device::Cuda,
            description: worker.description().to_string(),
        };
        self.cuda = Some(worker);
        Ok(info)
    }

    #[cfg(not(feature = "cuda"))]
    fn start_cuda(&mut self) -> Result<DeviceInfo> {
        Err(Error::device(crate::nn::device::NO_CUDA_BUILD))
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
            let n = inputs.len();
            let outs = gpu.run_batch(tile, inputs)?;
            if outs.len() != n {
                return Err(Error::device(format!(
                    "the GPU returned {} tile outputs for {n} inputs",
                    outs.len()
                )));
            }
            for out in &outs {
                self.check_output(tile, out)?;
            }
            return Ok(outs);
        }
        inputs
            .into_iter()
            .map(|input| self.run(tile, input))
            .collect()
    }
}
