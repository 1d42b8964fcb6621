//! Matrix products of the CPU reference: packed, register-blocked kernels in which
//! every output element is the same chain of fused multiply-adds whatever kernel
//! the CPU runs, so AVX-512, AVX2 and plain Rust give the same bits.
//!
//! # The chain
//!
//! For C ← A·B (+ C), k is cut into chunks of [`CHUNK`] from the start. Each
//! chunk's sum runs from +0 in k order, s ← fma(a_{ip}, b_{pj}, s), and is added to
//! C chunk by chunk: c ← c + s (C starts at +0 when replaced). That is exactly what
//! `matrixmultiply`'s FMA kernels compute, which faultline used before, so every
//! result it has written keeps its bits. Blocking, packing, the tile shape and the
//! SIMD width only decide which elements are computed side by side, never the
//! order of one element's sum.
//!
//! # The blocks
//!
//! B is packed chunk by chunk into panels of `NR` columns, A into strips of `MR`
//! rows (both zero-padded), so the kernels read both sequentially. A panel stays
//! in cache while every strip of A streams past it. Transposed operands (the
//! weights and inputs of the forward passes) are packed by 8 × 8 transposes in
//! registers where the CPU has AVX2: element by element, packing them took about
//! as long as the product itself.

mod generic;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::real::Real;

/// The length of the runs of k summed on their own before being added to C.
pub const CHUNK: usize = 256;
/// Columns of B packed at once (a multiple of every kernel's `NR`).
const COLUMN_BLOCK: usize = 1024;
/// Rows of A packed at once: a multiple of every kernel's `MR` (8, 6 and 4).
const ROW_BLOCK: usize = 240;

/// A row-major matrix operand, used as is or transposed.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a, T> {
    /// The elements, row-major.
    pub data: &'a [T],
    /// Rows as stored.
    pub rows: usize,
    /// Columns as stored.
    pub cols: usize,
    /// Use the transpose.
    pub transposed: bool,
}

impl<'a, T> Operand<'a, T> {
    /// `data` as a `rows × cols` matrix.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Operand { data, rows, cols, transposed: false }
    }

    /// Its transpose.
    pub fn t(self) -> Self {
        Operand { transposed: !self.transposed, ..self }
    }

    /// (rows, cols) after any transposition.
    fn shape(&self) -> (usize, usize) {
        if self.transposed { (self.cols, self.rows) } else { (self.rows, self.cols) }
    }

    /// The operand as seen after any transposition.
    fn strided(&self) -> Strided<'a, T> {
        let (row_stride, col_stride) = if self.transposed { (1, self.cols) } else { (self.cols, 1) };
        Strided { data: self.data, row_stride, col_stride }
    }
}

/// What a product does with the old contents of C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accumulate {
    /// C ← A·B.
    Replace,
    /// C ← C + A·B.
    Add,
}

/// `c ← a · b` or `c ← c + a · b` (see [`Accumulate`]), with `c` row-major
/// `a.rows' × b.cols'`, every element summed as the module documentation says.
///
/// Panics if the shapes disagree or a buffer is too short: a programming error,
/// never a consequence of input.
pub fn gemm<T: Real>(a: Operand<T>, b: Operand<T>, into: Accumulate, c: &mut [T]) {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "inner dimensions differ");
    assert!(a.data.len() >= a.rows * a.cols && b.data.len() >= b.rows * b.cols, "operand too short");
    assert!(c.len() >= m * n, "output too short");
    let c = &mut c[..m * n];
    if k == 0 && into == Accumulate::Replace {
        c.fill(T::ZERO);
    }
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    T::product(&Product { m, k, n, a: a.strided(), b: b.strided(), into }, c);
}

/// A matrix read through strides: element (i, j) at `i · row_stride + j · col_stride`.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a, T> {
    data: &'a [T],
    row_stride: usize,
    col_stride: usize,
}

impl<T: Copy> Strided<'_, T> {
    /// The same elements seen transposed.
    fn transposed(&self) -> Self {
        Strided { row_stride: self.col_stride, col_stride: self.row_stride, ..*self }
    }
}

/// One checked product C (m × n, row-major) ← (C +) A (m × k) · B (k × n), k > 0.
#[derive(Clone, Copy, Debug)]
pub struct Product<'a, T> {
    m: usize,
    k: usize,
    n: usize,
    a: Strided<'a, T>,
    b: Strided<'a, T>,
    into: Accumulate,
}

/// A run of `lanes` lines of a strided matrix, `steps` long: line `l`, step `s` at
/// `start + l · lane_stride + s · step_stride`. A strip of A is its rows (lanes)
/// along k (steps); a panel of B its columns along k.
#[derive(Clone, Copy, Debug)]
pub struct Lines {
    start: usize,
    lane_stride: usize,
    step_stride: usize,
    lanes: usize,
    steps: usize,
}

/// A register-blocked kernel and how it wants its operands packed.
///
/// # Safety
/// Implementations must compute exactly the chain of the module documentation
/// and touch nothing outside the spans `tile` is given.
pub unsafe trait Kernel<T: Real> {
    /// Rows of C per tile.
    const MR: usize;
    /// Columns of C per tile.
    const NR: usize;

    /// The most steps of k one `tile` call takes: its panel of B, `STEPS · NR`
    /// elements, should stay in the L1 cache while the strips of A pass by.
    const STEPS: usize = CHUNK;

    /// For i < MR, j < NR: the fma chain s of `a[p · MR + i] · b[p · NR + j]` over
    /// p < kc, from +0 or, with `ends.resume`, from `carry[i · NR + j]`. Then, with
    /// `ends.suspend` (a chunk not finished), `carry[i · NR + j] = s`; otherwise
    /// `c[i · rsc + j] += s`, or with `ends.replace`, `c[i · rsc + j] = s + 0` (as
    /// if C were +0 before, without reading it).
    ///
    /// # Safety
    /// `a` holds `kc · MR` elements, `b` `kc · NR`, `carry` `MR · NR`, and unless
    /// `ends.suspend`, `c` is valid for reads and writes at every `i · rsc + j`.
    unsafe fn tile(kc: usize, a: *const T, b: *const T, carry: *mut T, c: *mut T, rsc: usize, ends: Ends);

    /// Packs `lines` of `data` interleaved, `width` wide, into `out`:
    /// `out[s · width + l]` is line l at step s, +0 for `lanes ≤ l < width`.
    #[inline(always)]
    fn pack(data: &[T], lines: Lines, width: usize, out: &mut [T]) {
        generic::pack(data, lines, width, out);
    }
}

/// Where a tile's sums start and where they go (see [`Kernel::tile`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ends {
    /// Start from the carried sums, not from +0.
    pub resume: bool,
    /// Carry the sums on: the chunk goes on in a later call.
    pub suspend: bool,
    /// Finishing, take C as +0.
    pub replace: bool,
}

/// Reused buffers: one per thread and element type.
#[derive(Debug, Default)]
pub struct Buffers<T> {
    /// The strips of A, the panels of B.
    a: Vec<T>,
    b: Vec<T>,
    /// Each strip's sums carried from one part of a chunk to the next.
    carry: Vec<T>,
    /// An edge tile of C.
    tile: Vec<T>,
}

/// Packs lines `first..first + count` of `matrix` (its rows), steps `p0..p0 + kc`
/// along them, into groups of `width` lines each (the last zero-padded): the
/// strips of A, or with `matrix` the transpose of B, the panels of B.
#[inline(always)]
fn pack_groups<T: Real, K: Kernel<T>>(
    matrix: &Strided<'_, T>,
    (first, count): (usize, usize),
    (p0, kc): (usize, usize),
    width: usize,
    out: &mut Vec<T>,
) {
    out.resize(count.div_ceil(width) * kc * width, T::ZERO);
    for (g, group) in out.chunks_exact_mut(kc * width).enumerate() {
        let line = first + g * width;
        let lines = Lines {
            start: line * matrix.row_stride + p0 * matrix.col_stride,
            lane_stride: matrix.row_stride,
            step_stride: matrix.col_stride,
            lanes: width.min(first + count - line),
            steps: kc,
        };
        K::pack(matrix.data, lines, width, group);
    }
}

/// C += A·B through kernel `K`. Inlined into each caller, so that a caller compiled
/// for AVX-512 or AVX2 (`#[target_feature]`) gets its packing loops compiled so too.
#[inline(always)]
pub fn drive<T: Real, K: Kernel<T>>(p: &Product<'_, T>, c: &mut [T], buffers: &mut Buffers<T>) {
    let (mr, nr) = (K::MR, K::NR);
    debug_assert_eq!(ROW_BLOCK % mr, 0);
    let Product { m, k, n, a, b, into } = *p;
    // B's panels are groups of its columns: the rows of its transpose.
    let b_columns = b.transposed();
    buffers.tile.resize(mr * nr, T::ZERO);
    for j0 in (0..n).step_by(COLUMN_BLOCK) {
        let columns = COLUMN_BLOCK.min(n - j0);
        for p0 in (0..k).step_by(CHUNK) {
            let kc = CHUNK.min(k - p0);
            let replace = p0 == 0 && into == Accumulate::Replace;
            pack_groups::<T, K>(&b_columns, (j0, columns), (p0, kc), nr, &mut buffers.b);
            for i0 in (0..m).step_by(ROW_BLOCK) {
                let rows = ROW_BLOCK.min(m - i0);
                pack_groups::<T, K>(&a, (i0, rows), (p0, kc), mr, &mut buffers.a);
                buffers.carry.resize(rows.div_ceil(mr) * mr * nr, T::ZERO);
                let parts = kc.div_ceil(K::STEPS);
                for (q, panel) in buffers.b.chunks_exact(kc * nr).enumerate() {
                    let col = j0 + q * nr;
                    let width = nr.min(n - col);
                    // The chunk in parts, each part of the panel over every strip, so
                    // that the part stays in cache; the sums are carried between parts.
                    for part in 0..parts {
                        let (first, steps) = (part * K::STEPS, K::STEPS.min(kc - part * K::STEPS));
                        let ends = Ends { resume: part > 0, suspend: part + 1 < parts, replace };
                        let panel = &panel[first * nr..(first + steps) * nr];
                        let strips =
                            buffers.a.chunks_exact(kc * mr).zip(buffers.carry.chunks_exact_mut(mr * nr));
                        for (s, (strip, carry)) in strips.enumerate() {
                            let strip = &strip[first * mr..(first + steps) * mr];
                            let row = i0 + s * mr;
                            let height = mr.min(m - row);
                            let corner = row * n + col;
                            // The sums go on in `carry`, or into C; at an edge, into a
                            // full tile of which only the part inside C is kept.
                            let edge = !ends.suspend && (height < mr || width < nr);
                            let tile = &mut buffers.tile;
                            if edge {
                                for i in 0..height {
                                    let from = corner + i * n;
                                    tile[i * nr..i * nr + width].copy_from_slice(&c[from..from + width]);
                                }
                            }
                            let (target, stride) = if ends.suspend {
                                (carry.as_mut_ptr(), nr)
                            } else if edge {
                                (tile.as_mut_ptr(), nr)
                            } else {
                                (c[corner..corner + (mr - 1) * n + nr].as_mut_ptr(), n)
                            };
                            // SAFETY: the strip and panel hold steps·MR and steps·NR
                            // elements, `carry` and `tile` MR·NR; C's slice above covers
                            // every corner + i·n + j for i < MR, j < NR.
                            unsafe {
                                K::tile(
                                    steps,
                                    strip.as_ptr(),
                                    panel.as_ptr(),
                                    carry.as_mut_ptr(),
                                    target,
                                    stride,
                                    ends,
                                )
                            };
                            if edge {
                                for i in 0..height {
                                    let to = corner + i * n;
                                    c[to..to + width].copy_from_slice(&tile[i * nr..i * nr + width]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A product on the best kernel this CPU has, with this thread's buffers.
macro_rules! best_kernel_product {
    ($(#[$doc:meta])* $name:ident, $t:ty, $x86:path) => {
        $(#[$doc])*
        pub fn $name(p: &Product<'_, $t>, c: &mut [$t]) {
            thread_local! {
                static BUFFERS: std::cell::RefCell<Buffers<$t>> = Default::default();
            }
            BUFFERS.with_borrow_mut(|buffers| {
                #[cfg(target_arch = "x86_64")]
                if $x86(p, c, buffers) {
                    return;
                }
                drive::<$t, generic::Portable>(p, c, buffers);
            });
        }
    };
}

best_kernel_product!(
    /// The product on the best kernel this CPU has, for `f32`.
    product_f32, f32, x86::product_f32
);
best_kernel_product!(
    /// The product on the best kernel this CPU has, for `f64` (the tests' type).
    product_f64, f64, x86::product_f64
);

#[cfg(test)]
mod tests;
