//! Charts, one file per kind, each drawn from result files through the [`Chart`] trait and
//! rendered to both SVG and PNG by [`render`]. A chart whose data is missing draws a note
//! saying so instead of failing.

pub mod child_pages;
pub mod claims;
pub mod matrix;
pub mod objsize_scan;
pub mod overcount;
pub mod python_types;
pub mod style;
pub mod timeline;
pub mod tree_scan;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::output::write_atomically;

/// The font every chart uses, embedded so PNG rendering needs no system font library.
static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

/// Registers the embedded font with plotters (once per process) under the family name the
/// charts use.
pub fn register_fonts() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let valid = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(style::FAMILY, FontStyle::Normal, FONT).is_ok()
    });
    anyhow::ensure!(
        valid,
        "the embedded chart font is not a valid TrueType font"
    );
    Ok(())
}

/// What drawing on a backend returns.
pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// One chart: where it goes, what it is called, and how it draws itself on any backend.
pub trait Chart {
    /// The file name without extension, e.g. `timeline-refcount-list`.
    fn file_stem(&self) -> String;
    /// What the chart shows, for captions and alternative text.
    fn title(&self) -> String;
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }
    /// Draws the whole chart (title included) on `area`, already filled white.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// A chart rendered to both formats: the SVG text (to inline) and the files written.
#[derive(Debug, Clone)]
pub struct RenderedChart {
    pub stem: String,
    pub title: String,
    pub svg: String,
    pub svg_path: PathBuf,
    pub png_path: PathBuf,
}

fn drawing_error<E: std::fmt::Debug>(stem: &str, format: &str, error: E) -> anyhow::Error {
    anyhow::anyhow!("drawing chart {stem} ({format}): {error:?}")
}

/// Renders `chart` to `DIR/STEM.svg` and `DIR/STEM.png` (each written atomically).
pub fn render<C: Chart>(chart: &C, directory: &Path) -> anyhow::Result<RenderedChart> {
    register_fonts()?;
    let stem = chart.file_stem();
    let size = chart.size();
    let svg = render_svg(chart)?;
    std::fs::create_dir_all(directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    let svg_path = directory.join(format!("{stem}.svg"));
    write_atomically(&svg_path, &svg)?;

    let png_path = directory.join(format!("{stem}.png"));
    // The encoder picks the format from the extension: the temporary file keeps `.png`.
    let temporary = directory.join(format!(".{stem}.{}.tmp.png", std::process::id()));
    let outcome = (|| -> anyhow::Result<()> {
        let area = BitMapBackend::new(&temporary, size).into_drawing_area();
        area.fill(&WHITE)
            .map_err(|e| drawing_error(&stem, "png", e))?;
        chart
            .draw(&area)
            .map_err(|e| drawing_error(&stem, "png", e))?;
        area.present().map_err(|e| drawing_error(&stem, "png", e))?;
        drop(area);
        std::fs::rename(&temporary, &png_path)
            .with_context(|| format!("writing {}", png_path.display()))
    })();
    if outcome.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    outcome?;
    Ok(RenderedChart {
        stem,
        title: chart.title(),
        svg,
        svg_path,
        png_path,
    })
}

/// The chart as SVG text, without writing anything.
pub fn render_svg<C: Chart>(chart: &C) -> anyhow::Result<String> {
    register_fonts()?;
    let stem = chart.file_stem();
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, chart.size()).into_drawing_area();
        area.fill(&WHITE)
            .map_err(|e| drawing_error(&stem, "svg", e))?;
        chart
            .draw(&area)
            .map_err(|e| drawing_error(&stem, "svg", e))?;
        area.present().map_err(|e| drawing_error(&stem, "svg", e))?;
    }
    Ok(svg)
}

/// A title across the top of `area`, with an optional second line; returns the area below.
pub fn titled<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: Option<&str>,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (width, _) = area.dim_in_pixel();
    let title_style = style::title_font().into_text_style(area);
    let title_style = title_style.pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Top,
    ));
    area.draw(&Text::new(
        title.to_string(),
        ((width / 2) as i32, 10),
        title_style,
    ))?;
    let mut used = 46;
    if let Some(subtitle) = subtitle {
        let style = style::subtitle_font().into_text_style(area).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        );
        area.draw(&Text::new(
            subtitle.to_string(),
            ((width / 2) as i32, 42),
            style,
        ))?;
        used = 68;
    }
    Ok(area.split_vertically(used).1)
}

/// Draws a chart that has nothing to show: its title and why, centred.
pub fn draw_note<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    note: &str,
) -> DrawResult<DB> {
    let body = titled(area, title, None)?;
    let (width, height) = body.dim_in_pixel();
    body.draw(&Rectangle::new(
        [(20, 10), (width as i32 - 20, height as i32 - 20)],
        ShapeStyle::from(&style::GRID).stroke_width(1),
    ))?;
    let text_style =
        style::note_font()
            .into_text_style(&body)
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            ));
    body.draw(&Text::new(
        note.to_string(),
        ((width / 2) as i32, (height / 2) as i32 - 5),
        text_style,
    ))?;
    Ok(())
}

/// A chart under another file name (two results of the same scenario in one report).
pub struct Renamed<'a, C: Chart> {
    pub chart: &'a C,
    pub stem: String,
}

impl<C: Chart> Chart for Renamed<'_, C> {
    fn file_stem(&self) -> String {
        self.stem.clone()
    }
    fn title(&self) -> String {
        self.chart.title()
    }
    fn size(&self) -> (u32, u32) {
        self.chart.size()
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        self.chart.draw(area)
    }
}

/// Bytes to MiB for an axis.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// A readable number for an axis label: no trailing zeros, at most `decimals`.
pub fn axis_number(value: f64, decimals: usize) -> String {
    crate::render::text::short_number(value, decimals)
}

/// The upper end of an axis holding values up to `max`: some headroom, never empty.
pub fn upper_bound(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

/// Shortens a label to `limit` characters with an ellipsis.
pub fn shorten(label: &str, limit: usize) -> String {
    if label.chars().count() <= limit {
        label.to_string()
    } else {
        let kept: String = label.chars().take(limit.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// An axis with the ticks given (one per category, or per scanned value), over any numeric
/// coordinate (linear or logarithmic). Labels come from the chart's label formatter.
#[derive(Clone)]
pub struct Ticks<R: plotters::coord::ranged1d::Ranged<ValueType = f64>> {
    inner: R,
    ticks: Vec<f64>,
}

impl<R: plotters::coord::ranged1d::Ranged<ValueType = f64>> Ticks<R> {
    pub fn new(inner: impl Into<R>, ticks: Vec<f64>) -> Self {
        Ticks {
            inner: inner.into(),
            ticks,
        }
    }
}

impl<R: plotters::coord::ranged1d::Ranged<ValueType = f64>> plotters::coord::ranged1d::Ranged
    for Ticks<R>
{
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Categories 0..count on an axis from -0.5 to count - 0.5, one tick each.
pub fn categories(count: usize) -> Ticks<plotters::coord::types::RangedCoordf64> {
    Ticks::new(
        -0.5f64..count as f64 - 0.5,
        (0..count).map(|i| i as f64).collect(),
    )
}
