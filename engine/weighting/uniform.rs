//! Plain EASGD: every exchange weighs a_m = a_w = α.

use super::{ExchangeContext, Reads, Registered, WeightingStrategy, Weights};

/// Plain EASGD: a_m = a_w = α.
#[derive(Clone, Copy, Debug)]
pub struct Uniform;

impl WeightingStrategy for Uniform {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        Weights { master: ctx.alpha, worker: ctx.alpha }
    }

    fn reads(&self) -> Reads {
        Reads::NOTHING
    }
}

impl Registered for Uniform {
    fn label(&self) -> String {
        "uniform".into()
    }

    fn build(&self) -> Box<dyn WeightingStrategy + Send> {
        Box::new(Uniform)
    }
}
