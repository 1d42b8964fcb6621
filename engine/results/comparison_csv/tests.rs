use super::*;
use crate::results::Results;
use crate::results::aggregate::tests::{curve, results};
use crate::results::compare::compare;
use crate::scenario::CONTROL;

fn table(results: &Results) -> ComparisonTable {
    ComparisonTable::of(&compare(results))
}

/// Three seeds of uniform, dynamic and the control, with `auc_first_2`.
fn with_control() -> Results {
    let mut runs = Vec::new();
    for (seed, lag) in [(1, 0.10), (2, 0.14), (3, 0.08)] {
        let control = [0.5, 0.8, 0.9];
        runs.push(curve("uniform", seed, &control.map(|a| a - lag)));
        runs.push(curve("dynamic", seed, &control.map(|a| a - lag / 2.0)));
        runs.push(curve(CONTROL, seed, &control));
    }
    let mut r = results(runs);
    r.target_accuracy = 0.7;
    r.early_rounds = Some(2);
    r
}

/// `text` with the cell of `column` on `line` (1 is the header) replaced.
fn with_cell(text: &str, line: usize, column: &str, value: &str) -> String {
    let mut records = Records::split(text, "t", "").unwrap();
    let at = records.header.iter().position(|c| c == column).unwrap_or_else(|| panic!("no {column}"));
    records.rows.iter_mut().find(|(l, _)| *l == line).unwrap().1[at] = value.to_string();
    let lines = std::iter::once(&records.header).chain(records.rows.iter().map(|(_, r)| r));
    lines.map(|cells| cells.join(",") + "\n").collect()
}

#[test]
fn rows_hold_what_the_comparison_computed() {
    let r = results(vec![
        curve("uniform", 1, &[0.5, 0.85, 0.92]),
        curve("dynamic", 1, &[0.6, 0.91, 0.93]),
        curve("uniform", 2, &[0.4, 0.6, 0.7]),
        curve("dynamic", 2, &[0.5, 0.8, 0.95]),
    ]);
    let t = ComparisonTable::parse(&table(&r).write(), "comparison.csv").unwrap();
    let (uniform, dynamic) = (t.row("uniform").unwrap(), t.row("dynamic").unwrap());
    // Seed 2 of uniform never reaches 0.9: 1/2 reached, the mean over seed 1 only.
    let at_09 = t.layout.target(0.9).unwrap();
    assert_eq!(uniform.targets[at_09].reached, 1);
    assert_eq!(uniform.targets[at_09].rounds_to, MeanStd { mean: Some(3.0), std: None });
    assert_eq!(uniform.paired, None, "the baseline against itself");
    assert_eq!(dynamic.baseline, "uniform");
    let final_acc = dynamic.paired.as_ref().unwrap().diffs[t.layout.quantity("final_acc").unwrap()];
    // Final accuracy: +0.01 and +0.25.
    assert!((final_acc.mean.unwrap() - 0.13).abs() < 1e-12 && final_acc.won == 2, "{final_acc:?}");
    assert_eq!((t.layout.control, uniform.control.as_ref()), (false, None));

    let one = table(&results(vec![curve("staleness", 4, &[0.3, 0.6]), curve("dynamic", 4, &[0.2, 0.7])]));
    let dynamic = &one.rows[1];
    assert_eq!(dynamic.quantities[0].std, None, "one seed: no spread");
    let paired = dynamic.paired.as_ref().unwrap();
    assert_eq!((paired.seeds, paired.diffs[0].ci95_low, paired.diffs[0].won), (1, None, 1));

    let mut r = results(vec![curve("uniform", 1, &[0.3, 0.96])]);
    r.target_accuracy = 0.95;
    let header = table(&r).layout.header().join(",");
    assert!(
        header.contains(",reached_0.9,") && header.contains(",reached_0.95,rounds_to_0.95_mean_reached,")
    );
}

#[test]
fn rows_read_back_to_the_same_rows_and_bytes() {
    for r in [with_control(), results(vec![curve("uniform", 1, &[]), curve("dynamic", 1, &[0.5])])] {
        let written = table(&r);
        let text = written.write();
        let read = ComparisonTable::parse(&text, "comparison.csv").unwrap();
        assert_eq!(read, written);
        assert_eq!(read.write(), text);
    }
    let t = table(&with_control());
    assert_eq!(t.layout.quantities.last().map(String::as_str), Some("auc_first_2"));
    assert!(t.layout.control && t.row(CONTROL).unwrap().control.is_none());
    let uniform = t.row("uniform").unwrap().control_of("acc_at_budget").unwrap();
    assert_eq!(uniform.share, Share::Interval { estimate: 0.0, low: 0.0, high: 0.0 });
    assert_eq!(uniform.cost_seeds, 3);
}

#[test]
fn every_share_reads_back_from_its_four_cells() {
    let shares = [
        Share::NoData,
        Share::NoCost,
        Share::Point(0.5),
        Share::Unbounded(-0.25),
        Share::Interval { estimate: 0.5, low: -0.1, high: 1.2 },
        Share::Interval { estimate: 0.0, low: 0.0, high: 0.0 },
    ];
    for share in shares {
        let cells =
            ControlCells { cost: Some(0.1), cost_ci95_low: None, cost_ci95_high: None, cost_seeds: 1, share };
        let row = control_cells(Some(&[cells; 3]));
        let text = format!("{}\n{}\n", control_header().join(","), row.join(","));
        let records = Records::split(&text, "t", "").unwrap();
        let mut read = records.cells("t").next().unwrap();
        for _ in 0..3 {
            assert_eq!(ControlCells::read(&mut read), Ok(cells));
        }
    }
}

/// A comparison.csv of faultline before the control arm (and `no-data`): what
/// this build writes for results without a control or early rounds.
const FIRST_VERSION: &str = "strategy,seeds,diverged,final_acc_mean,final_acc_std,best_acc_mean,\
best_acc_std,auc_rounds_mean,auc_rounds_std,auc_time_mean,auc_time_std,reached_0.5,rounds_to_0.5_mean_reached,\
rounds_to_0.5_std_reached,time_to_0.5_s_mean_reached,time_to_0.5_s_std_reached,reached_0.8,\
rounds_to_0.8_mean_reached,rounds_to_0.8_std_reached,time_to_0.8_s_mean_reached,time_to_0.8_s_std_reached,\
reached_0.9,rounds_to_0.9_mean_reached,rounds_to_0.9_std_reached,time_to_0.9_s_mean_reached,\
time_to_0.9_s_std_reached,baseline,paired_seeds,diff_final_acc_mean,diff_final_acc_ci95_low,\
diff_final_acc_ci95_high,diff_final_acc_won,diff_final_acc_tied,diff_final_acc_lost,diff_best_acc_mean,\
diff_best_acc_ci95_low,diff_best_acc_ci95_high,diff_best_acc_won,diff_best_acc_tied,diff_best_acc_lost,\
diff_auc_rounds_mean,diff_auc_rounds_ci95_low,diff_auc_rounds_ci95_high,diff_auc_rounds_won,\
diff_auc_rounds_tied,diff_auc_rounds_lost,diff_auc_time_mean,diff_auc_time_ci95_low,diff_auc_time_ci95_high,\
diff_auc_time_won,diff_auc_time_tied,diff_auc_time_lost
uniform,1,0,0.83008356545961,,0.83008356545961,,0.6148391997974171,,0.6065938331563892,,1,4,,0.007536686,,1,10,,\
0.01878713,,0,,,,,uniform,,,,,,,,,,,,,,,,,,,,,,,,,
dynamic,1,0,0.8579387186629527,,0.8579387186629527,,0.6733350215244365,,0.6658006714503685,,1,4,,0.007536686,,\
1,9,,0.016805292,,0,,,,,uniform,1,0.027855153203342642,,,1,0,0,0.027855153203342642,,,1,0,0,\
0.05849582172701939,,,1,0,0,0.059206838293979325,,,1,0,0
";

#[test]
fn the_first_version_is_still_read() {
    let t = ComparisonTable::parse(FIRST_VERSION, "comparison.csv").unwrap();
    assert_eq!(t.layout.quantities, ["final_acc", "best_acc", "auc_rounds", "auc_time"]);
    assert_eq!((t.layout.targets.as_slice(), t.layout.control), ([0.5, 0.8, 0.9].as_slice(), false));
    assert_eq!(t.rows[1].targets[1].rounds_to.mean, Some(9.0));
    assert_eq!(t.write(), FIRST_VERSION);
    // Before `no-data`, a share without data said `no-cost`.
    let text = table(&with_control()).write();
    let old = with_cell(&text, 2, "share_time_to_target_s_status", "no-cost");
    let old = with_cell(&old, 2, "share_time_to_target_s", "");
    let old = with_cell(&old, 2, "share_time_to_target_s_ci95_low", "");
    let old = with_cell(&old, 2, "share_time_to_target_s_ci95_high", "");
    let read = ComparisonTable::parse(&old, "comparison.csv").unwrap();
    assert_eq!(read.rows[0].control_of("time_to_target_s").unwrap().share, Share::NoCost);
    assert_eq!(read.write(), old);
}

#[test]
fn malformed_files_are_refused_at_their_line() {
    let text = table(&with_control()).write();
    let error = |text: &str| ComparisonTable::parse(text, "c.csv").unwrap_err().to_string();
    for (column, value, message) in [
        ("seeds", "two", "c.csv:3: seeds `two` is not a whole number"),
        ("final_acc_mean", "NaN", "c.csv:3: final_acc_mean `NaN` is not a finite number"),
        ("paired_seeds", "", "c.csv:3: paired_seeds `` is not a whole number"),
        ("share_acc_at_budget_ci95_low", "", "c.csv:3: share_acc_at_budget_status `ok` does not fit"),
        ("share_acc_at_budget_status", "maybe", "c.csv:3: share_acc_at_budget_status `maybe` does not fit"),
        ("cost_acc_at_budget_seeds", "", "c.csv:3: cost_acc_at_budget_seeds `` is not a whole number"),
    ] {
        let error = error(&with_cell(&text, 3, column, value));
        assert!(error.starts_with(&format!("error: {message}")), "{column}: {error}");
    }
    // The baseline's row has no differences, so a lone one is refused.
    let lone = error(&with_cell(&text, 2, "diff_best_acc_won", "1"));
    assert!(lone.starts_with("error: c.csv:2: paired_seeds `` is not a whole number"), "{lone}");
    let (header, rows) = text.split_once('\n').unwrap();
    for header in
        ["strategy,seeds", &header.replace("reached_0.9,", "reached_0.85,"), &header[..header.len() - 7]]
    {
        let error = error(&format!("{header}\n{rows}"));
        assert!(error.starts_with("error: c.csv:1: expected the header of a comparison.csv"), "{error}");
    }
    let short = text.replacen(",uniform,", ",", 1);
    assert!(error(&short).starts_with("error: c.csv:2: "), "{}", error(&short));
    assert_eq!(error(""), "error: c.csv: empty; expected a header beginning `strategy,seeds,diverged`");
}
