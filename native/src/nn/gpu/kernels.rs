//! The small element-wise kernels around cuDNN's convolutions, compiled once per
//! process start by NVRTC (no CUDA toolkit is needed at build time).
//!
//! Indices are 32-bit: `CudaNetwork` refuses batches with tensors of 2^31 elements or more.
//! Sums run in the same order as `graph::run_reference`, and no fast-math, so results
//! stay within float rounding of the CPU.

use super::cuda_err;
use crate::error::Result;
use cudarc::driver::{CudaContext, CudaFunction};
use std::sync::Arc;

const SOURCE: &str = r#"
#define INDEX (blockIdx.x * blockDim.x + threadIdx.x)

// y[b, c, :] += bias[c]
extern "C" __global__ void bias_add(float* y, const float* bias, int channels, int plane, int n) {
    int i = INDEX;
    if (i < n) y[i] += bias[(i / plane) % channels];
}

extern "C" __global__ void relu(float* y, const float* x, int n) {
    int i = INDEX;
    if (i < n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

extern "C" __global__ void add(float* y, const float* a, const float* b, int n) {
    int i = INDEX;
    if (i < n) y[i] = a[i] + b[i];
}

extern "C" __global__ void sigmoid(float* y, const float* x, int n) {
    int i = INDEX;
    if (i < n) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

// One thread per pixel: softmax over the channels of that pixel.
extern "C" __global__ void softmax_channels(float* y, const float* x, int channels, int plane, int pixels) {
    int p = INDEX;
    if (p >= pixels) return;
    int base = (p / plane) * channels * plane + p % plane;
    float m = x[base];
    for (int c = 1; c < channels; ++c) m = fmaxf(m, x[base + c * plane]);
    float sum = 0.0f;
    for (int c = 0; c < channels; ++c) sum += expf(x[base + c * plane] - m);
    for (int c = 0; c < channels; ++c) y[base + c * plane] = expf(x[base + c * plane] - m) / sum;
}

// k x k windows, stride k; one thread per output value.
extern "C" __global__ void max_pool(float* y, const float* x, int k, int h, int w, int ho, int wo, int n) {
    int i = INDEX;
    if (i >= n) return;
    int ox = i % wo;
    int t = i / wo;
    int oy = t % ho;
    int plane = t / ho;
    const float* src = x + (long long)plane * h * w + (oy * k) * w + ox * k;
    float m = src[0];
    for (int dy = 0; dy < k; ++dy)
        for (int dx = 0; dx < k; ++dx) m = fmaxf(m, src[dy * w + dx]);
    y[i] = m;
}

// Transposed convolution with kernel = stride = k: each output pixel has exactly one
// input pixel, so one thread per output value sums over the input channels.
// wgt is ONNX's cin x cout x k x k.
extern "C" __global__ void conv_transpose(float* y, const float* x, const float* wgt, const float* bias,
                                          int cin, int cout, int k, int h, int w, int n) {
    int i = INDEX;
    if (i >= n) return;
    int wo = w * k;
    int ho = h * k;
    int ox = i % wo;
    int t = i / wo;
    int oy = t % ho;
    t /= ho;
    int co = t % cout;
    int b = t / cout;
    const float* src = x + (long long)b * cin * h * w + (oy / k) * w + ox / k;
    const float* wk = wgt + (co * k + oy % k) * k + ox % k;
    int step = cout * k * k;
    float acc = bias[co];
    for (int ci = 0; ci < cin; ++ci) acc += src[(long long)ci * h * w] * wk[ci * step];
    y[i] = acc;
}

// Copies x (batch x cx x plane) into channels [offset, offset + cx) of y (batch x cy x plane).
extern "C" __global__ void copy_channels(float* y, const float* x, int cx, int cy, int offset, int plane, int n) {
    int i = INDEX;
    if (i >= n) return;
    int s = i % plane;
    int t = i / plane;
    int c = t % cx;
    int b = t / cx;
    y[((long long)b * cy + offset + c) * plane + s] = x[i];
}
"#;

pub(super) struct Kernels {
    pub bias_add: CudaFunction,
    pub relu: CudaFunction,
    pub add: CudaFunction,
    pub sigmoid: CudaFunction,
    pub softmax_channels: CudaFunction,
    pub max_pool: CudaFunction,
    pub conv_transpose: CudaFunction,
    pub copy_channels: CudaFunction,
}

impl Kernels {
    pub fn load(ctx: &Arc<CudaContext>) -> Result<Kernels> {
        let ptx = cudarc::nvrtc::compile_ptx(SOURCE).map_err(cuda_err("NVRTC compilation"))?;
        let module = ctx
            .load_module(ptx)
            .map_err(cuda_err("loading the kernels"))?;
        let f = |name: &str| {
            module
                .load_function(name)
                .map_err(cuda_err("finding a kernel"))
        };
        Ok(Kernels {
            bias_add: f("bias_add")?,
            relu: f("relu")?,
            add: f("add")?,
            sigmoid: f("sigmoid")?,
            softmax_channels: f("softmax_channels")?,
            max_pool: f("max_pool")?,
            conv_transpose: f("conv_transpose")?,
            copy_channels: f("copy_channels")?,
        })
    }
}
