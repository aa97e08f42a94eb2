//! Suite: every claim stated as a fraction (copied or private share of the data), one bar per
//! claim coloured by its verdict, with the claim's threshold as a tick: the verdicts at a glance.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, Swatch};
use super::{Chart, DrawResult, axis_number, draw_note, row_chart, shorten, titled};
use crate::report::input::ResultFile;
use crate::result::{Claim, ClaimUnit, RunStatus, Verdict};

pub struct ClaimsChart<'a> {
    pub results: &'a [ResultFile],
}

/// One bar: a fraction claim of a completed scenario.
#[derive(Debug, Clone)]
pub struct ClaimBar {
    pub id: String,
    pub measured: f64,
    pub threshold: f64,
    pub verdict: Verdict,
    /// `≤` or `≥`, read from the rule.
    pub direction: &'static str,
}

fn direction(claim: &Claim) -> &'static str {
    if claim.rule.contains(">=") {
        "≥"
    } else if claim.rule.contains("<=") {
        "≤"
    } else {
        "vs"
    }
}

pub fn claim_bars(results: &[ResultFile]) -> Vec<ClaimBar> {
    results
        .iter()
        .filter(|f| f.result.status == RunStatus::Completed)
        .flat_map(|f| &f.result.claims)
        .filter(|c| c.unit == ClaimUnit::Fraction && !c.rule.is_empty())
        .map(|c| ClaimBar {
            id: c.id.clone(),
            measured: c.measured,
            threshold: c.expected,
            verdict: c.verdict,
            direction: direction(c),
        })
        .collect()
}

pub fn verdict_color(verdict: Verdict) -> RGBColor {
    match verdict {
        Verdict::Holds => style::HOLDS,
        Verdict::Broken => style::BROKEN,
        Verdict::NotJudged => style::NOT_JUDGED,
    }
}

const ROW: u32 = 26;

impl ClaimsChart<'_> {
    fn bars(&self) -> Vec<ClaimBar> {
        claim_bars(self.results)
    }
}

impl Chart for ClaimsChart<'_> {
    fn file_stem(&self) -> String {
        "suite-claims".to_string()
    }

    fn title(&self) -> String {
        "Claims at a glance: measured share against each claim's threshold".to_string()
    }

    fn size(&self) -> (u32, u32) {
        let rows = self.bars().len().max(3) as u32;
        (1200, 150 + 60 + rows * ROW)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let bars = self.bars();
        if bars.is_empty() {
            return draw_note(
                area,
                &self.title(),
                "no completed scenario with a claim stated as a fraction",
            );
        }
        let body = titled(
            area,
            &self.title(),
            Some(
                "median child copied (or held privately) as a share of the data or region · tick = threshold",
            ),
        )?;
        let (width, _) = body.dim_in_pixel();
        let (plot, legend) = body.split_horizontally(width - 170);
        let labels: Vec<String> = bars.iter().map(|b| shorten(&b.id, 60)).collect();
        let count = bars.len();
        let x_max = bars
            .iter()
            .map(|b| b.measured.max(b.threshold))
            .fold(1.0, f64::max)
            * 100.0
            * 1.2;
        let mut chart = row_chart(
            &plot,
            &labels,
            x_max,
            "measured (% of the data or region)",
            &|v| format!("{}%", axis_number(*v, 0)),
        )?;
        for (i, bar) in bars.iter().enumerate() {
            let y = (count - 1 - i) as f64;
            let measured = (bar.measured * 100.0).max(0.0);
            let threshold = bar.threshold * 100.0;
            let color = verdict_color(bar.verdict);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.32), (measured, y + 0.32)],
                color.filled(),
            )))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(threshold, y - 0.45), (threshold, y + 0.45)],
                style::TEXT.stroke_width(3),
            )))?;
            let text = format!(
                "{} {} {}%",
                crate::render::text::percent(bar.measured),
                bar.direction,
                axis_number(threshold, 1)
            );
            // The value sits right of the bar and of the tick.
            chart.draw_series(std::iter::once(
                EmptyElement::at((measured.max(threshold), y))
                    + Text::new(
                        text,
                        (8, 0),
                        style::small_font().pos(Pos::new(HPos::Left, VPos::Center)),
                    ),
            ))?;
        }
        let entries = vec![
            (Swatch::Block(style::HOLDS), "holds".to_string()),
            (Swatch::Block(style::BROKEN), "broken".to_string()),
            (Swatch::Block(style::NOT_JUDGED), "not judged".to_string()),
            (Swatch::Tick(style::TEXT), "threshold".to_string()),
        ];
        style::draw_legend(&legend.margin(14, 0, 0, 0), Some("verdict"), &entries)
    }
}
