//! What a poll reads from `/proc`: which pids may belong to the tree, each one's `stat` as an
//! [`Observed`], and command lines.

use std::collections::HashSet;

use procfs::process::Stat;

use crate::kernel::tree::descendants;

use crate::follow::tree::{Layout, Observations, Observed};

/// Where a poll looks for the tree's processes.
pub enum Discovery<'a> {
    /// `memlab run -- COMMAND`: every descendant of memlab, orphans re-parented to it included.
    BelowMemlab { memlab: i32 },
    /// `--pid`: the followed processes still alive (the root before anything is followed) and
    /// their descendants, wherever they were re-parented; never memlab.
    Seeds { memlab: i32, seeds: &'a [i32] },
}

/// Pids that may belong to the tree, parents before their children.
pub fn discover(discovery: Discovery) -> Vec<i32> {
    let (memlab, seeds) = match discovery {
        Discovery::BelowMemlab { memlab } => return descendants(memlab),
        Discovery::Seeds { memlab, seeds } => (memlab, seeds),
    };
    let mut found = Vec::new();
    // memlab and anything it starts are never part of the tree, even when memlab is a child of
    // the followed process (a test runner's plugin starting `memlab run --pid`).
    let mut listed: HashSet<i32> = descendants(memlab).into_iter().collect();
    listed.insert(memlab);
    for seed in seeds {
        for pid in std::iter::once(*seed).chain(descendants(*seed)) {
            if listed.insert(pid) {
                found.push(pid);
            }
        }
    }
    found
}

/// Each of `pids` that is alive, as its `stat` shows it.
pub fn observe_all(pids: &[i32]) -> Observations {
    let mut observations = Observations::default();
    for pid in pids {
        let stat = procfs::process::Process::new(*pid).and_then(|p| p.stat());
        if let Some(observed) = stat.ok().as_ref().and_then(observed_from_stat) {
            observations.insert(*pid, observed);
        }
    }
    observations
}

/// Alive and not yet exiting (neither a zombie nor tearing its memory down): its memory is
/// still all there.
pub fn still_running(pid: i32) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .ok()
        .as_ref()
        .and_then(observed_from_stat)
        .is_some()
}

/// The process as a poll sees it, unless it is gone: a zombie, or exiting (PF_EXITING is set
/// before its memory is torn down, which for a large process takes a while: its layout then
/// reads as zeros and its pages are on their way out).
pub fn observed_from_stat(stat: &Stat) -> Option<Observed> {
    const PF_EXITING: u32 = 0x4;
    if matches!(stat.state, 'Z' | 'X' | 'x') || stat.flags & PF_EXITING != 0 {
        return None;
    }
    Some(Observed {
        ppid: stat.ppid,
        starttime: stat.starttime,
        layout: Layout([
            stat.startcode,
            stat.endcode,
            stat.startstack,
            stat.start_data.unwrap_or(0),
            stat.end_data.unwrap_or(0),
            stat.start_brk.unwrap_or(0),
            stat.arg_start.unwrap_or(0),
            stat.arg_end.unwrap_or(0),
            stat.env_start.unwrap_or(0),
            stat.env_end.unwrap_or(0),
        ]),
        running: stat.state == 'R',
    })
}

const MAX_COMMAND_CHARS: usize = 160;

/// The command line of `pid` on one line, `[comm]` when it has none, empty when it is gone.
pub fn command_line(pid: i32) -> String {
    let Ok(process) = procfs::process::Process::new(pid) else {
        return String::new();
    };
    match process.cmdline() {
        Ok(args) if !args.is_empty() => one_line(&args),
        _ => match process.stat() {
            Ok(stat) => format!("[{}]", stat.comm),
            Err(_) => String::new(),
        },
    }
}

/// Arguments joined on one line (`python3 -c '…'` scripts hold newlines), at most
/// [`MAX_COMMAND_CHARS`] characters.
fn one_line(args: &[String]) -> String {
    let line = args
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if line.chars().count() > MAX_COMMAND_CHARS {
        let cut: String = line.chars().take(MAX_COMMAND_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use procfs::FromRead;

    /// A `stat` line with the given state and flags; the layout fields count up from 0x1000.
    fn stat_line(state: char, flags: u32) -> String {
        let mut fields: Vec<String> = vec![
            "4242".into(),
            "(python3)".into(),
            state.to_string(),
            "4241".into(), // ppid
        ];
        // pgrp … itrealvalue (fields 5-21), starttime (22), then up to exit_code (52).
        fields.extend((5..=52).map(|n| match n {
            9 => flags.to_string(),
            22 => "987654".to_string(),
            26 => "4096".to_string(),                          // startcode
            27 => "8192".to_string(),                          // endcode
            28 => "140000000".to_string(),                     // startstack
            45..=51 => (0x1000 * (n as u64 - 44)).to_string(), // data, brk, args, env
            _ => "0".to_string(),
        }));
        fields.join(" ") + "\n"
    }

    fn parse(line: &str) -> Stat {
        Stat::from_read(line.as_bytes()).expect("a valid stat line")
    }

    #[test]
    fn a_running_process_is_observed_with_its_parent_starttime_and_layout() {
        let observed = observed_from_stat(&parse(&stat_line('S', 0))).expect("observed");
        assert_eq!(observed.ppid, 4241);
        assert_eq!(observed.starttime, 987654);
        assert_eq!(
            observed.layout,
            Layout([
                4096, 8192, 140000000, 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000, 0x7000
            ])
        );
    }

    #[test]
    fn zombies_dead_and_exiting_processes_are_not_observed() {
        assert!(observed_from_stat(&parse(&stat_line('Z', 0))).is_none());
        assert!(observed_from_stat(&parse(&stat_line('X', 0))).is_none());
        // PF_EXITING (0x4) among other flags, while the state still reads running.
        assert!(observed_from_stat(&parse(&stat_line('R', 0x404))).is_none());
        assert!(observed_from_stat(&parse(&stat_line('R', 0x400))).is_some());
    }

    #[test]
    fn command_lines_are_one_line_and_bounded() {
        let script = vec![
            "python3".into(),
            "-c".into(),
            "import os\n\tos.fork()".into(),
        ];
        assert_eq!(one_line(&script), "python3 -c import os os.fork()");
        let long = vec!["x".repeat(400)];
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), MAX_COMMAND_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(
            one_line(&["a".repeat(MAX_COMMAND_CHARS)]).len(),
            MAX_COMMAND_CHARS
        );
    }

    #[test]
    fn this_process_observes_itself_and_its_command_line() {
        let me = std::process::id() as i32;
        let seen = observe_all(&[me]);
        let observed = seen.get(me).expect("the test process is alive");
        assert_eq!(observed.ppid, std::os::unix::process::parent_id() as i32);
        assert_ne!(observed.layout, Layout([0; 10]));
        let argv0 = std::env::args().next().unwrap_or_default();
        assert!(command_line(me).starts_with(&argv0), "{}", command_line(me));
    }
}
