//! Probe vectors: bit-identical to `model::probe::rademacher`.

use faultline::numerics::gpu::ProbeLayout;
use faultline::numerics::model::probe::{probe_key, rademacher};

use crate::{Data, gpu};

#[test]
fn probes_are_bit_identical_to_the_cpu() {
    let Some(context) = gpu() else { return };
    let mut data = Data::new(3);
    // Keys from the real derivation (edge seeds and steps included) and raw random
    // keys; 64 probes of a 70_001-element slice starting at an odd index.
    let mut keys =
        vec![probe_key(1, 0, 1, 0), probe_key(u64::MAX, u32::MAX, u64::MAX, u32::MAX), 0, u32::MAX];
    while keys.len() < 64 {
        let (seed, worker, step, probe) = (
            data.next_u64(),
            data.next_u64() as u32 % 64,
            data.next_u64() % 100_000,
            data.next_u64() as u32 % 8,
        );
        keys.push(if keys.len() % 2 == 0 {
            probe_key(seed, worker, step, probe)
        } else {
            data.next_u64() as u32
        });
    }
    let layout = ProbeLayout { len: 70_001, first: 12_345, offset: 3, stride: 70_010 };
    let out = context.zeros::<f32>("probes", 3 + 64 * 70_010).unwrap();
    let key_buffer = context.upload("probe keys", &keys).unwrap();
    let mut recording = context.record("probes");
    recording.probes(&key_buffer, layout, &out).unwrap();
    context.submit(recording).unwrap();
    let got = context.download(&out).unwrap();
    for (q, &key) in keys.iter().enumerate() {
        for j in 0..layout.len {
            let want = rademacher(key, (layout.first + j) as u32);
            let value = got[3 + q * layout.stride + j];
            assert!(
                value.to_bits() == want.to_bits(),
                "key {key:#x} index {}: {value} vs {want}",
                layout.first + j
            );
        }
    }
    // The gaps between probes are untouched.
    assert!(got[..3].iter().all(|&v| v == 0.0));
    assert!(got[3 + layout.len..3 + layout.stride].iter().all(|&v| v == 0.0));
}

#[test]
fn pinned_values_on_the_gpu() {
    let Some(context) = gpu() else { return };
    let keys = context.upload("key", &[0xd7b0_7272u32]).unwrap();
    let out = context.zeros::<f32>("probe", 8).unwrap();
    let mut recording = context.record("pinned");
    recording.probes(&keys, ProbeLayout { len: 8, first: 0, offset: 0, stride: 8 }, &out).unwrap();
    context.submit(recording).unwrap();
    assert_eq!(context.download(&out).unwrap(), [1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0]);
}
