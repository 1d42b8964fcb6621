//! faultline: a deterministic discrete-event simulator of distributed deep-learning
//! training under failures.
//!
//! A master and k workers train with Elastic Averaging SGD while crashes, recoveries,
//! stragglers, partitions and message drops happen in virtual time, drawn from a
//! seed. The crate is four parts and the glue between them:
//!
//! - [`timing`]: *when* everything happens. The engine ([`timing::simulation`])
//!   tells an [`timing::observe::Observer`] what happens; it never looks at the
//!   numbers, so every weighting strategy sees exactly the same failure trace.
//! - [`numerics`]: *what the numbers are*: the model, the optimizers and the
//!   backends that compute them.
//! - [`training`]: the trainer, which turns a seed's happenings into a recorded
//!   program of operations for a backend, the weighting strategies, and the
//!   drivers that run many runs at once.
//! - [`results`]: the results folder, statistics, comparisons and figures.
//!
//! [`scenario`] reads and checks what the user asks for, [`data`] loads datasets,
//! [`sweep`] expands grids of scenarios, and [`cli`] is the command line.
//!
//! A tiny run, timing only:
//!
//! ```
//! use faultline::timing::observe::EventLog;
//! use faultline::scenario::LoadedScenario;
//! use faultline::timing::simulation::{Simulation, StopReason};
//!
//! let text = br#"(
//!     workers: 2,
//!     stop: (rounds: 10),
//!     compute: (step_time: "10ms"),
//!     failures: (events: [Crash(worker: 1, at: "50ms", recover_after: "20ms")]),
//! )"#;
//! let loaded = LoadedScenario::from_bytes(text, "tiny.ron", ".".as_ref(), None).unwrap();
//! let trace = faultline::timing::schedule::realize(&loaded, 7).unwrap().trace;
//! let mut log = EventLog::hashing();
//! let summary = Simulation::new(&loaded.scenario, &trace, 7).run(&mut log);
//! assert_eq!(summary.reason, StopReason::Rounds);
//! assert_eq!(summary.rounds, 10);
//! assert_eq!(summary.workers[1].crashes, 1);
//! ```
#![warn(missing_docs)]

pub mod app;
pub mod base;
pub mod cli;
pub mod data;
pub mod fingerprint;
pub mod numerics;
pub mod results;
pub mod rng;
pub mod scenario;
pub mod sweep;
pub mod timing;
pub mod training;
pub mod weighting;
