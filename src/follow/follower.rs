//! The follower between polls and passes: the tree's records, the schedule, the passes kept and
//! the peak. A poll reads the tree and updates the records; a pass measures every live process
//! and records what it measured in one place, [`Follower::record`].

use std::time::{Duration, Instant};

use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::follow::census::Censuses;
use crate::follow::observe::{self, Discovery};
use crate::follow::outcome::PeakFootprint;
use crate::follow::phases::{Pass, PassLog};
use crate::follow::records;
use crate::follow::schedule::Schedule;
use crate::follow::tree::{Change, Tree};
use crate::kernel::pagemap::{self, TruthMethod};
use crate::kernel::tree::direct_children;
use crate::measure::cputime::thread_cpu;
use crate::measure::sampler::{Sampler, rollup_sample};
use crate::measure::sightings::Sightings;
use crate::measure::snapshot::{Snapshot, TreeMeasurement};
use crate::result::run::{MarkerKind, PassesFact, PhaseMarker, ProcessKind, RunPhase, RunProcess};
use crate::result::{Phase, Timeline};

pub struct Follower {
    started: Instant,
    memlab: i32,
    root: i32,
    /// `--pid`: the tree is the root's, wherever its processes are re-parented.
    attached: bool,
    tree: Tree,
    measurement: TreeMeasurement,
    method: Option<TruthMethod>,
    schedule: Schedule,
    passes: PassLog,
    /// The largest unique footprint (ΣPSS without frame numbers): what `--max-tree-unique`
    /// judges.
    peak: Option<Peak>,
    /// The pass with the largest ΣPSS, over every pass: the tree at its peak.
    pss_peak: Option<(u64, u64)>,
    /// Parents' frames at their children's first sightings.
    sightings: Sightings,
    census: Censuses,
    /// The tree's processes the last poll saw in state R (on a core or waiting for one).
    running_at_poll: usize,
}

/// The largest footprint of the tree so far.
struct Peak {
    footprint: PeakFootprint,
}

/// Why a pass is taken.
#[derive(Debug, Clone, PartialEq)]
pub enum PassReason {
    /// Due by the schedule: the interval, or a new process's first sighting.
    Due { sighting: bool },
    /// A marker from the program.
    Marker(PhaseMarker),
    /// The last look at what is still alive before memlab stops following.
    Last,
}

/// One pass as measured, before anything is recorded from it.
struct PassOutcome {
    id: u64,
    began: Instant,
    /// Seconds since the run started.
    time_s: f64,
    snapshot: Snapshot,
    marker: Option<PhaseMarker>,
    /// What the measurement cost, the footprint apart (it has its own budget).
    took: Duration,
    cpu: Duration,
    footprint: Option<FootprintCost>,
}

/// What taking the unique footprint cost.
struct FootprintCost {
    began: Instant,
    took: Duration,
    cpu: Duration,
}

/// What the follower leaves when the run ends.
pub struct Followed {
    pub phases: Vec<Phase>,
    /// The last pass before the tree began to end (the latest when it did not).
    pub before_end_phase: Option<String>,
    pub phase_notes: Vec<RunPhase>,
    pub peak_phase: Option<String>,
    pub peak_footprint: Option<PeakFootprint>,
    pub processes: Vec<RunProcess>,
    pub passes: PassesFact,
}

impl Follower {
    /// Follows the tree of `root`; the first pass is due at once. `census`: take the forked
    /// CPython children's censuses.
    pub fn new(
        started: Instant,
        root: i32,
        attached: bool,
        interval: Duration,
        census: bool,
    ) -> Follower {
        let method = pagemap::best_method().ok();
        let pfn = method == Some(TruthMethod::Pfn);
        Follower {
            started,
            memlab: std::process::id() as i32,
            root,
            attached,
            tree: Tree::new(
                root,
                if attached {
                    ProcessKind::Attached
                } else {
                    ProcessKind::Command
                },
            ),
            measurement: TreeMeasurement::default(),
            method,
            schedule: Schedule::new(interval, Instant::now(), pfn),
            passes: PassLog::default(),
            peak: None,
            pss_peak: None,
            sightings: Sightings::default(),
            census: Censuses::new(census, method),
            running_at_poll: 0,
        }
    }

    pub fn any_alive(&self) -> bool {
        self.tree.any_alive()
    }

    /// Whether `pid` is, or was, a process of the followed tree.
    pub fn knows(&self, pid: i32) -> bool {
        self.tree.knows(pid)
    }

    /// The tree begins to end (the command exited, or memlab forwarded a signal): later passes
    /// are teardown passes, never the headline.
    pub fn begin_ending(&mut self) {
        self.passes.begin_ending();
        self.census.stop();
    }

    /// The pids of the tree's live processes.
    pub fn alive_pids(&self) -> Vec<i32> {
        self.tree.alive().map(|t| t.pid).collect()
    }

    /// The live processes other than the root.
    pub fn others_alive(&self) -> Vec<i32> {
        self.tree
            .alive()
            .filter(|t| !t.root)
            .map(|t| t.pid)
            .collect()
    }

    /// The live processes, each as `PID (COMMAND)`.
    pub fn alive_described(&self) -> Vec<String> {
        self.tree
            .alive()
            .map(|t| format!("{} ({})", t.pid, t.command))
            .collect()
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Lists the tree, reads each process's `stat`, and updates the records.
    pub fn poll(&mut self) -> Change {
        let began = Instant::now();
        let cpu = thread_cpu();
        let now_s = self.now_s();
        let seeds: Vec<i32> = if self.tree.records().is_empty() {
            vec![self.root]
        } else {
            self.tree.alive().map(|t| t.pid).collect()
        };
        let discovery = if self.attached {
            Discovery::Seeds {
                memlab: self.memlab,
                seeds: &seeds,
            }
        } else {
            Discovery::BelowMemlab {
                memlab: self.memlab,
            }
        };
        let observations = observe::observe_all(&observe::discover(discovery));
        let decision = self.tree.decide(&observations);
        let change = self.tree.apply(decision, now_s, observe::command_line);
        self.running_at_poll = self
            .tree
            .alive()
            .filter(|t| observations.get(t.pid).is_some_and(|o| o.running))
            .count();
        for gone in &change.gone {
            if let Some(pass_id) = gone.last_pass {
                self.passes.mark_last_of(pass_id, gone.pid);
            }
            self.sightings.forget(gone.pid);
        }
        if !change.new.is_empty() {
            self.schedule.saw_new_process();
            self.sight_parents_of(&change.new);
        }
        if !self.attached {
            self.reap_orphans();
        }
        self.schedule
            .polled(began.elapsed(), thread_cpu().saturating_sub(cpu));
        change
    }

    /// Notes the parents of `new` copy-on-write children: their frames are to be captured as
    /// they are at this first sighting ([`Follower::capture_pending`]), so that a page the
    /// parent rewrites later is told from the child's copies. Frame numbers only (the
    /// exclusive bit cannot tell them apart).
    fn sight_parents_of(&mut self, new: &[i32]) {
        if self.method != Some(TruthMethod::Pfn) {
            return;
        }
        let mut by_parent: std::collections::BTreeMap<i32, Vec<i32>> = Default::default();
        for member in self.tree.members() {
            if let Some(parent) = member.compare_with
                && new.contains(&member.pid)
            {
                by_parent.entry(parent).or_default().push(member.pid);
            }
        }
        for (parent, children) in by_parent {
            self.sightings.sighted(parent, &children);
        }
    }

    /// How many of the tree's processes the last poll saw running or waiting for a core.
    pub fn running_at_poll(&self) -> usize {
        self.running_at_poll
    }

    /// Whether some child's parent waits for its capture.
    pub fn captures_pending(&self) -> bool {
        self.sightings.any_pending()
    }

    /// Captures the frames of the parents of the children seen since the last capture, and
    /// notes in each child's record when.
    pub fn capture_pending(&mut self) {
        if !self.captures_pending() {
            return;
        }
        let cpu = thread_cpu();
        for captured in self.sightings.capture_pending() {
            let at_s = captured.at.duration_since(self.started).as_secs_f64();
            for child in captured.children {
                if let Some(tracked) = self.tree.latest_mut(child) {
                    tracked.parent_frames_s = Some(at_s);
                }
            }
        }
        self.schedule.captured(thread_cpu().saturating_sub(cpu));
    }

    /// Reaps orphans re-parented to memlab that have exited (the command is reaped by its
    /// `Child`). Only pids memlab knows are its children: never `waitpid(-1)` here.
    fn reap_orphans(&self) {
        for pid in direct_children(self.memlab) {
            if pid != self.root {
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            }
        }
    }

    /// Takes a pass if one is due at `now` (a sighting, or the interval) and anyone is alive.
    pub fn pass_if_due(&mut self, now: Instant, sampler: Option<&Sampler>) -> anyhow::Result<()> {
        if self.tree.any_alive() && self.schedule.pass_due(now) {
            let sighting = self.schedule.sighting();
            self.pass(sampler, PassReason::Due { sighting })?;
        }
        Ok(())
    }

    /// Measures every live process: smaps_rollup, page truth of each copy-on-write child
    /// against its parent, and the unique footprint when it is due. Returns the pass's id, or
    /// none when nothing was alive to measure.
    pub fn pass(
        &mut self,
        sampler: Option<&Sampler>,
        reason: PassReason,
    ) -> anyhow::Result<Option<u64>> {
        // The comparison needs the children's captures: those still waiting are taken first.
        self.capture_pending();
        let members = self.tree.members();
        if members.is_empty() {
            return Ok(None);
        }
        let sighting = reason == PassReason::Due { sighting: true };
        let began = Instant::now();
        let cpu = thread_cpu();
        let mut snapshot = self
            .measurement
            .measure_members(&members, Some(&self.sightings))?;
        drop_exiting(&mut snapshot);
        let took = began.elapsed();
        let cpu = thread_cpu().saturating_sub(cpu);
        // Every new ΣPSS maximum takes the unique footprint too, whatever its budget says:
        // the peak is never a pass without it.
        let new_pss_maximum = self
            .pss_peak
            .is_none_or(|(_, pss)| snapshot.tree.pss_bytes > pss);
        let footprint = (self.schedule.footprint_due(sighting, began)
            || (new_pss_maximum && self.schedule.footprints()))
        .then(|| add_footprint(&mut snapshot));
        let id = self.passes.next_id();
        self.census.take_due(
            id,
            began.duration_since(self.started).as_secs_f64(),
            &snapshot,
            matches!(&reason, PassReason::Marker(marker) if marker.kind == MarkerKind::Checkpoint),
            &self.sightings,
        );
        let outcome = PassOutcome {
            id,
            began,
            time_s: began.duration_since(self.started).as_secs_f64(),
            snapshot,
            marker: match reason {
                PassReason::Marker(marker) => Some(marker),
                PassReason::Due { .. } | PassReason::Last => None,
            },
            took,
            cpu,
            footprint,
        };
        self.record(outcome, sampler);
        Ok(Some(id))
    }

    /// Everything a pass leaves: each process's figures, the peak, the timeline's sample, the
    /// schedule's costs, and the pass itself, kept as a phase for now.
    fn record(&mut self, pass: PassOutcome, sampler: Option<&Sampler>) {
        let mut seen = Vec::new();
        for process in &pass.snapshot.processes {
            if let Some(tracked) = self.tree.latest_mut(process.pid)
                && tracked.measured.absorb(process, pass.id, pass.time_s)
            {
                seen.push(process.pid);
            }
        }
        self.update_peak(&pass);
        if let Some(sampler) = sampler {
            sampler.record(rollup_sample(pass.time_s, &pass.snapshot.processes));
        }
        if let Some(footprint) = &pass.footprint {
            self.schedule
                .footprint_taken(footprint.began, footprint.took, footprint.cpu);
        }
        self.schedule.passed(pass.began, pass.took, pass.cpu);
        let snapshot = pass.snapshot;
        let mut kept = Pass::new(
            pass.id,
            Phase {
                name: String::new(),
                time_s: pass.time_s,
                processes: snapshot.processes,
                meminfo: snapshot.meminfo,
                tree: snapshot.tree,
            },
        );
        kept.seen = seen;
        kept.marker = pass.marker;
        self.passes.push(kept);
        let peak_pass = self.pss_peak.map(|(id, _)| id);
        self.passes
            .thin(peak_pass, self.tree.oldest_live_last_pass());
    }

    /// The tree's footprint in this pass: its unique bytes with frame numbers (when taken),
    /// else ΣPSS.
    fn update_peak(&mut self, pass: &PassOutcome) {
        let pfn = self.method == Some(TruthMethod::Pfn);
        let tree = &pass.snapshot.tree;
        // With frame numbers, the peak is a pass whose unique footprint could be read: one
        // that failed (every retry met a process vanishing) is not the tree's peak, and the
        // next larger pass takes the footprint again.
        let footprint_failed = pass.footprint.is_some() && tree.unique_bytes.is_none();
        if !footprint_failed && self.pss_peak.is_none_or(|(_, pss)| tree.pss_bytes > pss) {
            self.pss_peak = Some((pass.id, tree.pss_bytes));
        }
        let footprint = if pfn {
            tree.unique_bytes
        } else {
            Some(tree.pss_bytes)
        };
        let Some(bytes) = footprint else {
            return;
        };
        if self
            .peak
            .as_ref()
            .is_some_and(|p| bytes <= p.footprint.bytes)
        {
            return;
        }
        let largest = pass
            .snapshot
            .processes
            .iter()
            .filter_map(|p| Some((p.pid, p.rollup.as_ref()?.pss_bytes)))
            .max_by_key(|(_, pss)| *pss);
        self.peak = Some(Peak {
            footprint: PeakFootprint {
                bytes,
                exact: pfn,
                time_s: pass.time_s,
                largest,
            },
        });
    }

    /// `--pid`: memlab stops following; what is still alive is left running.
    pub fn leave_running(&mut self) {
        self.tree.leave_running();
    }

    /// The command exited and memlab killed what was left below it.
    pub fn mark_killed(&mut self) {
        let now_s = self.now_s();
        self.tree.mark_killed(now_s);
    }

    /// The run ended: the latest pass is its `end`; the kept passes become phases, every
    /// process gets its record, and the timeline its roles and peaks.
    pub fn finish(mut self, timeline: &mut Timeline) -> Followed {
        self.passes.mark_end();
        let dropped = self.passes.dropped();
        let before_end = self.passes.before_end();
        let named = self.passes.into_phases(self.pss_peak.map(|(id, _)| id));
        let mut phases = named.phases;
        let mut processes =
            records::records(self.tree.records(), self.tree.root_kind(), &named.names);
        self.census.attach(&mut processes, &named.names);
        records::settle_roles(&processes, &mut phases, timeline);
        records::add_sampled_peaks(&mut processes, timeline);
        let mut passes = self.schedule.fact(self.method, phases.len(), dropped);
        let captures = self.sightings.cost();
        passes.sighting_captures = captures.captures;
        passes.max_sighting_capture_ms = captures.max.as_secs_f64() * 1e3;
        passes.max_sighting_capture_wait_ms = captures.max_wait.as_secs_f64() * 1e3;
        passes.sighting_frames_peak_bytes = captures.peak_heap_bytes as u64;
        passes.memlab_peak_rss_bytes = procfs::process::Process::myself()
            .and_then(|me| me.status())
            .ok()
            .and_then(|status| status.vmhwm)
            .map(|kib| kib * 1024);
        self.census.add_cost(&mut passes);
        Followed {
            phases,
            before_end_phase: before_end.and_then(|id| named.names.get(&id).cloned()),
            phase_notes: named.notes,
            peak_phase: named.peak,
            peak_footprint: self.peak.map(|p| p.footprint),
            processes,
            passes,
        }
    }
}

/// Distinct physical frames of the measured processes, into the snapshot's totals.
/// Leaves out of a pass the processes that began to exit (or exited) while it measured them,
/// and the page truth of their children: their memory was being torn down, so pages were
/// vanishing under the reader and the figures would be too small. The previous pass stands
/// for them.
fn drop_exiting(snapshot: &mut Snapshot) {
    let exiting: std::collections::HashSet<i32> = snapshot
        .processes
        .iter()
        .map(|p| p.pid)
        .filter(|pid| !observe::still_running(*pid))
        .collect();
    if exiting.is_empty() {
        return;
    }
    snapshot.processes.retain(|p| !exiting.contains(&p.pid));
    for process in &mut snapshot.processes {
        if process
            .parent_pid
            .is_some_and(|parent| exiting.contains(&parent))
        {
            process.page_truth = None;
        }
    }
}

fn add_footprint(snapshot: &mut Snapshot) -> FootprintCost {
    let began = Instant::now();
    let cpu = thread_cpu();
    let mut live: Vec<i32> = snapshot
        .processes
        .iter()
        .filter(|p| !p.missing)
        .map(|p| p.pid)
        .collect();
    // A process that exits while its pagemap is read fails the whole read: read again without
    // it (its private pages are gone; what it shared is still counted in the others).
    let footprint = loop {
        match pagemap::tree_unique_footprint(&live) {
            Ok(footprint) => break Some(footprint),
            Err(_) => {
                let before = live.len();
                live.retain(|pid| observe::still_running(*pid));
                if live.len() == before || live.is_empty() {
                    break None;
                }
            }
        }
    };
    if let Some(footprint) = footprint.filter(|f| f.exact) {
        let tree = &mut snapshot.tree;
        tree.unique_bytes = footprint.unique_bytes;
        tree.overcount_factor = tree
            .unique_bytes
            .filter(|unique| *unique > 0)
            .map(|unique| tree.rss_bytes as f64 / unique as f64);
    }
    FootprintCost {
        began,
        took: began.elapsed(),
        cpu: thread_cpu().saturating_sub(cpu),
    }
}
