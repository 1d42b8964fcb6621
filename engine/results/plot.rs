//! Draws a [`Figure`] as SVG and as PNG with plotters: one coloured line per
//! strategy over its translucent band, shaded failure windows behind them, axis
//! labels with units, a legend and a two-line title; and a [`PanelFigure`] of a
//! sweep, the same charts as a grid of titled panels sharing their axes' ranges
//! (a panel without data says why), or lines with markers and error bars.
//!
//! Text is laid out (and, in PNGs, drawn) with the embedded DejaVu Sans
//! (data/DejaVuSans.ttf, see data/DejaVuSans.LICENSE), so the pictures are the
//! same on every machine, with or without system fonts.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::results::figures::{Figure, Series, Window, WindowKind};
use crate::results::sweep_figures::PanelFigure;

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

/// Something drawn on a canvas of its own size: a figure, or a grid of panels.
trait Drawing {
    fn name(&self) -> &str;
    fn size(&self) -> (u32, u32);
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

impl Drawing for Figure {
    fn name(&self) -> &str {
        self.name
    }

    fn size(&self) -> (u32, u32) {
        SIZE
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        draw(root, self)
    }
}

impl Drawing for PanelFigure {
    fn name(&self) -> &str {
        &self.name
    }

    fn size(&self) -> (u32, u32) {
        panels_size(self)
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        draw_panels(root, self)
    }
}

/// The figure as an SVG document.
pub fn svg(figure: &Figure) -> Result<String, String> {
    render_svg(figure)
}

/// The figure as a PNG file (8-bit RGB).
pub fn png(figure: &Figure) -> Result<Vec<u8>, String> {
    render_png(figure)
}

/// A grid of panels as an SVG document.
pub fn panels_svg(figure: &PanelFigure) -> Result<String, String> {
    render_svg(figure)
}

/// A grid of panels as a PNG file (8-bit RGB).
pub fn panels_png(figure: &PanelFigure) -> Result<Vec<u8>, String> {
    render_png(figure)
}

fn render_svg(drawing: &impl Drawing) -> Result<String, String> {
    ensure_font();
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, drawing.size()).into_drawing_area();
        drawing.draw_on(&root).map_err(|e| format!("{}: {e}", drawing.name()))?;
        root.present().map_err(|e| format!("{}: {e}", drawing.name()))?;
    }
    Ok(text)
}

fn render_png(drawing: &impl Drawing) -> Result<Vec<u8>, String> {
    ensure_font();
    let (w, h) = drawing.size();
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", drawing.name());
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        drawing.draw_on(&root).map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    let mut file = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut file, w, h);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| fail(&e))?;
    writer.write_image_data(&pixels).map_err(|e| fail(&e))?;
    writer.finish().map_err(|e| fail(&e))?;
    Ok(file)
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The data range of every band, padded by 4 % (and never empty); from x = 0
/// when `from_zero`, and including y = 0 when `zero_line`.
fn ranges<'a>(
    series: impl Iterator<Item = &'a Series>,
    zero_line: bool,
    from_zero: bool,
) -> ((f64, f64), (f64, f64)) {
    let points = series.flat_map(|s| &s.points);
    let (mut x0, mut x1, mut y0, mut y1) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for p in points.filter(|p| p.low.is_finite() && p.high.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(p.x), x1.max(p.x), y0.min(p.low), y1.max(p.high));
    }
    if zero_line {
        (y0, y1) = (y0.min(0.0), y1.max(0.0));
    }
    if !x0.is_finite() {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    if from_zero {
        x0 = 0.0;
    }
    let pad = |a: f64, b: f64| {
        let d = if b > a { (b - a) * 0.04 } else { 0.5 };
        (a - d, b + d)
    };
    (pad(x0, x1), pad(y0, y1))
}

/// Text sizes and the room for tick labels of one chart.
#[derive(Clone, Copy)]
struct TextSizes {
    label: u32,
    desc: u32,
    x_area: u32,
    y_area: u32,
}

/// A whole figure's chart.
const LARGE: TextSizes = TextSizes { label: 17, desc: 20, x_area: 58, y_area: 84 };
/// A panel's chart.
const SMALL: TextSizes = TextSizes { label: 14, desc: 16, x_area: 46, y_area: 70 };

/// What one chart shows, borrowed from a figure or a panel.
struct Chart<'a> {
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [Series],
    windows: &'a [Window],
    zero_line: bool,
    /// Markers with error bars at the band's ends instead of bands.
    error_bars: bool,
    /// Names of the x positions 0, 1, … (a categorical axis).
    x_ticks: Option<&'a [String]>,
    ranges: ((f64, f64), (f64, f64)),
    /// Where the legend goes; none without.
    legend: Option<SeriesLabelPosition>,
    text: TextSizes,
}

/// Writes a two-line title centred at the top of `area`, each line at its own
/// size or smaller, so that a long one (a figure fixing long axis values) still
/// fits the width.
fn header<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, subtitle: &str) -> DrawResult<DB> {
    let width = area.dim_in_pixel().0;
    let centre = (width as i32 / 2, 10);
    let style =
        (FONT, fitting(26.0, title, width)).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
    area.draw_text(title, &style, centre)?;
    let style = (FONT, fitting(17.0, subtitle, width))
        .into_font()
        .color(&RGBColor(70, 70, 70))
        .pos(Pos::new(HPos::Center, VPos::Top));
    area.draw_text(subtitle, &style, (centre.0, 46))
}

/// The font size, at most `size`, at which `text` fits in `width` pixels with a
/// margin (a glyph of this font is about 0.55 of the size wide on average).
fn fitting(size: f64, text: &str, width: u32) -> f64 {
    let room = f64::from(width) * 0.96;
    let needed = 0.55 * size * text.chars().count() as f64;
    if needed <= room { size } else { (size * room / needed).max(8.0) }
}

/// Where a legend goes: clear of where the lines end, low for accuracies
/// (which rise), high for losses (which fall).
fn legend_position(y_label: &str) -> SeriesLabelPosition {
    if y_label.starts_with("training loss") {
        SeriesLabelPosition::UpperRight
    } else {
        SeriesLabelPosition::LowerRight
    }
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &Figure) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(78);
    header(&top, &figure.title, &figure.subtitle)?;
    let from_zero = figure.x_label.starts_with("virtual time");
    chart(
        &body,
        &Chart {
            x_label: figure.x_label,
            y_label: &figure.y_label,
            series: &figure.series,
            windows: &figure.windows,
            zero_line: figure.zero_line,
            error_bars: false,
            x_ticks: None,
            ranges: ranges(figure.series.iter(), figure.zero_line, from_zero),
            legend: Some(legend_position(&figure.y_label)),
            text: LARGE,
        },
    )
}

fn chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &Chart) -> DrawResult<DB> {
    let ((x0, x1), (y0, y1)) = c.ranges;
    let mut chart = ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(28)
        .margin_bottom(10)
        .x_label_area_size(c.text.x_area)
        .y_label_area_size(c.text.y_area)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let rounds = |x: &f64| format!("{x:.0}");
    let names = |x: &f64| {
        let i = x.round();
        let name = (i >= 0.0 && (x - i).abs() < 1e-6).then(|| c.x_ticks.and_then(|t| t.get(i as usize)));
        name.flatten().cloned().unwrap_or_default()
    };
    let mut mesh = chart.configure_mesh();
    if c.x_label == crate::results::figures::ROUND_AXIS {
        mesh.x_label_formatter(&rounds);
    }
    if let Some(ticks) = c.x_ticks {
        mesh.x_label_formatter(&names).x_labels(ticks.len());
    }
    mesh.x_desc(c.x_label)
        .y_desc(c.y_label)
        .label_style((FONT, c.text.label))
        .axis_desc_style((FONT, c.text.desc))
        // Only the grid lines at labelled ticks: the finer mesh clutters print.
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    shade(&mut chart, c.windows, (y0, y1))?;
    if c.zero_line {
        chart.draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.stroke_width(1)))?;
    }
    if !c.error_bars {
        for series in c.series {
            let color = PALETTE[series.color % PALETTE.len()];
            let edge = series.points.iter().map(|p| (p.x, p.high));
            let band: Vec<(f64, f64)> =
                edge.chain(series.points.iter().rev().map(|p| (p.x, p.low))).collect();
            chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled())))?;
        }
    }
    for (i, series) in c.series.iter().enumerate() {
        let color = PALETTE[series.color % PALETTE.len()];
        let line = chart
            .draw_series(LineSeries::new(series.points.iter().map(|p| (p.x, p.y)), color.stroke_width(3)))?
            .label(series.label.as_str());
        if c.error_bars {
            line.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new([(0, 0), (24, 0)], color.stroke_width(3))
                    + Circle::new((12, 0), 4, color.filled())
            });
            let dodge = (2 * i as i32 + 1 - c.series.len() as i32) * 4;
            error_bars(&mut chart, series, color, dodge)?;
        } else {
            line.legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3)));
        }
    }
    let Some(position) = c.legend.clone() else { return Ok(()) };
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, c.text.label))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()
}

type Cartesian = Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>;

/// A marker at every point and, where its band has width, a vertical bar from
/// its low to its high end with caps, moved `dodge` pixels sideways so that
/// the bars of lines at the same x stay apart (the markers stay in place).
fn error_bars<DB: DrawingBackend>(
    chart: &mut ChartContext<DB, Cartesian>,
    series: &Series,
    color: RGBColor,
    dodge: i32,
) -> DrawResult<DB> {
    let style = color.stroke_width(2);
    let bars: Vec<_> = series
        .points
        .iter()
        .filter(|p| p.high > p.low)
        .map(|p| {
            let height = chart.backend_coord(&(p.x, p.low)).1 - chart.backend_coord(&(p.x, p.high)).1;
            EmptyElement::at((p.x, p.high))
                + PathElement::new([(dodge, 0), (dodge, height)], style)
                + PathElement::new([(dodge - 6, 0), (dodge + 6, 0)], style)
                + PathElement::new([(dodge - 6, height), (dodge + 6, height)], style)
        })
        .collect();
    chart.draw_series(bars)?;
    chart.draw_series(series.points.iter().map(|p| Circle::new((p.x, p.y), 5, color.filled())))?;
    Ok(())
}

/// One panel's size in a grid of several.
const PANEL: (u32, u32) = (560, 420);
/// The height of the figure's title block.
const HEADER: u32 = 78;
/// The height of a panel's title.
const PANEL_TITLE: u32 = 30;

/// A figure of one panel is as large as any figure; panels in a grid take
/// [`PANEL`] each, below the title block.
fn panels_size(figure: &PanelFigure) -> (u32, u32) {
    if figure.panels.len() <= 1 {
        return SIZE;
    }
    let columns = figure.columns.max(1);
    let rows = figure.panels.len().div_ceil(columns);
    ((columns as u32 * PANEL.0).max(SIZE.0), HEADER + rows as u32 * PANEL.1)
}

fn draw_panels<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &PanelFigure) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(HEADER);
    header(&top, &figure.title, &figure.subtitle)?;
    let columns = figure.columns.max(1);
    let rows = figure.panels.len().div_ceil(columns).max(1);
    let ranges = ranges(figure.panels.iter().flat_map(|p| &p.series), figure.zero_line, false);
    // One legend, in the first panel that has lines: they are the same in all.
    let legend_in = figure.panels.iter().position(|p| !p.series.is_empty());
    let single = figure.panels.len() == 1;
    let cells = body.split_evenly((rows, columns));
    for (i, (panel, cell)) in figure.panels.iter().zip(&cells).enumerate() {
        let plot = if panel.title.is_empty() {
            cell.clone()
        } else {
            let (head, plot) = cell.split_vertically(PANEL_TITLE);
            let style = (FONT, 19).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
            let (w, h) = head.dim_in_pixel();
            head.draw_text(&panel.title, &style, (w as i32 / 2, h as i32 / 2))?;
            plot
        };
        if let Some(why) = &panel.empty {
            let (w, h) = plot.dim_in_pixel();
            let (w, h) = (w as i32, h as i32);
            plot.draw(&Rectangle::new([(40, 10), (w - 20, h - 20)], RGBColor(190, 190, 190)))?;
            let style =
                (FONT, 15).into_font().color(&RGBColor(90, 90, 90)).pos(Pos::new(HPos::Center, VPos::Center));
            plot.draw_text("no data", &style, (w / 2, h / 2 - 12))?;
            plot.draw_text(why, &style, (w / 2, h / 2 + 12))?;
            continue;
        }
        chart(
            &plot,
            &Chart {
                x_label: &figure.x_label,
                y_label: &figure.y_label,
                series: &panel.series,
                windows: &[],
                zero_line: figure.zero_line,
                error_bars: figure.error_bars,
                x_ticks: figure.x_ticks.as_deref(),
                ranges,
                legend: (legend_in == Some(i)).then(|| {
                    if figure.error_bars {
                        SeriesLabelPosition::UpperRight
                    } else {
                        legend_position(&figure.y_label)
                    }
                }),
                text: if single { LARGE } else { SMALL },
            },
        )?;
    }
    Ok(())
}

/// Shades the failure windows full height, one legend entry per kind.
fn shade<DB: DrawingBackend>(
    chart: &mut ChartContext<DB, Cartesian>,
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
mod tests;
