//! What a batch of runs amounts to, in words: one line per result, the suite's table, the
//! broken claims, and the exit code.

use super::Outcome;
use crate::error::exit_code;
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
                format!(
                    "measured {} {} · rule: {}",
                    short_number(c.measured),
                    c.unit,
                    c.rule
                ),
            )
        })
        .collect()
}

fn short_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
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
    let holds = result
        .claims
        .iter()
        .filter(|c| c.verdict == crate::result::Verdict::Holds)
        .count();
    let broken = result
        .claims
        .iter()
        .filter(|c| c.verdict.is_broken())
        .count();
    let unjudged = result
        .claims
        .iter()
        .filter(|c| c.verdict == crate::result::Verdict::NotJudged)
        .count();
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
    let _ = writeln!(
        text,
        "{:<36} {:<10} {:>9}  claims",
        "result", "status", "copied"
    );
    for (stem, outcome) in stems.iter().zip(outcomes) {
        match outcome {
            Outcome::Done(result) if result.status == RunStatus::Skipped => {
                skipped.push(stem.clone());
                let reason = result
                    .skip
                    .as_ref()
                    .map(|s| s.reason.as_str())
                    .unwrap_or("");
                let _ = writeln!(text, "{stem:<36} {:<10} {:>9}  {reason}", "skipped", "-");
            }
            Outcome::Done(result) => {
                let holds = result
                    .claims
                    .iter()
                    .filter(|c| c.verdict == crate::result::Verdict::Holds)
                    .count();
                let claims_broken = broken_claims(result);
                let mut claims = format!("{holds}/{} hold", result.claims.len());
                if !claims_broken.is_empty() {
                    claims.push_str(&format!(", {} BROKEN", claims_broken.len()));
                }
                let _ = writeln!(
                    text,
                    "{stem:<36} {:<10} {:>8.2}%  {claims}",
                    "completed",
                    result.summary.copied_fraction * 100.0
                );
                broken.extend(
                    claims_broken
                        .into_iter()
                        .map(|(id, why)| (stem.clone(), id, why)),
                );
            }
            Outcome::Failed(message) => {
                let _ = writeln!(text, "{stem:<36} {:<10} {:>9}  {message}", "ERROR", "-");
                failed.push(stem.clone());
            }
        }
    }
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
