//! The memlab builds a perf benchmark compares (examples/bench_window.rs, bench_locks.rs): each
//! round runs the program alone and under every build, the order rotated, so that the machine's
//! drift and whatever comes first or second hit all alike.

use std::path::Path;

/// The memlab binaries named on the command line.
pub struct Builds {
    memlabs: Vec<String>,
}

/// What each round measured, slot by slot (slot 0 alone, slot i + 1 under build i), and the runs
/// that failed.
pub struct Interleaved<T> {
    rounds: Vec<Vec<Option<T>>>,
    skipped: Vec<String>,
}

impl Builds {
    /// `memlabs`, or target/release/memlab when none is named; each must exist.
    pub fn named(mut memlabs: Vec<String>) -> Builds {
        if memlabs.is_empty() {
            memlabs.push("target/release/memlab".into());
        }
        for memlab in &memlabs {
            assert!(Path::new(memlab).is_file(), "no memlab binary at {memlab}");
        }
        Builds { memlabs }
    }

    /// "alone" for slot 0, else the build's path.
    pub fn label(&self, slot: usize) -> &str {
        slot.checked_sub(1)
            .map_or("alone", |i| self.memlabs[i].as_str())
    }

    pub fn slots(&self) -> usize {
        self.memlabs.len() + 1
    }

    /// `rounds` rounds of `measure`, alone (None) and under each build (its path).
    pub fn interleave<T>(
        &self,
        rounds: usize,
        mut measure: impl FnMut(Option<&str>) -> Result<T, String>,
    ) -> Interleaved<T> {
        let slots = self.slots();
        let mut measured = Interleaved {
            rounds: Vec::new(),
            skipped: Vec::new(),
        };
        for round in 0..rounds {
            let mut figures: Vec<Option<T>> = (0..slots).map(|_| None).collect();
            // Rotated each round, so that no slot always comes first or after the same one.
            for slot in (0..slots).map(|i| (i + round) % slots) {
                let memlab = slot.checked_sub(1).map(|i| self.memlabs[i].as_str());
                match measure(memlab) {
                    Ok(measured) => figures[slot] = Some(measured),
                    Err(reason) => measured.skipped.push(format!(
                        "round {}, {}: {reason}",
                        round + 1,
                        self.label(slot)
                    )),
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            measured.rounds.push(figures);
        }
        measured
    }
}

impl<T> Interleaved<T> {
    /// `figure` alone and under build slot `slot`, for the rounds where both were measured.
    #[allow(
        dead_code,
        reason = "bench_locks compares no pairs: alone, the tree waits for no lock"
    )]
    pub fn paired(&self, slot: usize, figure: impl Fn(&T) -> f64) -> (Vec<f64>, Vec<f64>) {
        self.rounds
            .iter()
            .filter_map(|round| Some((figure(round[0].as_ref()?), figure(round[slot].as_ref()?))))
            .unzip()
    }

    /// Each slot's measurements, in the order of the rounds.
    pub fn by_slot(&self, slots: usize) -> Vec<Vec<&T>> {
        (0..slots)
            .map(|slot| {
                self.rounds
                    .iter()
                    .filter_map(|r| r[slot].as_ref())
                    .collect()
            })
            .collect()
    }

    pub fn print_skipped(&self) {
        if !self.skipped.is_empty() {
            println!("\nSkipped runs:");
            for reason in &self.skipped {
                println!("- {reason}");
            }
        }
    }
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().next().unwrap_or("?").to_string())
        .unwrap_or_default()
}
