//! What a run leaves behind: the results folder, its CSV files and tables, the
//! statistics across seeds and the paired comparisons, and the figures (of one
//! run, and of a whole sweep).

pub mod aggregate;
pub mod aggregate_csv;
pub mod compare;
pub mod comparison_csv;
pub mod control;
mod csv_text;
mod curves;
pub mod derived;
pub mod figures;
pub mod folder;
pub mod grid_table;
pub mod identity;
mod lock;
pub mod manifest;
pub mod plot;
pub mod pooled;
pub mod report;
pub mod run_files;
pub mod stats;
pub mod sweep_figures;
pub mod timing_csv;

pub use curves::{Choices, Curve, Point, Results, read};
