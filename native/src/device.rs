//! Where the network runs: the CPU (tract, always available) or an NVIDIA GPU
//! (cuDNN, only in builds with the `cuda` feature and on machines with a driver).

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
    type Err = String;

    fn from_str(s: &str) -> Result<Device, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            other => Err(format!("unknown device '{other}' (cpu or cuda)")),
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
/// driver and cuDNN versions, or why not. Never panics, also without a driver.
pub fn cuda_status() -> Result<String, String> {
    #[cfg(feature = "cuda")]
    {
        crate::gpu::probe()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(NO_CUDA_BUILD.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!(" CUDA ".parse::<Device>(), Ok(Device::Cuda));
        assert!("tpu".parse::<Device>().unwrap_err().contains("cpu or cuda"));
        assert_eq!(Device::Cuda.to_string(), "cuda");
    }

    #[test]
    fn status_never_panics() {
        match cuda_status() {
            Ok(s) => assert!(!s.is_empty()),
            Err(e) => assert!(!e.is_empty()),
        }
        #[cfg(not(feature = "cuda"))]
        assert_eq!(cuda_status().unwrap_err(), NO_CUDA_BUILD);
    }
}
