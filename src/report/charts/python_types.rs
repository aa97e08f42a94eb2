//! Suite: what the children copied, by Python type — one stacked bar per scenario or run
//! result with a census, for the child its tables show (the first measured child at the
//! summary phase): the largest types by bytes, the rest as "other types".

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, Swatch};
use super::{Chart, DrawResult, axis_number, draw_note, mib, titled, upper_bound};
use crate::report::input::ResultFile;
use crate::result::census::TypeCount;
use crate::result::figures::summary_child;

/// Types drawn by name in each bar; the rest are one "other types" segment.
const NAMED_PER_BAR: usize = 5;
const OTHER: &str = "other types";

pub struct PythonTypesChart<'a> {
    pub results: &'a [ResultFile],
}

/// One bar: a result's child's copied bytes by type, largest first.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeBar {
    pub label: String,
    pub segments: Vec<(String, u64)>,
}

impl TypeBar {
    pub fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|(_, bytes)| bytes).sum()
    }
}

fn segments(types: &[TypeCount]) -> Vec<(String, u64)> {
    let mut segments: Vec<(String, u64)> = types
        .iter()
        .filter(|t| t.bytes > 0)
        .take(NAMED_PER_BAR)
        .map(|t| (t.type_name.clone(), t.bytes))
        .collect();
    let rest: u64 = types
        .iter()
        .filter(|t| t.bytes > 0)
        .skip(NAMED_PER_BAR)
        .map(|t| t.bytes)
        .sum();
    if rest > 0 {
        segments.push((OTHER.to_string(), rest));
    }
    segments
}

/// The bars: every result whose shown child has a census of its copied pages.
pub fn type_bars(results: &[ResultFile]) -> Vec<TypeBar> {
    results
        .iter()
        .filter_map(|file| {
            let child = summary_child(&file.result)?;
            let types = child.page_truth.as_ref()?.census.python_types.as_deref()?;
            let label = match child.child_index {
                Some(index) => format!("{} (child {index})", file.result.scenario),
                None => file.result.scenario.clone(),
            };
            Some(TypeBar {
                label,
                segments: segments(types),
            })
        })
        .filter(|bar| bar.total_bytes() > 0)
        .collect()
}

/// Every type name drawn, in order of first appearance (one colour each).
fn legend_names(bars: &[TypeBar]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (name, _) in bars.iter().flat_map(|bar| &bar.segments) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

const ROW: u32 = 40;

impl Chart for PythonTypesChart<'_> {
    fn file_stem(&self) -> String {
        "suite-python-types".to_string()
    }

    fn title(&self) -> String {
        "What the children copied, by Python type (census of the copied pages)".to_string()
    }

    fn size(&self) -> (u32, u32) {
        let rows = type_bars(self.results).len().max(3) as u32;
        let legend = legend_names(&type_bars(self.results)).len() as u32;
        (1200, (150 + rows * ROW).max(120 + legend * 22))
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let bars = type_bars(self.results);
        if bars.is_empty() {
            return draw_note(area, &self.title(), "no result holds a census");
        }
        let body = titled(
            area,
            &self.title(),
            Some(
                "the child each result's tables show · bytes of pymalloc blocks by type, pages outside pymalloc as <not pymalloc>",
            ),
        )?;
        let (width, _) = body.dim_in_pixel();
        let (plot, legend) = body.split_horizontally(width - 230);
        let names = legend_names(&bars);
        let color_of = |name: &str| {
            let index = names.iter().position(|n| n == name).unwrap_or(0);
            style::series_color(index)
        };
        let label_style = style::label_font();
        let label_width = bars
            .iter()
            .map(|b| style::text_width(&plot, &b.label, &label_style))
            .max()
            .unwrap_or(100)
            + 16;
        let count = bars.len();
        let x_max = upper_bound(
            bars.iter()
                .map(|b| mib(b.total_bytes()))
                .fold(0.0, f64::max),
        ) * 1.15;
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        let label_of = |v: &f64| {
            let index = v.round();
            if (v - index).abs() < 1e-6 && index >= 0.0 {
                labels
                    .get((count - 1).saturating_sub(index as usize))
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(46)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0f64..x_max, super::categories(count))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("MiB copied")
            .label_style(label_style)
            .axis_desc_style(style::axis_desc_font())
            .light_line_style(WHITE)
            .bold_line_style(style::GRID.mix(0.6))
            .x_label_formatter(&|v| axis_number(*v, 1))
            .y_label_formatter(&label_of)
            .draw()?;
        for (i, bar) in bars.iter().enumerate() {
            let y = (count - 1 - i) as f64;
            let mut start = 0.0;
            for (name, bytes) in &bar.segments {
                let end = start + mib(*bytes);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(start, y - 0.3), (end, y + 0.3)],
                    color_of(name).filled(),
                )))?;
                start = end;
            }
            let largest = bar
                .segments
                .first()
                .map(|(name, _)| name.as_str())
                .unwrap_or("");
            chart.draw_series(std::iter::once(
                EmptyElement::at((start, y))
                    + Text::new(
                        format!(
                            "{} · mostly {largest}",
                            crate::units::format_bytes(bar.total_bytes())
                        ),
                        (6, 0),
                        style::small_font().pos(Pos::new(HPos::Left, VPos::Center)),
                    ),
            ))?;
        }
        let entries: Vec<(Swatch, String)> = names
            .iter()
            .map(|name| (Swatch::Block(color_of(name)), name.clone()))
            .collect();
        style::draw_legend(&legend.margin(14, 0, 0, 0), Some("Python type"), &entries)
    }
}
