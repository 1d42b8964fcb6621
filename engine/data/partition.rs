//! How the training samples are split between workers: the shared overlap O, then
//! the rest IID, label-sorted or by Dirichlet label proportions.
//!
//! Every partition starts from the same seeded shuffle of the training indices
//! (the [`Purpose::DataSplit`] stream): its first ⌊r·n⌋ indices are O, drawn IID
//! whatever the partition, and belong to every worker. Only the rest, the
//! non-overlap samples, is partitioned:
//!
//! * **`Iid`**: cut in shuffled order into k disjoint shards of ⌊(n − |O|)/k⌋
//!   samples (the remainder, fewer than k samples, is unused). This is the seed
//!   paper's split and draws nothing beyond the shuffle.
//! * **`LabelSorted(c)`** (after McMahan et al. 2017): the non-overlap samples are
//!   grouped by label (in shuffled order within a label) and cut into k·c shards,
//!   which are dealt c to each worker in an order drawn from the
//!   [`Purpose::Partition`] stream. Unlike McMahan's cut of the sorted list into
//!   equal pieces (where a shard can straddle two labels), each class is cut on its
//!   own, as equally as possible, so every shard holds one class and **a worker's
//!   non-overlap samples have at most c classes**. When k·c is at least the number
//!   of classes each class gets one shard and the remaining shards go in
//!   proportion to class size (largest remainder, ties to the lower class), so
//!   every sample is used; with fewer shards than classes only the classes with
//!   the largest shares get one and the others' samples are unused (k workers of
//!   c classes cannot cover more than k·c classes).
//! * **`Dirichlet(β)`** (after Hsu et al. 2019): for each class in label order,
//!   worker proportions p ~ Dir(β, …, β) are drawn from the [`Purpose::Partition`]
//!   stream and the class's non-overlap samples (in shuffled order) are cut at
//!   ⌊n_c·(p_0 + … + p_i)⌋; every sample is used. Small β gives each class to few
//!   workers, large β approaches IID. When O is empty and a draw leaves some worker
//!   without samples, the whole draw is repeated (the next draws of the same
//!   stream), at most [`DIRICHLET_DRAWS`] times, as FL code commonly does; if every
//!   draw leaves a worker empty the split is refused with an error naming β.

use crate::data::Shards;
use crate::data::spec::Partition;
use crate::rng::{Purpose, SimRng};

/// Most Dirichlet draws tried before a split leaving a worker without samples is
/// refused.
pub const DIRICHLET_DRAWS: usize = 100;

/// Splits the shuffled training indices `order` (whose labels are in `labels`)
/// into O and one shard per worker.
pub fn partition_shards(
    order: Vec<u32>,
    labels: &[u8],
    workers: usize,
    overlap: f64,
    partition: &Partition,
    seed: u64,
) -> Shards {
    let (shared, rest) = split_overlap(order, overlap);
    let private = match partition {
        Partition::Iid => iid(&rest, workers),
        Partition::LabelSorted(config) => {
            let mut rng = SimRng::new(seed, Purpose::Partition, 0);
            label_sorted(&by_class(&rest, labels), workers, config.classes_per_worker as usize, &mut rng)
        }
        Partition::Dirichlet(config) => {
            let mut rng = SimRng::new(seed, Purpose::Partition, 0);
            let classes = by_class(&rest, labels);
            let mut private = dirichlet(&classes, workers, config.beta, &mut rng);
            // Only a worker with no samples at all (O empty too) is a problem.
            for _ in 1..DIRICHLET_DRAWS {
                if !shared.is_empty() || private.iter().all(|s| !s.is_empty()) {
                    break;
                }
                private = dirichlet(&classes, workers, config.beta, &mut rng);
            }
            private
        }
    };
    Shards { shared, private }
}

/// Cuts `n` shuffled indices into the shared subset and `workers` IID shards.
pub fn overlap_shards(order: Vec<u32>, workers: usize, overlap: f64) -> Shards {
    let (shared, rest) = split_overlap(order, overlap);
    Shards { private: iid(&rest, workers), shared }
}

/// O (the first ⌊r·n⌋ indices) and the rest.
fn split_overlap(mut order: Vec<u32>, overlap: f64) -> (Vec<u32>, Vec<u32>) {
    let n = order.len();
    let shared_len = ((overlap * n as f64).floor() as usize).min(n);
    let rest = order.split_off(shared_len);
    (order, rest)
}

fn iid(rest: &[u32], workers: usize) -> Vec<Vec<u32>> {
    let shard_len = rest.len() / workers.max(1);
    (0..workers).map(|w| rest[w * shard_len..(w + 1) * shard_len].to_vec()).collect()
}

/// The indices of each label, in their order in `rest`.
fn by_class(rest: &[u32], labels: &[u8]) -> Vec<Vec<u32>> {
    let classes = rest.iter().map(|&i| usize::from(labels[i as usize]) + 1).max().unwrap_or(0);
    let mut groups = vec![Vec::new(); classes];
    for &i in rest {
        groups[usize::from(labels[i as usize])].push(i);
    }
    groups
}

fn label_sorted(classes: &[Vec<u32>], workers: usize, per_worker: usize, rng: &mut SimRng) -> Vec<Vec<u32>> {
    let total_shards = workers * per_worker;
    let samples: usize = classes.iter().map(Vec::len).sum();
    // Shards per class: one for every class with samples when there are enough
    // shards (so no class is left out), the others in proportion to class size,
    // the leftovers to the largest remainders (integer arithmetic: exact everywhere).
    let present = classes.iter().filter(|members| !members.is_empty()).count();
    let base = usize::from(total_shards >= present);
    let spread = total_shards - base * present;
    let mut counts: Vec<usize> = Vec::with_capacity(classes.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(classes.len());
    for (class, members) in classes.iter().enumerate() {
        let share = spread as u128 * members.len() as u128;
        let whole = share.checked_div(samples as u128).unwrap_or(0);
        counts.push(if members.is_empty() { 0 } else { base + whole as usize });
        remainders.push((share - whole * samples as u128, class));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let given: usize = counts.iter().sum();
    if samples > 0 {
        for &(_, class) in remainders.iter().take(total_shards - given) {
            counts[class] += 1;
        }
    }
    let mut shards: Vec<&[u32]> = Vec::with_capacity(total_shards);
    for (members, &count) in classes.iter().zip(&counts) {
        let n = members.len();
        shards.extend((0..count).map(|t| &members[t * n / count..(t + 1) * n / count]));
    }
    rng.shuffle(&mut shards);
    let mut private = vec![Vec::new(); workers];
    for (t, shard) in shards.iter().enumerate() {
        private[t / per_worker.max(1)].extend_from_slice(shard);
    }
    private
}

fn dirichlet(classes: &[Vec<u32>], workers: usize, beta: f64, rng: &mut SimRng) -> Vec<Vec<u32>> {
    let mut private = vec![Vec::new(); workers];
    let mut proportions = vec![0.0; workers];
    for members in classes {
        rng.dirichlet(beta, &mut proportions);
        let n = members.len();
        let (mut start, mut cumulative) = (0, 0.0);
        for (w, shard) in private.iter_mut().enumerate() {
            cumulative += proportions[w];
            let end =
                if w + 1 == workers { n } else { ((cumulative * n as f64).floor() as usize).clamp(start, n) };
            shard.extend_from_slice(&members[start..end]);
            start = end;
        }
    }
    private
}
