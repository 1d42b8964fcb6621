//! Equal-length copies of many spans in one dispatch against a copy on the host.

use faultline::numerics::gpu::{GpuBuffer, GpuContext, GpuError};

use crate::{Data, counting_gpu, gpu};

/// `destination` after copying `len` elements from `source[from..]` to
/// `destination[to..]` for every span.
fn copied(source: &[f32], destination: &[f32], len: usize, spans: &[(usize, usize)]) -> Vec<f32> {
    let mut out = destination.to_vec();
    for &(from, to) in spans {
        out[to..to + len].copy_from_slice(&source[from..from + len]);
    }
    out
}

/// `spans` spans of `len` elements: sources anywhere (they may overlap),
/// destinations in distinct slots of `len` (in shuffled order) shifted by up to
/// `len - 1` within the slot's room.
fn random_spans(
    data: &mut Data,
    len: usize,
    spans: usize,
    source: usize,
    slots: usize,
) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..slots).collect();
    for i in (1..slots).rev() {
        order.swap(i, data.below(i + 1));
    }
    let shift = data.below(len);
    order[..spans].iter().map(|&slot| (data.below(source - len + 1), slot * len + shift)).collect()
}

/// Copies on the device, from fresh uploads, and downloads the destination.
fn on_gpu(
    context: &GpuContext,
    source: &[f32],
    destination: &[f32],
    len: usize,
    spans: &[(usize, usize)],
) -> Vec<f32> {
    let (s, d) =
        (context.upload("source", source).unwrap(), context.upload("destination", destination).unwrap());
    let mut recording = context.record("copy spans");
    recording.copy_spans(len, spans, &s, &d).unwrap();
    assert_eq!(recording.dispatches(), 1);
    context.submit(recording).unwrap();
    context.download(&d).unwrap()
}

#[test]
fn random_spans_of_any_length_are_the_hosts_copy() {
    let Some(context) = gpu() else { return };
    let mut data = Data::new(5);
    for len in [1, 3, 255, 256, 257, 333, 1000] {
        let slots = 23;
        let source = data.vec(5 * len + 17);
        let destination = data.vec(slots * len + len);
        let spans = random_spans(&mut data, len, 12, source.len(), slots);
        let got = on_gpu(context, &source, &destination, len, &spans);
        assert!(got == copied(&source, &destination, len, &spans), "len {len}, spans {spans:?}");
    }
}

#[test]
fn long_spans_and_more_spans_than_a_grid_row() {
    let Some(context) = gpu() else { return };
    let mut data = Data::new(6);
    // Longer than 4096 workgroups of 256 threads cover: the threads loop.
    let (len, source) = (1_100_003, data.vec(1_200_000));
    let destination = data.vec(2 * len);
    let spans = [(99_000, len), (7, 0)];
    assert!(
        on_gpu(context, &source, &destination, len, &spans) == copied(&source, &destination, len, &spans)
    );
    // The arenas' case: 200 vectors of 270 000 (fewer where one binding cannot
    // hold them, as on lavapipe).
    let (len, source) = (270_000, data.vec(300_000));
    let room = usize::try_from(context.max_binding_bytes()).unwrap_or(usize::MAX) / (4 * len);
    let slots = 200.min(room - 1);
    let destination = vec![0.0; (slots + 1) * len];
    let spans = random_spans(&mut data, len, slots, source.len(), slots);
    assert!(
        on_gpu(context, &source, &destination, len, &spans) == copied(&source, &destination, len, &spans)
    );
    // More spans than 65535 workgroup rows: they fold into z.
    let (len, spans) = (3, 70_001);
    let source = data.vec(len * spans);
    let destination = data.vec(len * spans);
    let spans: Vec<(usize, usize)> = (0..spans).map(|i| (len * i, len * (spans - 1 - i))).collect();
    assert!(
        on_gpu(context, &source, &destination, len, &spans) == copied(&source, &destination, len, &spans)
    );
}

#[test]
fn copies_are_one_dispatch_and_no_spans_none() {
    let Some(context) = counting_gpu() else { return };
    let source = context.upload("source", &[1.0f32; 64]).unwrap();
    let destination = context.zeros::<f32>("destination", 64).unwrap();
    let counted = |len: usize, spans: &[(usize, usize)]| {
        let before = context.counts();
        let mut recording = context.record("copy spans");
        recording.copy_spans(len, spans, &source, &destination).unwrap();
        context.submit(recording).unwrap();
        context.counts().since(before)
    };
    let spans = [(0, 0), (8, 16), (3, 32)];
    let counts = counted(10, &spans);
    assert_eq!((counts.dispatches, counts.copies), (1, 0));
    assert_eq!(counted(10, &[]).dispatches, 0);
    assert_eq!(counted(0, &spans).dispatches, 0);
}

#[test]
fn overlapping_destinations_shared_buffers_and_overruns_are_refused() {
    let Some(context) = gpu() else { return };
    let source = context.zeros::<f32>("source", 100).unwrap();
    let destination = context.zeros::<f32>("destination", 50).unwrap();
    let refused = |len: usize, spans: &[(usize, usize)], from: &GpuBuffer<f32>, to: &GpuBuffer<f32>| {
        let mut recording = context.record("refused copy spans");
        let got = recording.copy_spans(len, spans, from, to);
        assert_eq!(recording.dispatches(), 0);
        match got {
            Err(GpuError::Shape { message, .. }) => message,
            other => panic!("not refused: {other:?}"),
        }
    };
    assert!(refused(10, &[(0, 0), (50, 9)], &source, &destination).contains("same elements"));
    assert!(refused(10, &[(0, 20), (0, 0), (0, 29)], &source, &destination).contains("same elements"));
    assert!(refused(10, &[(0, 0), (91, 10)], &source, &destination).contains("overrun 'source'"));
    assert!(refused(10, &[(0, 41)], &source, &destination).contains("overrun 'destination'"));
    assert!(refused(10, &[(0, usize::MAX)], &source, &destination).contains("overrun"));
    assert!(refused(10, &[(0, 50)], &source, &source).contains("separate buffers"));
    let limit = usize::try_from(context.max_binding_bytes()).unwrap();
    if let Ok(huge) = context.zeros::<f32>("huge", limit / 4 + 1) {
        assert!(refused(10, &[(0, 0)], &source, &huge).contains("larger than one binding"));
    }
    // Destinations that only touch are fine; sources may overlap.
    let mut recording = context.record("touching copy spans");
    recording.copy_spans(10, &[(0, 10), (5, 0), (5, 20)], &source, &destination).unwrap();
    context.submit(recording).unwrap();
}
