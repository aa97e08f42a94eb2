//! What runs inside the measured processes: the native workloads.
//!
//! The orchestrator re-executes the memlab binary as `memlab __workload NAME --params JSON`.
//! That process speaks the phase protocol on stdin/stdout, allocates its data, forks its
//! children through [`crew::Crew`] and never starts a thread.

pub mod crew;
pub mod memory;
pub mod native;

use std::fs::File;
use std::io::{BufReader, Stdin, Stdout};

use crate::protocol::client::ProtocolClient;
pub use crate::protocol::params::WorkloadParams;

/// A region to announce: name and address range in the workload process.
pub struct RegionSpec {
    pub name: &'static str,
    pub start: u64,
    pub end: u64,
}

pub type Facts = Vec<(&'static str, serde_json::Value)>;

/// One native scenario's behaviour; [`run_native`] drives the common phase sequence
/// (baseline → allocated → forked → operated).
pub trait NativeWorkload {
    /// Allocates and touches the data; returns the regions to announce, in priority order.
    fn allocate(&mut self, params: &WorkloadParams) -> anyhow::Result<Vec<RegionSpec>>;
    /// Ground truth known before forking (e.g. the number of pages children will write).
    fn facts_before_fork(&self) -> Facts {
        Vec::new()
    }
    /// What each child does when told to operate. Runs in the child.
    fn child_operation(&self, index: usize, from_parent: &mut File);
    /// A payload the parent sends each child during the operation.
    fn feed(&self, _index: usize, _to_child: &mut File) -> std::io::Result<()> {
        Ok(())
    }
    /// Checks the parent makes after its children operated.
    fn facts_after_operation(&self) -> Facts {
        Vec::new()
    }
}

type StdClient = ProtocolClient<BufReader<Stdin>, Stdout>;

/// Entry point of `memlab __workload NAME`: runs `workload` (the catalog's workload of NAME,
/// or None when NAME has none) and returns the process exit code.
pub fn workload_main(
    name: &str,
    workload: Option<Box<dyn NativeWorkload>>,
    params_json: &str,
) -> i32 {
    // Die with the orchestrator even if it is SIGKILLed.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if let Some(expected) = std::env::var("MEMLAB_ORCHESTRATOR_PID")
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
        && nix::unistd::getppid().as_raw() != expected
    {
        return 1;
    }
    let mut client = ProtocolClient::new(BufReader::new(std::io::stdin()), std::io::stdout());
    let outcome = serde_json::from_str::<WorkloadParams>(params_json)
        .map_err(anyhow::Error::from)
        .and_then(|params| {
            let mut workload =
                workload.ok_or_else(|| anyhow::anyhow!("no native workload named '{name}'"))?;
            run_native(name, workload.as_mut(), &params, &mut client)
        });
    match outcome {
        Ok(()) => 0,
        Err(error) => {
            let _ = client.error(&format!("{error:#}"));
            1
        }
    }
}

/// The phase sequence every native workload follows.
pub fn run_native(
    name: &str,
    workload: &mut dyn NativeWorkload,
    params: &WorkloadParams,
    client: &mut StdClient,
) -> anyhow::Result<()> {
    client.hello(name)?;
    client.phase("baseline")?;
    let regions = workload.allocate(params)?;
    for region in &regions {
        client.region(region.name, region.start, region.end)?;
    }
    for (fact, value) in workload.facts_before_fork() {
        client.fact(fact, value)?;
    }
    client.phase("allocated")?;

    let operation =
        |index: usize, from_parent: &mut File| workload.child_operation(index, from_parent);
    let mut crew = crew::Crew::fork(params.children, &operation)?;
    client.children(crew.pids())?;
    client.phase("forked")?;

    let seconds = crew.operate(|index, to_child| workload.feed(index, to_child))?;
    client.fact("child_operation_seconds", serde_json::json!(seconds))?;
    for (fact, value) in workload.facts_after_operation() {
        client.fact(fact, value)?;
    }
    client.phase("operated")?;

    crew.release()?;
    client.done()?;
    Ok(())
}
