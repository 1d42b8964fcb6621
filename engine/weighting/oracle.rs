//! The oracle: knows the failure trace, an upper bound that cannot be deployed.

use super::{ExchangeContext, Reads, Registered, WeightingStrategy, Weights};

/// Knows the trace: a worker crashed, straggling, partitioned or with a dropped
/// message since its previous update gets a_m = 0 and a_w = 1 (it adopts the
/// center); others α.
#[derive(Clone, Copy, Debug)]
pub struct Oracle;

impl WeightingStrategy for Oracle {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        if ctx.disrupted {
            Weights { master: 0.0, worker: 1.0 }
        } else {
            Weights { master: ctx.alpha, worker: ctx.alpha }
        }
    }

    fn reads(&self) -> Reads {
        Reads::NOTHING
    }
}

impl Registered for Oracle {
    fn label(&self) -> String {
        "oracle".into()
    }

    fn build(&self) -> Box<dyn WeightingStrategy + Send> {
        Box::new(Oracle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::tests::context;

    #[test]
    fn adopts_the_center_after_a_disruption() {
        let recent = [None; 4];
        let mut ctx = context(1.0, &recent);
        assert_eq!(Oracle.weights(&ctx), Weights { master: 0.2, worker: 0.2 });
        ctx.disrupted = true;
        assert_eq!(Oracle.weights(&ctx), Weights { master: 0.0, worker: 1.0 });
    }
}
