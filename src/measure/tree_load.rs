//! Whether the measured tree keeps every core busy right now. memlab's page walks yield to the
//! tree (they wait before they start, holding nothing), but only while the tree needs the cores:
//! a core the tree leaves unused goes to memlab's work even when another program (another test,
//! a build) would take it, so that memlab measures on time without slowing the tree.
//!
//! The tree's CPU time comes from its cgroup's `cpu.stat` (microseconds, every process that ever
//! joined it) when memlab started it ([`super::containment`]), else from each process's `stat`
//! (clock ticks; a process that exits takes its time along, so the tree then reads as less busy).
//!
//! A window of CPU time says what the tree did, not what it does: a pool that set every core to
//! work in the window's last milliseconds still reads as leaving one free over it. Callers that
//! also know how many of the tree's processes are running now (a poll's states) say busy on that
//! alone ([`busy_now`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The tree keeps the cores busy when it leaves less than this share of a core unused.
pub const FREE_CORE_SHARE: f64 = 0.5;
/// The span of recent time the tree's use is judged over, by the resolution of its source: a
/// cgroup counts microseconds (the scheduler charges a running task at least every tick), so a
/// few ticks are enough to see a pool start its work; processes' `stat` counts clock ticks
/// (10 ms), which average out over a few processes only in a longer span.
pub const CGROUP_WINDOW: Duration = Duration::from_millis(30);
pub const TICKS_WINDOW: Duration = Duration::from_millis(100);
/// Readings closer than a third of the window repeat the last answer: callers ask every 10 ms
/// (the sampler, a pass's watchdog).
const READINGS_PER_WINDOW: u32 = 3;

/// Where the tree's CPU time is read.
#[derive(Debug, Clone)]
pub enum CpuSource {
    /// The cgroup holding the whole tree (`memlab run -- COMMAND`).
    Cgroup(PathBuf),
    /// These processes (`--pid`, or no cgroup).
    Processes(Vec<i32>),
}

impl CpuSource {
    /// The source for a tree of these processes: the cgroup memlab started it in, when that
    /// cgroup holds any of them (it then counts the whole tree, exited processes included),
    /// else the processes themselves (`--pid`, no cgroup).
    pub fn of_tree(pids: Vec<i32>) -> CpuSource {
        match super::containment::cgroup_holding(&pids) {
            Some(dir) => CpuSource::Cgroup(dir),
            None => CpuSource::Processes(pids),
        }
    }

    /// The span the tree's use is judged over: see [`CGROUP_WINDOW`].
    pub fn window(&self) -> Duration {
        match self {
            CpuSource::Cgroup(_) => CGROUP_WINDOW,
            CpuSource::Processes(_) => TICKS_WINDOW,
        }
    }

    /// CPU time the tree has used so far, None when it cannot be read.
    pub fn read(&self) -> Option<Duration> {
        match self {
            CpuSource::Cgroup(dir) => {
                cpu_stat_usage(&std::fs::read_to_string(dir.join("cpu.stat")).ok()?)
            }
            CpuSource::Processes(pids) => {
                let ticks: u64 = pids
                    .iter()
                    .filter_map(|pid| procfs::process::Process::new(*pid).ok()?.stat().ok())
                    .map(|stat| stat.utime + stat.stime)
                    .sum();
                Some(Duration::from_secs_f64(
                    ticks as f64 / procfs::ticks_per_second() as f64,
                ))
            }
        }
    }
}

/// `usage_usec` of a cgroup v2 `cpu.stat` file (present with or without the cpu controller).
pub fn cpu_stat_usage(text: &str) -> Option<Duration> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == "usage_usec")
            .then(|| value.trim().parse().ok().map(Duration::from_micros))
            .flatten()
    })
}

/// Whether a tree that used `cpu` over `wall` kept `cores` cores busy (left less than
/// [`FREE_CORE_SHARE`] of a core unused on average).
pub fn keeps_cores_busy(cpu: Duration, wall: Duration, cores: usize) -> bool {
    if wall.is_zero() {
        return false;
    }
    cpu + wall.mul_f64(FREE_CORE_SHARE) >= wall * cores as u32
}

/// The tree's recent CPU use, read again at each question.
pub struct TreeLoad {
    source: CpuSource,
    cores: usize,
    /// Readings of the last window and one before it.
    readings: VecDeque<(Instant, Duration)>,
    /// The latest reading failed.
    unreadable: bool,
}

impl TreeLoad {
    pub fn new(source: CpuSource) -> TreeLoad {
        TreeLoad {
            source,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            readings: VecDeque::new(),
            unreadable: false,
        }
    }

    /// Whether the tree kept every core busy over the last window alone: None until the
    /// readings span one. For a load read afresh (a page walk about to start), that window holds
    /// only what the tree did since. Some(false) when the tree's CPU time cannot be read: there
    /// is then no load memlab could see to yield to, and work that waits for this answer would
    /// wait its whole bound every time.
    pub fn busy_lately(&mut self) -> Option<bool> {
        self.read();
        if self.unreadable {
            return Some(false);
        }
        let window = self.source.window();
        let readings = self.readings.make_contiguous();
        let last = readings.len().checked_sub(1)?;
        window_ending_at(readings, last, window, self.cores)
    }

    /// The span the tree's use is judged over.
    pub fn window(&self) -> Duration {
        self.source.window()
    }

    /// The cores the tree may use (memlab's own count of them).
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// Takes a reading, unless the latest is less than a third of a window old.
    fn read(&mut self) {
        let now = Instant::now();
        let window = self.source.window();
        if self
            .readings
            .back()
            .is_some_and(|(at, _)| now.duration_since(*at) < window / READINGS_PER_WINDOW)
        {
            return;
        }
        let Some(cpu) = self.source.read() else {
            self.unreadable = true;
            return;
        };
        self.unreadable = false;
        // A caller that asks less often than a window gets windows as long as its gaps: a load
        // is made afresh for each piece of work that waits on it, so they span only its wait.
        self.readings.push_back((now, cpu));
        // Keep the newest reading at least a window old: the window starts there.
        while self
            .readings
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) >= window)
        {
            self.readings.pop_front();
        }
    }
}

/// Whether `running` processes of the tree (in state R at a poll: on a core or waiting for one)
/// keep all of `cores` busy now.
pub fn busy_now(running: usize, cores: usize) -> bool {
    running >= cores
}

/// Whether the tree kept every core busy over the window that ends at reading `end` (readings:
/// time, the tree's CPU time so far, oldest first); None when the readings do not reach a
/// window back.
fn window_ending_at(
    readings: &[(Instant, Duration)],
    end: usize,
    window: Duration,
    cores: usize,
) -> Option<bool> {
    let (to_at, to_cpu) = readings[end];
    let start = readings[..end]
        .iter()
        .rposition(|(at, _)| to_at.duration_since(*at) >= window)?;
    let (from_at, from_cpu) = readings[start];
    Some(keeps_cores_busy(
        to_cpu.saturating_sub(from_cpu),
        to_at.duration_since(from_at),
        cores,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_is_read_from_cpu_stat() {
        let text = "usage_usec 1598\nuser_usec 1500\nsystem_usec 98\nnice_usec 0\n";
        assert_eq!(cpu_stat_usage(text), Some(Duration::from_micros(1598)));
        assert_eq!(cpu_stat_usage("user_usec 3\n"), None);
        assert_eq!(cpu_stat_usage("usage_usec many\n"), None);
    }

    #[test]
    fn a_tree_keeps_the_cores_busy_when_it_leaves_less_than_half_a_core() {
        let ms = Duration::from_millis;
        // 2 cores over 100 ms: 200 ms of CPU is all of them, 150 ms leaves half a core.
        assert!(keeps_cores_busy(ms(200), ms(100), 2));
        assert!(keeps_cores_busy(ms(150), ms(100), 2));
        assert!(!keeps_cores_busy(ms(149), ms(100), 2));
        assert!(!keeps_cores_busy(ms(0), ms(100), 2));
        assert!(keeps_cores_busy(ms(60), ms(100), 1));
        assert!(!keeps_cores_busy(ms(10), ms(0), 1));
    }

    /// A spinning process, measured from outside: busy on a one-core count, not on a count of
    /// as many cores as it leaves unused; a sleeping one is never busy.
    #[test]
    fn a_spinning_process_reads_busy_and_a_sleeping_one_does_not() {
        let spin = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let sleep = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = |child: &std::process::Child| child.id() as i32;
        let source = |child| CpuSource::Processes(vec![pid(child)]);
        let (spin_cpu, sleep_cpu) = (source(&spin), source(&sleep));
        let began = Instant::now();
        let (spin_before, sleep_before) = (spin_cpu.read().unwrap(), sleep_cpu.read().unwrap());
        std::thread::sleep(Duration::from_millis(500));
        let wall = began.elapsed();
        let spun = spin_cpu.read().unwrap() - spin_before;
        let slept = sleep_cpu.read().unwrap() - sleep_before;
        for mut child in [spin, sleep] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        // The spinner ran: how much depends on the machine's load, never more than the wall.
        assert!(
            spun > Duration::ZERO && spun <= wall + Duration::from_millis(20),
            "{spun:?}"
        );
        assert_eq!(slept, Duration::ZERO);
        assert!(!keeps_cores_busy(slept, wall, 1));
        assert!(!keeps_cores_busy(spun, wall, 64));
    }

    #[test]
    fn the_load_answers_once_its_readings_span_the_window() {
        let me = std::process::id() as i32;
        let mut load = TreeLoad::new(CpuSource::Processes(vec![me]));
        load.cores = 64;
        assert_eq!(load.busy_lately(), None, "one reading spans no time");
        std::thread::sleep(TICKS_WINDOW + Duration::from_millis(10));
        // This test process does not keep 64 cores busy.
        assert_eq!(load.busy_lately(), Some(false));
        // Asked again at once: the same answer, without a new reading.
        assert_eq!(load.busy_lately(), Some(false));
        assert_eq!(load.readings.len(), 2);
        std::thread::sleep(TICKS_WINDOW + Duration::from_millis(10));
        assert_eq!(load.busy_lately(), Some(false));
        assert_eq!(
            load.readings.len(),
            2,
            "the reading a window old is the oldest kept"
        );
        let gone = CpuSource::Cgroup(PathBuf::from("/nonexistent/memlab-cgroup"));
        let mut gone = TreeLoad::new(gone);
        assert_eq!(
            gone.busy_lately(),
            Some(false),
            "a walk does not wait for nothing"
        );
    }

    /// Readings 10 ms apart of a tree using `per_step` of CPU in each step.
    fn readings(per_step_ms: &[u64]) -> Vec<(Instant, Duration)> {
        let origin = Instant::now();
        let mut cpu = Duration::ZERO;
        let mut out = vec![(origin, cpu)];
        for (i, used) in per_step_ms.iter().enumerate() {
            cpu += Duration::from_millis(*used);
            out.push((origin + Duration::from_millis(10 * (i as u64 + 1)), cpu));
        }
        out
    }

    #[test]
    fn a_window_says_what_the_tree_did_and_the_running_processes_what_it_does() {
        let window = Duration::from_millis(30);
        // On 2 cores, over the window that ends at the last reading.
        let lately = |steps: &[u64]| {
            let readings = readings(steps);
            window_ending_at(&readings, readings.len() - 1, window, 2)
        };
        // Less than a window: not known.
        assert_eq!(lately(&[20, 20]), None);
        // 15 ms of each 10 ms step is 1.5 cores: busy.
        assert_eq!(lately(&[15, 15, 15]), Some(true));
        assert_eq!(lately(&[0, 0, 0, 20, 20, 20]), Some(true));
        assert_eq!(lately(&[20, 20, 20, 10, 10, 10]), Some(false));
        // A pool that set both cores to work in the window's last 10 ms reads quiet over it…
        assert_eq!(lately(&[0, 5, 20]), Some(false));
        // …which its running processes tell: as many as cores is busy now.
        assert!(busy_now(2, 2) && busy_now(4, 2));
        assert!(!busy_now(1, 2) && !busy_now(0, 1));
    }
}
