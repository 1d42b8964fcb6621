//! Fixed-order reductions on the GPU (`shaders/reduce.wgsl`): squared distances
//! between pairs of vectors, as f32 partials per 4096-element chunk that the host
//! adds in order in f64.

use bytemuck::{Pod, Zeroable};

use super::GpuError;
use super::context::{GpuBuffer, GpuContext, Recording};
use super::kernel::{Access, Kernel, groups, kernel, module};

/// Elements per partial sum (must match `CHUNK` in the shader).
pub const CHUNK: usize = 4096;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    groups: u32,
    pair_offset: u32,
    partials_offset: u32,
}

#[derive(Debug)]
pub(super) struct Pipelines {
    squared_distance: Kernel,
}

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let module = module(device, "reduce.wgsl", include_str!("../../../shaders/reduce.wgsl"))?;
        let storage = [Access::Read, Access::Read, Access::Read, Access::ReadWrite];
        let squared_distance = kernel(
            device,
            &module,
            "squared distance",
            "squared_distance",
            size_of::<Params>(),
            &storage,
            &[],
        )?;
        Ok(Pipelines { squared_distance })
    }
}

/// Partials per pair for vectors of `n` elements.
pub fn partials_per_pair(n: usize) -> usize {
    n.div_ceil(CHUNK)
}

impl Recording<'_> {
    /// Records ‖a[x..x+n] − b[y..y+n]‖² for each `(x, y)` in `pairs` (element
    /// offsets, uploaded as `u32` pairs), as partials: pair q's are
    /// `partials[q · partials_per_pair(n)..]`. See [`sum_partials`].
    pub fn squared_distances(
        &mut self,
        n: usize,
        pairs: &GpuBuffer<u32>,
        a: &GpuBuffer<f32>,
        b: &GpuBuffer<f32>,
        partials: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        if !pairs.len().is_multiple_of(2) {
            return Err(GpuError::Shape {
                operation: "squared distances".into(),
                message: "the pair list must hold (a offset, b offset) pairs".into(),
            });
        }
        self.squared_distances_at(n, (pairs, 0, pairs.len() / 2), a, b, (partials, 0))
    }

    /// [`Recording::squared_distances`] for the `count` pairs whose words start at
    /// `pairs[first..]`, pair q's partials at `partials[at + q · partials_per_pair(n)..]`.
    pub fn squared_distances_at(
        &mut self,
        n: usize,
        (pairs, first, count): (&GpuBuffer<u32>, usize, usize),
        a: &GpuBuffer<f32>,
        b: &GpuBuffer<f32>,
        (partials, at): (&GpuBuffer<f32>, usize),
    ) -> Result<(), GpuError> {
        let shape = |message: String| GpuError::Shape { operation: "squared distances".into(), message };
        if first + 2 * count > pairs.len() {
            return Err(shape(format!("{count} pairs at {first} overrun '{}'", pairs.label())));
        }
        let per_pair = partials_per_pair(n);
        if at + count * per_pair > partials.len() {
            return Err(shape(format!(
                "{} partials needed, '{}' has {}",
                count * per_pair,
                partials.label(),
                partials.len()
            )));
        }
        if count == 0 || n == 0 {
            return Ok(());
        }
        let fits = |v: usize| u32::try_from(v).map_err(|_| shape(format!("{v} exceeds 32 bits")));
        let params = Params {
            n: fits(n)?,
            groups: fits(per_pair)?,
            pair_offset: fits(first)?,
            partials_offset: fits(at)?,
        };
        let workgroups = [groups(n, CHUNK), fits(count)?, 1];
        if workgroups[0] > 65_535 || workgroups[1] > 65_535 {
            return Err(shape(format!("{workgroups:?} workgroups exceed 65535 per dimension")));
        }
        let kernel = &self.context.kernels.reduce.squared_distance;
        self.dispatch(
            kernel,
            bytemuck::bytes_of(&params),
            &[&pairs.buffer, &a.buffer, &b.buffer, &partials.buffer],
            workgroups,
        );
        Ok(())
    }
}

/// Adds each pair's partials in order, in f64.
pub fn sum_partials(partials: &[f32], n: usize, pairs: usize) -> Vec<f64> {
    let per_pair = partials_per_pair(n);
    (0..pairs)
        .map(|q| partials[q * per_pair..(q + 1) * per_pair].iter().map(|&s| f64::from(s)).sum())
        .collect()
}

impl GpuContext {
    /// ‖a_q − b_q‖ for each pair of element offsets in `pairs` (vectors of `n`
    /// elements): records, submits, waits and adds the partials.
    pub fn distances(
        &self,
        n: usize,
        pairs: &[(usize, usize)],
        a: &GpuBuffer<f32>,
        b: &GpuBuffer<f32>,
    ) -> Result<Vec<f64>, GpuError> {
        for &(x, y) in pairs {
            if x + n > a.len() || y + n > b.len() {
                return Err(GpuError::Shape {
                    operation: "distances".into(),
                    message: format!(
                        "pair ({x}, {y}) of {n} elements overruns '{}' or '{}'",
                        a.label(),
                        b.label()
                    ),
                });
            }
        }
        let words: Vec<u32> = pairs
            .iter()
            .flat_map(|&(x, y)| [x, y])
            .map(|v| {
                u32::try_from(v).map_err(|_| GpuError::Shape {
                    operation: "distances".into(),
                    message: format!("offset {v} exceeds 32 bits"),
                })
            })
            .collect::<Result<_, _>>()?;
        let pair_buffer = self.upload("distance pairs", &words)?;
        let partials = self.zeros::<f32>("distance partials", pairs.len() * partials_per_pair(n))?;
        let mut recording = self.record("distances");
        recording.squared_distances(n, &pair_buffer, a, b, &partials)?;
        self.submit(recording)?;
        let partials = self.download(&partials)?;
        Ok(sum_partials(&partials, n, pairs.len()).into_iter().map(f64::sqrt).collect())
    }
}
