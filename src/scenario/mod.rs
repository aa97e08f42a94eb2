//! The scenarios memlab knows: what each reproduces, its defaults, and which options it takes.

pub mod claims;

use crate::units::MIB;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The memlab binary re-executed as `memlab __workload NAME`.
    Native,
    /// A Python script under `experiments/`.
    Python { script: &'static str },
}

#[derive(Debug)]
pub struct ScenarioDef {
    pub name: &'static str,
    /// `000`…`003` for the seed documents, `beyond` for memlab's own.
    pub source_document: &'static str,
    pub summary: &'static str,
    pub runner: Runner,
    pub default_size_bytes: u64,
    pub default_children: usize,
    /// Accepted `--op` values, the default first; empty when the scenario has no `--op`.
    pub ops: &'static [&'static str],
    pub takes_fraction: bool,
    pub default_object_size_bytes: Option<u64>,
    /// For the preflight guard: how many full copies of the data each child may make.
    pub copies_per_child: f64,
}

const fn native(
    name: &'static str,
    source_document: &'static str,
    summary: &'static str,
    copies_per_child: f64,
) -> ScenarioDef {
    ScenarioDef {
        name,
        source_document,
        summary,
        runner: Runner::Native,
        default_size_bytes: 256 * MIB,
        default_children: 4,
        ops: &[],
        takes_fraction: false,
        default_object_size_bytes: None,
        copies_per_child,
    }
}

static SCENARIOS: &[ScenarioDef] = &[
    native(
        "array-read",
        "001",
        "children sum a large array: every page stays shared",
        0.0,
    ),
    ScenarioDef {
        takes_fraction: true,
        ..native(
            "array-write",
            "beyond",
            "children write exactly --fraction of the pages: copied pages equal the known truth",
            1.0,
        )
    },
    ScenarioDef {
        ops: &["clone", "read"],
        ..native(
            "refcount-list",
            "001",
            "many small Rc objects; cloning each writes its refcount and copies its page (--op read copies nothing)",
            1.0,
        )
    },
    native(
        "refcount-same",
        "001",
        "N references to one object ([1]*N): one refcount page copied",
        0.0,
    ),
    ScenarioDef {
        default_object_size_bytes: Some(4096),
        ..native(
            "refcount-objsize",
            "000",
            "objects of --object-size bytes cloned: one header page copied per object",
            1.0,
        )
    },
    native(
        "serialized-copy",
        "000",
        "data sent to every child over a pipe, as Pool.map pickles self: a private copy each",
        1.0,
    ),
    native(
        "shared-mapping",
        "003",
        "MAP_SHARED memory written by children: no private copies, writes seen by the parent",
        0.0,
    ),
    native(
        "thp",
        "beyond",
        "data in transparent huge pages; a child writes one byte per 2 MiB: 4 KiB copied each (Linux >= 5.8)",
        0.1,
    ),
];

pub fn all() -> &'static [ScenarioDef] {
    SCENARIOS
}

pub fn find(name: &str) -> Option<&'static ScenarioDef> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// The known scenario name closest to `name`, for "did you mean" messages.
pub fn closest(name: &str) -> Option<&'static str> {
    SCENARIOS
        .iter()
        .map(|s| (edit_distance(name, s.name), s.name))
        .min()
        .filter(|(distance, candidate)| *distance <= candidate.len().max(3) / 2)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for scenario in all() {
            assert_eq!(find(scenario.name).map(|s| s.name), Some(scenario.name));
            assert_eq!(all().iter().filter(|s| s.name == scenario.name).count(), 1);
        }
    }

    #[test]
    fn suggests_the_closest_name() {
        assert_eq!(closest("refcount-lst"), Some("refcount-list"));
        assert_eq!(closest("arry-read"), Some("array-read"));
        assert_eq!(closest("thpp"), Some("thp"));
        assert_eq!(closest("completely-unrelated-words"), None);
    }
}
