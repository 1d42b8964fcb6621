//! The sweep figures' layouts, panels and comparisons on small made-up sweeps.

use super::*;
use crate::results::aggregate::tests::{curve, results};

/// The seed paper's layout: k and τ, and an overlap to fix.
fn axes() -> Vec<Axis> {
    let axis = |path: &str, values: &[&str]| Axis {
        path: path.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    vec![
        axis("workers", &["4", "8"]),
        axis("training.tau", &["1", "2", "4"]),
        axis("training.data.overlap", &["0.0", "0.25"]),
    ]
}

#[test]
fn each_point_goes_in_the_panel_of_its_row_and_column_values() {
    let axes = axes();
    let layout = Layout::new(&axes, Some(0), Some(1), &[(2, 1)], ["--rows", "--cols"]).unwrap();
    assert_eq!(layout.shape(&axes), (2, 3));
    let cells = layout.cells(&axes);
    assert_eq!(cells.len(), 6);
    // Row by row: the second row's middle panel is k = 8, τ = 2.
    assert_eq!(cells[4], [1, 1, 1]);
    assert_eq!(layout.cell_title(&axes, &cells[4]), "workers = 8, training.tau = 2");
    assert_eq!(layout.cell_of(&[1, 2, 1]), Some((1, 2)));
    assert_eq!(layout.cell_of(&[1, 2, 0]), None, "another overlap is in no panel");
    assert_eq!(layout.fixed_title(&axes), "training.data.overlap = 0.25");
    assert_eq!(layout.fixed_name(&axes), "_overlap=0.25");
    // One axis: one row of panels.
    let row = Layout::new(&axes, None, Some(1), &[(0, 0), (2, 0)], ["--rows", "--cols"]).unwrap();
    assert_eq!(row.shape(&axes), (1, 3));
    assert_eq!(row.cells(&axes)[2], [0, 2, 0]);
    assert_eq!(row.cell_title(&axes, &[0, 2, 0]), "training.tau = 4");
    assert_eq!(row.fixed_title(&axes), "workers = 4, training.data.overlap = 0.0");
}

#[test]
fn axes_not_drawn_must_be_fixed() {
    let axes = axes();
    let flags = ["--rows", "--cols"];
    let error = Layout::new(&axes, Some(0), Some(1), &[], flags).unwrap_err().to_string();
    assert!(error.starts_with("error: the sweep also varies training.data.overlap (0.0, 0.25); "), "{error}");
    assert!(error.contains("--fix training.data.overlap=0.0"), "{error}");
    let error = Layout::new(&axes, None, Some(1), &[], flags).unwrap_err().to_string();
    assert!(error.contains("workers (4, 8); training.data.overlap (0.0, 0.25)"), "{error}");
    // An axis of one value is fixed already, and the title names it.
    let mut one = axes.clone();
    one[2].values.truncate(1);
    let layout = Layout::new(&one, Some(0), Some(1), &[], flags).unwrap();
    assert_eq!(layout.fixed, [None, None, Some(0)]);
    assert_eq!(layout.fixed_title(&one), "training.data.overlap = 0.0");
    assert_eq!(layout.fixed_name(&one), "", "file names leave out what does not vary");
    let error = Layout::new(&axes, Some(0), Some(1), &[(1, 0), (2, 0)], flags).unwrap_err().to_string();
    assert_eq!(
        error,
        "error: --fix training.tau=1: the figure draws training.tau (--cols); fix only the other axes"
    );
    let error = Layout::new(&axes, Some(1), Some(1), &[(2, 0)], flags).unwrap_err().to_string();
    assert!(error.starts_with("error: --rows and --cols both name training.tau"), "{error}");
    let error = Layout::new(&axes, Some(0), Some(1), &[(2, 0), (2, 1)], flags).unwrap_err().to_string();
    assert!(error.contains("names training.data.overlap twice"), "{error}");
}

#[test]
fn axes_and_values_are_found_by_path_or_last_part() {
    let axes = axes();
    assert_eq!(find_axis(&axes, "training.tau", "--cols"), Ok(1));
    assert_eq!(find_axis(&axes, "tau", "--cols"), Ok(1));
    let error = find_axis(&axes, "nosuch", "--rows").unwrap_err().to_string();
    assert_eq!(
        error,
        "error: --rows nosuch: not an axis of this sweep\n  = expected one of the sweep's axes: workers, \
             training.tau, training.data.overlap"
    );
    let twice =
        vec![Axis { path: "a.x".into(), values: vec![] }, Axis { path: "b.x".into(), values: vec![] }];
    assert!(find_axis(&twice, "x", "--x").unwrap_err().to_string().contains("more than one axis ends so"));
    assert_eq!(parse_fix(&axes, "overlap=0.250"), Ok((2, 1)), "the same number");
    assert_eq!(parse_fix(&axes, "training.data.overlap=0.25"), Ok((2, 1)));
    let named = [Axis {
        path: "training.data.partition".into(),
        values: vec!["\"iid\"".into(), "Dirichlet(beta: 0.5)".into()],
    }];
    assert_eq!(parse_fix(&named, "partition=iid"), Ok((0, 0)));
    assert_eq!(parse_fix(&named, "partition=\"iid\""), Ok((0, 0)));
    assert_eq!(parse_fix(&named, "partition=Dirichlet(beta: 0.5)"), Ok((0, 1)));
    assert!(parse_fix(&axes, "overlap").unwrap_err().to_string().contains("expected AXIS=VALUE"));
    let error = parse_fix(&axes, "overlap=0.5").unwrap_err().to_string();
    assert!(
        error.ends_with("training.data.overlap has no value 0.5\n  = expected one of: 0.0, 0.25"),
        "{error}"
    );
    assert_eq!(default_panels(&axes, &[]), (None, None), "three free axes: no default");
    assert_eq!(default_panels(&axes, &[(2, 0)]), (Some(0), Some(1)));
    assert_eq!(default_panels(&axes, &[(0, 1), (2, 0)]), (None, Some(1)));
}

#[test]
fn curves_have_a_panel_per_point_and_say_which_are_missing() {
    let axes = axes();
    let layout = Layout::new(&axes, Some(0), Some(1), &[(2, 1)], ["--rows", "--cols"]).unwrap();
    let point = |a: f64| {
        Ok(results(vec![
            curve("uniform", 1, &[a, a + 0.1]),
            curve("dynamic", 1, &[a, a + 0.2]),
            curve("uniform", 2, &[a, a + 0.1]),
            curve("dynamic", 2, &[a, a + 0.3]),
        ]))
    };
    let mut inputs: Vec<PanelInput> = (0..6).map(|i| point(0.1 * i as f64)).collect();
    inputs[4] = Err("point 010_workers=8_tau=2_overlap=0.25 is not in the sweep folder".into());
    // A point that ran dynamic only keeps dynamic's colour.
    inputs[5] = Ok(results(vec![curve("dynamic", 1, &[0.5, 0.6])]));
    let strategies = strategies(&inputs);
    assert_eq!(strategies, ["uniform", "dynamic"]);
    let figures = curves("paper", &axes, &layout, &inputs, &strategies);
    assert_eq!(figures.len(), 2);
    let accuracy = &figures[0];
    assert_eq!(accuracy.name, "accuracy-rounds_by_workers-x-tau_overlap=0.25");
    assert_eq!(figures[1].name, "train-loss-rounds_by_workers-x-tau_overlap=0.25");
    assert_eq!(accuracy.title, "paper: test accuracy by communication round; training.data.overlap = 0.25");
    assert!(
        accuracy.subtitle.starts_with("rows: workers, columns: training.tau; seeds"),
        "{}",
        accuracy.subtitle
    );
    assert!(accuracy.subtitle.ends_with("band: ±1 std across seeds"));
    assert_eq!((accuracy.columns, accuracy.panels.len()), (3, 6));
    let titles: Vec<&str> = accuracy.panels.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(titles[3], "workers = 8, training.tau = 1");
    let third = &accuracy.panels[2];
    assert_eq!(
        third.series.iter().map(|s| (s.label.as_str(), s.color)).collect::<Vec<_>>(),
        [("uniform", 0), ("dynamic", 1)]
    );
    // Round 2 of dynamic at point 2: mean of 0.4 and 0.5 over the seeds.
    let p = third.series[1].points[1];
    assert!((p.x, (p.y - 0.45).abs() < 1e-12) == (2.0, true) && p.low < p.y && p.high > p.y, "{p:?}");
    assert_eq!(
        accuracy.panels[4].empty.as_deref(),
        Some("point 010_workers=8_tau=2_overlap=0.25 is not in the sweep folder")
    );
    assert!(accuracy.panels[4].series.is_empty());
    assert_eq!(accuracy.panels[5].series.iter().map(|s| s.color).collect::<Vec<_>>(), [1]);
}

const TABLE: &str = "point,folder,strategy,training.data.overlap,workers,training.tau,seeds,\
final_acc_mean,final_acc_std,diff_final_acc_mean,diff_final_acc_ci95_low,diff_final_acc_ci95_high\n\
0,a,uniform,\"0.0\",\"4\",\"1\",3,0.80,0.02,,,\n\
0,a,dynamic,\"0.0\",\"4\",\"1\",3,0.82,0.01,0.02,0.01,0.03\n\
1,b,dynamic,\"0.25\",\"4\",\"1\",3,0.84,0.01,0.01,-0.01,0.03\n\
2,c,dynamic,\"0.0\",\"8\",\"1\",3,0.70,0.01,0.03,0.00,0.06\n\
3,d,dynamic,\"0.0\",\"8\",\"2\",3,0.10,0.01,0.05,0.00,0.09\n";

#[test]
fn a_comparison_reads_its_columns_by_name() {
    let axes = axes();
    let table = GridTable::parse(TABLE, "grid.csv").unwrap();
    let layout = Layout::new(&axes, Some(0), Some(2), &[(1, 0)], ["--lines", "--x"]).unwrap();
    let what = Compared { column: "diff_final_acc_mean", strategy: Some("dynamic") };
    let (figure, notes) = comparison("paper", &axes, &layout, &table, what).unwrap();
    assert_eq!(figure.name, "diff_final_acc_mean_vs_overlap_by_workers_dynamic_tau=1");
    assert_eq!(
        figure.title,
        "paper: diff_final_acc_mean of dynamic against training.data.overlap; training.tau = 1"
    );
    assert_eq!(figure.subtitle, "a line per workers; error bars: 95% CI; from grid.csv");
    assert!(figure.zero_line && figure.error_bars && figure.x_ticks.is_none());
    let series = &figure.panels[0].series;
    assert_eq!(series.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(), ["workers = 4", "workers = 8"]);
    assert_eq!(
        series[0].points,
        [
            BandPoint { x: 0.0, y: 0.02, low: 0.01, high: 0.03 },
            BandPoint { x: 0.25, y: 0.01, low: -0.01, high: 0.03 }
        ]
    );
    // k = 8 at overlap 0.25 is missing (a partial sweep); τ = 2 is not drawn.
    assert_eq!(series[1].points, [BandPoint { x: 0.0, y: 0.03, low: 0.0, high: 0.06 }]);
    assert_eq!(
        notes,
        ["note: grid.csv has no row of dynamic at workers = 8, training.data.overlap = 0.25: left out"]
    );
    // A mean with a std: ±1 std bars.
    let what = Compared { column: "final_acc_mean", strategy: Some("dynamic") };
    let (figure, _) = comparison("paper", &axes, &layout, &table, what).unwrap();
    assert!(figure.subtitle.contains("error bars: ±1 std across seeds") && !figure.zero_line);
    let p = figure.panels[0].series[0].points[0];
    assert!((p.low - 0.81).abs() < 1e-12 && (p.high - 0.83).abs() < 1e-12, "{p:?}");
}

#[test]
fn a_comparison_refuses_unknown_columns_and_strategies() {
    let axes = axes();
    let table = GridTable::parse(TABLE, "grid.csv").unwrap();
    let layout = Layout::new(&axes, Some(0), Some(2), &[(1, 0)], ["--lines", "--x"]).unwrap();
    let compare = |column, strategy| comparison("p", &axes, &layout, &table, Compared { column, strategy });
    let error = compare("nosuch", Some("dynamic")).unwrap_err().to_string();
    assert!(error.starts_with("error: --quantity nosuch: no such column in grid.csv\n  = expected one of its numeric columns: training.data.overlap, workers, training.tau, seeds, final_acc_mean"), "{error}");
    let error = compare("strategy", Some("dynamic")).unwrap_err().to_string();
    assert!(error.contains("not a numeric column"), "{error}");
    let error = compare("final_acc_mean", Some("oracle")).unwrap_err().to_string();
    assert_eq!(
        error,
        "error: --strategy oracle: no rows of it in grid.csv\n  = expected one of: uniform, dynamic"
    );
    let error = compare("final_acc_mean", None).unwrap_err().to_string();
    assert!(
        error.starts_with("error: a comparison shows one strategy; choose it with --strategy"),
        "{error}"
    );
    // The baseline's differences to itself are empty: nothing to draw.
    let error = compare("diff_final_acc_mean", Some("uniform")).unwrap_err().to_string();
    assert!(error.contains("no value of it for uniform") && error.contains("baseline"), "{error}");
}
