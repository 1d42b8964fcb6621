//! Recording one GPU flush's stages: a single elastic, snapshot or evaluation
//! operation of one run, or a wave of local steps of many (run, worker) pairs run
//! as one batched pass. The math is [`crate::numerics::model`]'s, kernel for kernel.
//!
//! This file records the single operations and the forward pass they share with
//! the waves; `record/wave.rs` records a wave, `record/r_passes.rs` its R-passes.

mod r_passes;
mod wave;

use super::datasets::{DeviceData, DeviceSet};
use super::plan::Place;
use super::scratch::Scratch;
use super::{Arenas, EVAL_CHUNK, GpuRun};
use std::collections::HashMap;
use std::sync::Arc;

use crate::numerics::backend::{Op, Params, Program, ScalarId};
use crate::numerics::config::Optimizer;
use crate::numerics::gpu::reduce::partials_per_pair;
use crate::numerics::gpu::weigh::{GapAt, RunWeighing, Weighing};
use crate::numerics::gpu::{
    ApplyDifference, BarrierAverage, BarrierUpdate, Batched, ElasticWeight, Gemm, GpuBuffer, GpuError,
    LayerShape, MasterUpdate, MatrixLayout, Recording, SoftmaxBuffers, Span,
};
use crate::numerics::model::Mlp;
use crate::numerics::program::Weight;
use crate::numerics::weigh::RatioRule;

/// One local step of a wave.
pub(super) struct WaveStep<'w, 'd> {
    pub run: &'w GpuRun,
    pub data: &'w DeviceData<'d>,
    pub worker: usize,
    /// Its optimizer step t.
    pub step: u64,
}

/// What recording one flush needs.
pub(super) struct Flush<'f> {
    pub mlp: &'f Mlp,
    pub optimizer: &'f Optimizer,
    pub scratch: &'f Scratch,
    pub arenas: &'f Arenas,
    pub table: &'f GpuBuffer<u32>,
    pub results: &'f GpuBuffer<f32>,
}

/// Dense row-major `cols` columns from `offset`.
fn dense(offset: usize, cols: usize) -> MatrixLayout {
    MatrixLayout::dense(offset, cols)
}

/// One operation of a group, not a local step, with what recording it needs.
pub(super) struct Single<'s, 'd> {
    pub run: &'s GpuRun,
    pub data: &'s DeviceData<'d>,
    pub program: &'s Program,
    pub op: &'s Op,
    pub place: Place,
    /// Where this flush computes the run's scalars on the device.
    pub located: &'s HashMap<ScalarId, usize>,
}

/// Which operations of a group can share one dispatch: those of one kind whose
/// runs' state is in the same pages (the pages' indices here). Any other
/// operation is recorded alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Batch {
    Gap {
        slots: usize,
        center: usize,
    },
    MasterUpdate {
        slots: usize,
        center: usize,
    },
    BarrierUpdate {
        slots: usize,
        center: usize,
    },
    ApplyDifference {
        params: usize,
        slots: usize,
    },
    /// One dispatch per ratio rule among them.
    Weigh {
        recent: usize,
    },
    SnapshotWorker {
        params: usize,
        slots: usize,
    },
    SnapshotCenter {
        center: usize,
        slots: usize,
    },
    Adopt {
        slots: usize,
        params: usize,
    },
    Alone,
}

/// A ratio rule and the weighings (with their runs) it decides together.
type WeighingsOfRule<'r> = (Arc<dyn RatioRule>, Vec<(Weighing, &'r GpuRun)>);

/// How `op` of `run` may be batched.
pub(super) fn batch_of(op: &Op, run: &GpuRun) -> Batch {
    let (slots, center, params) = (run.slots.page, run.center.page, run.params.page);
    match op {
        Op::Gap { .. } => Batch::Gap { slots, center },
        Op::MasterUpdate { .. } => Batch::MasterUpdate { slots, center },
        Op::BarrierUpdate { .. } => Batch::BarrierUpdate { slots, center },
        Op::ApplyDifference { .. } => Batch::ApplyDifference { params, slots },
        Op::Weigh { .. } => Batch::Weigh { recent: run.recent.page },
        Op::SnapshotWorker { .. } => Batch::SnapshotWorker { params, slots },
        Op::SnapshotCenter { .. } => Batch::SnapshotCenter { center, slots },
        Op::Adopt { .. } => Batch::Adopt { slots, params },
        _ => Batch::Alone,
    }
}

impl Flush<'_> {
    /// Records a group of operations (no local steps), sorted by [`batch_of`]:
    /// each stretch of one batch as one dispatch, every other operation alone.
    pub fn record_singles(&self, rec: &mut Recording<'_>, group: &[Single<'_, '_>]) -> Result<(), GpuError> {
        let n = self.mlp.parameter_count();
        let a = self.arenas;
        let batch = |single: &Single<'_, '_>| batch_of(single.op, single.run);
        let together =
            |x: &Single<'_, '_>, y: &Single<'_, '_>| batch(x) == batch(y) && batch(x) != Batch::Alone;
        for (first, end) in stretches(group, together) {
            let stretch = &group[first..end];
            let weight = |single: &Single<'_, '_>, w: Weight| {
                elastic_weight(single.program, w, &|id| located_in(single.located, id))
            };
            match batch(&stretch[0]) {
                Batch::Gap { slots, center } => {
                    let at = stretch[0].place;
                    let per_pair = partials_per_pair(n);
                    let in_a_row = stretch.iter().enumerate().all(|(i, single)| {
                        single.place.table == at.table + 2 * i
                            && single.place.results == at.results + i * per_pair
                    });
                    if !in_a_row {
                        return Err(GpuError::Shape {
                            operation: "recording a flush".into(),
                            message: "a stretch of gaps whose pairs or partials are not in a row".into(),
                        });
                    }
                    let (slots, center) = (a.slots.page(slots), a.center.page(center));
                    let pairs = (self.table, at.table, stretch.len());
                    rec.squared_distances_at(n, pairs, slots, center, (self.results, at.results))?
                }
                Batch::MasterUpdate { slots, center } => {
                    let updates = stretch
                        .iter()
                        .map(|single| {
                            let Op::MasterUpdate { slot, a_m } = single.op else {
                                unreachable!("by its batch")
                            };
                            let (s0, c0) = (single.run.slots.at, single.run.center.at);
                            Ok(MasterUpdate { slot: s0 + slot * n, center: c0, a_m: weight(single, *a_m)? })
                        })
                        .collect::<Result<Vec<_>, GpuError>>()?;
                    let (slots, center) = (a.slots.page(slots), a.center.page(center));
                    rec.master_updates(n, &updates, slots, center, Some(self.results))?
                }
                Batch::BarrierUpdate { slots, center } => {
                    let rounds = stretch
                        .iter()
                        .map(|single| {
                            let Op::BarrierUpdate { parts } = single.op else { unreachable!("by its batch") };
                            let located = |id| located_in(single.located, id);
                            let parts =
                                self.barrier_parts(single.program, parts, single.run.slots.at, located)?;
                            Ok(BarrierUpdate { center: single.run.center.at, parts })
                        })
                        .collect::<Result<Vec<_>, GpuError>>()?;
                    let (slots, center) = (a.slots.page(slots), a.center.page(center));
                    rec.barrier_updates(n, &rounds, slots, center, Some(self.results))?
                }
                Batch::ApplyDifference { params, slots } => {
                    let updates = stretch
                        .iter()
                        .map(|single| {
                            let Op::ApplyDifference { worker, slot, a_w } = single.op else {
                                unreachable!("by its batch")
                            };
                            Ok(ApplyDifference {
                                worker: single.run.params.at + *worker as usize * n,
                                slot: single.run.slots.at + slot * n,
                                a_w: weight(single, *a_w)?,
                            })
                        })
                        .collect::<Result<Vec<_>, GpuError>>()?;
                    let (params, slots) = (a.params.page(params), a.slots.page(slots));
                    rec.apply_differences(n, &updates, params, slots, Some(self.results))?
                }
                Batch::Weigh { recent } => self.record_weighings(rec, stretch, a.recent.page(recent))?,
                Batch::SnapshotWorker { params, slots } => {
                    rec.copy_spans(n, &copy_spans(stretch, n), a.params.page(params), a.slots.page(slots))?
                }
                Batch::SnapshotCenter { center, slots } => {
                    rec.copy_spans(n, &copy_spans(stretch, n), a.center.page(center), a.slots.page(slots))?
                }
                Batch::Adopt { slots, params } => {
                    rec.copy_spans(n, &copy_spans(stretch, n), a.slots.page(slots), a.params.page(params))?
                }
                Batch::Alone => {
                    for single in stretch {
                        self.record(rec, single)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The weighings of a stretch, whose runs' recent gaps are all in
    /// `recent`: one dispatch per ratio rule among them.
    fn record_weighings(
        &self,
        rec: &mut Recording<'_>,
        stretch: &[Single<'_, '_>],
        recent: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        let n = self.mlp.parameter_count();
        let mut by_rule: Vec<WeighingsOfRule<'_>> = Vec::new();
        for single in stretch {
            let Op::Weigh { parts, alpha, .. } = single.op else { unreachable!("by its batch") };
            let rule = single.program.rule().ok_or_else(|| GpuError::Shape {
                operation: "recording a flush".into(),
                message: "a weighing in a program without a rule".into(),
            })?;
            let parts = single
                .program
                .weighed(parts)
                .iter()
                .map(|&(worker, _, gap)| {
                    let at = match single.program.scalar(gap) {
                        Some(value) => GapAt::Value(value),
                        None => GapAt::Partials(located_in(single.located, gap)?),
                    };
                    Ok((worker, at))
                })
                .collect::<Result<_, GpuError>>()?;
            let weighing = (Weighing { parts, alpha: *alpha, out: single.place.results }, single.run);
            match by_rule.iter_mut().find(|(r, _)| r.wgsl() == rule.wgsl()) {
                Some((_, weighings)) => weighings.push(weighing),
                None => by_rule.push((Arc::clone(rule), vec![weighing])),
            }
        }
        for (rule, weighings) in &by_rule {
            let weighings: Vec<RunWeighing<'_>> = weighings
                .iter()
                .map(|(weighing, run)| RunWeighing {
                    weighing,
                    recent_at: run.recent.at,
                    workers: run.workers,
                })
                .collect();
            rec.weighings(&**rule, &weighings, partials_per_pair(n), recent, self.results)?;
        }
        Ok(())
    }

    /// Records one operation that no other shares a dispatch with (a barrier
    /// average, an evaluation, a release), its results at its place.
    fn record(&self, rec: &mut Recording<'_>, single: &Single<'_, '_>) -> Result<(), GpuError> {
        let Single { run, data, program, op, place, located } = *single;
        let n = self.mlp.parameter_count();
        let a = self.arenas;
        match op {
            Op::LocalStep { .. } => {
                return Err(GpuError::Shape {
                    operation: "recording a flush".into(),
                    message: "a local step outside a wave".into(),
                });
            }
            Op::BarrierAverage { parts } => {
                let ((slots, s0), (center, c0)) = (a.slots.of(run.slots), a.center.of(run.center));
                let parts = self.barrier_parts(program, parts, s0, |id| located_in(located, id))?;
                let round = BarrierAverage { center: c0, parts };
                rec.barrier_average(n, &round, slots, center, Some(self.results))?
            }
            Op::Evaluate { params, on, .. } => {
                let params = match params {
                    Params::Center => a.center.of(run.center),
                    Params::Slot(slot) => {
                        let (slots, s0) = a.slots.of(run.slots);
                        (slots, s0 + slot * n)
                    }
                };
                let test = data.test_set(*on);
                self.record_evaluation(rec, params, test, place.results)?;
                let train_at = place.results + 2 * test.rows.div_ceil(EVAL_CHUNK);
                self.record_evaluation(rec, params, &data.train_eval, train_at)?;
            }
            Op::Release { .. } => {}
            // Every other kind goes in a batch (`batch_of`).
            _ => {
                return Err(GpuError::Shape {
                    operation: "recording a flush".into(),
                    message: format!("{op:?} recorded alone, not in its batch"),
                });
            }
        }
        Ok(())
    }

    /// A barrier's parts with their slots' offsets and their weights.
    fn barrier_parts(
        &self,
        program: &Program,
        parts: &std::ops::Range<u32>,
        slots_at: usize,
        located: impl Fn(ScalarId) -> Result<usize, GpuError>,
    ) -> Result<Vec<(usize, ElasticWeight)>, GpuError> {
        let n = self.mlp.parameter_count();
        let located = &located;
        let part = |&(s, w): &(usize, Weight)| Ok((slots_at + s * n, elastic_weight(program, w, located)?));
        program.parts(parts).iter().map(part).collect()
    }

    /// z_l = a_{l−1} W_lᵀ + b_l, a_l = σ(z_l) for every layer, for `steps`
    /// problems of `rows` rows side by side from row 0 of `input`, problem p with
    /// the parameters at `base + p · stride` of `params`.
    fn forward(
        &self,
        rec: &mut Recording<'_>,
        input: &GpuBuffer<f32>,
        (rows, steps): (usize, usize),
        (params, base, stride): (&GpuBuffer<f32>, usize, usize),
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let last = self.mlp.layers() - 1;
        for l in 0..=last {
            let (w, b, fan_in, fan_out) = layer(self.mlp, l);
            let a = if l == 0 { input } else { &s.post[l - 1] };
            let product = Gemm {
                m: rows,
                n: fan_out,
                k: fan_in,
                batch: steps,
                alpha: 1.0,
                beta: 0.0,
                a: rows_of(rows, fan_in),
                b: dense(base + w, fan_in).t().batched(stride),
                c: rows_of(rows, fan_out),
            };
            rec.matmul(&product, a, params, &s.pre[l])?;
            let shape = LayerShape { rows, cols: fan_out, batch: steps };
            let bias = (params, Batched { offset: base + b, batch_stride: stride });
            let each = Batched { offset: 0, batch_stride: rows * fan_out };
            let activation = (l < last).then(|| self.mlp.activation());
            let post = (l < last).then_some((&s.post[l], each));
            rec.bias_activation(shape, activation, bias, (&s.pre[l], each), post)?;
        }
        Ok(())
    }

    /// The softmax buffers of the output layer with `labels`.
    fn softmax<'b>(&'b self, labels: &'b GpuBuffer<u32>, r: bool) -> SoftmaxBuffers<'b> {
        let s = self.scratch;
        let last = self.mlp.layers() - 1;
        SoftmaxBuffers {
            labels: Span::at(labels, 0),
            z: Span::at(if r { &s.r_pre[last] } else { &s.pre[last] }, 0),
            prob: Span::at(&s.post[last], 0),
            delta: Span::at(if r { &s.r_delta[last] } else { &s.delta[last] }, 0),
            stats: &s.stats,
        }
    }

    fn record_evaluation(
        &self,
        rec: &mut Recording<'_>,
        (params, base): (&GpuBuffer<f32>, usize),
        set: &DeviceSet,
        at: usize,
    ) -> Result<(), GpuError> {
        if set.rows == 0 {
            return Ok(());
        }
        self.forward(rec, &set.x, (set.rows, 1), (params, base, 0))?;
        let buffers = self.softmax(&set.y, false);
        rec.cross_entropy(set.rows, self.mlp.classes(), buffers, None, self.results)?;
        rec.chunk_losses(set.rows, EVAL_CHUNK, buffers, Span::at(self.results, at))
    }
}

/// (from, to) per operation of a stretch of copies (snapshots of a worker or
/// the center into a slot, adopts of a slot), offsets in their pages.
fn copy_spans(stretch: &[Single<'_, '_>], n: usize) -> Vec<(usize, usize)> {
    let span = |single: &Single<'_, '_>| {
        let (run, worker) = (single.run, |w: u32| single.run.params.at + w as usize * n);
        let slot = |s: usize| run.slots.at + s * n;
        match *single.op {
            Op::SnapshotWorker { worker: w, slot: s } => (worker(w), slot(s)),
            Op::SnapshotCenter { slot: s } => (run.center.at, slot(s)),
            Op::Adopt { worker: w, slot: s } => (slot(s), worker(w)),
            _ => unreachable!("a stretch of copies by its batch"),
        }
    };
    stretch.iter().map(span).collect()
}

/// Where this flush computes `id` on the device.
fn located_in(located: &HashMap<ScalarId, usize>, id: ScalarId) -> Result<usize, GpuError> {
    located.get(&id).copied().ok_or_else(|| GpuError::Shape {
        operation: "recording a flush".into(),
        message: format!("scalar {} is read before it is computed", id.0),
    })
}

/// A weight as the elastic kernels take it: its value when the host knows it
/// (decided there, or computed by an earlier flush), else where this flush
/// computes it.
fn elastic_weight(
    program: &Program,
    weight: Weight,
    located: &impl Fn(ScalarId) -> Result<usize, GpuError>,
) -> Result<ElasticWeight, GpuError> {
    match (program.weight(weight), weight) {
        (Some(value), _) => Ok(ElasticWeight::Value(value)),
        (None, Weight::Scalar(id)) => Ok(ElasticWeight::Computed(located(id)?)),
        (None, Weight::Value(_)) => unreachable!("a value is always known"),
    }
}

/// The maximal runs `[first, end)` of consecutive steps that `same` pairs up.
fn stretches<T>(items: &[T], same: impl Fn(&T, &T) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut first = 0;
    while first < items.len() {
        // The first always; then those `same` pairs with it.
        let end = first + 1 + items[first + 1..].iter().take_while(|x| same(&items[first], x)).count();
        out.push((first, end));
        first = end;
    }
    out
}

/// Problems of `rows × cols` row-major matrices side by side from 0.
fn rows_of(rows: usize, cols: usize) -> MatrixLayout {
    dense(0, cols).batched(rows * cols)
}

/// Layer `l`'s weight offset, bias offset, fan-in and fan-out.
fn layer(mlp: &Mlp, l: usize) -> (usize, usize, usize, usize) {
    (mlp.weight_offset(l), mlp.bias_offset(l), mlp.fan_in(l), mlp.fan_out(l))
}

#[cfg(test)]
mod tests {
    use super::stretches;

    #[test]
    fn stretches_cover_every_item_once_even_when_nothing_pairs() {
        let items = [1, 1, 2, 3, 3, 3];
        assert_eq!(stretches(&items, |a, b| a == b), vec![(0, 2), (2, 3), (3, 6)]);
        assert_eq!(stretches(&items, |_, _| false), (0..6).map(|i| (i, i + 1)).collect::<Vec<_>>());
        assert!(stretches::<u8>(&[], |_, _| true).is_empty());
    }
}
