//! Scan: the tree's memory as a parameter grows (the children scan: a shared scenario's tree
//! stays flat while a copying one's grows by a copy per child), distinct memory (solid) beside
//! ΣRSS, what naive tools add up (dashed), one colour per scenario.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{self, Swatch};
use super::{Chart, DrawResult, axis_number, draw_note, mib, titled, upper_bound};
use crate::report::input::ScanPoint;
use crate::result::RunStatus;

pub struct TreeScanChart<'a> {
    /// The scanned parameter: `children`, `size`…
    pub key: String,
    /// Points grouped by scenario, each group sorted by value.
    pub series: Vec<(String, Vec<&'a ScanPoint>)>,
}

/// One scenario's line: (value, distinct or ΣPSS MiB) and (value, ΣRSS MiB).
#[derive(Debug, Clone)]
pub struct TreeLine {
    pub scenario: String,
    pub tree: Vec<(f64, f64)>,
    pub rss: Vec<(f64, f64)>,
    /// True when `tree` holds distinct (tree-unique) memory; false: ΣPSS.
    pub unique: bool,
}

impl TreeScanChart<'_> {
    pub fn lines(&self) -> Vec<TreeLine> {
        self.series
            .iter()
            .map(|(scenario, points)| {
                let completed: Vec<&&ScanPoint> = points
                    .iter()
                    .filter(|p| p.file.result.status == RunStatus::Completed)
                    .collect();
                let unique = completed
                    .iter()
                    .all(|p| p.file.result.summary.tree_unique_bytes.is_some());
                TreeLine {
                    scenario: scenario.clone(),
                    tree: completed
                        .iter()
                        .map(|p| {
                            let summary = &p.file.result.summary;
                            let bytes = if unique {
                                summary.tree_unique_bytes.unwrap_or(0)
                            } else {
                                summary.tree_pss_bytes
                            };
                            (p.value, mib(bytes))
                        })
                        .collect(),
                    rss: completed
                        .iter()
                        .map(|p| (p.value, mib(p.file.result.summary.tree_rss_bytes)))
                        .collect(),
                    unique,
                }
            })
            .filter(|line| !line.tree.is_empty())
            .collect()
    }

    fn x_label(&self, value: f64) -> String {
        match self.key.as_str() {
            "size" | "object-size" => crate::units::format_bytes(value.round() as u64),
            "fraction" => format!("{}%", axis_number(value * 100.0, 1)),
            _ => axis_number(value, 2),
        }
    }
}

impl Chart for TreeScanChart<'_> {
    fn file_stem(&self) -> String {
        format!("scan-{}", self.key)
    }

    fn title(&self) -> String {
        match self.key.as_str() {
            "children" => "Tree memory as the number of children grows".to_string(),
            key => format!("Tree memory as the {} grows", key.replace('-', " ")),
        }
    }

    fn size(&self) -> (u32, u32) {
        (1100, 640)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let lines = self.lines();
        if lines.is_empty() {
            return draw_note(area, &self.title(), "no completed scan point to show");
        }
        let all_unique = lines.iter().all(|l| l.unique);
        let subtitle = format!(
            "at each run's summary phase · solid: {} · dashed: ΣRSS (what naive tools add up)",
            if all_unique {
                "tree-unique memory (distinct frames)"
            } else {
                "distinct memory where frame numbers were readable, else ΣPSS"
            }
        );
        let body = titled(area, &self.title(), Some(&subtitle))?;
        let (width, _) = body.dim_in_pixel();
        let (plot, legend) = body.split_horizontally(width - 260);
        let values: Vec<f64> = {
            let mut values: Vec<f64> = lines
                .iter()
                .flat_map(|l| l.tree.iter().map(|p| p.0))
                .collect();
            values.sort_by(|a, b| a.total_cmp(b));
            values.dedup();
            values
        };
        let (x_min, x_max) = (values[0], *values.last().unwrap_or(&values[0]));
        let pad = ((x_max - x_min) * 0.04).max(0.5);
        let y_max = upper_bound(
            lines
                .iter()
                .flat_map(|l| l.tree.iter().chain(&l.rss))
                .map(|p| p.1)
                .fold(0.0, f64::max),
        );
        let x_range = (x_min - pad)..(x_max + pad);
        // Discrete parameters get a tick per scanned value.
        let ticks = if values.len() <= 16 {
            values.clone()
        } else {
            Vec::new()
        };
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(50)
            .y_label_area_size(82)
            .build_cartesian_2d(
                super::Ticks::<plotters::coord::types::RangedCoordf64>::new(x_range, ticks),
                0f64..y_max,
            )?;
        let x_desc = match self.key.as_str() {
            "children" => "children forked".to_string(),
            key => key.replace('-', " "),
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("tree memory (MiB)")
            .label_style(style::label_font())
            .axis_desc_style(style::axis_desc_font())
            .light_line_style(WHITE)
            .bold_line_style(style::GRID.mix(0.6))
            .x_label_formatter(&|v| self.x_label(*v))
            .y_label_formatter(&|v| axis_number(*v, 0))
            .draw()?;
        let mut entries = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            let color = style::series_color(index + 1);
            // ΣRSS lines often coincide (RSS counts shared pages in full): earlier ones are
            // wider, so each stays visible under the next.
            let width = 2 + 3 * (lines.len() - 1 - index) as u32;
            chart.draw_series(DashedLineSeries::new(
                line.rss.clone(),
                8,
                5,
                color.stroke_width(width),
            ))?;
            chart.draw_series(
                line.rss
                    .iter()
                    .map(|p| Cross::new(*p, 4, color.stroke_width(2))),
            )?;
            chart.draw_series(LineSeries::new(line.tree.clone(), color.stroke_width(3)))?;
            chart.draw_series(line.tree.iter().map(|p| Circle::new(*p, 5, color.filled())))?;
            let measure = if line.unique { "tree-unique" } else { "ΣPSS" };
            entries.push((Swatch::Line(color), format!("{}: {measure}", line.scenario)));
            entries.push((Swatch::Dashed(color), format!("{}: ΣRSS", line.scenario)));
        }
        style::draw_legend(&legend.margin(14, 0, 0, 0), Some("scenario"), &entries)
    }
}
