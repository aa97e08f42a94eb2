//! Claims: a document's statement turned into a rule on measured numbers. A claim that does
//! not hold is reported as such; one that cannot be judged here says why, and a rule over an
//! empty measurement is never judged.
//!
//! - this file: the evidence a claim is judged on, the claim builder, and the rules several
//!   scenarios share (shared, copied, exact pages, private copy, writes visible);
//! - [`census`]: rules on the Python objects a child's pages hold (the census);
//! - [`native`] and [`python`]: each scenario's own claims, named by the catalog
//!   ([`crate::scenario`]).

pub mod census;
pub mod native;
pub mod python;

use crate::result::figures::FigureSource;
use crate::result::{Claim, ClaimUnit, ScenarioResult, Verdict, median};

/// "Shared": the median child copied at most this fraction of the data.
pub const SHARED_MAX_FRACTION: f64 = 0.02;
/// "Copied": at least this fraction.
pub const COPIED_MIN_FRACTION: f64 = 0.50;
/// A private copy per child (serialized data): at least this fraction each.
pub const PRIVATE_COPY_MIN_FRACTION: f64 = 0.90;
/// When figures are estimates (Private_Dirty growth), an exact count is accepted within this
/// fraction of the data.
pub const ESTIMATE_TOLERANCE_FRACTION: f64 = 0.01;

/// What one child gained since fork, from the summary phase.
#[derive(Debug, Clone, Default)]
pub struct ChildFigures {
    pub copied_bytes: u64,
    pub private_bytes: u64,
    /// Per declared region: (copied bytes, region resident bytes in the parent). Only with
    /// page truth.
    pub regions: Vec<(String, u64, u64)>,
    /// The Python objects on its copied and child-only pages, when a census was taken.
    pub census: Option<crate::result::census::ChildCensus>,
}

impl ChildFigures {
    pub fn region_copied(&self, name: &str) -> Option<(u64, u64)> {
        self.regions
            .iter()
            .find(|(region, _, _)| region == name)
            .map(|(_, copied, total)| (*copied, *total))
    }
}

/// The children's figures at the summary phase, in child order.
pub fn child_figures(result: &ScenarioResult) -> Vec<ChildFigures> {
    let Some(phase) = result.phase(&result.summary.phase) else {
        return Vec::new();
    };
    crate::result::figures::measured_children(phase)
        .iter()
        .enumerate()
        .map(|(i, child)| ChildFigures {
            copied_bytes: result
                .summary
                .copied_bytes_per_child
                .get(i)
                .copied()
                .unwrap_or(0),
            private_bytes: result
                .summary
                .private_bytes_per_child
                .get(i)
                .copied()
                .unwrap_or(0),
            regions: crate::result::figures::region_figures(child),
            census: child.page_truth.as_ref().map(|truth| truth.census.clone()),
        })
        .collect()
}

/// What a scenario's claims are judged on: the stored result and its children's figures at
/// the summary phase.
pub struct Evidence<'a> {
    pub result: &'a ScenarioResult,
    pub children: Vec<ChildFigures>,
}

impl<'a> Evidence<'a> {
    pub fn of(result: &'a ScenarioResult) -> Self {
        Evidence {
            result,
            children: child_figures(result),
        }
    }

    /// The children's operation (`--op`), if the scenario has one.
    pub fn op(&self) -> Option<&str> {
        self.result
            .params
            .as_ref()
            .and_then(|p| p.workload.op.as_deref())
    }

    /// A claim of this scenario: `SCENARIO/short_id`, not judged until told otherwise.
    pub fn claim(&self, short_id: &str, statement: &str) -> Draft {
        Draft(Claim {
            id: format!("{}/{short_id}", self.result.scenario),
            source_document: self.result.source_document.clone(),
            statement: statement.to_string(),
            rule: String::new(),
            measured: 0.0,
            expected: 0.0,
            unit: ClaimUnit::None,
            verdict: Verdict::NotJudged,
            note: None,
            measured_per_run: Vec::new(),
        })
    }
}

/// A claim being written: its rule, its value, its verdict, then [`Draft::done`].
pub struct Draft(Claim);

impl Draft {
    pub fn rule(mut self, rule: impl Into<String>) -> Self {
        self.0.rule = rule.into();
        self
    }

    /// The measured value, what the rule compares it with, and their unit.
    pub fn value(mut self, measured: f64, expected: f64, unit: ClaimUnit) -> Self {
        self.0.measured = measured;
        self.0.expected = expected;
        self.0.unit = unit;
        self
    }

    pub fn holds_if(self, holds: bool) -> Self {
        self.verdict(if holds {
            Verdict::Holds
        } else {
            Verdict::Broken
        })
    }

    pub fn verdict(mut self, verdict: Verdict) -> Self {
        self.0.verdict = verdict;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.0.note = Some(note.into());
        self
    }

    pub fn note_if(mut self, note: Option<String>) -> Self {
        self.0.note = note;
        self
    }

    pub fn done(self) -> Claim {
        self.0
    }
}

/// A scenario's claims, as its catalog entry names them.
pub type ClaimRules = fn(&Evidence) -> Vec<Claim>;

/// For a scenario that makes no claim (a choice made in the catalog, not a fallback).
pub fn no_claims(_: &Evidence) -> Vec<Claim> {
    Vec::new()
}

/// Judges `rules` on a result. A rule over no children or no data proves nothing: such claims
/// are not judged, whatever the rule would say.
pub fn evaluate(rules: ClaimRules, result: &ScenarioResult) -> Vec<Claim> {
    let evidence = Evidence::of(result);
    let mut claims = rules(&evidence);
    if evidence.children.is_empty() || result.data_bytes == 0 {
        let why = if evidence.children.is_empty() {
            "no child was measured both before and after its operation"
        } else {
            "no data was measured (data_bytes is 0)"
        };
        for claim in &mut claims {
            claim.verdict = Verdict::NotJudged;
            claim.note = Some(why.to_string());
        }
    }
    claims
}

pub fn data_fraction(bytes: u64, data_bytes: u64) -> f64 {
    if data_bytes == 0 {
        0.0
    } else {
        bytes as f64 / data_bytes as f64
    }
}

/// Median over children of the copied fraction of `region` (page truth), or of the whole data
/// (estimate) when the region's figures are not available.
pub fn median_copied_fraction(
    result: &ScenarioResult,
    children: &[ChildFigures],
    region: &str,
) -> (f64, bool) {
    let by_region: Option<Vec<f64>> = children
        .iter()
        .map(|c| {
            c.region_copied(region)
                .map(|(copied, total)| data_fraction(copied, total))
        })
        .collect();
    match by_region {
        Some(fractions) if !fractions.is_empty() => (median(&fractions), true),
        _ => {
            let fractions: Vec<f64> = children
                .iter()
                .map(|c| data_fraction(c.copied_bytes, result.data_bytes))
                .collect();
            (median(&fractions), false)
        }
    }
}

/// What page truth found of a declared region, against what the workload declared.
enum RegionFound {
    /// Found, or not measured per region (estimates): judge the claim.
    Judgeable(Option<String>),
    /// The region holds no page of the parent, or no child maps a page of it: a rule over it
    /// would judge nothing.
    Empty(String),
}

fn declared_bytes(result: &ScenarioResult, region: &str) -> Option<u64> {
    result
        .regions
        .iter()
        .find(|r| r.name == region)
        .map(|r| r.end.saturating_sub(r.start))
}

/// Per measured child at the summary phase, the pages of `region` it maps at the region's
/// addresses (page truth only).
fn region_child_pages(e: &Evidence, region: &str) -> Vec<u64> {
    let Some(phase) = e.result.phase(&e.result.summary.phase) else {
        return Vec::new();
    };
    crate::result::figures::measured_children(phase)
        .iter()
        .filter_map(|child| child.page_truth.as_ref()?.declared_region(region))
        .map(|found| found.counts.child_present_pages())
        .collect()
}

/// Checks the region's pages against its declared size: empty is never judged, nor a region
/// no child maps a page of (a shared mapping the children reach through mappings of their
/// own, at other addresses); less than half of the declared size is judged with a note.
fn region_found(e: &Evidence, region: &str) -> RegionFound {
    let found: Vec<u64> = e
        .children
        .iter()
        .filter_map(|c| c.region_copied(region).map(|(_, total)| total))
        .collect();
    let Some(&smallest) = found.iter().min() else {
        return RegionFound::Judgeable(None);
    };
    let declared = declared_bytes(e.result, region);
    let declared_text = declared
        .map(|bytes| format!(" (declared {})", crate::units::format_bytes(bytes)))
        .unwrap_or_default();
    if smallest == 0 {
        return RegionFound::Empty(format!(
            "the declared region '{region}'{declared_text} holds no page of the parent: \
             nothing was measured there"
        ));
    }
    let child_pages = region_child_pages(e, region);
    if !child_pages.is_empty() && child_pages.iter().all(|&pages| pages == 0) {
        return RegionFound::Empty(format!(
            "no child maps a page of the declared region '{region}' at its addresses \
             ({} there in the parent): nothing of the children was measured there",
            crate::units::format_bytes(smallest)
        ));
    }
    match declared {
        Some(declared) if smallest < declared / 2 => RegionFound::Judgeable(Some(format!(
            "page truth found {} of the declared region '{region}'{declared_text} in the parent",
            crate::units::format_bytes(smallest)
        ))),
        _ => RegionFound::Judgeable(None),
    }
}

/// Joins the notes a claim has, in order.
fn notes(parts: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    let parts: Vec<String> = parts.into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Says why a claim's figure is approximate; None when it is exact page truth per region.
pub fn approximation_note(result: &ScenarioResult, by_region: bool) -> Option<String> {
    match result.summary.copied_method {
        Some(FigureSource::PageTruthPfn) if by_region => None,
        Some(FigureSource::PageTruthExclusiveBit) if by_region => Some(
            "approximate: pagemap exclusive bit (no CAP_SYS_ADMIN to read frame numbers); \
             wrong for huge pages still mapped whole"
                .to_string(),
        ),
        _ => Some(
            "approximate: each child's Private_Dirty growth since fork (no page truth per region)"
                .to_string(),
        ),
    }
}

pub fn shared_claim(e: &Evidence, region: &str, statement: &str) -> Claim {
    let draft = e
        .claim(&format!("{region}-shared"), statement)
        .rule(format!(
            "median child copied <= {:.0}% of the {region} pages",
            SHARED_MAX_FRACTION * 100.0
        ));
    let found = match region_found(e, region) {
        RegionFound::Empty(why) => {
            return draft
                .value(0.0, SHARED_MAX_FRACTION, ClaimUnit::Fraction)
                .note(why)
                .done();
        }
        RegionFound::Judgeable(note) => note,
    };
    let (fraction, by_region) = median_copied_fraction(e.result, &e.children, region);
    draft
        .value(fraction, SHARED_MAX_FRACTION, ClaimUnit::Fraction)
        .holds_if(fraction <= SHARED_MAX_FRACTION)
        .note_if(notes([found, approximation_note(e.result, by_region)]))
        .done()
}

/// Every child copied exactly `expected_pages` pages of `region` (page truth), or within the
/// estimate tolerance.
pub fn exact_pages_claim(e: &Evidence, region: &str, short_id: &str, statement: &str) -> Claim {
    let page = e.result.machine.page_size_bytes.max(1);
    let found = match region_found(e, region) {
        RegionFound::Empty(why) => {
            return e
                .claim(short_id, statement)
                .value(0.0, 0.0, ClaimUnit::Pages)
                .note(why)
                .done();
        }
        RegionFound::Judgeable(note) => note,
    };
    let Some(expected_pages) = e.result.fact_f64("expected_copied_pages") else {
        return e
            .claim(short_id, statement)
            .value(0.0, 0.0, ClaimUnit::Pages)
            .verdict(Verdict::NotJudged)
            .note("the workload did not report expected_copied_pages")
            .done();
    };
    let per_child: Vec<(f64, bool)> = e
        .children
        .iter()
        .map(|c| match c.region_copied(region) {
            Some((copied, _)) => ((copied / page) as f64, true),
            None => ((c.copied_bytes / page) as f64, false),
        })
        .collect();
    let by_region = per_child.iter().all(|(_, by_region)| *by_region);
    let exact = e.result.summary.copied_exact && by_region;
    let measured = median(
        &per_child
            .iter()
            .map(|(pages, _)| *pages)
            .collect::<Vec<_>>(),
    );
    let tolerance_pages =
        (e.result.data_bytes as f64 * ESTIMATE_TOLERANCE_FRACTION / page as f64).max(1.0);
    let holds = !per_child.is_empty()
        && per_child.iter().all(|(pages, _)| {
            if exact {
                *pages == expected_pages
            } else {
                (pages - expected_pages).abs() <= tolerance_pages
            }
        });
    let rule = if exact {
        format!("every child's copied {region} pages == {expected_pages} (page truth, exact)")
    } else {
        format!(
            "every child's copied pages within {tolerance_pages:.0} pages ({:.0}% of data) of {expected_pages}",
            ESTIMATE_TOLERANCE_FRACTION * 100.0
        )
    };
    e.claim(short_id, statement)
        .rule(&rule)
        .value(measured, expected_pages, ClaimUnit::Pages)
        .holds_if(holds)
        .note_if(notes([found, approximation_note(e.result, by_region)]))
        .done()
}

/// The median child copied at least half of `region` (page truth), or of the data (estimate).
pub fn copied_claim(e: &Evidence, region: &str, statement: &str) -> Claim {
    let draft = e
        .claim(&format!("{region}-copied"), statement)
        .rule(format!(
            "median child copied >= {:.0}% of the {region} pages",
            COPIED_MIN_FRACTION * 100.0
        ));
    let found = match region_found(e, region) {
        RegionFound::Empty(why) => {
            return draft
                .value(0.0, COPIED_MIN_FRACTION, ClaimUnit::Fraction)
                .note(why)
                .done();
        }
        RegionFound::Judgeable(note) => note,
    };
    let (fraction, by_region) = median_copied_fraction(e.result, &e.children, region);
    draft
        .value(fraction, COPIED_MIN_FRACTION, ClaimUnit::Fraction)
        .holds_if(fraction >= COPIED_MIN_FRACTION)
        .note_if(notes([found, approximation_note(e.result, by_region)]))
        .done()
}

/// Every child holds a private copy: copied + child-only >= 90% of the data.
pub fn private_copy_claim(e: &Evidence, statement: &str) -> Claim {
    let fractions: Vec<f64> = e
        .children
        .iter()
        .map(|c| data_fraction(c.private_bytes, e.result.data_bytes))
        .collect();
    let lowest = fractions.iter().copied().fold(f64::INFINITY, f64::min);
    let lowest = if lowest.is_finite() { lowest } else { 0.0 };
    e.claim("private-copy-per-child", statement)
        .rule(format!(
            "every child holds >= {:.0}% of the data privately (copied + child-only)",
            PRIVATE_COPY_MIN_FRACTION * 100.0
        ))
        .value(lowest, PRIVATE_COPY_MIN_FRACTION, ClaimUnit::Fraction)
        .holds_if(!fractions.is_empty() && lowest >= PRIVATE_COPY_MIN_FRACTION)
        .note_if(approximation_note(e.result, true))
        .done()
}

/// The workload's own check that the parent sees its children's writes.
pub fn writes_visible_claim(e: &Evidence, statement: &str) -> Claim {
    let result = e.result;
    let visible = result
        .facts
        .get("writes_visible_to_parent")
        .and_then(|v| v.as_bool());
    let checked = result.fact_f64("pages_checked_by_parent").unwrap_or(0.0);
    let seen = result.fact_f64("pages_showing_child_writes").unwrap_or(0.0);
    let draft = e
        .claim("writes-visible", statement)
        .rule("every page a child stamped shows the stamp in the parent")
        .value(seen, checked, ClaimUnit::Pages);
    match visible {
        None => draft.note("the workload did not report the check").done(),
        Some(_) if checked == 0.0 => draft
            .note("the parent checked no page: nothing was measured")
            .done(),
        Some(visible) => draft.holds_if(visible).done(),
    }
}

#[cfg(test)]
mod tests;
