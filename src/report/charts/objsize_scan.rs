//! Scan: the copied share against the object size (log scale), measured by memlab beside the
//! "one header page per object" expectation the workload reports: document 000's closing
//! comment, quantified.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, Swatch};
use super::{Chart, DrawResult, axis_number, draw_note, titled};
use crate::report::input::ScanPoint;
use crate::result::{RunStatus, ScenarioResult, median};

pub struct ObjectSizeScanChart<'a> {
    /// The scenario scanned (usually `refcount-objsize`).
    pub scenario: String,
    pub points: Vec<&'a ScanPoint>,
}

/// One point: object size, measured and expected copied share (0..1).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSizePoint {
    pub object_size_bytes: f64,
    pub measured: f64,
    pub expected: Option<f64>,
    /// True when the share is of the objects region by page truth; false: of the data.
    pub by_region: bool,
    /// Some claim of this run does not hold.
    pub claim_broken: bool,
}

/// The measured share of the `objects` region each child copied (median), with page truth;
/// otherwise the summary's copied share of the data. The expectation uses the same base.
pub fn object_size_point(result: &ScenarioResult, value: f64) -> ObjectSizePoint {
    let page = result.machine.page_size_bytes.max(1) as f64;
    let expected_pages = result.fact_f64("expected_copied_pages");
    let regions: Option<Vec<(f64, f64)>> = result
        .phase(&result.summary.phase)
        .map(crate::result::figures::measured_children)
        .filter(|children| !children.is_empty())
        .and_then(|children| {
            children
                .iter()
                .map(|child| {
                    crate::result::figures::region_figures(child)
                        .into_iter()
                        .find(|(name, _, _)| name == "objects")
                        .map(|(_, copied, total)| (copied as f64, total as f64))
                })
                .collect()
        });
    match regions {
        Some(regions) if regions.iter().all(|(_, total)| *total > 0.0) => {
            let shares: Vec<f64> = regions.iter().map(|(c, t)| c / t).collect();
            let totals: Vec<f64> = regions.iter().map(|(_, t)| *t).collect();
            ObjectSizePoint {
                object_size_bytes: value,
                measured: median(&shares),
                expected: expected_pages.map(|pages| pages * page / median(&totals)),
                by_region: true,
                claim_broken: result.any_claim_broken(),
            }
        }
        _ => ObjectSizePoint {
            object_size_bytes: value,
            measured: result.summary.copied_fraction,
            expected: expected_pages
                .filter(|_| result.data_bytes > 0)
                .map(|pages| pages * page / result.data_bytes as f64),
            by_region: false,
            claim_broken: result.any_claim_broken(),
        },
    }
}

impl ObjectSizeScanChart<'_> {
    pub fn data(&self) -> Vec<ObjectSizePoint> {
        self.points
            .iter()
            .filter(|p| p.file.result.status == RunStatus::Completed && p.value > 0.0)
            .map(|p| object_size_point(&p.file.result, p.value))
            .collect()
    }
}

fn size_label(bytes: f64) -> String {
    let bytes = bytes.round() as u64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1 << 20 {
        format!("{} KiB", axis_number(bytes as f64 / 1024.0, 1))
    } else {
        format!("{} MiB", axis_number(bytes as f64 / (1 << 20) as f64, 1))
    }
}

impl Chart for ObjectSizeScanChart<'_> {
    fn file_stem(&self) -> String {
        format!("scan-object-size-{}", self.scenario)
    }

    fn title(&self) -> String {
        format!(
            "{}: share of the objects copied as the objects grow",
            self.scenario
        )
    }

    fn size(&self) -> (u32, u32) {
        (1100, 620)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let points = self.data();
        if points.is_empty() {
            return draw_note(area, &self.title(), "no completed scan point to show");
        }
        let by_region = points.iter().all(|p| p.by_region);
        let subtitle = format!(
            "each child clones every object once (a refcount write); median child · {} · {} points",
            if by_region {
                "share of the objects region's pages (page truth)"
            } else {
                "share of the data (estimate)"
            },
            points.len()
        );
        let body = titled(area, &self.title(), Some(&subtitle))?;
        let (width, _) = body.dim_in_pixel();
        let (plot, legend) = body.split_horizontally(width - 230);
        let smallest = points
            .iter()
            .map(|p| p.object_size_bytes)
            .fold(f64::INFINITY, f64::min);
        let largest = points
            .iter()
            .map(|p| p.object_size_bytes)
            .fold(0.0, f64::max);
        let y_max = points
            .iter()
            .map(|p| p.measured.max(p.expected.unwrap_or(0.0)))
            .fold(1.0, f64::max)
            * 100.0
            * 1.12;
        let keys: Vec<f64> = points.iter().map(|p| p.object_size_bytes).collect();
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .margin_right(30)
            .x_label_area_size(50)
            .y_label_area_size(76)
            .build_cartesian_2d(
                super::Ticks::<plotters::coord::combinators::LogCoord<f64>>::new(
                    (smallest / 1.6..largest * 1.6).log_scale(),
                    keys,
                ),
                0f64..y_max,
            )?;
        chart
            .configure_mesh()
            .x_desc("object size (log scale)")
            .y_desc("copied (% of the objects)")
            .label_style(style::label_font())
            .axis_desc_style(style::axis_desc_font())
            .light_line_style(WHITE)
            .bold_line_style(style::GRID.mix(0.6))
            .x_label_formatter(&|v| size_label(*v))
            .y_label_formatter(&|v| format!("{}%", axis_number(*v, 0)))
            .draw()?;
        let measured: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (p.object_size_bytes, p.measured * 100.0))
            .collect();
        chart.draw_series(LineSeries::new(
            measured.clone(),
            style::COPIED.stroke_width(3),
        ))?;
        chart.draw_series(
            measured
                .iter()
                .map(|p| Circle::new(*p, 5, style::COPIED.filled())),
        )?;
        chart.draw_series(measured.iter().map(|p| {
            EmptyElement::at(*p)
                + Text::new(
                    format!("{}%", axis_number(p.1, 1)),
                    (8, -6),
                    style::small_font().pos(Pos::new(HPos::Left, VPos::Bottom)),
                )
        }))?;
        // A point whose claim does not hold is ringed (legend: "claim broken").
        chart.draw_series(
            points
                .iter()
                .zip(&measured)
                .filter(|(point, _)| point.claim_broken)
                .map(|(_, p)| Circle::new(*p, 10, style::BROKEN.stroke_width(3))),
        )?;
        // The expectation on top, thin and dashed, so that it shows where it matches.
        let expected: Vec<(f64, f64)> = points
            .iter()
            .filter_map(|p| p.expected.map(|e| (p.object_size_bytes, e * 100.0)))
            .collect();
        if !expected.is_empty() {
            chart.draw_series(DashedLineSeries::new(
                expected.clone(),
                8,
                6,
                style::TEXT.stroke_width(2),
            ))?;
            chart.draw_series(
                expected
                    .iter()
                    .map(|p| Cross::new(*p, 6, style::TEXT.stroke_width(2))),
            )?;
        }
        let mut entries = vec![(Swatch::Line(style::COPIED), "measured".to_string())];
        if points.iter().any(|p| p.claim_broken) {
            entries.push((Swatch::Ring(style::BROKEN), "claim broken".to_string()));
        }
        if !expected.is_empty() {
            entries.push((
                Swatch::Dashed(style::TEXT),
                "one page per object".to_string(),
            ));
        }
        style::draw_legend(&legend.margin(14, 0, 0, 0), Some("copied share"), &entries)
    }
}
