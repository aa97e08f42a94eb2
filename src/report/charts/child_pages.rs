//! Per scenario: each child's pages at the summary phase, stacked: still shared with its
//! parent, copied (the copy-on-write faults), and its own (child-only), in MiB, with the data
//! size as a reference line. Page truth only: without it the chart says so.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, Swatch};
use super::{Chart, DrawResult, axis_number, draw_note, mib, titled, upper_bound};
use crate::result::{RunStatus, ScenarioResult};

pub struct ChildPagesChart<'a> {
    pub result: &'a ScenarioResult,
}

/// One bar: a child's pages at the summary phase, in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildBar {
    pub label: String,
    pub shared_bytes: u64,
    pub copied_bytes: u64,
    pub child_only_bytes: u64,
    pub exact: bool,
}

/// The bars, from each measured child's page truth (children without any are left out). A
/// `memlab run` result's are its children's headline figures, those its summary and table
/// show (a child that exited before the headline moment is not in that phase).
pub fn child_bars(result: &ScenarioResult) -> Vec<ChildBar> {
    if let Some(run) = &result.run {
        return run
            .processes
            .iter()
            .filter(|p| p.kind == crate::result::run::ProcessKind::Forked)
            .filter_map(|p| {
                let figures = p.figures.as_ref()?;
                Some(ChildBar {
                    label: crate::result::run::label(p),
                    shared_bytes: figures.shared_bytes?,
                    copied_bytes: figures.copied_bytes,
                    child_only_bytes: figures.child_only_bytes?,
                    exact: figures.exact,
                })
            })
            .collect();
    }
    let Some(phase) = result.phase(&result.summary.phase) else {
        return Vec::new();
    };
    crate::result::figures::measured_children(phase)
        .into_iter()
        .filter_map(|child| {
            let truth = child.page_truth.as_ref()?;
            let page = truth.page_size_bytes;
            Some(ChildBar {
                label: child
                    .child_index
                    .map(|i| format!("child {i}"))
                    .unwrap_or_else(|| format!("pid {}", child.pid)),
                shared_bytes: truth.total.shared_bytes(page),
                copied_bytes: truth.total.copied_bytes(page),
                child_only_bytes: truth.total.child_only_bytes(page),
                exact: truth.exact,
            })
        })
        .collect()
}

impl Chart for ChildPagesChart<'_> {
    fn file_stem(&self) -> String {
        format!("children-{}", self.result.scenario)
    }

    fn title(&self) -> String {
        format!(
            "{}: each child's pages at '{}' (shared / copied / child-only)",
            self.result.scenario, self.result.summary.phase
        )
    }

    fn size(&self) -> (u32, u32) {
        (1000, 560)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let result = self.result;
        if result.status == RunStatus::Skipped {
            return draw_note(
                area,
                &self.title(),
                "scenario skipped: no child was measured",
            );
        }
        let bars = child_bars(result);
        if bars.is_empty() {
            let note = match result.summary.copied_method {
                Some(crate::result::figures::FigureSource::PrivateDirtyGrowth) => {
                    "no page truth recorded: the per-child figures are Private_Dirty estimates"
                }
                _ => "no page truth recorded for any child",
            };
            return draw_note(area, &self.title(), note);
        }
        let exact = bars.iter().all(|b| b.exact);
        let subtitle = format!(
            "page truth against the parent, {} · data {}",
            if exact {
                "exact (physical frame numbers)"
            } else {
                "APPROXIMATE (pagemap exclusive bit, no frame numbers)"
            },
            crate::units::format_bytes(result.data_bytes)
        );
        let body = titled(area, &self.title(), Some(&subtitle))?;
        let (width, _) = body.dim_in_pixel();
        let (plot, legend) = body.split_horizontally(width - 180);

        let count = bars.len();
        let tallest = bars
            .iter()
            .map(|b| mib(b.shared_bytes + b.copied_bytes + b.child_only_bytes))
            .fold(mib(result.data_bytes), f64::max);
        let y_max = upper_bound(tallest) * 1.12;
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        let label_of = |v: &f64| {
            let index = v.round();
            if (v - index).abs() < 1e-6 && index >= 0.0 {
                labels.get(index as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(super::categories(count), 0f64..y_max)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc("MiB")
            .x_desc("child")
            .label_style(style::label_font())
            .axis_desc_style(style::axis_desc_font())
            .light_line_style(WHITE)
            .bold_line_style(style::GRID.mix(0.6))
            .x_label_formatter(&label_of)
            .y_label_formatter(&|v| axis_number(*v, 1))
            .draw()?;

        let half = if count > 12 { 0.4 } else { 0.3 };
        for (i, bar) in bars.iter().enumerate() {
            let x = i as f64;
            let mut bottom = 0.0;
            for (bytes, color) in [
                (bar.shared_bytes, style::SHARED),
                (bar.copied_bytes, style::COPIED),
                (bar.child_only_bytes, style::CHILD_ONLY),
            ] {
                let top = bottom + mib(bytes);
                if bytes > 0 {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(x - half, bottom), (x + half, top)],
                        color.filled(),
                    )))?;
                }
                bottom = top;
            }
            let copied_share = if result.data_bytes > 0 {
                format!(
                    " ({:.1}%)",
                    bar.copied_bytes as f64 / result.data_bytes as f64 * 100.0
                )
            } else {
                String::new()
            };
            if count <= 12 {
                let mut lines = vec![format!(
                    "copied {}{copied_share}",
                    crate::units::format_bytes(bar.copied_bytes)
                )];
                // Memory the child made itself (an unpickled copy…) when it is not noise.
                if bar.child_only_bytes * 100 > result.data_bytes {
                    lines.insert(
                        0,
                        format!(
                            "child-only {}",
                            crate::units::format_bytes(bar.child_only_bytes)
                        ),
                    );
                }
                for (row, line) in lines.iter().rev().enumerate() {
                    chart.draw_series(std::iter::once(
                        EmptyElement::at((x, bottom))
                            + Text::new(
                                line.clone(),
                                (0, -4 - 16 * row as i32),
                                style::small_font().pos(Pos::new(HPos::Center, VPos::Bottom)),
                            ),
                    ))?;
                }
            }
        }
        if result.data_bytes > 0 {
            let data = mib(result.data_bytes);
            chart.draw_series(DashedLineSeries::new(
                vec![(-0.5, data), (count as f64 - 0.5, data)],
                8,
                5,
                style::TEXT.stroke_width(1),
            ))?;
        }
        let entries = vec![
            (Swatch::Block(style::SHARED), "shared".to_string()),
            (Swatch::Block(style::COPIED), "copied".to_string()),
            (Swatch::Block(style::CHILD_ONLY), "child-only".to_string()),
            (Swatch::Dashed(style::TEXT), "data size".to_string()),
        ];
        style::draw_legend(&legend.margin(14, 0, 0, 0), Some("pages"), &entries)
    }
}
