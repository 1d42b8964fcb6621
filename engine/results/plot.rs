//! Draws a [`Figure`] as SVG and as PNG with plotters: one coloured line per
//! strategy over its translucent band, shaded failure windows behind them, axis
//! labels with units, a legend and a two-line title.
//!
//! Text is laid out (and, in PNGs, drawn) with the embedded DejaVu Sans
//! (data/DejaVuSans.ttf, see data/DejaVuSans.LICENSE), so the pictures are the
//! same on every machine, with or without system fonts.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::results::figures::{Figure, Window, WindowKind};

/// Width and height of every figure, in pixels (SVG user units alike).
pub const SIZE: (u32, u32) = (1000, 620);

/// Line colours (Okabe–Ito, readable for colour-blind readers and in greyscale
/// print), by strategy index.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

const FONT: &str = "sans-serif";

fn window_color(kind: WindowKind) -> RGBAColor {
    match kind {
        WindowKind::Crash => RGBColor(90, 90, 90).mix(0.22),
        WindowKind::Straggler => RGBColor(240, 200, 60).mix(0.25),
        WindowKind::Partition => RGBColor(150, 120, 200).mix(0.22),
        WindowKind::MessageDrop => RGBColor(120, 190, 230).mix(0.18),
    }
}

/// Registers the embedded font once per process.
fn ensure_font() {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../data/DejaVuSans.ttf");
        // The embedded file is a valid font; the tests render with it.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, bytes);
    });
}

/// The figure as an SVG document.
pub fn svg(figure: &Figure) -> Result<String, String> {
    ensure_font();
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        draw(&root, figure).map_err(|e| format!("{}: {e}", figure.name))?;
        root.present().map_err(|e| format!("{}: {e}", figure.name))?;
    }
    Ok(text)
}

/// The figure as a PNG file (8-bit RGB).
pub fn png(figure: &Figure) -> Result<Vec<u8>, String> {
    ensure_font();
    let (w, h) = SIZE;
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw(&root, figure).map_err(|e| format!("{}: {e}", figure.name))?;
        root.present().map_err(|e| format!("{}: {e}", figure.name))?;
    }
    let mut file = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut file, w, h);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| format!("{}: {e}", figure.name))?;
    writer.write_image_data(&pixels).map_err(|e| format!("{}: {e}", figure.name))?;
    writer.finish().map_err(|e| format!("{}: {e}", figure.name))?;
    Ok(file)
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The data range of every band and window, padded by 4 % (and never empty).
fn ranges(figure: &Figure) -> ((f64, f64), (f64, f64)) {
    let points = figure.series.iter().flat_map(|s| &s.points);
    let (mut x0, mut x1, mut y0, mut y1) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for p in points.filter(|p| p.low.is_finite() && p.high.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(p.x), x1.max(p.x), y0.min(p.low), y1.max(p.high));
    }
    if figure.zero_line {
        (y0, y1) = (y0.min(0.0), y1.max(0.0));
    }
    if !x0.is_finite() {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    if figure.x_label.starts_with("virtual time") {
        x0 = 0.0;
    }
    let pad = |a: f64, b: f64| {
        let d = if b > a { (b - a) * 0.04 } else { 0.5 };
        (a - d, b + d)
    };
    (pad(x0, x1), pad(y0, y1))
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &Figure) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(78);
    let centre = (SIZE.0 as i32 / 2, 10);
    let title = (FONT, 26).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
    top.draw_text(&figure.title, &title, centre)?;
    let subtitle = (FONT, 17).into_font().color(&RGBColor(70, 70, 70)).pos(Pos::new(HPos::Center, VPos::Top));
    top.draw_text(&figure.subtitle, &subtitle, (centre.0, 46))?;
    let ((x0, x1), (y0, y1)) = ranges(figure);
    let mut chart = ChartBuilder::on(&body)
        .margin_left(12)
        .margin_right(28)
        .margin_bottom(10)
        .x_label_area_size(58)
        .y_label_area_size(84)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let rounds = |x: &f64| format!("{x:.0}");
    let mut mesh = chart.configure_mesh();
    if figure.x_label == crate::results::figures::ROUND_AXIS {
        mesh.x_label_formatter(&rounds);
    }
    mesh.x_desc(figure.x_label)
        .y_desc(figure.y_label.as_str())
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 20))
        // Only the grid lines at labelled ticks: the finer mesh clutters print.
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    shade(&mut chart, &figure.windows, (y0, y1))?;
    if figure.zero_line {
        chart.draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.stroke_width(1)))?;
    }
    for series in &figure.series {
        let color = PALETTE[series.color % PALETTE.len()];
        let edge = series.points.iter().map(|p| (p.x, p.high));
        let band: Vec<(f64, f64)> = edge.chain(series.points.iter().rev().map(|p| (p.x, p.low))).collect();
        chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled())))?;
    }
    for series in &figure.series {
        let color = PALETTE[series.color % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(series.points.iter().map(|p| (p.x, p.y)), color.stroke_width(3)))?
            .label(series.label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(if figure.y_label.starts_with("training loss") {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .label_font((FONT, 17))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()
}

/// Shades the failure windows full height, one legend entry per kind.
fn shade<DB: DrawingBackend>(
    chart: &mut ChartContext<
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    windows: &[Window],
    (y0, y1): (f64, f64),
) -> DrawResult<DB> {
    let mut kinds: Vec<WindowKind> = windows.iter().map(|w| w.kind).collect();
    kinds.dedup();
    for kind in kinds {
        let color = window_color(kind);
        let rects = windows
            .iter()
            .filter(|w| w.kind == kind)
            .map(|w| Rectangle::new([(w.from, y0), (w.until, y1)], color.filled()));
        chart
            .draw_series(rects)?
            .label(kind.label())
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 24, y + 7)], color.filled()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
            doc.descendants()
                .any(|n| n.is_element() && n.text().map(str::trim) == Some("worker down (crash)"))
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
}
