//! The Python version matrix: one row per scenario, one column per interpreter, each cell the
//! first claim's measured value coloured by its verdict.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, Swatch};
use super::{Chart, DrawResult, draw_note, titled};
use crate::render::text::verdict_short;
use crate::report::input::ReportInput;
use crate::result::{Claim, ClaimUnit, RunStatus, Verdict};

pub struct MatrixChart<'a> {
    pub input: &'a ReportInput,
}

/// What a cell shows.
#[derive(Debug, Clone, PartialEq)]
pub enum MatrixValue {
    Missing,
    Skipped,
    Claim { value: String, verdict: Verdict },
    NoClaim,
}

/// The measured value of a claim, short: a percentage for fractions.
pub fn short_measure(claim: &Claim) -> String {
    match claim.unit {
        ClaimUnit::Fraction => format!("{:.1}%", claim.measured * 100.0),
        ClaimUnit::Ratio => format!("{:.1}x", claim.measured),
        ClaimUnit::None => format!("{}", claim.measured),
        unit => format!("{} {unit}", claim.measured),
    }
}

pub fn matrix_value(input: &ReportInput, scenario: &str, python: &str) -> MatrixValue {
    let Some(cell) = input.matrix_cell(scenario, python) else {
        return MatrixValue::Missing;
    };
    let result = &cell.file.result;
    if result.status == RunStatus::Skipped {
        return MatrixValue::Skipped;
    }
    match result.claims.first() {
        Some(claim) if claim.verdict != Verdict::NotJudged || !claim.rule.is_empty() => {
            MatrixValue::Claim {
                value: short_measure(claim),
                verdict: claim.verdict,
            }
        }
        Some(claim) => MatrixValue::Claim {
            value: "n/a".into(),
            verdict: claim.verdict,
        },
        None => MatrixValue::NoClaim,
    }
}

const CELL_WIDTH: u32 = 128;
const CELL_HEIGHT: u32 = 44;
const LABEL_WIDTH: u32 = 230;

impl Chart for MatrixChart<'_> {
    fn file_stem(&self) -> String {
        "python-matrix".to_string()
    }

    fn title(&self) -> String {
        "Python version matrix: each scenario's first claim per interpreter".to_string()
    }

    fn size(&self) -> (u32, u32) {
        let columns = self.input.matrix_pythons().len().max(3) as u32;
        let rows = self.input.matrix_scenarios().len().max(2) as u32;
        (
            (LABEL_WIDTH + columns * CELL_WIDTH + 40).max(900),
            64 + 40 + rows * CELL_HEIGHT + 64,
        )
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let pythons = self.input.matrix_pythons();
        let scenarios = self.input.matrix_scenarios();
        if pythons.is_empty() || scenarios.is_empty() {
            return draw_note(
                area,
                &self.title(),
                "no version-matrix results (memlab matrix writes results/matrix/)",
            );
        }
        let body = titled(
            area,
            &self.title(),
            Some("measured value of the scenario's first claim; colour = verdict"),
        )?;
        let (width, _) = body.dim_in_pixel();
        let grid_width = LABEL_WIDTH + pythons.len() as u32 * CELL_WIDTH;
        let left = ((width.saturating_sub(grid_width)) / 2) as i32;
        let top = 40;
        let header = style::axis_desc_font().pos(Pos::new(HPos::Center, VPos::Center));
        let row_label = style::label_font().pos(Pos::new(HPos::Right, VPos::Center));
        let cell_text = style::label_font().pos(Pos::new(HPos::Center, VPos::Center));
        let (cw, ch) = (CELL_WIDTH as i32, CELL_HEIGHT as i32);
        let x0 = left + LABEL_WIDTH as i32;
        for (column, python) in pythons.iter().enumerate() {
            body.draw(&Text::new(
                format!("Python {python}"),
                (x0 + column as i32 * cw + cw / 2, top - 18),
                header.clone(),
            ))?;
        }
        for (row, scenario) in scenarios.iter().enumerate() {
            let y = top + row as i32 * ch;
            body.draw(&Text::new(
                scenario.clone(),
                (x0 - 12, y + ch / 2),
                row_label.clone(),
            ))?;
            for (column, python) in pythons.iter().enumerate() {
                let x = x0 + column as i32 * cw;
                let (fill, text, text_color) = match matrix_value(self.input, scenario, python) {
                    MatrixValue::Missing => (WHITE, "—".to_string(), style::MUTED),
                    MatrixValue::Skipped => (style::SKIPPED_FILL, "skipped".into(), style::TEXT),
                    MatrixValue::NoClaim => (WHITE, "no claim".into(), style::MUTED),
                    MatrixValue::Claim { value, verdict } => {
                        let fill = super::claims::verdict_color(verdict);
                        (fill, format!("{value} {}", verdict_short(verdict)), WHITE)
                    }
                };
                body.draw(&Rectangle::new(
                    [(x + 2, y + 2), (x + cw - 2, y + ch - 2)],
                    fill.filled(),
                ))?;
                body.draw(&Text::new(
                    text,
                    (x + cw / 2, y + ch / 2),
                    cell_text.clone().color(&text_color),
                ))?;
            }
        }
        let legend_y = top + scenarios.len() as i32 * ch + 14;
        let legend = body.clone().shrink((left, legend_y), (width, 40));
        let entries = [
            (Swatch::Block(style::HOLDS), "holds"),
            (Swatch::Block(style::BROKEN), "broken"),
            (Swatch::Block(style::NOT_JUDGED), "not judged / skipped"),
        ];
        let mut x = 0;
        for (swatch, label) in entries {
            let piece = legend.clone().shrink((x, 0), (200, 30));
            style::draw_legend(&piece, None, &[(swatch, label.to_string())])?;
            x += 200;
        }
        Ok(())
    }
}
