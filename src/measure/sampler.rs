//! The timeline sampler: a thread of the orchestrator (never of the measured tree) that samples
//! every process of the tree while the workload runs. `statm` (RSS only, a few microseconds) is
//! read often; `smaps_rollup` (RSS, PSS, USS: a walk of every mapping) as often as its measured
//! cost allows within a CPU budget. The protocol's events are kept as markers.
//!
//! The thread runs at `SCHED_IDLE` (when it may come back from it, see [`super::priority`]):
//! it samples when the tree leaves a core free, and at normal priority once a sample is
//! [`MAX_IDLE_WAIT`] late; a rollup first waits for the tree to leave a core free, as a pass of
//! `memlab run` does (by the same rule: [`page_walk_starts`]), then walks at normal priority,
//! since it holds each process's mmap lock.
//! Each sample carries the time it was really taken, not when it was due.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cputime::moving_average;
use super::priority::{IdleWorker, page_walk_starts};
use super::tree_load::{CpuSource, TICKS_WINDOW, TreeLoad, busy_now};
use crate::kernel::rollup::read_memory_triple;
use crate::kernel::tree::{descendants, running_count};
use crate::result::{
    ProcessSample, Role, Sample, SampleKind, SamplerCost, Timeline, TimelineEvent,
};

/// Default interval between two `statm` samples.
pub const DEFAULT_STATM_INTERVAL: Duration = Duration::from_millis(10);
/// Share of one core the `smaps_rollup` samples may take: the rollup interval is stretched to
/// the measured cost of a rollup divided by this.
const ROLLUP_CPU_BUDGET: f64 = 0.05;
/// Rollups are never closer than this, however cheap.
const MIN_ROLLUP_INTERVAL: Duration = Duration::from_millis(50);
/// Beyond this many samples of a kind, every other one is dropped and the interval doubled, so
/// a long run keeps memlab's own memory bounded.
const MAX_SAMPLES_PER_KIND: usize = 2000;
/// The thread samples at idle priority, and at normal priority once a sample is this late: a
/// tree that keeps every core busy is still sampled, about this much less often.
const MAX_IDLE_WAIT: Duration = Duration::from_millis(100);
/// A rollup (the costly sample: a walk of every page table) waits until the tree leaves a core
/// free, at most this late.
const ROLLUP_MAX_IDLE_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub struct SamplerConfig {
    pub statm_interval: Duration,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            statm_interval: DEFAULT_STATM_INTERVAL,
        }
    }
}

struct Shared {
    stop: AtomicBool,
    /// Pids the workload announced as its children, and a flag raised when they change.
    announced: Mutex<Vec<i32>>,
    announced_changed: AtomicBool,
    events: Mutex<Vec<TimelineEvent>>,
    /// Full samples taken by the session at each phase, merged in at the end.
    phase_samples: Mutex<Vec<Sample>>,
    /// When the latest of them was taken, in nanoseconds since `started` (0: none yet): the
    /// sampler's own rollup is not taken again so soon after one (`memlab run`'s passes each
    /// record one, and a rollup walks every page of every process).
    latest_phase_sample_ns: AtomicU64,
    started: Instant,
    /// The sampling thread's id once it went idle; stopping raises it back first, so that
    /// stopping never waits for a free core.
    idle_thread: Mutex<Option<i32>>,
}

/// A running sampler; [`Sampler::finish`] stops it and returns the timeline.
pub struct Sampler {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Timeline>>,
}

impl Sampler {
    /// Starts sampling the tree below `root` (the workload). `started` is the time origin.
    pub fn start(root: i32, started: Instant, config: SamplerConfig) -> std::io::Result<Sampler> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            announced: Mutex::new(Vec::new()),
            announced_changed: AtomicBool::new(false),
            events: Mutex::new(Vec::new()),
            phase_samples: Mutex::new(Vec::new()),
            latest_phase_sample_ns: AtomicU64::new(0),
            started,
            idle_thread: Mutex::new(None),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("memlab-sampler".into())
            .spawn(move || sample_until_stopped(root, &worker, config))?;
        Ok(Sampler {
            shared,
            thread: Some(thread),
        })
    }

    pub fn set_children(&self, pids: &[i32]) {
        *self
            .shared
            .announced
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = pids.to_vec();
        self.shared.announced_changed.store(true, Ordering::SeqCst);
    }

    /// Adds a full sample taken elsewhere (the measurement of a phase: the exact moment).
    pub fn record(&self, sample: Sample) {
        let taken_ns = (sample.time_s * 1e9) as u64;
        self.shared
            .latest_phase_sample_ns
            .fetch_max(taken_ns.max(1), Ordering::SeqCst);
        self.shared
            .phase_samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sample);
    }

    /// Records a protocol event as a marker on the timeline.
    pub fn event(&self, kind: &str, name: &str) {
        let time_s = self.shared.started.elapsed().as_secs_f64();
        self.shared
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(TimelineEvent {
                time_s,
                kind: kind.to_string(),
                name: name.to_string(),
            });
    }

    pub fn finish(mut self) -> Timeline {
        self.stop_thread().unwrap_or_default()
    }

    fn stop_thread(&mut self) -> Option<Timeline> {
        self.shared.stop.store(true, Ordering::SeqCst);
        let idle_thread = self
            .shared
            .idle_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(thread_id) = idle_thread {
            super::priority::raise_to_normal(thread_id);
        }
        let mut timeline = self.thread.take()?.join().ok()?;
        timeline.events =
            std::mem::take(&mut *self.shared.events.lock().unwrap_or_else(|e| e.into_inner()));
        let phase_samples = std::mem::take(
            &mut *self
                .shared
                .phase_samples
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        timeline.samples.extend(phase_samples);
        timeline
            .samples
            .sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        Some(timeline)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// The tree as last discovered: pid and role.
fn members(root: i32, announced: &[i32]) -> Vec<(i32, Role)> {
    let mut members = vec![(root, Role::Parent)];
    let announced_set: HashSet<i32> = announced.iter().copied().collect();
    members.extend(announced.iter().map(|pid| (*pid, Role::Child)));
    members.extend(
        descendants(root)
            .into_iter()
            .filter(|pid| !announced_set.contains(pid))
            .map(|pid| (pid, Role::Descendant)),
    );
    members
}

/// A process's RSS from `statm`; None when it is gone or a zombie (whose statm reads 0 pages: a
/// live process always has some resident).
fn statm_rss_bytes(pid: i32, page_bytes: u64) -> Option<u64> {
    let process = procfs::process::Process::new(pid).ok()?;
    let statm = process.statm().ok()?;
    (statm.resident > 0).then_some(statm.resident * page_bytes)
}

/// Keeps at most [`MAX_SAMPLES_PER_KIND`] samples of `kind`: drops every other one when full.
/// Returns true when it thinned them (the caller then doubles its interval).
fn thin(samples: &mut Vec<Sample>, kind: SampleKind) -> bool {
    if samples.iter().filter(|s| s.kind == kind).count() < MAX_SAMPLES_PER_KIND {
        return false;
    }
    let mut seen = 0usize;
    samples.retain(|s| {
        if s.kind != kind {
            return true;
        }
        seen += 1;
        seen % 2 == 1
    });
    true
}

/// When the latest full sample recorded by a measurement was taken.
fn recorded_full_sample(shared: &Shared) -> Option<Instant> {
    match shared.latest_phase_sample_ns.load(Ordering::SeqCst) {
        0 => None,
        ns => Some(shared.started + Duration::from_nanos(ns)),
    }
}

/// Puts the sampling thread at idle priority, unless it is already being stopped. Under the lock
/// stopping takes: either stopping sees the thread's id and raises it, or the thread sees the
/// stop and stays at normal priority.
fn go_idle(shared: &Shared) -> Option<IdleWorker> {
    let mut idle_thread = shared.idle_thread.lock().unwrap_or_else(|e| e.into_inner());
    if shared.stop.load(Ordering::SeqCst) {
        return None;
    }
    let worker = IdleWorker::start(MAX_IDLE_WAIT / 2)?;
    *idle_thread = Some(super::priority::current_thread_id());
    Some(worker)
}

fn sample_until_stopped(root: i32, shared: &Shared, config: SamplerConfig) -> Timeline {
    let idle = go_idle(shared);
    let page_bytes = crate::kernel::page_size_bytes();
    let cpu_at_start = super::cputime::thread_cpu().as_secs_f64();
    let mut statm_interval = config.statm_interval;
    let mut rollup_interval = MIN_ROLLUP_INTERVAL;
    // Exponential moving average of a rollup's CPU time, and how often thinning doubled the pace.
    let mut rollup_cost: Option<Duration> = None;
    let mut rollup_thinning = 1u32;
    let mut samples: Vec<Sample> = Vec::new();
    let mut cost = SamplerCost::default();
    let (mut statm_total, mut rollup_total) = (Duration::ZERO, Duration::ZERO);
    let mut tree: Vec<(i32, Role)> = vec![(root, Role::Parent)];
    let mut next_statm = Instant::now();
    let mut next_rollup = Instant::now();
    // The tree's CPU use, read afresh for each rollup (a walk of every page table of the tree,
    // which waits for a free core as a pass does: see `page_walk_starts`), only shortly before
    // it is due and until it is taken: no turn of the loop reads it for nothing in between.
    // Only a thread at idle priority defers its rollups: one that could not go idle measures as
    // memlab always did.
    let mut load: Option<TreeLoad> = None;
    // The due rollup found the tree keeping every core busy at least once.
    let mut rollup_deferred = false;

    while !shared.stop.load(Ordering::SeqCst) {
        if shared.announced_changed.swap(false, Ordering::SeqCst) {
            let announced = shared
                .announced
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            tree = members(root, &announced);
        }
        let now = Instant::now();
        if now >= next_rollup
            && let Some(recorded) = recorded_full_sample(shared)
            && recorded + rollup_interval > now
        {
            // A measurement has just taken a full sample: the next rollup is due an interval
            // after it.
            next_rollup = recorded + rollup_interval;
            cost.rollups_skipped += 1;
        }
        // Made a window and a half before the rollup (of the longer source: the loop turns
        // every 10 ms or so) and read at each turn from then on: the readings span a window
        // when the rollup is due.
        if idle.is_some() && load.is_none() && now + TICKS_WINDOW.mul_f64(1.5) >= next_rollup {
            let pids = tree.iter().map(|(pid, _)| *pid).collect();
            load = Some(TreeLoad::new(CpuSource::of_tree(pids)));
        }
        let rollup_starts = match (now.checked_duration_since(next_rollup), load.as_mut()) {
            // Read at each turn before it is due, so that the readings span a window then.
            (None, Some(load)) => {
                load.busy_lately();
                false
            }
            (None, None) => false,
            (Some(_), None) => true,
            (Some(late), Some(load)) => {
                let lately = load.busy_lately();
                // Only the window counts the rollup as waiting: processes seen running at one
                // moment may be a moment's (a parent and the child it just forked). They are
                // read only when the window leaves a core free: then they decide.
                rollup_deferred |= lately == Some(true);
                let running_now = lately == Some(false)
                    && busy_now(
                        running_count(tree.iter().map(|(pid, _)| *pid)),
                        load.cores(),
                    );
                page_walk_starts(lately, running_now, late, ROLLUP_MAX_IDLE_WAIT)
            }
        };
        if rollup_starts {
            cost.rollups_waited += u64::from(std::mem::take(&mut rollup_deferred));
            load = None;
            // A full sample also rediscovers the tree (new children, exited ones).
            let began = Instant::now();
            let announced = shared
                .announced
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            tree = members(root, &announced);
            let mut processes = Vec::with_capacity(tree.len());
            let mut walk = || {
                for (pid, role) in &tree {
                    match read_memory_triple(*pid) {
                        Ok(memory) => processes.push(ProcessSample {
                            pid: *pid,
                            role: Some(*role),
                            rss_bytes: memory.rss_bytes,
                            pss_bytes: Some(memory.pss_bytes),
                            uss_bytes: Some(memory.uss_bytes),
                        }),
                        Err(_) => cost.missing_process_samples += 1,
                    }
                }
            };
            let cpu_before = super::cputime::thread_cpu();
            // At normal priority: see `IdleWorker::walking`.
            match &idle {
                Some(idle) => idle.walking(walk),
                None => walk(),
            }
            let took = began.elapsed();
            let took_cpu = super::cputime::thread_cpu().saturating_sub(cpu_before);
            rollup_total += took;
            cost.rollup_samples += 1;
            samples.push(Sample {
                time_s: began.duration_since(shared.started).as_secs_f64(),
                kind: SampleKind::Rollup,
                processes,
            });
            if thin(&mut samples, SampleKind::Rollup) {
                rollup_thinning *= 2;
            }
            // Stay within the CPU budget: a rollup that costs 4 ms of CPU waits 80 ms. Its CPU
            // time, not its wall time: that also counts the time the tree's processes kept the
            // cores and held their locks, and would stretch the pace most while the tree is
            // busiest. The average keeps one slow walk (say, during a phase measurement) from
            // stretching the pace for good.
            let average = moving_average(rollup_cost, took_cpu);
            rollup_cost = Some(average);
            rollup_interval =
                average.div_f64(ROLLUP_CPU_BUDGET).max(MIN_ROLLUP_INTERVAL) * rollup_thinning;
            next_rollup = began + rollup_interval;
            next_statm = next_statm.max(Instant::now());
        } else if now >= next_statm {
            let began = Instant::now();
            let mut processes = Vec::with_capacity(tree.len());
            for (pid, role) in &tree {
                match statm_rss_bytes(*pid, page_bytes) {
                    Some(rss_bytes) => processes.push(ProcessSample {
                        pid: *pid,
                        role: Some(*role),
                        rss_bytes,
                        pss_bytes: None,
                        uss_bytes: None,
                    }),
                    None => cost.missing_process_samples += 1,
                }
            }
            statm_total += began.elapsed();
            cost.statm_samples += 1;
            samples.push(Sample {
                time_s: began.duration_since(shared.started).as_secs_f64(),
                kind: SampleKind::Statm,
                processes,
            });
            if thin(&mut samples, SampleKind::Statm) {
                statm_interval *= 2;
            }
            next_statm = began + statm_interval;
        }
        // A rollup waiting for a free core is asked about again at the next turn: it is not a
        // reason to turn without sleeping, and it is late work for the watchdog to raise only
        // once it reaches its bound (it then walks at normal priority, as a pass at its bound
        // does, rather than be descheduled inside the walk).
        let rollup_waiting = !rollup_starts && Instant::now() >= next_rollup;
        let rollup_max_wait = if rollup_waiting {
            ROLLUP_MAX_IDLE_WAIT
        } else {
            MAX_IDLE_WAIT
        };
        let wake = if rollup_waiting {
            next_statm
        } else {
            next_statm.min(next_rollup)
        };
        if let Some(idle) = &idle {
            idle.done();
            // The piece of work whose wait runs out first.
            if next_statm + MAX_IDLE_WAIT <= next_rollup + rollup_max_wait {
                idle.due(next_statm, MAX_IDLE_WAIT);
            } else {
                idle.due(next_rollup, rollup_max_wait);
            }
        }
        let now = Instant::now();
        if wake > now {
            // Short naps so that stopping is prompt.
            std::thread::sleep((wake - now).min(Duration::from_millis(10)));
        }
    }

    let mean_us = |total: Duration, count: u64| {
        if count == 0 {
            0.0
        } else {
            total.as_secs_f64() * 1e6 / count as f64
        }
    };
    cost.statm_mean_us = mean_us(statm_total, cost.statm_samples);
    cost.rollup_mean_us = mean_us(rollup_total, cost.rollup_samples);
    cost.cpu_seconds = super::cputime::thread_cpu().as_secs_f64() - cpu_at_start;
    Timeline {
        statm_interval_ms: statm_interval.as_secs_f64() * 1e3,
        rollup_interval_ms: rollup_interval.as_secs_f64() * 1e3,
        samples,
        events: Vec::new(),
        cost,
    }
}

/// A measurement of the tree (a phase, a pass of `memlab run`) as a full timeline sample.
pub fn rollup_sample(time_s: f64, processes: &[crate::result::ProcessSnapshot]) -> Sample {
    Sample {
        time_s,
        kind: SampleKind::Rollup,
        processes: processes
            .iter()
            .filter_map(|p| {
                let rollup = p.rollup.as_ref()?;
                Some(ProcessSample {
                    pid: p.pid,
                    role: Some(p.role),
                    rss_bytes: rollup.rss_bytes,
                    pss_bytes: Some(rollup.pss_bytes),
                    uss_bytes: Some(rollup.uss_bytes),
                })
            })
            .collect(),
    }
}
