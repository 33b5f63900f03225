//! The parsed graph on one GPU: convolutions by cuDNN, everything else by the small
//! NVRTC kernels of [`super::kernels`], all queued on one stream.
//!
//! Weights are uploaded once. Per (tile, batch) shape, a [`Plan`] holds the cuDNN
//! tensor descriptors, the chosen algorithms, one workspace and the activation
//! buffers, reused between tensors as `Graph::memory_plan` says; later batches of
//! that shape only copy in, queue the ops and copy out.
//!
//! cuDNN objects are neither `Send` nor `Sync`; a `CudaNetwork` is built, used and
//! dropped on one thread (see `super::CudaWorker`).

use super::cuda_err;
use super::kernels::Kernels;
use crate::error::{Error, Result};
use crate::nn::graph::TileOutput;
use crate::nn::graph::{Graph, OpKind, Shape};
use cudarc::cudnn::sys::{
    cudnnConvolutionFwdAlgo_t, cudnnConvolutionMode_t, cudnnMathType_t, cudnnTensorFormat_t,
};
use cudarc::cudnn::{ConvDescriptor, ConvForward, Cudnn, FilterDescriptor, TensorDescriptor};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use std::collections::HashMap;
use std::sync::Arc;

/// Shapes kept at once; callers use a few tile sizes and batch sizes per image.
const MAX_PLANS: usize = 8;

/// A layer's parameters on the device.
enum Layer {
    Conv {
        conv: ConvDescriptor<f32>,
        filter: FilterDescriptor<f32>,
        weights: CudaSlice<f32>,
        bias: CudaSlice<f32>,
    },
    ConvTranspose {
        weights: CudaSlice<f32>,
        bias: CudaSlice<f32>,
    },
    /// Ops without parameters.
    Plain,
}

/// What cuDNN needs for one convolution at one shape.
struct ConvStep {
    x: TensorDescriptor<f32>,
    y: TensorDescriptor<f32>,
    algo: cudnnConvolutionFwdAlgo_t,
}

/// Everything shape-dependent for one (tile, batch).
struct Plan {
    shapes: Vec<Shape>,
    slot_of: Vec<usize>,
    /// Taken out (`None`) only while an op writes into it.
    buffers: Vec<Option<CudaSlice<f32>>>,
    /// Per op; `Some` for convolutions.
    convs: Vec<Option<ConvStep>>,
    workspace: Option<CudaSlice<u8>>,
}

pub struct CudaNetwork {
    graph: Graph,
    stream: Arc<CudaStream>,
    cudnn: Arc<Cudnn>,
    kernels: Kernels,
    /// Per op of `graph.ops`.
    layers: Vec<Layer>,
    plans: HashMap<(usize, usize), Plan>,
    description: String,
}

/// A size as a kernel argument or cuDNN dimension.
fn int(v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::device(format!("CUDA: size {v} exceeds 32-bit indexing")))
}

fn launch_config(n: i32) -> LaunchConfig {
    LaunchConfig::for_num_elems(n as u32)
}

/// "NVIDIA H100 (compute 9.0), driver 12.8, cuDNN 9.1.0".
pub(super) fn describe(ctx: &Arc<CudaContext>) -> String {
    let name = ctx.name().unwrap_or_else(|_| "unnamed GPU".into());
    let cc = ctx
        .compute_capability()
        .map(|(a, b)| format!(" (compute {a}.{b})"))
        .unwrap_or_default();
    let mut version = 0;
    // SAFETY: writes one int; the driver library is loaded (the context exists).
    let driver = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut version) }
        .result()
        .map(|_| format!(", driver {}.{}", version / 1000, version % 1000 / 10))
        .unwrap_or_default();
    let v = cudarc::cudnn::result::get_version();
    let (major, rest) = if v >= 90000 {
        (v / 10000, v % 10000)
    } else {
        (v / 1000, v % 1000)
    };
    format!(
        "{name}{cc}{driver}, cuDNN {major}.{}.{}",
        rest / 100,
        rest % 100
    )
}

impl CudaNetwork {
    /// Opens GPU `ordinal`, compiles the kernels and uploads every weight.
    pub fn load(graph: Graph, ordinal: usize) -> Result<CudaNetwork> {
        let ctx = CudaContext::new(ordinal).map_err(cuda_err("opening the GPU"))?;
        let description = describe(&ctx);
        let stream = ctx.new_stream().map_err(cuda_err("creating a stream"))?;
        let cudnn = Cudnn::new(stream.clone()).map_err(cuda_err("starting cuDNN"))?;
        let kernels = Kernels::load(&ctx)?;
        let upload = |v: &Vec<f32>| stream.clone_htod(v).map_err(cuda_err("uploading weights"));
        let mut layers = Vec::with_capacity(graph.ops.len());
        for op in &graph.ops {
            layers.push(match &op.kind {
                OpKind::Conv(c) => {
                    // cuDNN pads both sides alike.
                    if c.pads[0] != c.pads[2] || c.pads[1] != c.pads[3] {
                        return Err(Error::device(format!(
                            "Conv node '{}': asymmetric padding {:?} is not supported on CUDA",
                            op.name, c.pads
                        )));
                    }
                    let mut conv = cudnn
                        .create_conv2d::<f32>(
                            [int(c.pads[0])?, int(c.pads[1])?],
                            [int(c.strides[0])?, int(c.strides[1])?],
                            [1, 1],
                            cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
                        )
                        .map_err(cuda_err("describing a convolution"))?;
                    // Plain FP32: the default lets Ampere and later GPUs use TF32 tensor
                    // cores, whose 10-bit mantissas move probabilities by ~1e-3.
                    conv.set_math_type(cudnnMathType_t::CUDNN_FMA_MATH)
                        .map_err(cuda_err("setting FP32 math"))?;
                    let filter = cudnn
                        .create_4d_filter::<f32>(
                            cudnnTensorFormat_t::CUDNN_TENSOR_NCHW,
                            [
                                int(c.out_channels)?,
                                int(c.in_channels)?,
                                int(c.kernel[0])?,
                                int(c.kernel[1])?,
                            ],
                        )
                        .map_err(cuda_err("describing a filter"))?;
                    Layer::Conv {
                        conv,
                        filter,
                        weights: upload(&c.weights)?,
                        bias: upload(&c.bias)?,
                    }
                }
                OpKind::ConvTranspose(t) => Layer::ConvTranspose {
                    weights: upload(&t.weights)?,
                    bias: upload(&t.bias)?,
                },
                _ => Layer::Plain,
            });
        }
        stream
            .synchronize()
            .map_err(cuda_err("uploading weights"))?;
        Ok(CudaNetwork {
            graph,
            stream,
            cudnn,
            kernels,
            layers,
            plans: HashMap::new(),
            description,
        })
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Runs a batch of `tile × tile` inputs; per input, every output in graph order,
    /// channel-major (the contract of `Network::run`).
    pub fn run_batch(&mut self, tile: usize, inputs: &[Vec<f32>]) -> Result<Vec<TileOutput>> {
        let n = inputs.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let per_input = self.graph.input_channels * tile * tile;
        if let Some(bad) = inputs.iter().find(|i| i.len() != per_input) {
            return Err(Error::invalid(format!(
                "input has {} values, a {tile}² tile needs {per_input}",
                bad.len()
            )));
        }
        let key = (tile, n);
        let mut plan = match self.plans.remove(&key) {
            Some(p) => p,
            None => self.plan(n, tile)?,
        };
        let result = self.execute(&mut plan, inputs);
        // A plan whose run failed may have lost a buffer; it is rebuilt next time.
        if result.is_ok() {
            if self.plans.len() >= MAX_PLANS {
                self.plans.clear();
            }
            self.plans.insert(key, plan);
        }
        result
    }

    fn plan(&self, n: usize, tile: usize) -> Result<Plan> {
        let shapes = self.graph.shapes(n, tile, tile)?;
        for s in &shapes {
            int(s.len())?;
        }
        let memory = self.graph.memory_plan(&shapes);
        let buffers = memory
            .slot_len
            .iter()
            .map(|&len| {
                self.stream
                    .alloc_zeros::<f32>(len.max(1))
                    .map(Some)
                    .map_err(cuda_err("allocating activations"))
            })
            .collect::<Result<Vec<_>>>()?;
        let describe = |s: Shape| {
            self.cudnn
                .create_4d_tensor::<f32>(
                    cudnnTensorFormat_t::CUDNN_TENSOR_NCHW,
                    [int(s.n)?, int(s.c)?, int(s.h)?, int(s.w)?],
                )
                .map_err(cuda_err("describing a tensor"))
        };
        let mut convs = Vec::with_capacity(self.graph.ops.len());
        let mut workspace_bytes = 0;
        for (op, layer) in self.graph.ops.iter().zip(&self.layers) {
            let Layer::Conv { conv, filter, .. } = layer else {
                convs.push(None);
                continue;
            };
            let x = describe(shapes[op.inputs[0]])?;
            let y = describe(shapes[op.output])?;
            let forward = ConvForward {
                conv,
                x: &x,
                w: filter,
                y: &y,
            };
            let algo = forward
                .pick_algorithm()
                .map_err(cuda_err("choosing a convolution algorithm"))?;
            let bytes = forward
                .get_workspace_size(algo)
                .map_err(cuda_err("sizing the convolution workspace"))?;
            workspace_bytes = workspace_bytes.max(bytes);
            convs.push(Some(ConvStep { x, y, algo }));
        }
        let workspace = if workspace_bytes > 0 {
            Some(
                self.stream
                    .alloc_zeros::<u8>(workspace_bytes)
                    .map_err(cuda_err("allocating the convolution workspace"))?,
            )
        } else {
            None
        };
        Ok(Plan {
            shapes,
            slot_of: memory.slot_of,
            buffers,
            convs,
            workspace,
        })
    }

    fn execute(&self, plan: &mut Plan, inputs: &[Vec<f32>]) -> Result<Vec<TileOutput>> {
        let n = inputs.len();
        let host_in = inputs.concat();
        let input = plan.buffers[plan.slot_of[self.graph.input]]
            .as_mut()
            .ok_or_else(|| Error::device("CUDA: input buffer missing"))?;
        self.stream
            .memcpy_htod(&host_in, input)
            .map_err(cuda_err("copying tiles to the GPU"))?;
        for k in 0..self.graph.ops.len() {
            let slot = plan.slot_of[self.graph.ops[k].output];
            let mut out = plan.buffers[slot]
                .take()
                .ok_or_else(|| Error::device("CUDA: an op's output buffer is in use"))?;
            let result = self.step(k, plan, &mut out);
            plan.buffers[slot] = Some(out);
            result?;
        }
        let mut downloads = Vec::with_capacity(self.graph.outputs.len());
        for &(_, id) in &self.graph.outputs {
            let len = plan.shapes[id].len();
            let buffer = plan.buffers[plan.slot_of[id]]
                .as_ref()
                .ok_or_else(|| Error::device("CUDA: output buffer missing"))?;
            let mut host = vec![0f32; len];
            self.stream
                .memcpy_dtoh(&buffer.slice(..len), &mut host)
                .map_err(cuda_err("copying results from the GPU"))?;
            downloads.push(host);
        }
        // The copies are queued, not done, until the stream has drained.
        self.stream
            .synchronize()
            .map_err(cuda_err("running the network"))?;
        let mut tiles: Vec<TileOutput> = vec![Vec::with_capacity(downloads.len()); n];
        for data in &downloads {
            let per = data.len() / n;
            for (b, t) in tiles.iter_mut().enumerate() {
                t.push(data[b * per..(b + 1) * per].to_vec());
            }
        }
        Ok(tiles)
    }

    /// Queues op `k`, writing into `out` (taken out of `plan.buffers` by the caller).
    fn step(&self, k: usize, plan: &mut Plan, out: &mut CudaSlice<f32>) -> Result<()> {
        let op = &self.graph.ops[k];
        let Plan {
            shapes,
            slot_of,
            buffers,
            convs,
            workspace,
        } = plan;
        let tensor = |id: usize| {
            buffers[slot_of[id]]
                .as_ref()
                .ok_or_else(|| Error::device(format!("CUDA: input of '{}' missing", op.name)))
        };
        let x = tensor(op.inputs[0])?;
        let sx = shapes[op.inputs[0]];
        let so = shapes[op.output];
        let count = int(so.len())?;
        let stream = &self.stream;
        let failed = cuda_err("running the network");
        match (&op.kind, &self.layers[k]) {
            (
                OpKind::Conv(_),
                Layer::Conv {
                    conv,
                    filter,
                    weights,
                    bias,
                },
            ) => {
                let step = convs[k]
                    .as_ref()
                    .ok_or_else(|| Error::device("CUDA: convolution not planned"))?;
                let forward = ConvForward {
                    conv,
                    x: &step.x,
                    w: filter,
                    y: &step.y,
                };
                // SAFETY: the descriptors were made from these tensors' shapes, and every
                // buffer holds at least as many floats as its descriptor spans.
                unsafe {
                    forward.launch(
                        step.algo,
                        workspace.as_mut(),
                        (1.0f32, 0.0f32),
                        x,
                        weights,
                        &mut *out,
                    )
                }
                .map_err(cuda_err("cuDNN convolution"))?;
                let (c, plane) = (int(so.c)?, int(so.plane())?);
                let mut b = stream.launch_builder(&self.kernels.bias_add);
                b.arg(&mut *out).arg(bias).arg(&c).arg(&plane).arg(&count);
                // SAFETY: arguments match the kernel's signature; indices stay below `count`.
                unsafe { b.launch(launch_config(count)) }.map_err(failed)?;
            }
            (OpKind::ConvTranspose(t), Layer::ConvTranspose { weights, bias }) => {
                let (cin, cout, kk) = (int(t.in_channels)?, int(t.out_channels)?, int(t.k)?);
                let (h, w) = (int(sx.h)?, int(sx.w)?);
                let mut b = stream.launch_builder(&self.kernels.conv_transpose);
                b.arg(&mut *out)
                    .arg(x)
                    .arg(weights)
                    .arg(bias)
                    .arg(&cin)
                    .arg(&cout)
                    .arg(&kk)
                    .arg(&h)
                    .arg(&w)
                    .arg(&count);
                // SAFETY: as above.
                unsafe { b.launch(launch_config(count)) }.map_err(failed)?;
            }
            (OpKind::MaxPool { k: window }, _) => {
                let kk = int(*window)?;
                let (h, w, ho, wo) = (int(sx.h)?, int(sx.w)?, int(so.h)?, int(so.w)?);
                let mut b = stream.launch_builder(&self.kernels.max_pool);
                b.arg(&mut *out)
                    .arg(x)
                    .arg(&kk)
                    .arg(&h)
                    .arg(&w)
                    .arg(&ho)
                    .arg(&wo)
                    .arg(&count);
                // SAFETY: as above.
                unsafe { b.launch(launch_config(count)) }.map_err(failed)?;
            }
            (OpKind::Relu | OpKind::Sigmoid, _) => {
                let f = if matches!(op.kind, OpKind::Relu) {
                    &self.kernels.relu
                } else {
                    &self.kernels.sigmoid
                };
                let mut b = stream.launch_builder(f);
                b.arg(&mut *out).arg(x).arg(&count);
                // SAFETY: as above.
                unsafe { b.launch(launch_config(count)) }.map_err(failed)?;
            }
            (OpKind::Add, _) => {
                let y = tensor(op.inputs[1])?;
                let mut b = stream.launch_builder(&self.kernels.add);
                b.arg(&mut *out).arg(x).arg(y).arg(&count);
                // SAFETY: as above.
                unsafe { b.launch(launch_config(count)) }.map_err(failed)?;
            }
            (OpKind::Softmax, _) => {
                let (c, plane, pixels) = (int(so.c)?, int(so.plane())?, int(so.n * so.plane())?);
                let mut b = stream.launch_builder(&self.kernels.softmax_channels);
                b.arg(&mut *out).arg(x).arg(&c).arg(&plane).arg(&pixels);
                // SAFETY: as above; one thread per pixel.
                unsafe { b.launch(launch_config(pixels)) }.map_err(failed)?;
            }
            (OpKind::Concat, _) => {
                let (cy, plane) = (int(so.c)?, int(so.plane())?);
                let mut offset = 0;
                for &id in &op.inputs {
                    let part = tensor(id)?;
                    let s = shapes[id];
                    let (cx, at, n) = (int(s.c)?, int(offset)?, int(s.len())?);
                    let mut b = stream.launch_builder(&self.kernels.copy_channels);
                    b.arg(&mut *out)
                        .arg(part)
                        .arg(&cx)
                        .arg(&cy)
                        .arg(&at)
                        .arg(&plane)
                        .arg(&n);
                    // SAFETY: as above; channels [offset, offset + cx) lie within cy.
                    unsafe { b.launch(launch_config(n)) }.map_err(&failed)?;
                    offset += s.c;
                }
            }
            (kind, _) => {
                return Err(Error::device(format!(
                    "CUDA: {} node '{}' has no device parameters",
                    kind.name(),
                    op.name
                )))
            }
        }
        Ok(())
    }
}
