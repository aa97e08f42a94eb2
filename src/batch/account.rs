//! What a batch of runs amounts to, in words: one line per result, the suite's table, the
//! broken claims, and the exit code.

use super::Outcome;
use crate::error::exit_code;
use crate::render::table::{Cell, Table, terminal};
use crate::render::text::{claim_counts, format_measured, percent};
use crate::result::{RunStatus, ScenarioResult};

/// The claims that do not hold in a result, as `(id, one-line explanation)`.
pub fn broken_claims(result: &ScenarioResult) -> Vec<(String, String)> {
    result
        .claims
        .iter()
        .filter(|c| c.verdict.is_broken())
        .map(|c| {
            (
                c.id.clone(),
                format!("measured {} · rule: {}", format_measured(c), c.rule),
            )
        })
        .collect()
}

/// A one-line account of a result: status, copied fraction, claims.
pub fn describe(result: &ScenarioResult) -> String {
    if result.status == RunStatus::Skipped {
        let reason = result
            .skip
            .as_ref()
            .map(|s| s.reason.as_str())
            .unwrap_or("no reason given");
        return format!("SKIPPED ({reason})");
    }
    let (holds, broken, unjudged) = claim_counts(result);
    let mut claims = format!("{holds}/{} claims hold", result.claims.len());
    if broken > 0 {
        claims.push_str(&format!(", {broken} BROKEN"));
    }
    if unjudged > 0 {
        claims.push_str(&format!(", {unjudged} n/a"));
    }
    format!(
        "copied {:.2}% · {claims}",
        result.summary.copied_fraction * 100.0
    )
}

/// What a suite's outcomes amount to: the table, the broken claims, the failures, the exit
/// code (3 with `--check` when a claim does not hold; skipped scenarios never count).
pub struct Account {
    pub text: String,
    /// (result stem, claim id, why)
    pub broken: Vec<(String, String, String)>,
    pub skipped: Vec<String>,
    pub failed: Vec<String>,
    pub exit_code: i32,
}

pub fn account(stems: &[String], outcomes: &[Outcome], check: bool) -> Account {
    use std::fmt::Write as _;
    let mut text = String::new();
    let mut broken = Vec::new();
    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    let mut table = Table::new(&["result", "status", "copied", "claims"]);
    for (stem, outcome) in stems.iter().zip(outcomes) {
        let name = Cell::text(stem);
        match outcome {
            Outcome::Done(result) if result.status == RunStatus::Skipped => {
                skipped.push(stem.clone());
                let reason = result
                    .skip
                    .as_ref()
                    .map(|s| s.reason.as_str())
                    .unwrap_or("");
                table.push(vec![
                    name,
                    Cell::text("skipped"),
                    Cell::Empty,
                    Cell::text(reason),
                ]);
            }
            Outcome::Done(result) => {
                let (holds, broken_count, not_judged) = claim_counts(result);
                table.push(vec![
                    name,
                    Cell::text("completed"),
                    Cell::number(percent(result.summary.copied_fraction)),
                    Cell::VerdictCounts {
                        holds,
                        broken: broken_count,
                        not_judged,
                    },
                ]);
                broken.extend(
                    broken_claims(result)
                        .into_iter()
                        .map(|(id, why)| (stem.clone(), id, why)),
                );
            }
            Outcome::Failed(message) => {
                table.push(vec![
                    name,
                    Cell::text("ERROR"),
                    Cell::Empty,
                    Cell::text(message),
                ]);
                failed.push(stem.clone());
            }
        }
    }
    text.push_str(&terminal(&table));
    if !skipped.is_empty() {
        let _ = writeln!(
            text,
            "{} skipped (a missing dependency: not a failure; the reason is above)",
            skipped.len()
        );
    }
    if !broken.is_empty() {
        let _ = writeln!(text, "\nclaims that do not hold:");
        for (stem, id, why) in &broken {
            let _ = writeln!(text, "  BROKEN {id} ({stem}.json): {why}");
        }
    }
    let mut exit_code = exit_code::OK;
    if check && failed.is_empty() {
        if broken.is_empty() {
            let _ = writeln!(text, "check: every claim holds");
        } else {
            let _ = writeln!(text, "check: {} claims do not hold", broken.len());
            exit_code = exit_code::CLAIM_BROKEN;
        }
    }
    Account {
        text,
        broken,
        skipped,
        failed,
        exit_code,
    }
}
