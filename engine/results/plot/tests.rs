//! Plots drawn to SVG and PNG: well-formed, one series per strategy, decodable.

use super::*;
use crate::results::figures::{BandPoint, Series};

fn figure() -> Figure {
    let line = |label: &str, offset: f64| Series {
        label: label.into(),
        color: (offset * 10.0) as usize,
        points: (0..5)
            .map(|i| {
                let y = 0.5 + offset + i as f64 / 20.0;
                BandPoint { x: i as f64, y, low: y - 0.02, high: y + 0.02 }
            })
            .collect(),
    };
    Figure {
        name: "test",
        title: "t: test accuracy over virtual time".into(),
        subtitle: "seeds 1, 2".into(),
        x_label: "virtual time (s)",
        y_label: "test accuracy (fraction correct)".into(),
        series: vec![line("uniform", 0.0), line("dynamic", 0.1)],
        windows: vec![Window { kind: WindowKind::Crash, from: 1.0, until: 2.0 }],
        zero_line: false,
    }
}

#[test]
fn svg_is_well_formed_with_a_line_per_series() {
    let text = svg(&figure()).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    for (i, label) in ["uniform", "dynamic"].iter().enumerate() {
        let c = PALETTE[i];
        let color = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
        let lines = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some(color.as_str()))
            .count();
        // The line and its legend sample.
        assert_eq!(lines, 2, "{label}");
        assert!(
            doc.descendants().any(|n| n.is_element() && n.text().map(str::trim) == Some(label)),
            "{label}"
        );
    }
    assert!(
        doc.descendants().any(|n| n.is_element() && n.text().map(str::trim) == Some("worker down (crash)"))
    );
}

#[test]
fn png_decodes_and_shows_each_colour() {
    let bytes = png(&figure()).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let decoder = ::png::Decoder::new(std::io::Cursor::new(&bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), SIZE);
    for color in &PALETTE[..2] {
        let count = pixels.chunks(3).filter(|p| *p == [color.0, color.1, color.2]).count();
        assert!(count > 100, "{color:?}: {count} pixels");
    }
}
