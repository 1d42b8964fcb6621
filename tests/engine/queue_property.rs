//! The event queue against a simple shadow model (a BTreeMap keyed by time and
//! insertion order) over millions of seeded operations.

use std::collections::BTreeMap;

use faultline::base::time::SimTime;
use faultline::rng::{Purpose, SimRng};
use faultline::timing::queue::EventQueue;

#[test]
fn queue_matches_shadow_model_over_millions_of_operations() {
    for seed in 0..4u64 {
        let mut rng = SimRng::new(seed, Purpose::Compute, 0);
        let mut queue = EventQueue::new();
        let mut shadow: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        let mut inserted = 0u64;
        let mut now = 0u64;
        // Few distinct times, so ties are everywhere; pushes are never in the past,
        // as in a simulation, except with a small chance (the queue must not care).
        let spread = [1, 3, 50, 1_000][seed as usize];
        for _ in 0..750_000 {
            if rng.below(100) < 55 || shadow.is_empty() {
                let time = if rng.below(1000) == 0 { rng.below(now + 1) } else { now + rng.below(spread) };
                let payload = rng.next_u64();
                queue.push(SimTime(time), payload);
                shadow.insert((time, inserted), payload);
                inserted += 1;
            } else {
                let ((time, _), payload) = shadow.pop_first().unwrap();
                assert_eq!(queue.pop(), Some((SimTime(time), payload)));
                now = now.max(time);
            }
            assert_eq!(queue.len(), shadow.len());
        }
        while let Some(((time, _), payload)) = shadow.pop_first() {
            assert_eq!(queue.pop(), Some((SimTime(time), payload)));
        }
        assert!(queue.is_empty());
    }
}
