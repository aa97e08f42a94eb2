//! The comparison rule: when a change between a baseline figure and a current one is noise,
//! a warning, a regression or an improvement.
//!
//! - Page-truth figures (pages copied, distinct frames) are deterministic up to a few pages
//!   of interpreter and stack activity: a change counts only when it is larger than an
//!   absolute floor in pages *and* a relative threshold, with a warn and a fail tier.
//! - Figures that vary between runs (times, USS, estimates without page truth) are compared
//!   as medians of the `--repeat` runs, and a change is called only when a one-sided
//!   Mann-Whitney test says the runs differ (p <= alpha). With too few runs for the test to
//!   ever reach alpha, a large worsening is a warning, never a regression.
//!
//! Every figure memlab compares is "lower is better" (memory, time).

use serde::{Deserialize, Serialize};

use crate::result::median;
use crate::units::ByteSize;

pub const DEFAULT_WARN_PAGES: u64 = 32;
pub const DEFAULT_FAIL_PAGES: u64 = 64;
pub const DEFAULT_WARN_PCT: f64 = 2.0;
pub const DEFAULT_FAIL_PCT: f64 = 5.0;
pub const DEFAULT_NOISE_WARN_PCT: f64 = 10.0;
pub const DEFAULT_NOISE_FAIL_PCT: f64 = 25.0;
pub const DEFAULT_NOISE_FLOOR_BYTES: u64 = 1 << 20;
pub const DEFAULT_NOISE_FLOOR_SECONDS: f64 = 0.5;
pub const DEFAULT_ALPHA: f64 = 0.05;

/// The thresholds (the command line sets them: `cli::ThresholdArgs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Page-truth figures: a rise of more than this many pages (and more than --warn-pct) is a
    /// warning.
    pub warn_pages: u64,
    /// Page-truth figures: a rise of more than this many pages (and more than --fail-pct) is a
    /// regression.
    pub fail_pages: u64,
    /// Page-truth figures: relative rise (percent) above which a change can warn.
    pub warn_pct: f64,
    /// Page-truth figures: relative rise (percent) above which a change can fail.
    pub fail_pct: f64,
    /// Noisy figures (times, USS, estimates): relative rise of the median that can warn.
    pub noise_warn_pct: f64,
    /// Noisy figures: relative rise of the median that can fail (when significant).
    pub noise_fail_pct: f64,
    /// Noisy byte figures: changes up to this size are unchanged.
    pub noise_floor_bytes: ByteSize,
    /// Noisy times: changes up to this many seconds are unchanged.
    pub noise_floor_seconds: f64,
    /// Significance level of the one-sided Mann-Whitney test on the runs of noisy figures.
    pub alpha: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warn_pages: DEFAULT_WARN_PAGES,
            fail_pages: DEFAULT_FAIL_PAGES,
            warn_pct: DEFAULT_WARN_PCT,
            fail_pct: DEFAULT_FAIL_PCT,
            noise_warn_pct: DEFAULT_NOISE_WARN_PCT,
            noise_fail_pct: DEFAULT_NOISE_FAIL_PCT,
            noise_floor_bytes: ByteSize(DEFAULT_NOISE_FLOOR_BYTES),
            noise_floor_seconds: DEFAULT_NOISE_FLOOR_SECONDS,
            alpha: DEFAULT_ALPHA,
        }
    }
}

impl Thresholds {
    /// Checks the options make sense together; the message is one usage line.
    pub fn validate(&self) -> Result<(), String> {
        let percents = [
            ("--warn-pct", self.warn_pct),
            ("--fail-pct", self.fail_pct),
            ("--noise-warn-pct", self.noise_warn_pct),
            ("--noise-fail-pct", self.noise_fail_pct),
            ("--noise-floor-seconds", self.noise_floor_seconds),
        ];
        for (name, value) in percents {
            if !value.is_finite() || value < 0.0 {
                return Err(format!("{name} must be a number >= 0, got {value}"));
            }
        }
        if self.warn_pages > self.fail_pages {
            return Err(format!(
                "--warn-pages ({}) must not exceed --fail-pages ({})",
                self.warn_pages, self.fail_pages
            ));
        }
        if self.warn_pct > self.fail_pct {
            return Err(format!(
                "--warn-pct ({}) must not exceed --fail-pct ({})",
                self.warn_pct, self.fail_pct
            ));
        }
        if self.noise_warn_pct > self.noise_fail_pct {
            return Err(format!(
                "--noise-warn-pct ({}) must not exceed --noise-fail-pct ({})",
                self.noise_warn_pct, self.noise_fail_pct
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(format!(
                "--alpha must be between 0 and 1, got {}",
                self.alpha
            ));
        }
        Ok(())
    }
}

/// The verdict on one figure, ordered from best to worst news.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Unchanged,
    Improved,
    Warning,
    Regression,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Unchanged => "unchanged",
            Verdict::Improved => "improved",
            Verdict::Warning => "WARNING",
            Verdict::Regression => "REGRESSION",
        }
    }
}

/// A verdict with the reason in words, and the p-value when a test was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
    pub p_value: Option<f64>,
}

fn judged(verdict: Verdict, reason: String) -> Judgement {
    Judgement {
        verdict,
        reason,
        p_value: None,
    }
}

/// Relative change of `current` against `baseline`: +0.1 is 10% more. Infinite when the
/// baseline is zero and the current is not.
pub fn relative_change(baseline: f64, current: f64) -> f64 {
    let delta = current - baseline;
    if baseline != 0.0 {
        delta / baseline.abs()
    } else if delta == 0.0 {
        0.0
    } else {
        f64::INFINITY.copysign(delta)
    }
}

fn pct(relative: f64) -> String {
    if relative.is_infinite() {
        "from zero".to_string()
    } else {
        format!("{:+.1}%", relative * 100.0)
    }
}

/// A page-truth figure: `delta_pages` is the change in pages, `relative` the relative change.
/// A rise is a regression when it exceeds both `fail_pages` and `fail_pct`, a warning when it
/// exceeds both warn tiers; a fall beyond both warn tiers is an improvement.
pub fn judge_pages(delta_pages: f64, relative: f64, t: &Thresholds) -> Judgement {
    let pages = delta_pages.abs();
    let rel_pct = relative.abs() * 100.0;
    let over = |floor: u64, percent: f64| pages > floor as f64 && rel_pct > percent;
    let described = format!("{delta_pages:+.0} pages, {}", pct(relative));
    if delta_pages > 0.0 {
        if over(t.fail_pages, t.fail_pct) {
            return judged(
                Verdict::Regression,
                format!(
                    "page truth: {described} (fail above {} pages and {}%)",
                    t.fail_pages, t.fail_pct
                ),
            );
        }
        if over(t.warn_pages, t.warn_pct) {
            return judged(
                Verdict::Warning,
                format!(
                    "page truth: {described} (warn above {} pages and {}%)",
                    t.warn_pages, t.warn_pct
                ),
            );
        }
    } else if delta_pages < 0.0 && over(t.warn_pages, t.warn_pct) {
        return judged(Verdict::Improved, format!("page truth: {described}"));
    }
    let reason = if delta_pages == 0.0 {
        "page truth: same page count".to_string()
    } else {
        format!(
            "page truth: {described}, within {} pages or {}%",
            t.warn_pages, t.warn_pct
        )
    };
    judged(Verdict::Unchanged, reason)
}

/// What a noisy figure is measured in, for its floor and its wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoisyUnit {
    Bytes,
    Seconds,
}

/// A noisy figure: the runs of each side. The medians are compared; a change must exceed the
/// floor and the relative thresholds, and be significant by a one-sided Mann-Whitney test.
pub fn judge_noisy(
    baseline: &[f64],
    current: &[f64],
    unit: NoisyUnit,
    t: &Thresholds,
) -> Judgement {
    let (mb, mc) = (median(baseline), median(current));
    let delta = mc - mb;
    let relative = relative_change(mb, mc);
    let floor = match unit {
        NoisyUnit::Bytes => t.noise_floor_bytes.0 as f64,
        NoisyUnit::Seconds => t.noise_floor_seconds,
    };
    let runs = format!("median of {} vs {} runs", baseline.len(), current.len());
    if delta.abs() <= floor {
        let floor_text = match unit {
            NoisyUnit::Bytes => crate::units::format_bytes(floor as u64),
            NoisyUnit::Seconds => format!("{floor} s"),
        };
        return judged(
            Verdict::Unchanged,
            format!(
                "noisy figure ({runs}): {}, within the {floor_text} floor",
                pct(relative)
            ),
        );
    }
    if relative.abs() * 100.0 <= t.noise_warn_pct {
        return judged(
            Verdict::Unchanged,
            format!(
                "noisy figure ({runs}): {}, within {}%",
                pct(relative),
                t.noise_warn_pct
            ),
        );
    }
    let worse = delta > 0.0;
    let best_possible = min_p_value(baseline.len(), current.len());
    if best_possible > t.alpha {
        // Times of single runs vary by tens of percent on a busy machine: without runs to test,
        // they are shown, not judged. Memory figures are steadier: a large rise warns.
        return if unit == NoisyUnit::Seconds {
            judged(
                Verdict::Unchanged,
                format!(
                    "noisy figure ({runs}): {}, not judged: times need --repeat 3 or more on \
                     both sides",
                    pct(relative)
                ),
            )
        } else if worse {
            judged(
                Verdict::Warning,
                format!(
                    "noisy figure ({runs}): {}, too few runs to tell from noise \
                     (--repeat 3 or more on both sides)",
                    pct(relative)
                ),
            )
        } else {
            judged(
                Verdict::Unchanged,
                format!(
                    "noisy figure ({runs}): {}, too few runs to call an improvement",
                    pct(relative)
                ),
            )
        };
    }
    let p = if worse {
        mann_whitney_greater(baseline, current)
    } else {
        mann_whitney_greater(current, baseline)
    };
    let mut judgement = if p > t.alpha {
        judged(
            Verdict::Unchanged,
            format!(
                "noisy figure ({runs}): {}, within run-to-run noise (p = {p:.3} > {})",
                pct(relative),
                t.alpha
            ),
        )
    } else if !worse {
        judged(
            Verdict::Improved,
            format!("noisy figure ({runs}): {} (p = {p:.3})", pct(relative)),
        )
    } else if relative * 100.0 > t.noise_fail_pct {
        judged(
            Verdict::Regression,
            format!(
                "noisy figure ({runs}): {} (fail above {}%), significant (p = {p:.3} <= {})",
                pct(relative),
                t.noise_fail_pct,
                t.alpha
            ),
        )
    } else {
        judged(
            Verdict::Warning,
            format!(
                "noisy figure ({runs}): {} (warn above {}%), significant (p = {p:.3})",
                pct(relative),
                t.noise_warn_pct
            ),
        )
    };
    judgement.p_value = Some(p);
    judgement
}

/// The smallest p-value the one-sided test can give with these sample sizes: 1 / C(m+n, m).
pub fn min_p_value(m: usize, n: usize) -> f64 {
    if m == 0 || n == 0 {
        return 1.0;
    }
    let mut log_binomial = 0.0;
    for i in 1..=m.min(n) {
        log_binomial += ((m + n - m.min(n) + i) as f64).ln() - (i as f64).ln();
    }
    (-log_binomial).exp()
}

/// One-sided Mann-Whitney test: the probability, if both samples came from the same
/// distribution, of `current` beating `baseline` at least as often as observed (U counts pairs
/// with current > baseline, ties as one half; a half is rounded down, which is conservative).
/// Exact for m + n <= 120, the normal approximation beyond.
pub fn mann_whitney_greater(baseline: &[f64], current: &[f64]) -> f64 {
    let (m, n) = (baseline.len(), current.len());
    if m == 0 || n == 0 {
        return 1.0;
    }
    let mut twice_u: u64 = 0;
    for c in current {
        for b in baseline {
            twice_u += match c.partial_cmp(b) {
                Some(std::cmp::Ordering::Greater) => 2,
                Some(std::cmp::Ordering::Equal) => 1,
                _ => 0,
            };
        }
    }
    let u = (twice_u / 2) as usize;
    if m + n <= 120 {
        let counts = u_distribution(m, n);
        let total: f64 = counts.iter().map(|c| *c as f64).sum();
        let tail: f64 = counts[u..].iter().map(|c| *c as f64).sum();
        (tail / total).min(1.0)
    } else {
        let mean = (m * n) as f64 / 2.0;
        let sd = ((m * n * (m + n + 1)) as f64 / 12.0).sqrt();
        let z = (u as f64 - 0.5 - mean) / sd;
        0.5 * erfc(z / std::f64::consts::SQRT_2)
    }
}

/// How many of the C(m+n, m) orderings of the two samples give each U = 0..=m·n: the
/// coefficients of the Gaussian binomial [m+n choose m]_q, built as
/// Π_{i=1..m} (1 - q^(n+i)) / (1 - q^i). Computed modulo 2^128, exact while C(m+n, m) < 2^128.
fn u_distribution(m: usize, n: usize) -> Vec<u128> {
    let degree = m * n;
    let mut poly = vec![0u128; degree + 1];
    poly[0] = 1;
    for i in 1..=m {
        // Multiply by (1 - q^(n+i)).
        for k in (n + i..=degree).rev() {
            poly[k] = poly[k].wrapping_sub(poly[k - n - i]);
        }
        // Divide by (1 - q^i): multiply by 1 + q^i + q^2i + …
        for k in i..=degree {
            poly[k] = poly[k].wrapping_add(poly[k - i]);
        }
    }
    poly
}

/// The complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Thresholds {
        Thresholds::default()
    }

    #[test]
    fn page_counts_need_both_the_floor_and_the_relative_threshold() {
        // 1000 pages copied before: +10 pages is 1%, +40 is 4% (warn), +100 is 10% (fail).
        let judge = |delta: f64| judge_pages(delta, delta / 1000.0, &t()).verdict;
        assert_eq!(judge(0.0), Verdict::Unchanged);
        assert_eq!(judge(10.0), Verdict::Unchanged);
        assert_eq!(judge(40.0), Verdict::Warning);
        assert_eq!(judge(64.0), Verdict::Warning);
        assert_eq!(judge(65.0), Verdict::Regression);
        assert_eq!(judge(100.0), Verdict::Regression);
        assert_eq!(judge(-100.0), Verdict::Improved);
        assert_eq!(judge(-20.0), Verdict::Unchanged);
        // From zero: infinitely more, but only 10 pages: under the floor.
        assert_eq!(
            judge_pages(10.0, f64::INFINITY, &t()).verdict,
            Verdict::Unchanged
        );
        assert_eq!(
            judge_pages(65.0, f64::INFINITY, &t()).verdict,
            Verdict::Regression
        );
        // A big data set: 100 pages more of 100000 is 0.1%, under the relative threshold.
        assert_eq!(judge_pages(100.0, 0.001, &t()).verdict, Verdict::Unchanged);
    }

    #[test]
    fn the_exact_u_distribution_matches_small_cases() {
        // m = n = 2: the 6 orderings give U = 0,1,2,2,3,4.
        assert_eq!(u_distribution(2, 2), vec![1, 1, 2, 1, 1]);
        assert_eq!(u_distribution(3, 3).iter().sum::<u128>(), 20);
        assert_eq!(u_distribution(1, 4), vec![1, 1, 1, 1, 1]);
        assert_eq!(u_distribution(60, 60).iter().sum::<u128>(), {
            // C(120, 60)
            let mut c: u128 = 1;
            for i in 0..60u128 {
                c = c * (120 - i) / (i + 1);
            }
            c
        });
    }

    #[test]
    fn mann_whitney_p_values() {
        // Complete separation, 3 vs 3: 1/20.
        let p = mann_whitney_greater(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert!((p - 0.05).abs() < 1e-12, "{p}");
        assert!((min_p_value(3, 3) - 0.05).abs() < 1e-12);
        assert!((min_p_value(5, 5) - 1.0 / 252.0).abs() < 1e-12);
        assert_eq!(min_p_value(1, 1), 0.5);
        // Identical samples: nothing to see.
        assert!(mann_whitney_greater(&[1.0; 5], &[1.0; 5]) > 0.5);
        // The other direction.
        assert_eq!(
            mann_whitney_greater(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]),
            1.0
        );
        // Large samples use the normal approximation, and agree with the exact value nearby.
        let base: Vec<f64> = (0..70).map(f64::from).collect();
        let shifted: Vec<f64> = (0..70).map(|i| f64::from(i) + 10.0).collect();
        let approx = mann_whitney_greater(&base, &shifted);
        let exact = mann_whitney_greater(&base[..60], &shifted[..60]);
        assert!(approx < 0.05 && exact < 0.05, "{approx} {exact}");
        assert!((erfc(0.0) - 1.0).abs() < 1e-7 && (erfc(1.0) - 0.157_299_2).abs() < 1e-6);
    }

    #[test]
    fn noisy_figures_need_runs_before_a_regression() {
        let t = t();
        // One run each, 8 MiB more (+50%): a warning, never a regression.
        let mib = 1024.0 * 1024.0;
        let one = judge_noisy(&[16.0 * mib], &[24.0 * mib], NoisyUnit::Bytes, &t);
        assert_eq!(one.verdict, Verdict::Warning, "{}", one.reason);
        assert!(one.reason.contains("--repeat 3"), "{}", one.reason);
        // A single run's time is not judged at all.
        let time = judge_noisy(&[2.0], &[3.0], NoisyUnit::Seconds, &t);
        assert_eq!(time.verdict, Verdict::Unchanged, "{}", time.reason);
        assert!(time.reason.contains("not judged"), "{}", time.reason);
        // Five runs each, clearly apart: a regression.
        let base = [2.0, 2.1, 1.9, 2.05, 1.95];
        let slow = [3.0, 3.1, 2.9, 3.05, 2.95];
        let judged = judge_noisy(&base, &slow, NoisyUnit::Seconds, &t);
        assert_eq!(judged.verdict, Verdict::Regression, "{}", judged.reason);
        assert!(judged.p_value.unwrap() < 0.01);
        // Same medians' gap but overlapping runs: noise.
        let spread = [1.0, 3.2, 2.0, 2.9, 1.2];
        let overlapping = [2.9, 3.5, 1.1, 3.1, 3.2];
        let noise = judge_noisy(&spread, &overlapping, NoisyUnit::Seconds, &t);
        assert_eq!(noise.verdict, Verdict::Unchanged, "{}", noise.reason);
        // Below the floor, whatever the ratio.
        let small = judge_noisy(&[0.1], &[0.3], NoisyUnit::Seconds, &t);
        assert_eq!(small.verdict, Verdict::Unchanged);
        // Faster, significantly.
        let fast = judge_noisy(&slow, &base, NoisyUnit::Seconds, &t);
        assert_eq!(fast.verdict, Verdict::Improved);
    }

    #[test]
    fn thresholds_are_validated() {
        assert!(t().validate().is_ok());
        let mut bad = t();
        bad.warn_pages = 100;
        assert!(bad.validate().unwrap_err().contains("--warn-pages"));
        let mut bad = t();
        bad.alpha = 1.5;
        assert!(bad.validate().unwrap_err().contains("--alpha"));
        let mut bad = t();
        bad.fail_pct = -1.0;
        assert!(bad.validate().unwrap_err().contains(">= 0"));
    }
}
