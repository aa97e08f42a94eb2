//! Numbers, percentages and verdict words, written the same way by every renderer: the
//! terminal tables, the HTML and Markdown reports, the comparison.

use crate::result::figures::FigureSource;
use crate::result::{Claim, ClaimUnit, ScenarioResult, Verdict};
use crate::units::format_bytes;

/// A plain number: whole numbers as such, others with two decimals (one from 100 up).
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else if value.abs() >= 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A number for an axis or a threshold: at most `decimals` decimals, trailing zeros dropped.
pub fn short_number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A fraction as a percentage: two decimals, four for tiny non-zero values.
pub fn percent(fraction: f64) -> String {
    let value = fraction * 100.0;
    if value != 0.0 && value.abs() < 0.01 {
        format!("{value:.4}%")
    } else {
        format!("{value:.2}%")
    }
}

/// Bytes, or `-` where nothing was measured.
pub fn bytes_or_dash(value: Option<u64>) -> String {
    value.map(format_bytes).unwrap_or_else(|| "-".to_string())
}

/// `holds`, `BROKEN` or `not judged`.
pub fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Holds => "holds",
        Verdict::Broken => "BROKEN",
        Verdict::NotJudged => "not judged",
    }
}

/// `holds`, `BROKEN` or `n/a`: where space is short (matrix cells, comparisons).
pub fn verdict_short(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::NotJudged => "n/a",
        judged => verdict_word(judged),
    }
}

/// The terminal's claim tag, fixed width: `HOLDS `, `BROKEN`, `n/a   `.
pub fn verdict_tag(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Holds => "HOLDS ",
        Verdict::Broken => "BROKEN",
        Verdict::NotJudged => "n/a   ",
    }
}

/// A claim's measured value with its unit and what it is compared with.
pub fn format_measured(claim: &Claim) -> String {
    if claim.rule.is_empty() && claim.verdict == Verdict::NotJudged {
        return "—".to_string();
    }
    match claim.unit {
        ClaimUnit::Fraction => format!(
            "{} (threshold {}%)",
            percent(claim.measured),
            short_number(claim.expected * 100.0, 2)
        ),
        ClaimUnit::Pages => format!(
            "{} pages (expected {})",
            number(claim.measured),
            number(claim.expected)
        ),
        ClaimUnit::Ratio => format!(
            "{}x (against {}x)",
            number(claim.measured),
            number(claim.expected)
        ),
        ClaimUnit::BytesPerHugePage => format!(
            "{} per huge page (expected {})",
            format_bytes(claim.measured.max(0.0) as u64),
            format_bytes(claim.expected.max(0.0) as u64)
        ),
        ClaimUnit::None => format!(
            "{} (expected {})",
            number(claim.measured),
            number(claim.expected)
        ),
        unit => format!(
            "{} {unit} (expected {})",
            number(claim.measured),
            number(claim.expected)
        ),
    }
}

/// One line saying how exact the per-child figures are, and why when they are not; None when
/// no child was measured (each caller says why in its own words).
pub fn figures_explanation(method: Option<FigureSource>) -> Option<&'static str> {
    Some(match method? {
        FigureSource::PageTruthPfn => {
            "page truth, exact (each child's physical frames compared with its parent's)"
        }
        FigureSource::PageTruthExclusiveBit => {
            "APPROXIMATE: page truth from the pagemap exclusive bit, because physical frame numbers \
             need CAP_SYS_ADMIN (run as root for exact figures)"
        }
        FigureSource::PrivateDirtyGrowth => {
            "APPROXIMATE: each child's Private_Dirty growth since it was first measured"
        }
    })
}

/// How exact a result's per-child figures are, in a few words.
pub fn figures_word(method: Option<FigureSource>) -> &'static str {
    match method {
        Some(FigureSource::PageTruthPfn) => "exact",
        Some(FigureSource::PageTruthExclusiveBit) => "approximate (exclusive bit)",
        Some(FigureSource::PrivateDirtyGrowth) => "estimate (Private_Dirty)",
        None => "none",
    }
}

/// (held, broken, not judged) counts of a result's claims.
pub fn claim_counts(result: &ScenarioResult) -> (usize, usize, usize) {
    let count = |v: Verdict| result.claims.iter().filter(|c| c.verdict == v).count();
    (
        count(Verdict::Holds),
        count(Verdict::Broken),
        count(Verdict::NotJudged),
    )
}

/// A scenario's parameters in one line: `size 64.0 MiB · children 4 · op clone …`.
pub fn params_line(result: &ScenarioResult) -> String {
    let mut parts = Vec::new();
    if let Some(params) = &result.params {
        let workload = &params.workload;
        parts.push(format!("size {}", format_bytes(workload.size_bytes)));
        parts.push(format!("children {}", workload.children));
        if let Some(op) = &workload.op {
            parts.push(format!("op {op}"));
        }
        if let Some(fraction) = workload.fraction {
            parts.push(format!("fraction {fraction}"));
        }
        if let Some(object) = workload.object_size_bytes {
            parts.push(format!("object size {}", format_bytes(object)));
        }
        if params.repeat > 1 {
            parts.push(format!("repeat {}", params.repeat));
        }
        if let Some(scale) = &workload.scale {
            parts.push(format!("scale {scale}"));
        }
    }
    if let Some(python) = &result.machine.python_version {
        parts.push(format!("Python {python}"));
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(unit: ClaimUnit, measured: f64, expected: f64) -> Claim {
        Claim {
            id: "x/y".into(),
            source_document: "001".into(),
            statement: String::new(),
            rule: "a rule".into(),
            measured,
            expected,
            unit,
            verdict: Verdict::Holds,
            note: None,
            measured_per_run: Vec::new(),
        }
    }

    #[test]
    fn measured_values_read_with_their_units() {
        assert_eq!(
            format_measured(&claim(ClaimUnit::Fraction, 0.0001, 0.02)),
            "0.01% (threshold 2%)"
        );
        assert_eq!(
            format_measured(&claim(ClaimUnit::Fraction, 0.00001, 0.5)),
            "0.0010% (threshold 50%)"
        );
        assert_eq!(
            format_measured(&claim(ClaimUnit::Pages, 10927.0, 10927.0)),
            "10927 pages (expected 10927)"
        );
        assert_eq!(
            format_measured(&claim(ClaimUnit::Ratio, 2.345, 3.0)),
            "2.35x (against 3x)"
        );
        assert_eq!(
            format_measured(&claim(ClaimUnit::BytesPerHugePage, 4096.0, 4096.0)),
            "4.0 KiB per huge page (expected 4.0 KiB)"
        );
        let mut unjudged = claim(ClaimUnit::Fraction, 0.0, 0.02);
        unjudged.rule.clear();
        unjudged.verdict = Verdict::NotJudged;
        assert_eq!(format_measured(&unjudged), "—");
    }

    #[test]
    fn short_numbers_drop_trailing_zeros() {
        assert_eq!(short_number(2.0, 2), "2");
        assert_eq!(short_number(2.5, 2), "2.5");
        assert_eq!(short_number(0.126, 2), "0.13");
    }
}
