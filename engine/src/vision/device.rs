//! Backend choice: burn's wgpu backend when a GPU adapter exists, otherwise
//! burn's `flex` CPU backend (measured fastest CPU backend in burn 0.22 here).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use burn::tensor::Device;
use burn::tensor::wgpu::wgpu;

use super::VisionError;

/// Which compute device to run the models on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DevicePreference {
    /// A hardware GPU when wgpu finds one, else the CPU.
    #[default]
    Auto,
    /// wgpu on any adapter (including a software one such as Mesa lavapipe);
    /// an error when there is none.
    Gpu,
    /// The CPU (burn `flex`).
    Cpu,
}

impl DevicePreference {
    /// Reads `LIKENESS_DEVICE` (`auto`, `gpu` or `cpu`; unset or empty = auto).
    pub fn from_env() -> Result<Self, VisionError> {
        match std::env::var("LIKENESS_DEVICE") {
            Ok(v) => Self::parse(&v),
            Err(_) => Ok(Self::Auto),
        }
    }

    /// Parses `auto`, `gpu` or `cpu` (case-insensitive; empty = auto).
    pub fn parse(s: &str) -> Result<Self, VisionError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "gpu" | "wgpu" => Ok(Self::Gpu),
            "cpu" | "flex" => Ok(Self::Cpu),
            other => Err(VisionError::Device(format!(
                "LIKENESS_DEVICE must be auto, gpu or cpu, not `{other}`"
            ))),
        }
    }
}

/// Polls a future to completion on this thread (wgpu's adapter enumeration
/// is ready at once on native platforms).
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// The wgpu adapters present: `(name, is a hardware GPU)`.
fn adapters() -> Vec<(String, bool)> {
    let instance = wgpu::Instance::default();
    block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
        .into_iter()
        .map(|a| {
            let info = a.get_info();
            let hw = !matches!(info.device_type, wgpu::DeviceType::Cpu);
            (format!("{} ({:?})", info.name, info.backend), hw)
        })
        .collect()
}

/// Resolves a preference to a burn device and a human-readable backend name.
pub fn select(pref: DevicePreference) -> Result<(Device, String), VisionError> {
    let cpu = || (Device::flex(), "flex (CPU)".to_owned());
    match pref {
        DevicePreference::Cpu => Ok(cpu()),
        DevicePreference::Auto => {
            let found = std::panic::catch_unwind(adapters).unwrap_or_default();
            match found.into_iter().find(|(_, hw)| *hw) {
                Some((name, _)) => Ok((
                    Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
                    format!("wgpu: {name}"),
                )),
                None => Ok(cpu()),
            }
        }
        DevicePreference::Gpu => {
            let found = std::panic::catch_unwind(adapters).unwrap_or_default();
            let Some((name, _)) = found.iter().find(|(_, hw)| *hw).or(found.first()).cloned()
            else {
                return Err(VisionError::Device(
                    "LIKENESS_DEVICE=gpu but wgpu finds no adapter (install a GPU driver, or \
                     mesa-vulkan-drivers for a software one)"
                        .into(),
                ));
            };
            Ok((
                Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
                format!("wgpu: {name}"),
            ))
        }
    }
}
