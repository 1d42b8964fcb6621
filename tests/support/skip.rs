//! The one way a test says what it could not run. Without a GPU adapter or an
//! installed dataset a test notes it on stderr and returns; with
//! `FAULTLINE_REQUIRE_GPU=1` (or `FAULTLINE_REQUIRE_DATA` set) it fails instead,
//! so CI never skips silently. Shared by the test binaries that need it through
//! `#[path]`, so none of it is the library's public API.

#![allow(dead_code)] // Each test binary uses what it needs.

use std::path::Path;

use faultline::data::{self, RawData};
use faultline::numerics::gpu::{AdapterSelection, GpuContext};
use faultline::scenario::{Data, Dataset};

/// `None` after noting why the test is skipped, or a panic when `required`.
fn skip<T>(what: &str, why: &dyn std::fmt::Display, required: bool, hint: &str) -> Option<T> {
    assert!(!required, "{what} is required but unavailable: {why}\n({hint})");
    eprintln!("skipping: {what} unavailable: {why} ({hint})");
    None
}

/// A context on any adapter the environment allows (software ones included).
pub fn gpu_context() -> Option<GpuContext> {
    let required = std::env::var("FAULTLINE_REQUIRE_GPU").is_ok_and(|v| v == "1");
    GpuContext::new(&AdapterSelection::from_env()).map_or_else(
        |error| {
            skip(
                "a GPU context (FAULTLINE_REQUIRE_GPU=1)",
                &error,
                required,
                "on a machine without a GPU: apt-get install mesa-vulkan-drivers libvulkan1, and set \
                 WGPU_BACKEND=vulkan",
            )
        },
        Some,
    )
}

/// Fashion-MNIST from its standard place (Debian's `dataset-fashion-mnist`).
pub fn fashion_mnist() -> Option<RawData> {
    let dir = Dataset::FashionMnist.default_dir().expect("Fashion-MNIST has a standard place");
    if !Path::new(dir).is_dir() {
        let required = std::env::var_os("FAULTLINE_REQUIRE_DATA").is_some();
        let why = format!("{dir} is not installed");
        return skip(
            "Fashion-MNIST (FAULTLINE_REQUIRE_DATA)",
            &why,
            required,
            "apt-get install dataset-fashion-mnist",
        );
    }
    let spec = Data { dataset: Dataset::FashionMnist, ..Data::default() };
    Some(data::load(&spec, Path::new(".")).unwrap_or_else(|e| panic!("{e}")))
}
