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

pub(crate) fn usage(message: impl Into<String>) -> MemlabError {
    MemlabError::Usage(message.into())
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
