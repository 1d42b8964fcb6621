//! Batched matrix products on the GPU (`shaders/matmul.wgsl`):
//! `C[b] ← α·op(A[b])·op(B[b]) + β·C[b]` for every batch index b in one dispatch.
//!
//! Products of up to [`SMALL`] multiply-adds per batch run a kernel with one thread
//! per element of C and no workgroup memory (the tiled kernel's barriers dominate
//! small products on software drivers); larger ones run a tiled kernel: 128 × 128
//! tiles of 8 × 8 per thread when C has at least [`WIDE`] rows and columns, else
//! 64 × 64 tiles of 4 × 4. All sum the k products in ascending order, and the
//! choice depends only on the shape.

/// The most multiply-adds per batch of a product run by the untiled kernel.
pub const SMALL: usize = 1 << 20;

/// Rows and columns of C from which the 128 × 128 tiles run (each thread an
/// 8 × 8 block): products whose C is smaller in either would mostly compute
/// padding there.
pub const WIDE: usize = 128;

/// Which kernel a product runs, by its shape alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Size {
    /// One thread per element of C.
    Small,
    /// 64 × 64 tiles, 4 × 4 per thread.
    Tiled,
    /// 128 × 128 tiles, 8 × 8 per thread.
    Wide,
}

impl Size {
    fn of(gemm: &Gemm) -> Size {
        if gemm.m * gemm.n * gemm.k <= SMALL {
            Size::Small
        } else if gemm.m >= WIDE && gemm.n >= WIDE {
            Size::Wide
        } else {
            Size::Tiled
        }
    }
}

use bytemuck::{Pod, Zeroable};

use super::GpuError;
use super::context::{GpuBuffer, Recording};
use super::kernel::{Access, Kernel, kernel, module};

/// Where one operand's matrices live in their buffer: row-major, `stride`
/// elements between stored rows, batch b at `offset + b · batch_stride`, used as
/// stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatrixLayout {
    /// First element of batch 0.
    pub offset: usize,
    /// Elements between consecutive stored rows (at least the stored columns).
    pub stride: usize,
    /// Elements between consecutive batches' matrices.
    pub batch_stride: usize,
    /// Use the transpose of the stored matrix (A and B only).
    pub transposed: bool,
}

impl MatrixLayout {
    /// A dense row-major matrix of `cols` stored columns at `offset`.
    pub fn dense(offset: usize, cols: usize) -> Self {
        MatrixLayout { offset, stride: cols, batch_stride: 0, transposed: false }
    }

    /// The same matrices, transposed.
    pub fn t(self) -> Self {
        MatrixLayout { transposed: !self.transposed, ..self }
    }

    /// Batch b at `offset + b · batch_stride`.
    pub fn batched(self, batch_stride: usize) -> Self {
        MatrixLayout { batch_stride, ..self }
    }
}

/// One batched product: op(A) is `m × k`, op(B) is `k × n`, C is `m × n`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    /// Rows of op(A) and C.
    pub m: usize,
    /// Columns of op(B) and C.
    pub n: usize,
    /// Columns of op(A), rows of op(B).
    pub k: usize,
    /// Independent products.
    pub batch: usize,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of the old C (0: C is not read).
    pub beta: f32,
    /// A's layout.
    pub a: MatrixLayout,
    /// B's layout.
    pub b: MatrixLayout,
    /// C's layout (never transposed).
    pub c: MatrixLayout,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_offset: u32,
    a_stride: u32,
    a_batch: u32,
    b_offset: u32,
    b_stride: u32,
    b_batch: u32,
    c_offset: u32,
    c_stride: u32,
    c_batch: u32,
    alpha: f32,
    beta: f32,
    pad: u32,
}

/// The four transpose variants.
#[derive(Debug)]
pub(super) struct Pipelines {
    /// Indexed by `2 · transposed A + transposed B`.
    variants: [Kernel; 4],
    /// The untiled kernel, indexed the same way.
    small: [Kernel; 4],
    /// The 128 × 128 tiles, indexed the same way.
    wide: [Kernel; 4],
}

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let module = module(device, "matmul.wgsl", include_str!("../../../shaders/matmul.wgsl"))?;
        let storage = [Access::Read, Access::Read, Access::ReadWrite];
        let build = |entry: &str, ta: bool, tb: bool| {
            let label = format!("{entry}{}{}", if ta { " Aᵀ" } else { " A" }, if tb { "·Bᵀ" } else { "·B" });
            let constants = [("TRANS_A", f64::from(u8::from(ta))), ("TRANS_B", f64::from(u8::from(tb)))];
            kernel(device, &module, &label, entry, size_of::<Params>(), &storage, &constants)
        };
        let four = |entry: &str| -> Result<[Kernel; 4], GpuError> {
            Ok([
                build(entry, false, false)?,
                build(entry, false, true)?,
                build(entry, true, false)?,
                build(entry, true, true)?,
            ])
        };
        Ok(Pipelines { variants: four("matmul")?, small: four("matmul_small")?, wide: four("matmul_wide")? })
    }
}

/// The last element a layout reaches for `rows × cols` (as stored) matrices, or
/// an error when a stored row is longer than the stride.
fn extent(
    name: &str,
    layout: &MatrixLayout,
    rows: usize,
    cols: usize,
    batch: usize,
) -> Result<usize, String> {
    if rows == 0 || cols == 0 || batch == 0 {
        return Ok(0);
    }
    if layout.stride < cols && rows > 1 {
        return Err(format!("{name}: row stride {} is shorter than a row ({cols})", layout.stride));
    }
    Ok(layout.offset + (batch - 1) * layout.batch_stride + (rows - 1) * layout.stride + cols)
}

fn to_u32(value: usize, what: &str) -> Result<u32, String> {
    u32::try_from(value).map_err(|_| format!("{what} {value} exceeds 32 bits"))
}

impl Recording<'_> {
    /// Records `C[b] ← α·op(A[b])·op(B[b]) + β·C[b]` for every b < `gemm.batch`.
    /// `c` must be another buffer than `a` and `b`.
    pub fn matmul(
        &mut self,
        gemm: &Gemm,
        a: &GpuBuffer<f32>,
        b: &GpuBuffer<f32>,
        c: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        let shape = |message: String| GpuError::Shape { operation: "matmul".into(), message };
        if c.buffer == a.buffer || c.buffer == b.buffer {
            return Err(shape(format!("the output '{}' is also an input", c.label())));
        }
        if gemm.c.transposed {
            return Err(shape("the output cannot be transposed".into()));
        }
        let (ar, ac) = if gemm.a.transposed { (gemm.k, gemm.m) } else { (gemm.m, gemm.k) };
        let (br, bc) = if gemm.b.transposed { (gemm.n, gemm.k) } else { (gemm.k, gemm.n) };
        for (name, layout, rows, cols, buffer) in
            [("A", &gemm.a, ar, ac, a), ("B", &gemm.b, br, bc, b), ("C", &gemm.c, gemm.m, gemm.n, c)]
        {
            let end = extent(name, layout, rows, cols, gemm.batch).map_err(shape)?;
            if end > buffer.len() {
                return Err(shape(format!(
                    "{name} needs {end} elements of '{}', which has {}",
                    buffer.label(),
                    buffer.len()
                )));
            }
        }
        let params = (|| {
            Ok(Params {
                m: to_u32(gemm.m, "m")?,
                n: to_u32(gemm.n, "n")?,
                k: to_u32(gemm.k, "k")?,
                batch: to_u32(gemm.batch, "batch")?,
                a_offset: to_u32(gemm.a.offset, "offset")?,
                a_stride: to_u32(gemm.a.stride, "stride")?,
                a_batch: to_u32(gemm.a.batch_stride, "batch stride")?,
                b_offset: to_u32(gemm.b.offset, "offset")?,
                b_stride: to_u32(gemm.b.stride, "stride")?,
                b_batch: to_u32(gemm.b.batch_stride, "batch stride")?,
                c_offset: to_u32(gemm.c.offset, "offset")?,
                c_stride: to_u32(gemm.c.stride, "stride")?,
                c_batch: to_u32(gemm.c.batch_stride, "batch stride")?,
                alpha: gemm.alpha,
                beta: gemm.beta,
                pad: 0,
            })
        })()
        .map_err(shape)?;
        let kind = Size::of(gemm);
        let groups = match kind {
            Size::Small => [(gemm.m * gemm.n).div_ceil(64), gemm.batch, 1],
            Size::Tiled => [gemm.n.div_ceil(64), gemm.m.div_ceil(64), gemm.batch],
            Size::Wide => [gemm.n.div_ceil(WIDE), gemm.m.div_ceil(WIDE), gemm.batch],
        };
        if groups.iter().any(|&g| g > 65_535) {
            return Err(shape(format!("{groups:?} workgroups exceed the 65535 per dimension")));
        }
        let variant = 2 * usize::from(gemm.a.transposed) + usize::from(gemm.b.transposed);
        let kernels = &self.context.kernels.matmul;
        let kernel = match kind {
            Size::Small => &kernels.small[variant],
            Size::Tiled => &kernels.variants[variant],
            Size::Wide => &kernels.wide[variant],
        };
        self.dispatch(
            kernel,
            bytemuck::bytes_of(&params),
            &[&a.buffer, &b.buffer, &c.buffer],
            groups.map(|g| g as u32),
        );
        Ok(())
    }
}
