//! The network as a plain list of typed operations, read straight from the ONNX file.
//!
//! tract runs the model on the CPU by itself; other backends (the optional CUDA one in
//! `gpu`) need the graph spelled out: which op, which tensors, which weights.
//! This module parses the ONNX protobuf into that form, infers every tensor's shape
//! for a tile size, plans buffer reuse, and runs a plain CPU reference of the list.
//! The reference exists so the parsing the GPU path relies on is checked against
//! tract on machines without a GPU (`tests::reference_matches_tract`).
//!
//! Only what the ResUNet uses is accepted (Conv, Relu, Add, MaxPool, ConvTranspose,
//! Concat, Sigmoid, Softmax over channels, all NCHW float32); anything else is an
//! `ErrorKind::Model` error naming the op, so a retrained model with a new op fails
//! loudly when a backend loads it instead of computing something else.

use crate::error::{Error, ErrorKind, Result};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

/// Output of one tile: per head, `channels × T × T` values, channel-major.
pub type TileOutput = Vec<Vec<f32>>;

/// Index of a tensor in [`Graph::names`].
pub type TensorId = usize;

/// A dense NCHW shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape {
    pub fn len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements of one image's spatial plane.
    pub fn plane(&self) -> usize {
        self.h * self.w
    }
}

/// A 2-D convolution (ONNX `Conv`, group 1, no dilation).
#[derive(Debug, Clone)]
pub struct Conv {
    /// `out_channels × in_channels × kernel[0] × kernel[1]`.
    pub weights: Vec<f32>,
    /// One per output channel (zeros when the model has none).
    pub bias: Vec<f32>,
    pub in_channels: usize,
    pub out_channels: usize,
    /// (height, width).
    pub kernel: [usize; 2],
    /// ONNX order: top, left, bottom, right.
    pub pads: [usize; 4],
    /// (height, width).
    pub strides: [usize; 2],
}

/// A transposed convolution whose kernel equals its stride (no overlap, no padding),
/// the U-Net's upsampling: every input pixel becomes a `k × k` output block.
#[derive(Debug, Clone)]
pub struct ConvTranspose {
    /// `in_channels × out_channels × k × k` (ONNX layout).
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub in_channels: usize,
    pub out_channels: usize,
    pub k: usize,
}

#[derive(Debug, Clone)]
pub enum OpKind {
    Conv(Conv),
    Relu,
    /// Element-wise sum of two tensors of the same shape (no broadcasting).
    Add,
    /// `k × k` windows with stride `k`, no padding, floor mode.
    MaxPool {
        k: usize,
    },
    ConvTranspose(ConvTranspose),
    /// Concatenation along channels.
    Concat,
    Sigmoid,
    /// Softmax over channels, per pixel.
    Softmax,
}

impl OpKind {
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Conv(_) => "Conv",
            OpKind::Relu => "Relu",
            OpKind::Add => "Add",
            OpKind::MaxPool { .. } => "MaxPool",
            OpKind::ConvTranspose(_) => "ConvTranspose",
            OpKind::Concat => "Concat",
            OpKind::Sigmoid => "Sigmoid",
            OpKind::Softmax => "Softmax",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Op {
    /// The ONNX node name, for error messages.
    pub name: String,
    pub kind: OpKind,
    pub inputs: Vec<TensorId>,
    pub output: TensorId,
}

/// A parsed network: one NCHW input, ops in execution order, named outputs.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Tensor names, indexed by [`TensorId`].
    pub names: Vec<String>,
    pub input: TensorId,
    /// Channels of the input (the ONNX input's declared channel dimension).
    pub input_channels: usize,
    /// In the ONNX file's output order, which is the order `Network::run` returns.
    pub outputs: Vec<(String, TensorId)>,
    pub ops: Vec<Op>,
}

/// Which buffer holds each tensor when buffers are reused once a tensor is dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Buffer index per tensor (`usize::MAX` for tensors no op produces or reads).
    pub slot_of: Vec<usize>,
    /// Elements per buffer: the largest tensor it ever holds.
    pub slot_len: Vec<usize>,
}

fn model_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Model, msg)
}

const ONNX_FLOAT: i32 = 1;
const ONNX_EXTERNAL: i32 = 1;

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_ints(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

fn attr_int(node: &pb::NodeProto, name: &str) -> Option<i64> {
    attr(node, name).map(|a| a.i)
}

fn node_err(node: &pb::NodeProto, msg: impl std::fmt::Display) -> Error {
    model_err(format!("{} node '{}': {msg}", node.op_type, node.name))
}

/// A list attribute as `n` non-negative sizes, `default` when absent.
fn sizes(node: &pb::NodeProto, name: &str, n: usize, default: usize) -> Result<Vec<usize>> {
    match attr_ints(node, name) {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == n && v.iter().all(|&x| x >= 0) => {
            Ok(v.iter().map(|&x| x as usize).collect())
        }
        Some(v) => Err(node_err(node, format!("unsupported {name} {v:?}"))),
    }
}

/// Refuses attributes that would change the meaning of an op this module
/// implements only in its plain form.
fn require_plain(node: &pb::NodeProto) -> Result<()> {
    if let Some(a) = attr(node, "auto_pad") {
        let mode = String::from_utf8_lossy(&a.s);
        if mode != "NOTSET" && !mode.is_empty() {
            return Err(node_err(node, format!("unsupported auto_pad {mode}")));
        }
    }
    if attr_int(node, "group").is_some_and(|g| g != 1) {
        return Err(node_err(node, "grouped convolutions are not supported"));
    }
    if sizes(node, "dilations", 2, 1)?.iter().any(|&d| d != 1) {
        return Err(node_err(node, "dilated kernels are not supported"));
    }
    Ok(())
}

fn tensor_data(t: &pb::TensorProto) -> Result<Vec<f32>> {
    if t.data_type != ONNX_FLOAT {
        return Err(model_err(format!(
            "initializer '{}' has ONNX type {}, only float32 is supported",
            t.name, t.data_type
        )));
    }
    if t.data_location == Some(ONNX_EXTERNAL) {
        return Err(model_err(format!(
            "initializer '{}' is stored outside the ONNX file",
            t.name
        )));
    }
    let expected: i64 = t.dims.iter().product();
    let data: Vec<f32> = if !t.raw_data.is_empty() {
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        t.float_data.clone()
    };
    if data.len() as i64 != expected {
        return Err(model_err(format!(
            "initializer '{}' holds {} values for dims {:?}",
            t.name,
            data.len(),
            t.dims
        )));
    }
    Ok(data)
}

/// Builds the typed op list while parsing; tensors get ids on first sight.
struct Builder<'a> {
    ids: HashMap<String, TensorId>,
    names: Vec<String>,
    init: HashMap<&'a str, &'a pb::TensorProto>,
}

impl<'a> Builder<'a> {
    fn id(&mut self, name: &str) -> TensorId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len();
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    fn weights(&self, node: &pb::NodeProto, k: usize) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
        let Some(name) = node.input.get(k).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        let t = self.init.get(name.as_str()).ok_or_else(|| {
            node_err(
                node,
                format!("input '{name}' must be a constant initializer"),
            )
        })?;
        let dims = t.dims.iter().map(|&d| d as usize).collect();
        Ok(Some((dims, tensor_data(t)?)))
    }

    /// (weights dims, weights, bias) of a Conv or ConvTranspose node.
    fn weights_and_bias(
        &self,
        node: &pb::NodeProto,
        bias_len: impl Fn(&[usize]) -> usize,
    ) -> Result<(Vec<usize>, Vec<f32>, Vec<f32>)> {
        if node.input.len() > 3 {
            return Err(node_err(node, "expected at most 3 inputs"));
        }
        let (dims, w) = self
            .weights(node, 1)?
            .ok_or_else(|| node_err(node, "has no weights"))?;
        if dims.len() != 4 {
            return Err(node_err(node, format!("weights of rank {}", dims.len())));
        }
        let n = bias_len(&dims);
        let bias = match self.weights(node, 2)? {
            Some((_, b)) if b.len() == n => b,
            Some((d, _)) => return Err(node_err(node, format!("bias dims {d:?}"))),
            None => vec![0.0; n],
        };
        Ok((dims, w, bias))
    }

    fn op(&self, node: &pb::NodeProto, opset: i64) -> Result<OpKind> {
        let arity = |n: usize| -> Result<()> {
            let real = node.input.iter().filter(|i| !i.is_empty()).count();
            if real != n || node.output.len() != 1 {
                return Err(node_err(
                    node,
                    format!(
                        "expected {n} input(s) and 1 output, got {real} and {}",
                        node.output.len()
                    ),
                ));
            }
            Ok(())
        };
        Ok(match node.op_type.as_str() {
            "Conv" => {
                require_plain(node)?;
                let (dims, weights, bias) = self.weights_and_bias(node, |d| d[0])?;
                if attr(node, "kernel_shape").is_some()
                    && sizes(node, "kernel_shape", 2, 0)? != dims[2..]
                {
                    return Err(node_err(node, "kernel_shape disagrees with the weights"));
                }
                let pads = sizes(node, "pads", 4, 0)?;
                let strides = sizes(node, "strides", 2, 1)?;
                if strides.contains(&0) {
                    return Err(node_err(node, "zero stride"));
                }
                OpKind::Conv(Conv {
                    weights,
                    bias,
                    in_channels: dims[1],
                    out_channels: dims[0],
                    kernel: [dims[2], dims[3]],
                    pads: [pads[0], pads[1], pads[2], pads[3]],
                    strides: [strides[0], strides[1]],
                })
            }
            "ConvTranspose" => {
                require_plain(node)?;
                for unsupported in ["output_padding", "output_shape"] {
                    if attr_ints(node, unsupported).is_some_and(|v| v.iter().any(|&x| x != 0)) {
                        return Err(node_err(node, format!("{unsupported} is not supported")));
                    }
                }
                let (dims, weights, bias) = self.weights_and_bias(node, |d| d[1])?;
                let strides = sizes(node, "strides", 2, 1)?;
                let pads = sizes(node, "pads", 4, 0)?;
                let k = dims[2];
                if dims[3] != k || strides != [k, k] || pads.iter().any(|&p| p != 0) {
                    return Err(node_err(
                        node,
                        format!(
                            "only square kernels equal to the stride without padding are \
                             supported (kernel {:?}, strides {strides:?}, pads {pads:?})",
                            &dims[2..]
                        ),
                    ));
                }
                OpKind::ConvTranspose(ConvTranspose {
                    weights,
                    bias,
                    in_channels: dims[0],
                    out_channels: dims[1],
                    k,
                })
            }
            "MaxPool" => {
                arity(1)?;
                let kernel = sizes(node, "kernel_shape", 2, 0)?;
                let strides = sizes(node, "strides", 2, 1)?;
                let pads = sizes(node, "pads", 4, 0)?;
                let ceil = attr_int(node, "ceil_mode").unwrap_or(0);
                let dil = sizes(node, "dilations", 2, 1)?;
                let k = kernel[0];
                if k == 0
                    || kernel != [k, k]
                    || strides != [k, k]
                    || pads.iter().any(|&p| p != 0)
                    || ceil != 0
                    || dil != [1, 1]
                {
                    return Err(node_err(
                        node,
                        "only k × k windows with stride k, no padding, floor mode are supported",
                    ));
                }
                OpKind::MaxPool { k }
            }
            "Relu" => {
                arity(1)?;
                OpKind::Relu
            }
            "Sigmoid" => {
                arity(1)?;
                OpKind::Sigmoid
            }
            "Add" => {
                arity(2)?;
                OpKind::Add
            }
            "Concat" => match attr_int(node, "axis") {
                Some(1) | Some(-3) => OpKind::Concat,
                a => return Err(node_err(node, format!("axis {a:?} (only channels)"))),
            },
            "Softmax" => {
                arity(1)?;
                // Before opset 13, axis 1 meant "flatten C×H×W into one row", not channels.
                if opset < 13 {
                    return Err(node_err(
                        node,
                        format!("opset {opset} softmax semantics are not supported (need ≥ 13)"),
                    ));
                }
                match attr_int(node, "axis").unwrap_or(-1) {
                    1 | -3 => OpKind::Softmax,
                    a => return Err(node_err(node, format!("axis {a} (only channels)"))),
                }
            }
            other => {
                return Err(model_err(format!(
                    "unsupported ONNX op {other} (node '{}'); this backend runs Conv, Relu, Add, \
                     MaxPool, ConvTranspose, Concat, Sigmoid and Softmax",
                    node.name
                )))
            }
        })
    }
}

impl Graph {
    /// Parses an ONNX file.
    pub fn load(path: &Path) -> Result<Graph> {
        let proto = tract_onnx::onnx()
            .proto_model_for_path(path)
            .map_err(|e| model_err(format!("cannot read ONNX: {e}")).with_path(path))?;
        Graph::from_proto(&proto).map_err(|e| e.with_path(path))
    }

    pub fn from_proto(model: &pb::ModelProto) -> Result<Graph> {
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| model_err("the ONNX file has no graph"))?;
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(1, |o| o.version);
        let mut b = Builder {
            ids: HashMap::new(),
            names: Vec::new(),
            init: graph
                .initializer
                .iter()
                .map(|t| (t.name.as_str(), t))
                .collect(),
        };
        // Old exporters list initializers among the inputs; the real input is the rest.
        let real_inputs: Vec<&pb::ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !b.init.contains_key(i.name.as_str()))
            .collect();
        let [input] = real_inputs[..] else {
            return Err(model_err(format!(
                "expected one input, the graph has {}",
                real_inputs.len()
            )));
        };
        let input_channels = input_channels(input)?;
        let input_id = b.id(&input.name);
        let mut defined = vec![true];
        let mut ops = Vec::with_capacity(graph.node.len());
        for node in &graph.node {
            if !node.domain.is_empty() && node.domain != "ai.onnx" {
                return Err(node_err(
                    node,
                    format!("unsupported domain {}", node.domain),
                ));
            }
            if node.output.len() != 1 || node.input.first().is_none_or(|i| i.is_empty()) {
                return Err(node_err(node, "expected a data input and one output"));
            }
            let kind = b.op(node, opset)?;
            // Conv and ConvTranspose read their weights themselves; only input 0 is a tensor.
            let data_inputs: &[String] = match kind {
                OpKind::Conv(_) | OpKind::ConvTranspose(_) => &node.input[..1],
                _ => &node.input,
            };
            let mut inputs = Vec::with_capacity(data_inputs.len());
            for name in data_inputs {
                let id = b.id(name);
                if b.init.contains_key(name.as_str()) {
                    return Err(node_err(
                        node,
                        format!("constant input '{name}' is not supported"),
                    ));
                }
                // ONNX nodes come topologically sorted; anything else is a broken file.
                if !defined.get(id).copied().unwrap_or(false) {
                    return Err(node_err(
                        node,
                        format!("reads '{name}' before anything computes it"),
                    ));
                }
                inputs.push(id);
            }
            let output = b.id(&node.output[0]);
            if defined.get(output).copied().unwrap_or(false) {
                return Err(node_err(node, format!("redefines '{}'", node.output[0])));
            }
            defined.resize(b.names.len(), false);
            defined[output] = true;
            ops.push(Op {
                name: node.name.clone(),
                kind,
                inputs,
                output,
            });
        }
        let mut outputs = Vec::with_capacity(graph.output.len());
        for o in &graph.output {
            let id = b
                .ids
                .get(&o.name)
                .copied()
                .filter(|&id| defined.get(id).copied().unwrap_or(false))
                .ok_or_else(|| model_err(format!("output '{}' is never computed", o.name)))?;
            outputs.push((o.name.clone(), id));
        }
        if outputs.is_empty() {
            return Err(model_err("the graph has no outputs"));
        }
        Ok(Graph {
            names: b.names,
            input: input_id,
            input_channels,
            outputs,
            ops,
        })
    }

    /// Every tensor's shape for a batch of `n` inputs of `h × w`; errors where the
    /// channels or sizes do not fit together.
    pub fn shapes(&self, n: usize, h: usize, w: usize) -> Result<Vec<Shape>> {
        let unset = Shape {
            n: 0,
            c: 0,
            h: 0,
            w: 0,
        };
        let mut shapes = vec![unset; self.names.len()];
        shapes[self.input] = Shape {
            n,
            c: self.input_channels,
            h,
            w,
        };
        for op in &self.ops {
            let x = shapes[op.inputs[0]];
            let bad =
                |msg: String| model_err(format!("{} node '{}': {msg}", op.kind.name(), op.name));
            let out = match &op.kind {
                OpKind::Conv(c) => {
                    if x.c != c.in_channels {
                        return Err(bad(format!(
                            "{} input channels, weights expect {}",
                            x.c, c.in_channels
                        )));
                    }
                    let out_dim = |len: usize, pad: usize, k: usize, s: usize| {
                        (len + pad).checked_sub(k).map(|v| v / s + 1)
                    };
                    let (Some(oh), Some(ow)) = (
                        out_dim(x.h, c.pads[0] + c.pads[2], c.kernel[0], c.strides[0]),
                        out_dim(x.w, c.pads[1] + c.pads[3], c.kernel[1], c.strides[1]),
                    ) else {
                        return Err(bad(format!(
                            "{}×{} input is smaller than the kernel",
                            x.h, x.w
                        )));
                    };
                    Shape {
                        c: c.out_channels,
                        h: oh,
                        w: ow,
                        ..x
                    }
                }
                OpKind::ConvTranspose(t) => {
                    if x.c != t.in_channels {
                        return Err(bad(format!(
                            "{} input channels, weights expect {}",
                            x.c, t.in_channels
                        )));
                    }
                    Shape {
                        c: t.out_channels,
                        h: x.h * t.k,
                        w: x.w * t.k,
                        ..x
                    }
                }
                OpKind::MaxPool { k } => {
                    if x.h < *k || x.w < *k {
                        return Err(bad(format!(
                            "{}×{} input is smaller than the window",
                            x.h, x.w
                        )));
                    }
                    Shape {
                        h: x.h / k,
                        w: x.w / k,
                        ..x
                    }
                }
                OpKind::Relu | OpKind::Sigmoid | OpKind::Softmax => x,
                OpKind::Add => {
                    let y = shapes[op.inputs[1]];
                    if x != y {
                        return Err(bad(format!(
                            "shapes {x:?} and {y:?} differ (no broadcasting)"
                        )));
                    }
                    x
                }
                OpKind::Concat => {
                    let mut c = 0;
                    for &i in &op.inputs {
                        let s = shapes[i];
                        if (s.n, s.h, s.w) != (x.n, x.h, x.w) {
                            return Err(bad(format!("shapes {x:?} and {s:?} do not stack")));
                        }
                        c += s.c;
                    }
                    Shape { c, ..x }
                }
            };
            shapes[op.output] = out;
        }
        Ok(shapes)
    }

    /// Buffers for one run: a tensor's buffer is handed to a later tensor once its last
    /// reader has run. An op's output never shares a buffer with its inputs, and the
    /// input and outputs keep theirs to the end (they are copied in and out).
    pub fn memory_plan(&self, shapes: &[Shape]) -> MemoryPlan {
        let keep = usize::MAX;
        let mut last_use = vec![None::<usize>; self.names.len()];
        for (k, op) in self.ops.iter().enumerate() {
            for &i in &op.inputs {
                last_use[i] = Some(k);
            }
        }
        for &(_, o) in &self.outputs {
            last_use[o] = Some(keep);
        }
        last_use[self.input] = Some(keep);
        let mut slot_of = vec![usize::MAX; self.names.len()];
        let mut slot_len: Vec<usize> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        // Smallest free buffer that fits; else grow the largest free one; else a new one.
        fn take(need: usize, free: &mut Vec<usize>, slot_len: &mut Vec<usize>) -> usize {
            let fit = free
                .iter()
                .enumerate()
                .filter(|(_, &s)| slot_len[s] >= need)
                .min_by_key(|(_, &s)| slot_len[s])
                .or_else(|| free.iter().enumerate().max_by_key(|(_, &s)| slot_len[s]))
                .map(|(pos, _)| pos);
            match fit {
                Some(pos) => {
                    let s = free.swap_remove(pos);
                    slot_len[s] = slot_len[s].max(need);
                    s
                }
                None => {
                    slot_len.push(need);
                    slot_len.len() - 1
                }
            }
        }
        slot_of[self.input] = take(shapes[self.input].len(), &mut free, &mut slot_len);
        for (k, op) in self.ops.iter().enumerate() {
            slot_of[op.output] = take(shapes[op.output].len(), &mut free, &mut slot_len);
            let mut done: Vec<TensorId> = op
                .inputs
                .iter()
                .copied()
                .filter(|&i| last_use[i] == Some(k))
                .collect();
            // An unread, non-output result is dead at once.
            if last_use[op.output].is_none() {
                done.push(op.output);
            }
            done.sort_unstable();
            done.dedup();
            free.extend(done.into_iter().map(|i| slot_of[i]));
        }
        MemoryPlan { slot_of, slot_len }
    }
}

fn input_channels(input: &pb::ValueInfoProto) -> Result<usize> {
    use pb::tensor_shape_proto::dimension::Value;
    use pb::type_proto::Value as Type;
    let bad = || {
        model_err(format!(
            "input '{}' must be float32 NCHW with a fixed channel count",
            input.name
        ))
    };
    let Some(Type::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(bad());
    };
    let dims = &t.shape.as_ref().ok_or_else(bad)?.dim;
    if t.elem_type != ONNX_FLOAT || dims.len() != 4 {
        return Err(bad());
    }
    match dims[1].value {
        Some(Value::DimValue(c)) if c > 0 => Ok(c as usize),
        _ => Err(bad()),
    }
}

/// Runs the graph on the CPU, op by op, in the plainest form (for checking backends,
/// not for speed). Same contract as `Network::run` per input: every output in graph
/// order, `channels × tile × tile`, channel-major.
pub fn run_reference(graph: &Graph, tile: usize, inputs: &[Vec<f32>]) -> Result<Vec<TileOutput>> {
    let n = inputs.len();
    for (k, i) in inputs.iter().enumerate() {
        if i.len() != graph.input_channels * tile * tile {
            return Err(Error::invalid(format!(
                "input {k} has {} values, a {tile}² tile needs {}",
                i.len(),
                graph.input_channels * tile * tile
            )));
        }
    }
    let shapes = graph.shapes(n, tile, tile)?;
    let mut values: Vec<Option<Vec<f32>>> = vec![None; graph.names.len()];
    values[graph.input] = Some(inputs.concat());
    for op in &graph.ops {
        let get = |id: TensorId| values[id].as_deref().expect("ops run in topological order");
        let x = get(op.inputs[0]);
        let sx = shapes[op.inputs[0]];
        let so = shapes[op.output];
        let out = match &op.kind {
            OpKind::Conv(c) => conv(c, x, sx, so),
            OpKind::ConvTranspose(t) => conv_transpose(t, x, sx, so),
            OpKind::MaxPool { k } => max_pool(*k, x, sx, so),
            OpKind::Relu => x.iter().map(|&v| v.max(0.0)).collect(),
            OpKind::Sigmoid => x.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
            OpKind::Add => {
                let y = get(op.inputs[1]);
                x.iter().zip(y).map(|(a, b)| a + b).collect()
            }
            OpKind::Concat => {
                let mut out = Vec::with_capacity(so.len());
                for b in 0..so.n {
                    for &i in &op.inputs {
                        let per = shapes[i].c * shapes[i].plane();
                        out.extend_from_slice(&get(i)[b * per..(b + 1) * per]);
                    }
                }
                out
            }
            OpKind::Softmax => softmax_channels(x, sx),
        };
        values[op.output] = Some(out);
    }
    let mut tiles: Vec<TileOutput> = vec![Vec::with_capacity(graph.outputs.len()); n];
    for &(_, id) in &graph.outputs {
        let data = values[id].as_deref().expect("outputs are computed");
        let per = shapes[id].len() / n.max(1);
        for (b, t) in tiles.iter_mut().enumerate() {
            t.push(data[b * per..(b + 1) * per].to_vec());
        }
    }
    Ok(tiles)
}

fn conv(c: &Conv, x: &[f32], sx: Shape, so: Shape) -> Vec<f32> {
    let (kh, kw) = (c.kernel[0], c.kernel[1]);
    let mut out = vec![0f32; so.len()];
    out.par_chunks_mut(so.plane())
        .enumerate()
        .for_each(|(plane, dst)| {
            let (b, co) = (plane / so.c, plane % so.c);
            dst.fill(c.bias[co]);
            for ci in 0..sx.c {
                let src = &x[(b * sx.c + ci) * sx.plane()..][..sx.plane()];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let wgt = c.weights[((co * c.in_channels + ci) * kh + ky) * kw + kx];
                        for oy in 0..so.h {
                            let iy = (oy * c.strides[0] + ky) as isize - c.pads[0] as isize;
                            if iy < 0 || iy >= sx.h as isize {
                                continue;
                            }
                            let row = &src[iy as usize * sx.w..][..sx.w];
                            for ox in 0..so.w {
                                let ix = (ox * c.strides[1] + kx) as isize - c.pads[1] as isize;
                                if ix >= 0 && ix < sx.w as isize {
                                    dst[oy * so.w + ox] += wgt * row[ix as usize];
                                }
                            }
                        }
                    }
                }
            }
        });
    out
}

fn conv_transpose(t: &ConvTranspose, x: &[f32], sx: Shape, so: Shape) -> Vec<f32> {
    let k = t.k;
    let mut out = vec![0f32; so.len()];
    out.par_chunks_mut(so.plane())
        .enumerate()
        .for_each(|(plane, dst)| {
            let (b, co) = (plane / so.c, plane % so.c);
            dst.fill(t.bias[co]);
            for ci in 0..sx.c {
                let src = &x[(b * sx.c + ci) * sx.plane()..][..sx.plane()];
                for dy in 0..k {
                    for dx in 0..k {
                        let wgt = t.weights[((ci * t.out_channels + co) * k + dy) * k + dx];
                        for iy in 0..sx.h {
                            for ix in 0..sx.w {
                                dst[(iy * k + dy) * so.w + ix * k + dx] +=
                                    wgt * src[iy * sx.w + ix];
                            }
                        }
                    }
                }
            }
        });
    out
}

fn max_pool(k: usize, x: &[f32], sx: Shape, so: Shape) -> Vec<f32> {
    let mut out = vec![0f32; so.len()];
    for (plane, dst) in out.chunks_mut(so.plane()).enumerate() {
        let src = &x[plane * sx.plane()..][..sx.plane()];
        for oy in 0..so.h {
            for ox in 0..so.w {
                let mut m = f32::NEG_INFINITY;
                for dy in 0..k {
                    for dx in 0..k {
                        m = m.max(src[(oy * k + dy) * sx.w + ox * k + dx]);
                    }
                }
                dst[oy * so.w + ox] = m;
            }
        }
    }
    out
}

fn softmax_channels(x: &[f32], s: Shape) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    let plane = s.plane();
    for b in 0..s.n {
        let base = b * s.c * plane;
        for p in 0..plane {
            let at = |c: usize| base + c * plane + p;
            let m = (0..s.c).map(|c| x[at(c)]).fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = (0..s.c).map(|c| (x[at(c)] - m).exp()).sum();
            for c in 0..s.c {
                out[at(c)] = (x[at(c)] - m).exp() / sum;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::network::Network;
    use std::path::PathBuf;

    fn model_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/stemsight-resunet")
    }

    fn shipped() -> Graph {
        Graph::load(&model_dir().join("model.onnx")).expect("shipped model parses")
    }

    #[test]
    fn shipped_model_parses_into_its_ops() {
        let g = shipped();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for op in &g.ops {
            *count.entry(op.kind.name()).or_default() += 1;
        }
        let expect = [
            ("Conv", 25),
            ("Relu", 14),
            ("Add", 7),
            ("MaxPool", 3),
            ("ConvTranspose", 3),
            ("Concat", 3),
            ("Sigmoid", 2),
            ("Softmax", 2),
        ];
        for (name, n) in expect {
            assert_eq!(count.get(name), Some(&n), "{name}");
        }
        let names: Vec<&str> = g.outputs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["atoms", "vacancy", "polymorph", "carbon"]);
        assert_eq!(g.input_channels, 1);
        let shapes = g.shapes(3, 64, 64).unwrap();
        let channels: Vec<usize> = g.outputs.iter().map(|&(_, id)| shapes[id].c).collect();
        assert_eq!(channels, [2, 3, 7, 1]);
        for &(_, id) in &g.outputs {
            assert_eq!((shapes[id].n, shapes[id].h, shapes[id].w), (3, 64, 64));
        }
    }

    /// The plain reference of the parsed op list gives tract's outputs: the weights,
    /// layouts and attributes the GPU backend uses were read correctly.
    #[test]
    fn reference_matches_tract() {
        let net = Network::load(&model_dir()).unwrap();
        let g = shipped();
        let tile = 64;
        // A lattice-like pattern plus a ramp, roughly in the normalized input range.
        let inputs: Vec<Vec<f32>> = (0..2)
            .map(|s| {
                (0..tile * tile)
                    .map(|i| {
                        let (y, x) = ((i / tile) as f32, (i % tile) as f32);
                        let phase = s as f32 * 0.7;
                        0.4 * ((0.9 * x + phase).sin() * (0.8 * y).cos()) + 0.002 * (x - y)
                    })
                    .collect()
            })
            .collect();
        let ours = run_reference(&g, tile, &inputs).unwrap();
        let mut worst = 0f32;
        for (input, mine) in inputs.iter().zip(&ours) {
            let theirs = net.run(tile, input.clone()).unwrap();
            assert_eq!(theirs.len(), mine.len());
            for (a, b) in theirs.iter().zip(mine) {
                assert_eq!(a.len(), b.len());
                for (p, q) in a.iter().zip(b) {
                    worst = worst.max((p - q).abs());
                }
            }
        }
        eprintln!("reference vs tract: max |diff| = {worst:e}");
        assert!(worst < 1e-4, "max |diff| {worst}");
    }

    #[test]
    fn memory_plan_never_overwrites_a_live_tensor() {
        let g = shipped();
        let shapes = g.shapes(2, 64, 64).unwrap();
        let plan = g.memory_plan(&shapes);
        // Replay the ops: a buffer must still hold the tensor each reader expects.
        let mut holds = vec![usize::MAX; plan.slot_len.len()];
        holds[plan.slot_of[g.input]] = g.input;
        for op in &g.ops {
            for &i in &op.inputs {
                assert_eq!(
                    holds[plan.slot_of[i]], i,
                    "{} reads a clobbered input",
                    op.name
                );
                assert_ne!(
                    plan.slot_of[i], plan.slot_of[op.output],
                    "{} in place",
                    op.name
                );
            }
            assert!(plan.slot_len[plan.slot_of[op.output]] >= shapes[op.output].len());
            holds[plan.slot_of[op.output]] = op.output;
        }
        for &(_, o) in &g.outputs {
            assert_eq!(holds[plan.slot_of[o]], o);
        }
        assert_eq!(holds[plan.slot_of[g.input]], g.input);
        let planned: usize = plan.slot_len.iter().sum();
        let naive: usize = shapes.iter().map(Shape::len).sum();
        assert!(planned * 2 < naive, "{planned} vs {naive} elements");
    }

    #[test]
    fn unsupported_ops_are_model_errors() {
        let mut proto = tract_onnx::onnx()
            .proto_model_for_path(model_dir().join("model.onnx"))
            .unwrap();
        let pristine = proto.clone();
        let refused = |proto: &pb::ModelProto| match Graph::from_proto(proto) {
            Ok(_) => panic!("an unsupported graph was accepted"),
            Err(e) => e,
        };
        let graph = proto.graph.as_mut().unwrap();
        graph.node[1].op_type = "LeakyRelu".into();
        let err = refused(&proto);
        assert_eq!(err.kind, ErrorKind::Model);
        assert!(err.message.contains("LeakyRelu"), "{}", err.message);

        let mut proto = pristine;
        let conv = &mut proto.graph.as_mut().unwrap().node[0];
        let group = conv
            .attribute
            .iter_mut()
            .find(|a| a.name == "group")
            .unwrap();
        group.i = 2;
        let err = refused(&proto);
        assert_eq!(err.kind, ErrorKind::Model);
        assert!(err.message.contains("grouped"), "{}", err.message);
    }

    #[test]
    fn bad_tile_is_an_error() {
        let g = shipped();
        assert!(run_reference(&g, 64, &[vec![0.0; 10]]).is_err());
        // Three 2× poolings cannot shrink a 4×4 input.
        assert!(g.shapes(1, 4, 4).is_err());
    }
}
