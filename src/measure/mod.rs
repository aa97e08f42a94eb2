//! The measuring layer both engines stand on — the scenario orchestrator and the follower of
//! `memlab run`: one snapshot of a tree, the timeline sampler, the guard against orphans and
//! signals, the cgroup that holds every started tree, the preflight memory check, the CPU time memlab's own work costs, and the priority it runs at.

pub mod containment;
pub mod cputime;
pub mod guard;
pub mod preflight;
pub mod priority;
pub mod sampler;
pub mod sightings;
pub mod snapshot;
pub mod tree_load;
