//! Test and benchmark helper: a Python parent that builds objects and forks a child which
//! touches some of them (tests/fixtures/census/fork_child.py), held until dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/census/fork_child.py")
}

/// Waits until process `pid` sits in system call `number` (/proc/PID/syscall).
fn wait_until_blocked_in(pid: i32, number: libc::c_long) {
    let path = format!("/proc/{pid}/syscall");
    for _ in 0..2000 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.split_whitespace().next() == Some(number.to_string().as_str()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("process {pid} never blocked in system call {number}");
}

/// A Python parent and the child it forked, killed and reaped on drop however the test ends.
pub struct ForkedPython {
    parent: Child,
    pub child_pid: i32,
}

impl ForkedPython {
    pub fn start(python: &Path, mode: &str, count: u64, environment: &[(&str, &str)]) -> Self {
        let mut parent = Command::new(python)
            .arg(fixture())
            .arg(mode)
            .arg(count.to_string())
            .envs(environment.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python starts");
        let stdout = parent.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let mut started = ForkedPython {
            parent,
            child_pid: 0,
        };
        let line = receiver
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_default();
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 3 || fields[0] != "ready" {
            let _ = started.parent.kill();
            let mut stderr = String::new();
            let _ = started
                .parent
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr);
            panic!(
                "{} {mode}: no ready line ({line:?}): {stderr}",
                python.display()
            );
        }
        started.child_pid = fields[1].parse().unwrap();
        assert_eq!(fields[2].parse::<u32>().unwrap(), started.parent.id());
        // Measure only once both have stopped touching memory: the child blocked reading
        // stdin, the parent waiting for the child.
        wait_until_blocked_in(started.child_pid, libc::SYS_read);
        wait_until_blocked_in(started.parent_pid(), libc::SYS_wait4);
        started
    }

    pub fn parent_pid(&self) -> i32 {
        self.parent.id() as i32
    }

    pub fn copied_pages(&self) -> Vec<(String, Vec<std::ops::Range<u64>>)> {
        super::pages::copied_pages(self.parent_pid(), self.child_pid)
    }
}

impl Drop for ForkedPython {
    fn drop(&mut self) {
        if self.child_pid > 0 {
            let _ = kill(Pid::from_raw(self.child_pid), Signal::SIGKILL);
        }
        let _ = self.parent.kill();
        let _ = self.parent.wait();
        // The child was the parent's to reap; wait until it is gone.
        for _ in 0..200 {
            if self.child_pid <= 0 || !Path::new(&format!("/proc/{}", self.child_pid)).exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
