//! When the next poll and the next pass are due, from what polls, passes and footprints have
//! cost so far, and what they cost in all (the run's [`PassesFact`]).

use std::time::{Duration, Instant};

use crate::kernel::pagemap::TruthMethod;
use crate::measure::cputime::moving_average;
use crate::result::run::PassesFact;

/// Shortest time between two polls of the tree.
const POLL_MIN: Duration = Duration::from_millis(20);
/// Longest: a huge tree polls less often, but memlab still answers a signal within this.
const POLL_MAX: Duration = Duration::from_millis(500);
/// Share of one core polls may take.
const POLL_CPU_BUDGET: f64 = 0.05;
/// Share of one core page-truth passes may take: the interval between two passes is at least
/// their mean cost divided by this. On 2 cores saturated by 4 copying workers, 25% slowed them
/// by 10-17% (docs/performance.md).
pub const TRUTH_CPU_BUDGET: f64 = 0.10;
/// Share of one core the unique footprint may take. It costs about twice a pass (every page of
/// every mapping of every process), so it is taken on some passes only, never on a sighting
/// pass (those land while new workers start their work).
pub const FOOTPRINT_CPU_BUDGET: f64 = 0.05;

/// Longest a scheduled pass (periodic or a first sighting) waits for a core the tree leaves free
/// (before it starts, holding nothing, while polls go on): a tree that keeps every core busy is
/// still measured, about this late. A worker that lives less than this while the tree keeps
/// every core busy may therefore go unmeasured: the price of not slowing the tree.
pub const PASS_MAX_IDLE_WAIT: Duration = Duration::from_secs(1);

/// When polls and passes are due. Polls are budgeted in the CPU time they used, passes and
/// footprints in the wall time they took.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// `--interval`: the most time between two passes, unless the budget stretches it.
    interval: Duration,
    /// Footprints are taken only with physical frame numbers.
    footprints: bool,
    poll_cost: Option<Duration>,
    pass_cost: Option<Duration>,
    footprint_cost: Option<Duration>,
    last_pass_at: Option<Instant>,
    last_footprint_at: Option<Instant>,
    next_pass: Instant,
    /// A poll found a new process since the last pass: a sighting pass is due.
    sighting: bool,
    spent: Spent,
}

/// What following the tree has cost so far.
#[derive(Debug, Clone, Default, PartialEq)]
struct Spent {
    polls: u64,
    poll_total: Duration,
    passes: u64,
    pass_total: Duration,
    pass_max: Duration,
    footprints: u64,
    footprint_total: Duration,
    /// CPU time of polls, passes and footprints.
    cpu_seconds: f64,
}

impl Schedule {
    /// The first pass is due at `start`.
    pub fn new(interval: Duration, start: Instant, footprints: bool) -> Schedule {
        Schedule {
            interval,
            footprints,
            poll_cost: None,
            pass_cost: None,
            footprint_cost: None,
            last_pass_at: None,
            last_footprint_at: None,
            next_pass: start,
            sighting: false,
            spent: Spent::default(),
        }
    }

    /// Time between two polls: their CPU cost over [`POLL_CPU_BUDGET`], within
    /// [`POLL_MIN`]..[`POLL_MAX`].
    pub fn poll_interval(&self) -> Duration {
        self.poll_cost
            .map_or(POLL_MIN, |cost| cost.div_f64(POLL_CPU_BUDGET))
            .clamp(POLL_MIN, POLL_MAX)
    }

    /// Passes are never closer than this: their mean cost over [`TRUTH_CPU_BUDGET`].
    pub fn min_pass_gap(&self) -> Duration {
        self.pass_cost
            .map_or(Duration::ZERO, |cost| cost.div_f64(TRUTH_CPU_BUDGET))
    }

    /// The interval between two timed passes: `--interval`, stretched by the budget.
    pub fn effective_interval(&self) -> Duration {
        self.interval.max(self.min_pass_gap())
    }

    /// A poll found a new process: the next pass is a sighting pass, taken as soon as the
    /// budget allows.
    pub fn saw_new_process(&mut self) {
        self.sighting = true;
    }

    /// Whether no pass was taken yet (the one due is the start).
    pub fn first_pass(&self) -> bool {
        self.last_pass_at.is_none()
    }

    /// Whether the pass due now (if any) is a sighting pass.
    pub fn sighting(&self) -> bool {
        self.sighting
    }

    /// A sighting the budget allows, or the interval elapsed.
    pub fn pass_due(&self, now: Instant) -> bool {
        let gap_ok = self
            .last_pass_at
            .is_none_or(|at| now.duration_since(at) >= self.min_pass_gap());
        (self.sighting && gap_ok) || now >= self.next_pass
    }

    /// Whether a pass that began at `began` should also take the unique footprint: the first
    /// time, then as its budget allows, never on a sighting pass.
    /// Whether the unique footprint can be taken at all (frame numbers are readable).
    pub fn footprints(&self) -> bool {
        self.footprints
    }

    pub fn footprint_due(&self, sighting: bool, began: Instant) -> bool {
        if !self.footprints {
            return false;
        }
        match (self.last_footprint_at, self.footprint_cost) {
            (Some(at), Some(cost)) => {
                !sighting && began.duration_since(at) >= cost.div_f64(FOOTPRINT_CPU_BUDGET)
            }
            _ => true,
        }
    }

    /// How long to sleep from `now`: until the next poll, or the next pass if sooner.
    pub fn sleep(&self, now: Instant) -> Duration {
        self.poll_interval()
            .min(self.next_pass.saturating_duration_since(now))
            .max(Duration::from_millis(1))
    }

    pub fn polled(&mut self, took: Duration, cpu: Duration) {
        self.poll_cost = Some(moving_average(self.poll_cost, cpu));
        self.spent.polls += 1;
        self.spent.poll_total += took;
        self.spent.cpu_seconds += cpu.as_secs_f64();
    }

    /// Parents' captures at their children's sightings took `cpu`.
    pub fn captured(&mut self, cpu: Duration) {
        self.spent.cpu_seconds += cpu.as_secs_f64();
    }

    /// A pass that began at `began` took `took` (its footprint apart): the next one is due an
    /// effective interval after it began.
    pub fn passed(&mut self, began: Instant, took: Duration, cpu: Duration) {
        self.pass_cost = Some(moving_average(self.pass_cost, took));
        self.last_pass_at = Some(began);
        self.next_pass = began + self.effective_interval();
        self.sighting = false;
        self.spent.passes += 1;
        self.spent.pass_total += took;
        self.spent.pass_max = self.spent.pass_max.max(took);
        self.spent.cpu_seconds += cpu.as_secs_f64();
    }

    pub fn footprint_taken(&mut self, began: Instant, took: Duration, cpu: Duration) {
        self.footprint_cost = Some(moving_average(self.footprint_cost, took));
        self.last_footprint_at = Some(began);
        self.spent.footprints += 1;
        self.spent.footprint_total += took;
        self.spent.cpu_seconds += cpu.as_secs_f64();
    }

    /// The run's record of what following cost.
    pub fn fact(
        &self,
        method: Option<TruthMethod>,
        phases_kept: usize,
        phases_dropped: usize,
    ) -> PassesFact {
        let spent = &self.spent;
        let mean_ms = |total: Duration, count: u64| {
            if count == 0 {
                0.0
            } else {
                total.as_secs_f64() * 1e3 / count as f64
            }
        };
        PassesFact {
            interval_ms: self.interval.as_secs_f64() * 1e3,
            effective_interval_ms: self.effective_interval().as_secs_f64() * 1e3,
            cpu_budget: TRUTH_CPU_BUDGET,
            passes: spent.passes,
            mean_pass_ms: mean_ms(spent.pass_total, spent.passes),
            max_pass_ms: spent.pass_max.as_secs_f64() * 1e3,
            footprints: spent.footprints,
            mean_footprint_ms: mean_ms(spent.footprint_total, spent.footprints),
            footprint_cpu_budget: FOOTPRINT_CPU_BUDGET,
            cpu_seconds: spent.cpu_seconds,
            polls: spent.polls,
            mean_poll_us: mean_ms(spent.poll_total, spent.polls) * 1e3,
            phases_kept,
            phases_dropped,
            method: match method {
                Some(TruthMethod::Pfn) => "pfn",
                Some(TruthMethod::ExclusiveBit) => "exclusive-bit",
                None => "none",
            }
            .to_string(),
            ..PassesFact::default()
        }
    }
}

#[cfg(test)]
mod tests;
