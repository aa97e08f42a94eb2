//! The seed documents, and their own numbers beside memlab's where they gave some. The
//! document columns quote the documents (`../shared/seeds/`); the memlab columns come from the
//! result file only (facts the workload measured, and the summary).

use crate::result::ScenarioResult;
use crate::scenario::DocumentFigures;
use crate::units::{format_bytes, format_signed_bytes};

/// A change in bytes with its sign: `+4.0 KiB`, `−41.8 MiB`.
fn change(bytes: i64) -> String {
    match bytes {
        0 => "0 B".to_string(),
        b if b > 0 => format!("+{}", format_signed_bytes(b)),
        b => format!("−{}", format_signed_bytes(-b)),
    }
}

/// The seed documents: number and subject.
pub const DOCUMENTS: &[(&str, &str)] = &[
    (
        "000",
        "Pool.map over (self, i) pickles a numpy-holding object into every worker; a module global or class attribute is shared by fork instead; small objects get copied anyway (refcounts)",
    ),
    (
        "001",
        "numpy ones((N,N)).sum() in forked children stays shared; sum(list) and for x in list copy the list's objects; [1]*N does not",
    ),
    (
        "002",
        "a big read-only classifier for imap_unordered workers: global before fork, module reference, __getstate__/__setstate__ registry, sharedctypes",
    ),
    (
        "003",
        "RawArray-backed numpy (~3x speedup claimed), Manager proxies (serialized, slower), Ray's object store (ray.get vs pickle.loads)",
    ),
    (
        "beyond",
        "memlab's own scenarios: ground truth, huge pages, GC headers, interned strings, start methods",
    ),
];

pub fn document_subject(document: &str) -> Option<&'static str> {
    DOCUMENTS
        .iter()
        .find(|(number, _)| *number == document)
        .map(|(_, subject)| *subject)
}

/// A document's figures beside memlab's, for one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub caption: String,
    pub rows: Vec<ComparisonRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonRow {
    pub quantity: String,
    pub document: String,
    pub memlab: String,
}

fn row(quantity: &str, document: &str, memlab: String) -> ComparisonRow {
    ComparisonRow {
        quantity: quantity.to_string(),
        document: document.to_string(),
        memlab,
    }
}

fn seconds(value: f64) -> String {
    if value >= 0.1 {
        format!("{value:.2} s")
    } else {
        format!("{:.3} ms", value * 1000.0)
    }
}

fn fact_u64(result: &ScenarioResult, name: &str) -> Option<u64> {
    result.fact_f64(name).map(|v| v.max(0.0) as u64)
}

fn fact_list(result: &ScenarioResult, name: &str) -> Vec<f64> {
    result
        .facts
        .get(name)
        .and_then(|v| v.as_array())
        .map(|values| values.iter().filter_map(|v| v.as_f64()).collect())
        .unwrap_or_default()
}

fn median_child_private(result: &ScenarioResult) -> Option<String> {
    let mut private = result.summary.private_bytes_per_child.clone();
    if private.is_empty() {
        return None;
    }
    private.sort_unstable();
    let median = private[private.len() / 2];
    let share = if result.data_bytes > 0 {
        format!(
            " ({:.0}% of the data)",
            median as f64 / result.data_bytes as f64 * 100.0
        )
    } else {
        String::new()
    };
    Some(format!("{}{share}", format_bytes(median)))
}

fn copied_share(result: &ScenarioResult) -> String {
    format!(
        "median child copied {:.2}% of the data ({})",
        result.summary.copied_fraction * 100.0,
        if result.summary.copied_exact {
            "page truth"
        } else {
            "estimate"
        }
    )
}

/// Document 001's MemFree+Buffers+Cached figure, as the workload measured it here.
fn doc001_rows(result: &ScenarioResult, document: Doc001Run) -> Vec<ComparisonRow> {
    let initial = fact_u64(result, "doc001_free_bytes_initial");
    let allocated = fact_u64(result, "doc001_free_bytes_after_allocating");
    let children = fact_list(result, "doc001_free_bytes_in_children");
    let mut rows = vec![row(
        "data",
        document.data,
        format!(
            "{} measured ({} requested)",
            format_bytes(result.data_bytes),
            format_bytes(result.workload_params().map_or(0, |p| p.size_bytes))
        ),
    )];
    if let (Some(initial), Some(allocated)) = (initial, allocated) {
        rows.push(row(
            "MemFree+Buffers+Cached: initial → after allocating",
            document.allocating,
            format!(
                "{} → {} ({})",
                format_bytes(initial),
                format_bytes(allocated),
                change(allocated as i64 - initial as i64)
            ),
        ));
        if !children.is_empty() {
            let lowest = children.iter().copied().fold(f64::INFINITY, f64::min) as u64;
            let highest = children.iter().copied().fold(0.0, f64::max) as u64;
            rows.push(row(
                "MemFree+Buffers+Cached seen by the children",
                document.children,
                format!(
                    "{} … {} ({} … {} since allocating)",
                    format_bytes(lowest),
                    format_bytes(highest),
                    change(lowest as i64 - allocated as i64),
                    change(highest as i64 - allocated as i64)
                ),
            ));
        }
    }
    rows.push(row("copied, page by page", "—", copied_share(result)));
    rows
}

struct Doc001Run {
    data: &'static str,
    allocating: &'static str,
    children: &'static str,
}

/// The document's figures beside memlab's for `result`'s scenario, when the document gave any.
pub fn comparison(result: &ScenarioResult) -> Option<Comparison> {
    let caption = |text: &str| text.to_string();
    let figures = crate::scenario::find(&result.scenario)?.document_figures?;
    match figures {
        DocumentFigures::NumpySum => Some(Comparison {
            caption: caption(
                "document 001, run 1 (np.ones((15000, 15000)), 4 children summing it)",
            ),
            rows: doc001_rows(
                result,
                Doc001Run {
                    data: "1.8 GB (N = 15000)",
                    allocating: "25.1 GB → 23.3 GB (−1.8 GB)",
                    children: "23.3 GB in all 4 (no change since allocating: shared)",
                },
            ),
        }),
        DocumentFigures::ListSum => Some(Comparison {
            caption: caption("document 001, run 2 (list(range(10**8)), children call sum(data))"),
            rows: doc001_rows(
                result,
                Doc001Run {
                    data: "list(range(10**8))",
                    allocating: "25.1 GB → 21.9 GB (−3.2 GB)",
                    children: "12.6, 12.7, 16.3, 17.1 GB (−9.3 … −4.8 GB since allocating: copied)",
                },
            ),
        }),
        DocumentFigures::ListIter => Some(Comparison {
            caption: caption(
                "document 001, run 3 (list(range(10**8)), children run for x in data: pass)",
            ),
            rows: doc001_rows(
                result,
                Doc001Run {
                    data: "list(range(10**8))",
                    allocating: "25.1 GB → 21.9 GB (−3.2 GB)",
                    children: "12.6, 13.1, 14.6, 19.3 GB (−9.3 … −2.6 GB since allocating: copied)",
                },
            ),
        }),
        DocumentFigures::PoolSelf => {
            let mut rows = vec![row(
                "data",
                "np.zeros(100000000): 800 MB",
                format!("{} measured", format_bytes(result.data_bytes)),
            )];
            if let Some(pickled) = fact_u64(result, "pickled_task_bytes") {
                rows.push(row(
                    "pickled with each task (self, i)",
                    "the whole instance, array included",
                    format_bytes(pickled),
                ));
            }
            if let Some(private) = median_child_private(result) {
                rows.push(row(
                    "each worker's own memory",
                    "top: 765M MEM for most of the 10 workers",
                    format!("median worker holds {private} privately"),
                ));
            }
            Some(Comparison {
                caption: caption("document 000 (Pool.map over (self, i), 10 workers)"),
                rows,
            })
        }
        DocumentFigures::SharedNumpy => {
            let speedup = result.fact_f64("speedup")?;
            let document = result.fact_f64("document_speedup").unwrap_or(3.0);
            let document_cores = result.fact_f64("document_cores");
            let document_workers = result.fact_f64("document_n_proc");
            let mut rows = vec![row(
                "parallel speedup (sequential / parallel time)",
                &format!("~{document:.0}x"),
                format!("{speedup:.2}x"),
            )];
            rows.push(row(
                "cores · workers",
                &match (document_cores, document_workers) {
                    (Some(c), Some(w)) => format!("{c:.0} cores (quad-core i7) · {w:.0} processes"),
                    _ => "quad-core i7".to_string(),
                },
                format!(
                    "{} cores · {} workers",
                    result
                        .fact_f64("cores")
                        .map(|c| format!("{c:.0}"))
                        .unwrap_or_else(|| result.machine.cores.to_string()),
                    result.workload_params().map_or(0, |p| p.children)
                ),
            ));
            if let (Some(sequential), Some(parallel)) = (
                result.fact_f64("sequential_seconds"),
                result.fact_f64("parallel_seconds"),
            ) {
                rows.push(row(
                    "sequential · parallel time",
                    "not given",
                    format!("{} · {}", seconds(sequential), seconds(parallel)),
                ));
            }
            Some(Comparison {
                caption: caption(
                    "document 003 (RawArray-backed numpy, timeit of sequential vs parallel)",
                ),
                rows,
            })
        }
        DocumentFigures::RayPut => {
            let document = result.facts.get("document_seconds");
            let doc = |key: &str| {
                document
                    .and_then(|d| d.get(key))
                    .and_then(|v| v.as_f64())
                    .map(seconds)
                    .unwrap_or_else(|| "—".into())
            };
            let mut rows = Vec::new();
            if let Some(x_bytes) = fact_u64(result, "x_bytes") {
                rows.push(row(
                    "x, the object timed",
                    "{i: np.ones(10**7) for i in range(20)}: 1.6 GB",
                    format_bytes(x_bytes),
                ));
            }
            for (label, doc_key, fact) in [
                ("ray.put(x)", "ray_put", "ray_put_seconds"),
                ("ray.get(x_id)", "ray_get", "ray_get_seconds"),
                ("pickle.dumps(x)", "pickle_dumps", "pickle_dumps_seconds"),
                (
                    "pickle.loads(serialized)",
                    "pickle_loads",
                    "pickle_loads_seconds",
                ),
            ] {
                if let Some(measured) = result.fact_f64(fact) {
                    rows.push(row(label, &doc(doc_key), seconds(measured)));
                }
            }
            if rows.len() < 2 {
                return None;
            }
            if let (Some(get), Some(loads)) = (
                result.fact_f64("ray_get_seconds"),
                result.fact_f64("pickle_loads_seconds"),
            ) && get > 0.0
            {
                rows.push(row(
                    "pickle.loads / ray.get",
                    "\"1000x faster\"",
                    format!("{:.0}x", loads / get),
                ));
            }
            Some(Comparison {
                caption: caption(
                    "document 003's Ray timings (IPython %time), beside the workload's",
                ),
                rows,
            })
        }
    }
}
