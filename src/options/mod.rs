//! The options layer: what the command line parsed ([`crate::cli`]), validated against the
//! scenarios and the machine into the requests the commands run. Every usage error is one line
//! (exit 2) raised here, before anything runs.

pub mod compare;
pub mod run;
pub mod scan;
pub mod scenario;
pub mod suite;

use crate::error::MemlabError;
use crate::scenario::ScenarioDef;

/// Most children a run may fork: more is almost certainly a typo on a workstation.
pub const MAX_CHILDREN: usize = 256;
/// Most repetitions: a run is minutes at most, a thousand of them is a mistake.
pub const MAX_REPEAT: usize = 100;
/// Longest `--timeout`: a week. Longer is a typo, and deadlines must stay representable.
pub const MAX_TIMEOUT_S: u64 = 7 * 24 * 3600;
/// Longest `--sample-interval`: a minute between two samples is no timeline.
pub const MAX_SAMPLE_INTERVAL_MS: u64 = 60_000;

/// `--timeout SECONDS`, checked: at least a second, at most [`MAX_TIMEOUT_S`].
pub fn timeout(seconds: u64) -> Result<std::time::Duration, MemlabError> {
    if seconds == 0 || seconds > MAX_TIMEOUT_S {
        return Err(usage(format!(
            "--timeout must be between 1 and {MAX_TIMEOUT_S} seconds, got {seconds}"
        )));
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// `--sample-interval MS`, checked: 0 (no timeline) up to [`MAX_SAMPLE_INTERVAL_MS`].
pub fn sample_interval(
    milliseconds: u64,
) -> Result<Option<crate::measure::sampler::SamplerConfig>, MemlabError> {
    if milliseconds > MAX_SAMPLE_INTERVAL_MS {
        return Err(usage(format!(
            "--sample-interval must be between 0 (no timeline) and {MAX_SAMPLE_INTERVAL_MS} ms, \
             got {milliseconds}"
        )));
    }
    Ok(
        (milliseconds > 0).then(|| crate::measure::sampler::SamplerConfig {
            statm_interval: std::time::Duration::from_millis(milliseconds),
        }),
    )
}

/// A usage error: one line, whatever text from a file or the command line it quotes.
pub(crate) fn usage(message: impl Into<String>) -> MemlabError {
    MemlabError::Usage(crate::error::one_line(&message.into()))
}

/// Resolves a scenario name, suggesting the closest one when unknown.
pub fn resolve_scenario(name: &str) -> Result<&'static ScenarioDef, MemlabError> {
    crate::scenario::find(name).ok_or_else(|| match crate::scenario::closest(name) {
        Some(close) => usage(format!(
            "unknown scenario '{name}'; did you mean '{close}'? (memlab list shows all)"
        )),
        None => usage(format!("unknown scenario '{name}' (memlab list shows all)")),
    })
}
