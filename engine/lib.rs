//! faultline: a deterministic discrete-event simulator of distributed deep-learning
//! training under failures.
//!
//! A master and k workers train with Elastic Averaging SGD while crashes, recoveries,
//! stragglers, partitions and message drops happen in virtual time, drawn from a
//! seed. The [`simulation`] engine decides *when* everything happens and tells an
//! [`observe::Observer`]; it never looks at the numbers, so every weighting strategy
//! sees exactly the same failure trace.
//!
//! A tiny run, timing only:
//!
//! ```
//! use faultline::observe::EventLog;
//! use faultline::scenario::LoadedScenario;
//! use faultline::simulation::{Simulation, StopReason};
//!
//! let text = br#"(
//!     workers: 2,
//!     stop: (rounds: 10),
//!     compute: (step_time: "10ms"),
//!     failures: (events: [Crash(worker: 1, at: "50ms", recover_after: "20ms")]),
//! )"#;
//! let loaded = LoadedScenario::from_bytes(text, "tiny.ron", ".".as_ref(), None).unwrap();
//! let trace = faultline::schedule::realize(&loaded, 7).unwrap().trace;
//! let mut log = EventLog::hashing();
//! let summary = Simulation::new(&loaded.scenario, &trace, 7).run(&mut log);
//! assert_eq!(summary.reason, StopReason::Rounds);
//! assert_eq!(summary.rounds, 10);
//! assert_eq!(summary.workers[1].crashes, 1);
//! ```
#![warn(missing_docs)]

pub mod aggregate;
pub mod backend;
pub mod cli;
pub mod compare;
pub mod compute;
pub mod data;
pub mod derived;
pub mod disruptions;
pub mod experiment;
pub mod faults;
pub mod figures;
pub mod gpu;
pub mod model;
pub mod network;
pub mod observe;
pub mod optim;
pub mod output;
pub mod plot;
pub mod queue;
pub mod report;
pub mod results;
pub mod rng;
pub mod scenario;
pub mod schedule;
pub mod simulation;
pub mod stats;
pub mod sweep;
pub mod time;
pub mod trace;
pub mod training;
pub mod weighting;
