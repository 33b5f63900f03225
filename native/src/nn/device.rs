//! Where the network runs: the CPU (tract, always available) or an NVIDIA GPU
//! (cuDNN, only in builds with the `cuda` feature and on machines with a driver).

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// Why a CPU-only build cannot use the GPU.
pub const NO_CUDA_BUILD: &str = "this build has no CUDA support (rebuild with --features cuda)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
}

impl FromStr for Device {
    type Err = Error;

    /// "cpu" or "cuda" (any case); another name is an invalid parameter.
    fn from_str(s: &str) -> Result<Device> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            other => Err(Error::invalid(format!(
                "unknown device '{other}' (cpu or cuda)"
            ))),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
    }
}

/// The device a network ended up on, with a line describing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device: Device,
    pub description: String,
}

impl DeviceInfo {
    pub fn cpu() -> DeviceInfo {
        DeviceInfo {
            device: Device::Cpu,
            description: format!(
                "CPU ({} threads)",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            ),
        }
    }
}

/// Whether this build and machine can run the network on a GPU: the GPU's name,
/// driver and cuDNN versions, or an [`crate::ErrorKind::Device`] error saying why not. Never
/// panics, also without a driver.
pub fn cuda_status() -> Result<String> {
    #[cfg(feature = "cuda")]
    {
        crate::nn::gpu::probe()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(Error::device(NO_CUDA_BUILD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn parses_and_prints() {
        assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!(" CUDA ".parse::<Device>(), Ok(Device::Cuda));
        let e = "tpu".parse::<Device>().unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParameter);
        assert!(e.message.contains("cpu or cuda"), "{e}");
        assert_eq!(Device::Cuda.to_string(), "cuda");
    }

    #[test]
    fn status_never_panics() {
        match cuda_status() {
            Ok(s) => assert!(!s.is_empty()),
            Err(e) => assert!(
                e.kind == ErrorKind::Device && !e.message.is_empty(),
                "{e:?}"
            ),
        }
        #[cfg(not(feature = "cuda"))]
        assert_eq!(cuda_status().unwrap_err().message, NO_CUDA_BUILD);
    }
}
