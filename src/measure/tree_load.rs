//! Whether the measured tree keeps every core busy right now. memlab's work yields to the tree
//! (at idle priority), but only while the tree needs the cores: a core the tree
//! leaves unused goes to memlab's work even when another program (another test, a build) would
//! take it, so that memlab measures on time without slowing the tree.
//!
//! The tree's CPU time comes from its cgroup's `cpu.stat` (microseconds, every process that ever
//! joined it) when memlab started it ([`super::containment`]), else from each process's `stat`
//! (clock ticks; a process that exits takes its time along, so the tree then reads as less busy).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The tree keeps the cores busy when it leaves less than this share of a core unused.
pub const FREE_CORE_SHARE: f64 = 0.5;
/// The span of recent time the tree's use is judged over: long enough for clock ticks (10 ms)
/// to average out over a few processes, short enough to follow a pool starting its work.
pub const WINDOW: Duration = Duration::from_millis(100);
/// Readings closer than this repeat the last answer: callers ask every 10 ms (the sampler, a
/// pass's watchdog), and a quarter of the window is detail enough.
const READ_EVERY: Duration = Duration::from_millis(25);

/// Where the tree's CPU time is read.
#[derive(Debug, Clone)]
pub enum CpuSource {
    /// The cgroup holding the whole tree (`memlab run -- COMMAND`).
    Cgroup(PathBuf),
    /// These processes (`--pid`, or no cgroup).
    Processes(Vec<i32>),
}

impl CpuSource {
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
    /// Readings of the last [`WINDOW`] and one before it.
    readings: VecDeque<(Instant, Duration)>,
    /// What the latest reading answered.
    answer: Option<bool>,
}

impl TreeLoad {
    pub fn new(source: CpuSource) -> TreeLoad {
        TreeLoad {
            source,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            readings: VecDeque::new(),
            answer: None,
        }
    }

    /// Whether the tree kept every core busy over the last [`WINDOW`]; None until the readings
    /// span it, or when the tree's CPU time cannot be read.
    pub fn busy(&mut self) -> Option<bool> {
        let now = Instant::now();
        if self
            .readings
            .back()
            .is_some_and(|(at, _)| now.duration_since(*at) < READ_EVERY)
        {
            return self.answer;
        }
        let Some(cpu) = self.source.read() else {
            self.answer = None;
            return None;
        };
        self.readings.push_back((now, cpu));
        // Keep the newest reading at least WINDOW old as the start of the window.
        while self
            .readings
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) >= WINDOW)
        {
            self.readings.pop_front();
        }
        let (since, cpu_then) = *self.readings.front()?;
        let wall = now.duration_since(since);
        self.answer = (wall >= WINDOW)
            .then(|| keeps_cores_busy(cpu.saturating_sub(cpu_then), wall, self.cores));
        self.answer
    }
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
        assert_eq!(load.busy(), None, "one reading spans no time");
        std::thread::sleep(WINDOW + Duration::from_millis(10));
        // This test process does not keep 64 cores busy.
        assert_eq!(load.busy(), Some(false));
        // Asked again at once: the same answer, without a new reading.
        assert_eq!(load.busy(), Some(false));
        assert_eq!(load.readings.len(), 2);
        let gone = CpuSource::Cgroup(PathBuf::from("/nonexistent/memlab-cgroup"));
        assert_eq!(TreeLoad::new(gone).busy(), None);
    }
}
