//! The network model: message time = latency (drawn per message from the
//! direction's distribution) + bytes ÷ bandwidth. A message carries the parameters
//! (4 bytes each) plus a header; a fetch request carries the header alone.

use crate::base::time::SimTime;
use crate::rng::SimRng;
use crate::scenario::{Latency, Scenario};

/// Message times for both directions.
#[derive(Clone, Debug)]
pub struct NetworkModel {
    uplink: Latency,
    downlink: Latency,
    /// Transfer time of a message that carries the parameters.
    parameters_transfer: SimTime,
    /// Transfer time of a header-only message.
    header_transfer: SimTime,
}

/// Bytes of a message carrying `parameters` f32 values.
pub fn message_bytes(parameters: u64, header_bytes: u64) -> u64 {
    parameters.saturating_mul(4).saturating_add(header_bytes)
}

impl NetworkModel {
    /// The model a scenario describes, for a model of `parameters` values.
    pub fn new(scenario: &Scenario, parameters: u64) -> Self {
        let net = &scenario.network;
        let seconds = |bytes: u64| SimTime::from_secs_f64(bytes as f64 / net.bandwidth);
        NetworkModel {
            uplink: net.uplink.clone(),
            downlink: net.downlink.clone(),
            parameters_transfer: seconds(message_bytes(parameters, net.header_bytes)),
            header_transfer: seconds(net.header_bytes),
        }
    }

    /// Flight time of an uplink message (`with_parameters`: a full exchange
    /// request; otherwise a header-only fetch request).
    pub fn uplink_time(&self, with_parameters: bool, rng: &mut SimRng) -> SimTime {
        let transfer = if with_parameters { self.parameters_transfer } else { self.header_transfer };
        sample(&self.uplink, rng).saturating_add(transfer)
    }

    /// Flight time of a downlink message (always carries parameters or a difference).
    pub fn downlink_time(&self, rng: &mut SimRng) -> SimTime {
        sample(&self.downlink, rng).saturating_add(self.parameters_transfer)
    }
}

/// One latency draw.
fn sample(latency: &Latency, rng: &mut SimRng) -> SimTime {
    match *latency {
        Latency::Constant(t) => t,
        Latency::Uniform { min, max } => {
            let span = max.as_nanos() - min.as_nanos();
            SimTime(min.as_nanos() + rng.below(span.saturating_add(1)))
        }
        Latency::LogNormal { median, sigma } => {
            SimTime::from_secs_f64(rng.lognormal(median.as_secs_f64(), sigma))
        }
        Latency::ExponentialTail { base, mean } => {
            base.saturating_add(SimTime::from_secs_f64(rng.exponential(mean.as_secs_f64())))
        }
    }
}
