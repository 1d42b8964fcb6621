//! The weigh kernel (`shaders/weigh.wgsl`): a strategy's [`RatioRule`] evaluated
//! on the device from the gaps there, one pipeline per rule (its WGSL written
//! into the shader), built when a recording first needs it. Many runs'
//! weighings go in one dispatch, a workgroup each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::GpuError;
use super::context::{GpuBuffer, Recording};
use super::kernel::{Access, Kernel, disjoint_spans, kernel, module};
use crate::numerics::weigh::RatioRule;

const UNIFORM: usize = 16;

/// Table words of a weighing's header, and of each part.
const HEADER: usize = 6;
const PART: usize = 3;

/// The most workgroups of one dimension: one per weighing.
const MAX_GROUPS: usize = 65_535;

/// The index word of a gap given as bits (`NONE` in the shader).
const GIVEN: u32 = u32::MAX;

/// One pipeline per rule, by its WGSL.
#[derive(Debug, Default)]
pub(super) struct Pipelines {
    built: Mutex<HashMap<String, Arc<Kernel>>>,
}

/// Where a weighed exchange's gap is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GapAt {
    /// Partial squares at this index of the results buffer (this flush's).
    Partials(usize),
    /// Known on the host.
    Value(f64),
}

/// One weighing: exchanges decided together, each against the run's recent
/// gaps as they were before any of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Weighing {
    /// (worker, its gap) per part, in order.
    pub parts: Vec<(u32, GapAt)>,
    /// α.
    pub alpha: f64,
    /// Where part q's (a_m, a_w) go in the results: `out + 2q`, `out + 2q + 1`.
    pub out: usize,
}

/// One run's weighing in a batch: the weighing and where that run's recent
/// gaps are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunWeighing<'w> {
    /// The weighing.
    pub weighing: &'w Weighing,
    /// Where the run's recent gaps start in the recent buffer.
    pub recent_at: usize,
    /// The run's workers (its recent gaps).
    pub workers: usize,
}

fn shape(message: String) -> GpuError {
    GpuError::Shape { operation: "weigh".into(), message }
}

fn word(v: usize) -> Result<u32, GpuError> {
    u32::try_from(v).map_err(|_| shape(format!("{v} exceeds 32 bits")))
}

/// Whether `len` elements at `at` lie within `total`.
fn fits(at: usize, len: usize, total: usize) -> bool {
    at.checked_add(len).is_some_and(|end| end <= total)
}

impl Recording<'_> {
    /// Records `weighing` by `rule`: gaps of `partials` partial squares each,
    /// the run's `workers` recent gaps at `recent[at..]`, results in `results`.
    pub fn weigh(
        &mut self,
        rule: &dyn RatioRule,
        weighing: &Weighing,
        (partials, workers): (usize, usize),
        (recent, at): (&GpuBuffer<f32>, usize),
        results: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        let one = RunWeighing { weighing, recent_at: at, workers };
        self.weighings(rule, &[one], partials, recent, results)
    }

    /// Records `weighings` of different runs by `rule` in one dispatch, one
    /// workgroup each: gaps of `partials` partial squares each in `results`,
    /// each run's recent gaps in `recent`. The weighings run concurrently, so
    /// no two may share recent gaps (the same run's weighings go in separate
    /// dispatches, in order), and none may write its weights where another
    /// reads a gap or writes weights; both are checked.
    pub fn weighings(
        &mut self,
        rule: &dyn RatioRule,
        weighings: &[RunWeighing<'_>],
        partials: usize,
        recent: &GpuBuffer<f32>,
        results: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        // A weighing without parts has nothing to do: no workgroup for it.
        let live: Vec<&RunWeighing> = weighings.iter().filter(|w| !w.weighing.parts.is_empty()).collect();
        if live.is_empty() {
            return Ok(());
        }
        if live.len() > MAX_GROUPS {
            return Err(shape(format!("{} weighings exceed {MAX_GROUPS} workgroups", live.len())));
        }
        let table = table(&live, partials, recent, results)?;
        if let Some(race) = race(&live, partials) {
            return Err(shape(race));
        }
        let uniform = [word(partials)?, 0, 0, 0];
        let kernel = self.context.kernels.weigh.kernel(&self.context.device, rule)?;
        self.dispatch_with_table(
            &kernel,
            bytemuck::bytes_of(&uniform),
            Some(&table),
            &[&results.buffer, &recent.buffer],
            [word(live.len())?, 1, 1],
        );
        Ok(())
    }
}

/// The entry table: a header per weighing, then every weighing's parts.
fn table(
    weighings: &[&RunWeighing],
    partials: usize,
    recent: &GpuBuffer<f32>,
    results: &GpuBuffer<f32>,
) -> Result<Vec<u32>, GpuError> {
    let headers = HEADER * weighings.len();
    let parts: usize = weighings.iter().map(|w| w.weighing.parts.len()).sum();
    let mut words = Vec::with_capacity(headers + PART * parts);
    let mut rows = Vec::with_capacity(PART * parts);
    for w in weighings {
        words.extend(header(w, headers + rows.len(), recent, results)?);
        for &(worker, gap) in &w.weighing.parts {
            if worker as usize >= w.workers {
                return Err(shape(format!("worker {worker} of {}", w.workers)));
            }
            let (source, bits) = gap_words(gap, partials, results)?;
            rows.extend([worker, source, bits]);
        }
    }
    words.extend(rows);
    Ok(words)
}

/// A weighing's header words, its parts at table word `first`.
fn header(
    w: &RunWeighing,
    first: usize,
    recent: &GpuBuffer<f32>,
    results: &GpuBuffer<f32>,
) -> Result<[u32; HEADER], GpuError> {
    let weighing = w.weighing;
    let weights = 2 * weighing.parts.len();
    if !fits(w.recent_at, w.workers, recent.len()) || !fits(weighing.out, weights, results.len()) {
        return Err(shape(format!(
            "{} recent gaps at {} or the weights overrun their buffers",
            w.workers, w.recent_at
        )));
    }
    Ok([
        word(first)?,
        word(weighing.parts.len())?,
        word(w.workers)?,
        word(w.recent_at)?,
        (weighing.alpha as f32).to_bits(),
        word(weighing.out)?,
    ])
}

/// A gap's two last table words: where its partials are (or `GIVEN`), its bits.
fn gap_words(gap: GapAt, partials: usize, results: &GpuBuffer<f32>) -> Result<(u32, u32), GpuError> {
    match gap {
        GapAt::Partials(i) if fits(i, partials, results.len()) => Ok((word(i)?, 0)),
        GapAt::Partials(i) => Err(shape(format!("{partials} partials at {i} overrun the results"))),
        GapAt::Value(v) => Ok((GIVEN, (v as f32).to_bits())),
    }
}

/// Why `weighings` (bounds checked) cannot run concurrently, if they cannot:
/// two share recent gaps, two write the same weights, or one writes where
/// another reads its gap's partials.
fn race(weighings: &[&RunWeighing], partials: usize) -> Option<String> {
    if !disjoint_spans(weighings.iter().map(|w| (w.recent_at, w.workers))) {
        return Some("two weighings of one dispatch share recent gaps".into());
    }
    // (start, end, weighing) of every weighing's weights, by start.
    let mut writes: Vec<(usize, usize, usize)> = weighings
        .iter()
        .enumerate()
        .map(|(i, w)| (w.weighing.out, w.weighing.out + 2 * w.weighing.parts.len(), i))
        .collect();
    writes.sort_unstable();
    if writes.windows(2).any(|pair| pair[0].1 > pair[1].0) {
        return Some("two weighings of one dispatch write the same weights".into());
    }
    for (i, w) in weighings.iter().enumerate() {
        for &(_, gap) in &w.weighing.parts {
            let GapAt::Partials(at) = gap else { continue };
            // The writes are disjoint, so their ends are sorted too.
            let from = writes.partition_point(|&(_, end, _)| end <= at);
            let others = writes[from..].iter().take_while(|&&(start, _, _)| start < at + partials);
            if others.into_iter().any(|&(_, _, writer)| writer != i) {
                return Some(format!("a weighing writes weights over another's partials at {at}"));
            }
        }
    }
    None
}

impl Pipelines {
    /// The pipeline evaluating `rule`, built on first use.
    fn kernel(&self, device: &wgpu::Device, rule: &dyn RatioRule) -> Result<Arc<Kernel>, GpuError> {
        let body = rule.wgsl();
        let mut built = self.built.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kernel) = built.get(&body) {
            return Ok(Arc::clone(kernel));
        }
        let source = include_str!("../../../shaders/weigh.wgsl").replace("$RULE", &body);
        let module = module(device, "weigh.wgsl", &source)?;
        let storage = [Access::Read, Access::ReadWrite, Access::ReadWrite];
        let kernel = Arc::new(kernel(device, &module, "weigh", "weigh", UNIFORM, &storage, &[])?);
        built.insert(body, Arc::clone(&kernel));
        Ok(kernel)
    }
}
