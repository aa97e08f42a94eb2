//! Refuses runs whose worst case would not fit in the memory available now.

use crate::error::MemlabError;
use crate::units::format_bytes;

/// Keep this much of MemAvailable free for everything else on the machine.
const HEADROOM_FRACTION: f64 = 0.10;

/// The worst case of a run: the parent's data plus a full copy per child when the scenario
/// copies, plus a small per-process overhead.
pub fn worst_case_bytes(data_bytes: u64, children: usize, copies_per_child: f64) -> u64 {
    const PER_PROCESS_OVERHEAD: u64 = 64 << 20;
    let copies = 1.0 + children as f64 * copies_per_child;
    (data_bytes as f64 * copies) as u64 + PER_PROCESS_OVERHEAD * (children as u64 + 1)
}

pub fn check(scenario: &str, worst_case: u64, available: u64) -> Result<(), MemlabError> {
    let usable = (available as f64 * (1.0 - HEADROOM_FRACTION)) as u64;
    if worst_case > usable {
        return Err(MemlabError::Preflight(format!(
            "refusing to run '{scenario}': its worst case needs {} but only {} is available \
             (MemAvailable {} less {:.0}% headroom); use a smaller --size or fewer --children",
            format_bytes(worst_case),
            format_bytes(usable),
            format_bytes(available),
            HEADROOM_FRACTION * 100.0
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copying_scenarios_count_a_copy_per_child() {
        let gib = 1u64 << 30;
        assert!(worst_case_bytes(gib, 4, 1.0) >= 5 * gib);
        assert!(worst_case_bytes(gib, 4, 0.0) < 2 * gib);
    }

    #[test]
    fn refuses_what_does_not_fit_and_says_why() {
        let gib = 1u64 << 30;
        assert!(check("x", 2 * gib, 24 * gib).is_ok());
        let message = check("array-write", 30 * gib, 24 * gib)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("refusing to run 'array-write'"),
            "{message}"
        );
        assert!(message.contains("--size"), "{message}");
    }
}
