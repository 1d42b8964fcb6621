//! The device context: adapter listing, selection and error reporting.

use std::sync::Arc;

use faultline::numerics::gpu::{AdapterSelection, GpuContext, GpuError, list_adapters};

use crate::gpu;

#[test]
fn lists_the_adapter_in_use() {
    let Some(context) = gpu() else { return };
    let adapters = list_adapters(&AdapterSelection::from_env());
    assert!(adapters.contains(context.adapter()), "{:?} not in {adapters:?}", context.adapter());
    let line = context.adapter().to_string();
    assert!(line.contains(&context.adapter().name) && line.contains(&context.adapter().backend), "{line}");
}

#[test]
fn an_unknown_adapter_name_is_a_typed_error() {
    let selection =
        AdapterSelection { name: Some("no such adapter, surely".into()), ..AdapterSelection::from_env() };
    match GpuContext::new(&selection) {
        Err(error @ GpuError::NoAdapter { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("no such adapter, surely") && message.contains("mesa-vulkan-drivers"),
                "{message}"
            );
        }
        other => panic!("expected NoAdapter, got {other:?}"),
    }
}

#[test]
fn shape_errors_are_returned_not_panics() {
    let Some(context) = gpu() else { return };
    let small = context.zeros::<f32>("small", 4).unwrap();
    assert!(matches!(context.write(&small, 2, &[1.0, 2.0, 3.0]), Err(GpuError::Shape { .. })));
    let mut recording = context.record("overrun");
    let other = context.zeros::<f32>("other", 4).unwrap();
    assert!(matches!(recording.copy(&small, 0, &other, 1, 4), Err(GpuError::Shape { .. })));
}

#[test]
fn upload_and_download_round_trip() {
    let Some(context) = gpu() else { return };
    let data: Vec<f32> = (0..1001).map(|i| i as f32 * 0.25 - 7.0).collect();
    let buffer = context.upload("round trip", &data).unwrap();
    assert_eq!(context.download(&buffer).unwrap(), data);
    let keys: Vec<u32> = (0..17u32).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
    let buffer = context.upload("u32 round trip", &keys).unwrap();
    assert_eq!(context.download(&buffer).unwrap(), keys);
}

/// A run on the GPU writes what it handed the driver into its manifest
/// (`gpu_counters`), counted as the calls were made: a short quickstart run
/// submits, dispatches, creates buffers and reads back, and every count is the
/// same when the same run is made again on a fresh context (they do not depend
/// on timing). A context of its own: the shared one counts the other tests'
/// work too, and keeps buffers a later run reuses.
#[test]
fn a_gpu_runs_manifest_counts_its_driver_work() {
    if crate::skip::gpu_context().is_none() {
        return;
    }
    let counted = |name: &str| -> serde_json::Value {
        let context = Arc::new(crate::skip::gpu_context().expect("an adapter, as a moment ago"));
        let out = std::env::temp_dir().join(format!("faultline-gpu-counters-{name}-{}", std::process::id()));
        let loaded = crate::behaviour::quickstart(4, |t| t);
        let strategies = faultline::app::select_strategies(&loaded, &["uniform".into()]).unwrap();
        let plan = faultline::app::Plan {
            seeds: vec![1],
            loaded,
            strategies,
            out: out.clone(),
            jobs: None,
            backend: faultline::numerics::device::BackendChoice::Gpu,
            voice: faultline::app::Voice::Silent,
            dry_run: false,
            choices: Default::default(),
            on_run: None,
            traces: None,
        };
        let device = faultline::numerics::device::Device::Gpu(Arc::clone(&context));
        let chosen = faultline::numerics::device::Chosen { device, why: "test".into() };
        faultline::app::execute_on(plan, &chosen).unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
        manifest["gpu_counters"].clone()
    };
    let first = counted("a");
    assert_eq!(first["rounds"], 4, "{first}");
    for field in ["submits", "waits", "readbacks", "dispatches", "buffers", "writes"] {
        assert!(first[field].as_u64().is_some_and(|n| n > 0), "{field}: {first}");
    }
    assert_eq!(counted("b"), first);
}
