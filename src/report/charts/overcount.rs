//! Suite: ΣRSS (what naive tools add up) against ΣPSS and the tree's distinct memory per
//! scenario, at the summary phase, with the over-count factor: how much naive tools over-count.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, Swatch};
use super::{Chart, DrawResult, axis_number, draw_note, mib, row_chart, titled, upper_bound};
use crate::report::input::ResultFile;
use crate::result::RunStatus;

pub struct OvercountChart<'a> {
    pub results: &'a [ResultFile],
}

/// One group of bars: a completed scenario's tree totals in bytes.
#[derive(Debug, Clone)]
pub struct TreeBars {
    pub scenario: String,
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub unique_bytes: Option<u64>,
    pub overcount: Option<f64>,
}

pub fn tree_bars(results: &[ResultFile]) -> Vec<TreeBars> {
    results
        .iter()
        .filter(|f| f.result.status == RunStatus::Completed && f.result.summary.tree_rss_bytes > 0)
        .map(|f| {
            let summary = &f.result.summary;
            TreeBars {
                scenario: f.result.scenario.clone(),
                rss_bytes: summary.tree_rss_bytes,
                pss_bytes: summary.tree_pss_bytes,
                unique_bytes: summary.tree_unique_bytes,
                overcount: summary.overcount_factor,
            }
        })
        .collect()
}

const GROUP: u32 = 46;

impl Chart for OvercountChart<'_> {
    fn file_stem(&self) -> String {
        "suite-overcount".to_string()
    }

    fn title(&self) -> String {
        "What naive tools over-count: ΣRSS vs ΣPSS vs tree-unique memory".to_string()
    }

    fn size(&self) -> (u32, u32) {
        let groups = tree_bars(self.results).len().max(3) as u32;
        (1200, 150 + 60 + groups * GROUP)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let groups = tree_bars(self.results);
        if groups.is_empty() {
            return draw_note(area, &self.title(), "no completed scenario to show");
        }
        let body = titled(
            area,
            &self.title(),
            Some(
                "the whole tree (parent, children, helpers) at each scenario's summary phase · ×N = ΣRSS / unique",
            ),
        )?;
        let (width, _) = body.dim_in_pixel();
        let (plot, legend) = body.split_horizontally(width - 200);
        let count = groups.len();
        let x_max = upper_bound(
            groups
                .iter()
                .map(|g| {
                    mib(g
                        .rss_bytes
                        .max(g.pss_bytes)
                        .max(g.unique_bytes.unwrap_or(0)))
                })
                .fold(0.0, f64::max),
        ) * 1.1;
        let names: Vec<String> = groups.iter().map(|g| g.scenario.clone()).collect();
        let mut chart = row_chart(&plot, &names, x_max, "MiB", &|v| axis_number(*v, 0))?;
        for (i, group) in groups.iter().enumerate() {
            let y = (count - 1 - i) as f64;
            let bars = [
                (Some(group.rss_bytes), style::RSS, 0.27),
                (Some(group.pss_bytes), style::PSS, 0.0),
                (group.unique_bytes, style::UNIQUE, -0.27),
            ];
            for (bytes, color, offset) in bars {
                let centre = y + offset;
                match bytes {
                    Some(bytes) => {
                        chart.draw_series(std::iter::once(Rectangle::new(
                            [(0.0, centre - 0.12), (mib(bytes), centre + 0.12)],
                            color.filled(),
                        )))?;
                    }
                    None => {
                        chart.draw_series(std::iter::once(
                            EmptyElement::at((0.0, centre))
                                + Text::new(
                                    "unique: n/a (no frame numbers)",
                                    (4, 0),
                                    style::small_font()
                                        .color(&style::MUTED)
                                        .pos(Pos::new(HPos::Left, VPos::Center)),
                                ),
                        ))?;
                    }
                }
            }
            let label = match group.overcount {
                Some(factor) => format!(
                    "×{factor:.2}  ({} ΣRSS)",
                    crate::units::format_bytes(group.rss_bytes)
                ),
                None => format!("{} ΣRSS", crate::units::format_bytes(group.rss_bytes)),
            };
            chart.draw_series(std::iter::once(
                EmptyElement::at((mib(group.rss_bytes), y + 0.27))
                    + Text::new(
                        label,
                        (6, 0),
                        style::small_font().pos(Pos::new(HPos::Left, VPos::Center)),
                    ),
            ))?;
        }
        let entries = vec![
            (Swatch::Block(style::RSS), "ΣRSS (naive)".to_string()),
            (Swatch::Block(style::PSS), "ΣPSS".to_string()),
            (Swatch::Block(style::UNIQUE), "tree-unique".to_string()),
        ];
        style::draw_legend(&legend.margin(14, 0, 0, 0), Some("tree totals"), &entries)
    }
}
