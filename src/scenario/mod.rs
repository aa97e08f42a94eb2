//! The scenarios memlab knows: what each reproduces, its defaults, and which options it takes.

pub mod claims;

use crate::units::MIB;
use crate::workload::NativeWorkload;
use crate::workload::native;
use claims::ClaimRules;
use claims::native as native_claims;
use claims::python as python_claims;

#[derive(Clone, Copy)]
pub enum Runner {
    /// The memlab binary re-executed as `memlab __workload NAME`, running this workload.
    Native {
        workload: fn() -> Box<dyn NativeWorkload>,
    },
    /// A Python script under `experiments/`.
    Python { script: &'static str },
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Runner::Native { .. } => f.write_str("Native"),
            Runner::Python { script } => write!(f, "Python({script})"),
        }
    }
}

/// The document numbers a report puts beside a scenario's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFigures {
    /// Document 001: numpy's ones((N,N)).sum() in children.
    NumpySum,
    /// Document 001: sum(list(range(N))) in children.
    ListSum,
    /// Document 001: `for x in data` in children.
    ListIter,
    /// Document 000: Pool.map over (self, i).
    PoolSelf,
    /// Document 003: RawArray-backed numpy, parallel against sequential.
    SharedNumpy,
    /// Document 003: Ray's put/get against pickle.
    RayPut,
}

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
    /// The documents' own data size, for `--scale paper` (and its preflight).
    pub paper_size_bytes: Option<u64>,
    /// Part of the Python version matrix (refcount, GC and interning behaviour).
    pub in_version_matrix: bool,
    /// The scenario's claims.
    pub claims: ClaimRules,
    /// The document numbers shown beside the scenario's, if its document gives any.
    pub document_figures: Option<DocumentFigures>,
    /// Phases the workload announces beyond the standard ones.
    pub extra_phases: &'static [&'static str],
}

impl std::fmt::Debug for ScenarioDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScenarioDef")
            .field("name", &self.name)
            .field("runner", &self.runner)
            .finish_non_exhaustive()
    }
}

impl ScenarioDef {
    pub fn is_python(&self) -> bool {
        matches!(self.runner, Runner::Python { .. })
    }

    /// Every phase the scenario's workload announces.
    pub fn phases(&self) -> Vec<&'static str> {
        let mut phases = crate::protocol::STANDARD_PHASES.to_vec();
        phases.extend_from_slice(self.extra_phases);
        phases
    }
}

/// A scenario with the catalog's defaults (256 MiB, 4 children, no op, no fraction).
const fn with_defaults(
    name: &'static str,
    source_document: &'static str,
    summary: &'static str,
    runner: Runner,
    copies_per_child: f64,
    claims: ClaimRules,
) -> ScenarioDef {
    ScenarioDef {
        name,
        source_document,
        summary,
        runner,
        default_size_bytes: 256 * MIB,
        default_children: 4,
        ops: &[],
        takes_fraction: false,
        default_object_size_bytes: None,
        copies_per_child,
        paper_size_bytes: None,
        in_version_matrix: false,
        claims,
        document_figures: None,
        extra_phases: &[],
    }
}

const fn native(
    name: &'static str,
    source_document: &'static str,
    summary: &'static str,
    copies_per_child: f64,
    workload: fn() -> Box<dyn NativeWorkload>,
    claims: ClaimRules,
) -> ScenarioDef {
    let runner = Runner::Native { workload };
    with_defaults(
        name,
        source_document,
        summary,
        runner,
        copies_per_child,
        claims,
    )
}

const fn python(
    name: &'static str,
    source_document: &'static str,
    summary: &'static str,
    script: &'static str,
    copies_per_child: f64,
    claims: ClaimRules,
) -> ScenarioDef {
    let runner = Runner::Python { script };
    with_defaults(
        name,
        source_document,
        summary,
        runner,
        copies_per_child,
        claims,
    )
}

const GB: u64 = 1_000_000_000;

static SCENARIOS: &[ScenarioDef] = &[
    native(
        "array-read",
        "001",
        "children sum a large array: every page stays shared",
        0.0,
        native::array_read,
        native_claims::array_read,
    ),
    ScenarioDef {
        takes_fraction: true,
        ..native(
            "array-write",
            "beyond",
            "children write exactly --fraction of the pages: copied pages equal the known truth",
            1.0,
            native::array_write,
            native_claims::array_write,
        )
    },
    ScenarioDef {
        ops: &["clone", "read"],
        ..native(
            "refcount-list",
            "001",
            "many small Rc objects; cloning each writes its refcount and copies its page (--op read copies nothing)",
            1.0,
            native::refcount_list,
            native_claims::refcount_list,
        )
    },
    native(
        "refcount-same",
        "001",
        "N references to one object ([1]*N): one refcount page copied",
        0.0,
        native::refcount_same,
        native_claims::refcount_same,
    ),
    ScenarioDef {
        default_object_size_bytes: Some(4096),
        ..native(
            "refcount-objsize",
            "000",
            "objects of --object-size bytes cloned: one header page copied per object",
            1.0,
            native::refcount_objsize,
            native_claims::refcount_objsize,
        )
    },
    native(
        "serialized-copy",
        "000",
        "data sent to every child over a pipe, as Pool.map pickles self: a private copy each",
        1.0,
        native::serialized_copy,
        native_claims::serialized_copy,
    ),
    native(
        "shared-mapping",
        "003",
        "MAP_SHARED memory written by children: no private copies, writes seen by the parent",
        0.0,
        native::shared_mapping,
        native_claims::shared_mapping,
    ),
    native(
        "thp",
        "beyond",
        "data in transparent huge pages; a child writes one byte per 2 MiB: 4 KiB copied each (Linux >= 5.8)",
        0.1,
        native::thp,
        native_claims::thp,
    ),
    // Document 000: Pool.map(self) pickles; a global or a class attribute is shared by fork.
    ScenarioDef {
        document_figures: Some(DocumentFigures::PoolSelf),
        paper_size_bytes: Some(800_000_000),
        ..python(
            "py-pool-self",
            "000",
            "Pool.map over (self, i): every worker unpickles its own copy of the 800 MB object",
            "py_pool_self.py",
            2.0,
            python_claims::py_pool_self,
        )
    },
    ScenarioDef {
        paper_size_bytes: Some(800_000_000),
        ..python(
            "py-pool-global",
            "000",
            "the object as a module global before the pool forks: shared",
            "py_pool_global.py",
            0.0,
            python_claims::py_pool_global,
        )
    },
    ScenarioDef {
        paper_size_bytes: Some(800_000_000),
        ..python(
            "py-pool-classattr",
            "000",
            "the array as a class attribute: shared like a global",
            "py_pool_classattr.py",
            0.0,
            python_claims::py_pool_classattr,
        )
    },
    ScenarioDef {
        ops: &["forkserver"],
        ..python(
            "py-pool-global-forkserver",
            "beyond",
            "the global-data pool with the forkserver start method (Python 3.14's default)",
            "py_pool_global.py",
            1.0,
            python_claims::py_pool_global_forkserver,
        )
    },
    ScenarioDef {
        ops: &["spawn"],
        ..python(
            "py-pool-global-spawn",
            "beyond",
            "the global-data pool with spawn: every worker re-imports the module and builds its own copy",
            "py_pool_global.py",
            1.0,
            python_claims::py_pool_global_spawn,
        )
    },
    // Document 001: numpy shared, a list of ints copied by refcount writes, [1]*N not.
    ScenarioDef {
        document_figures: Some(DocumentFigures::NumpySum),
        paper_size_bytes: Some(1_800_000_000),
        ..python(
            "py-numpy-sum",
            "001",
            "np.ones((N,N)).sum() in forked children: shared",
            "py_numpy_sum.py",
            0.0,
            python_claims::py_numpy_sum,
        )
    },
    ScenarioDef {
        document_figures: Some(DocumentFigures::ListSum),
        paper_size_bytes: Some(4 * GB),
        in_version_matrix: true,
        ops: &["sum"],
        ..python(
            "py-list-sum",
            "001",
            "sum(list(range(N))) in children: the int objects are copied",
            "py_list_ints.py",
            1.0,
            python_claims::py_list_sum_or_iter,
        )
    },
    ScenarioDef {
        document_figures: Some(DocumentFigures::ListIter),
        paper_size_bytes: Some(4 * GB),
        in_version_matrix: true,
        ops: &["iter"],
        ..python(
            "py-list-iter",
            "001",
            "for x in data: the int objects are copied",
            "py_list_ints.py",
            1.0,
            python_claims::py_list_sum_or_iter,
        )
    },
    ScenarioDef {
        paper_size_bytes: Some(800_000_000),
        in_version_matrix: true,
        ..python(
            "py-same-list",
            "001",
            "[1]*N: one object referenced N times, shared",
            "py_same_list.py",
            0.0,
            python_claims::py_same_list,
        )
    },
    // Document 002: a big read-only classifier under imap_unordered.
    python(
        "py-imap-global",
        "002",
        "a global classifier used by imap_unordered workers: shared",
        "py_imap_global.py",
        0.0,
        python_claims::py_imap_global,
    ),
    python(
        "py-module-ref",
        "002",
        "the classifier behind a module reference: shared",
        "py_module_ref.py",
        0.0,
        python_claims::py_module_ref,
    ),
    python(
        "py-getstate-registry",
        "002",
        "__getstate__/__setstate__ with a global registry: tiny pickles, classifier shared",
        "py_getstate_registry.py",
        0.0,
        python_claims::py_getstate_registry,
    ),
    python(
        "py-imap-bound-method",
        "002",
        "imap_unordered(classifier.classify): a pickling error, or the classifier pickled with every task",
        "py_imap_bound_method.py",
        1.0,
        python_claims::py_imap_bound_method,
    ),
    python(
        "py-rawarray",
        "002",
        "sharedctypes.RawArray inherited by children: shared, writes visible",
        "py_rawarray.py",
        0.0,
        python_claims::py_rawarray,
    ),
    // Document 003: RawArray-backed numpy, Manager proxies, Ray's object store.
    ScenarioDef {
        document_figures: Some(DocumentFigures::SharedNumpy),
        ..python(
            "py-shared-numpy",
            "003",
            "RawArray-backed numpy written by pool workers: no private copies; parallel vs sequential time",
            "py_shared_numpy.py",
            0.0,
            python_claims::py_shared_numpy,
        )
    },
    python(
        "py-manager-proxy",
        "003",
        "data held once in a Manager process; proxy access cost vs direct",
        "py_manager_proxy.py",
        0.0,
        python_claims::py_manager_proxy,
    ),
    ScenarioDef {
        document_figures: Some(DocumentFigures::RayPut),
        paper_size_bytes: Some(1_600_000_000),
        extra_phases: &["put"],
        ..python(
            "py-ray-put",
            "003",
            "ray.put once: workers read the object store without private copies; put/get vs pickle",
            "py_ray_put.py",
            1.0,
            python_claims::py_ray_put,
        )
    },
    // Beyond the documents.
    python(
        "py-shared-memory",
        "beyond",
        "multiprocessing.shared_memory written by children: shared, writes visible",
        "py_shared_memory.py",
        0.0,
        python_claims::py_shared_memory,
    ),
    ScenarioDef {
        in_version_matrix: true,
        ..python(
            "py-gc-collect",
            "beyond",
            "gc.collect() in a child writes every tracked object's GC header: copied",
            "py_gc_collect.py",
            1.0,
            python_claims::py_gc_collect,
        )
    },
    ScenarioDef {
        in_version_matrix: true,
        ..python(
            "py-gc-freeze",
            "beyond",
            "gc.freeze() before fork: the child's collection copies nothing",
            "py_gc_freeze.py",
            0.0,
            python_claims::py_gc_freeze,
        )
    },
    ScenarioDef {
        in_version_matrix: true,
        ..python(
            "py-interned-strings",
            "beyond",
            "iterating interned strings: immortal (shared) in 3.12 only, copied in 3.11 and 3.13",
            "py_interned_strings.py",
            1.0,
            python_claims::py_interned_strings,
        )
    },
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
