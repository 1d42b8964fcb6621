//! `faultline figures`: a small sweep's panel grids and comparison are written
//! as SVG and PNG, a panel per point; a point missing from the folder gets a
//! note and an empty panel; bad input gets `error:` and exit code 2.

use std::fs;
use std::path::Path;

use crate::{faultline_in, root, scratch};

const GRID: &str = r#"(
    scenario: "base.ron",
    axes: [
        (path: "workers", values: [3, 4]),
        (path: "training.tau", values: [1, 2]),
    ],
    seeds: [1, 2],
    strategies: ["uniform", "dynamic"],
)"#;

/// Runs `faultline ARGS` in `dir`; (exit code, stdout, stderr).
fn figures(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = faultline_in(dir, &[&["figures"][..], args].concat());
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// The texts of an SVG file, each trimmed.
fn svg_texts(path: &Path) -> Vec<String> {
    let svg = fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect()
}

/// Decodes a PNG file and returns its size.
fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert!(pixels.iter().any(|&p| p != 255), "{}: all white", path.display());
    (info.width, info.height)
}

#[test]
fn a_sweep_gets_a_panel_per_point_and_a_comparison() {
    let dir = scratch("figures");
    let base = fs::read_to_string(root().join("scenarios/quickstart.ron"))
        .unwrap()
        .replace("rounds: 100", "rounds: 10");
    fs::write(dir.join("base.ron"), base).unwrap();
    fs::write(dir.join("grid.ron"), GRID).unwrap();
    let output = faultline_in(&dir, &["sweep", "grid.ron", "--out", "sw", "--quiet"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let (code, stdout, stderr) = figures(&dir, &["sw", "--rows", "workers", "--cols", "tau"]);
    assert_eq!(code, Some(0), "{stderr}");
    let figures_dir = dir.join("sw/figures");
    for stem in ["accuracy-rounds_by_workers-x-tau", "train-loss-rounds_by_workers-x-tau"] {
        for ext in ["svg", "png"] {
            let name = format!("{stem}.{ext}");
            assert!(stdout.contains(&format!("wrote sw/figures/{name}\n")), "{name}: {stdout}");
            assert!(figures_dir.join(&name).is_file(), "{name}");
        }
        // Two rows of two panels.
        let (w, h) = png_size(&figures_dir.join(format!("{stem}.png")));
        assert!(w >= 1000 && h > 620, "{w}x{h}");
        let texts = svg_texts(&figures_dir.join(format!("{stem}.svg")));
        let panels: Vec<&String> = texts.iter().filter(|t| t.starts_with("workers = ")).collect();
        assert_eq!(
            panels,
            [
                "workers = 3, training.tau = 1",
                "workers = 3, training.tau = 2",
                "workers = 4, training.tau = 1",
                "workers = 4, training.tau = 2"
            ],
            "one panel per point"
        );
        assert!(texts.iter().any(|t| t.contains("band: ±1 std across seeds")), "{texts:?}");
        // One legend, naming both strategies.
        assert_eq!(texts.iter().filter(|t| *t == "dynamic").count(), 1, "{texts:?}");
    }

    let comparison = ["sw", "--quantity", "diff_auc_rounds_mean", "--x", "tau", "--lines", "workers"];
    let (code, stdout, stderr) = figures(&dir, &[&comparison[..], &["--strategy", "dynamic"]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    let stem = "diff_auc_rounds_mean_vs_tau_by_workers_dynamic";
    assert!(stdout.contains(&format!("wrote sw/figures/{stem}.svg")), "{stdout}");
    assert_eq!(png_size(&figures_dir.join(format!("{stem}.png"))), (1000, 620));
    let texts = svg_texts(&figures_dir.join(format!("{stem}.svg")));
    for text in ["workers = 3", "workers = 4", "a line per workers; error bars: 95% CI; from grid.csv"] {
        assert!(texts.iter().any(|t| t == text), "{text}: {texts:?}");
    }

    // Bad input: exit 2 and one error, nothing drawn.
    let cases: [(&[&str], &str); 6] = [
        (&["sw", "--rows", "nosuch"], "error: --rows nosuch: not an axis of this sweep"),
        (&["sw", "--cols", "tau"], "error: the sweep also varies workers (3, 4);"),
        (&["sw", "--fix", "workers=5"], "error: --fix workers=5: workers has no value 5"),
        (&[&comparison[..], &["--strategy", "oracle"]].concat(), "error: --strategy oracle: no rows of it"),
        (
            &["sw", "--quantity", "nosuch", "--x", "tau", "--lines", "workers"],
            "error: --quantity nosuch: no such column",
        ),
        (&["sw/000_workers=3_tau=1"], "error: sw/000_workers=3_tau=1: not a sweep folder (no sweep.json)"),
    ];
    for (args, expected) in cases {
        let (code, _, stderr) = figures(&dir, args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with(expected), "{args:?}: expected {expected:?} in\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }

    // A point missing (a partial sweep): a note, and its panel says so.
    fs::rename(dir.join("sw/003_workers=4_tau=2"), dir.join("elsewhere")).unwrap();
    let (code, _, stderr) = figures(&dir, &["sw", "--out", "partial"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("note: point 003_workers=4_tau=2 is not in sw"), "{stderr}");
    let texts = svg_texts(&dir.join("partial/accuracy-rounds_by_workers-x-tau.svg"));
    assert_eq!(texts.iter().filter(|t| *t == "no data").count(), 1, "{texts:?}");
    fs::remove_dir_all(dir).unwrap();
}
