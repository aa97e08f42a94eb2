//! Each scenario's claims: the document's statement turned into a rule on measured numbers.
//! A claim that does not hold is reported as such; one that cannot be evaluated here says why.

use crate::result::{Claim, Role, ScenarioResult, median};

/// "Shared": the median child copied at most this fraction of the data.
pub const SHARED_MAX_FRACTION: f64 = 0.02;
/// "Copied": at least this fraction.
pub const COPIED_MIN_FRACTION: f64 = 0.50;
/// A private copy per child (serialized data): at least this fraction each.
pub const PRIVATE_COPY_MIN_FRACTION: f64 = 0.90;
/// When figures are estimates (Private_Dirty growth), an exact count is accepted within this
/// fraction of the data.
pub const ESTIMATE_TOLERANCE_FRACTION: f64 = 0.01;

/// What one child gained since fork, from the summary phase.
#[derive(Debug, Clone, Default)]
pub struct ChildFigures {
    pub copied_bytes: u64,
    pub private_bytes: u64,
    /// Per declared region: (copied bytes, region resident bytes in the parent). Only with
    /// page truth.
    pub regions: Vec<(String, u64, u64)>,
}

impl ChildFigures {
    pub fn region_copied(&self, name: &str) -> Option<(u64, u64)> {
        self.regions
            .iter()
            .find(|(region, _, _)| region == name)
            .map(|(_, copied, total)| (*copied, *total))
    }
}

/// The children's figures at the summary phase, in child order.
pub fn child_figures(result: &ScenarioResult) -> Vec<ChildFigures> {
    let Some(phase) = result.phase(&result.summary.phase) else {
        return Vec::new();
    };
    crate::orchestrator::summary::measured_children(phase)
        .iter()
        .enumerate()
        .map(|(i, child)| ChildFigures {
            copied_bytes: result
                .summary
                .copied_bytes_per_child
                .get(i)
                .copied()
                .unwrap_or(0),
            private_bytes: result
                .summary
                .private_bytes_per_child
                .get(i)
                .copied()
                .unwrap_or(0),
            regions: crate::orchestrator::summary::region_figures(child),
        })
        .collect()
}

pub(super) struct ClaimBuilder<'a> {
    pub(super) result: &'a ScenarioResult,
}

impl ClaimBuilder<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn claim(
        &self,
        short_id: &str,
        statement: &str,
        rule: &str,
        measured: f64,
        expected: f64,
        unit: &str,
        holds: Option<bool>,
        note: Option<String>,
    ) -> Claim {
        Claim {
            id: format!("{}/{short_id}", self.result.scenario),
            source_document: self.result.source_document.clone(),
            statement: statement.to_string(),
            rule: rule.to_string(),
            measured,
            expected,
            unit: unit.to_string(),
            holds,
            note,
            measured_per_run: Vec::new(),
        }
    }
}

pub(super) fn data_fraction(bytes: u64, data_bytes: u64) -> f64 {
    if data_bytes == 0 {
        0.0
    } else {
        bytes as f64 / data_bytes as f64
    }
}

/// Median over children of the copied fraction of `region` (page truth), or of the whole data
/// (estimate) when the region's figures are not available.
pub(super) fn median_copied_fraction(
    result: &ScenarioResult,
    children: &[ChildFigures],
    region: &str,
) -> (f64, bool) {
    let by_region: Option<Vec<f64>> = children
        .iter()
        .map(|c| {
            c.region_copied(region)
                .map(|(copied, total)| data_fraction(copied, total))
        })
        .collect();
    match by_region {
        Some(fractions) if !fractions.is_empty() => (median(&fractions), true),
        _ => {
            let fractions: Vec<f64> = children
                .iter()
                .map(|c| data_fraction(c.copied_bytes, result.data_bytes))
                .collect();
            (median(&fractions), false)
        }
    }
}

/// Says why a claim's figure is approximate; None when it is exact page truth per region.
pub(super) fn approximation_note(result: &ScenarioResult, by_region: bool) -> Option<String> {
    match result.summary.copied_method.as_str() {
        "page-truth-pfn" if by_region => None,
        "page-truth-exclusive-bit" if by_region => Some(
            "approximate: pagemap exclusive bit (no CAP_SYS_ADMIN to read frame numbers); \
             wrong for huge pages still mapped whole"
                .to_string(),
        ),
        _ => Some(
            "approximate: each child's Private_Dirty growth since fork (no page truth per region)"
                .to_string(),
        ),
    }
}

pub(super) fn shared_claim(
    b: &ClaimBuilder,
    children: &[ChildFigures],
    region: &str,
    statement: &str,
) -> Claim {
    let (fraction, by_region) = median_copied_fraction(b.result, children, region);
    b.claim(
        &format!("{region}-shared"),
        statement,
        &format!(
            "median child copied <= {:.0}% of the {region} pages",
            SHARED_MAX_FRACTION * 100.0
        ),
        fraction,
        SHARED_MAX_FRACTION,
        "fraction",
        Some(fraction <= SHARED_MAX_FRACTION),
        approximation_note(b.result, by_region),
    )
}

/// Every child copied exactly `expected_pages` pages of `region` (page truth), or within the
/// estimate tolerance.
pub(super) fn exact_pages_claim(
    b: &ClaimBuilder,
    children: &[ChildFigures],
    region: &str,
    short_id: &str,
    statement: &str,
) -> Claim {
    let page = b.result.machine.page_size_bytes.max(1);
    let Some(expected_pages) = b.result.fact_f64("expected_copied_pages") else {
        return b.claim(
            short_id,
            statement,
            "",
            0.0,
            0.0,
            "pages",
            None,
            Some("the workload did not report expected_copied_pages".into()),
        );
    };
    let per_child: Vec<(f64, bool)> = children
        .iter()
        .map(|c| match c.region_copied(region) {
            Some((copied, _)) => ((copied / page) as f64, true),
            None => ((c.copied_bytes / page) as f64, false),
        })
        .collect();
    let by_region = per_child.iter().all(|(_, by_region)| *by_region);
    let exact = b.result.summary.copied_exact && by_region;
    let measured = median(
        &per_child
            .iter()
            .map(|(pages, _)| *pages)
            .collect::<Vec<_>>(),
    );
    let tolerance_pages =
        (b.result.data_bytes as f64 * ESTIMATE_TOLERANCE_FRACTION / page as f64).max(1.0);
    let holds = !per_child.is_empty()
        && per_child.iter().all(|(pages, _)| {
            if exact {
                *pages == expected_pages
            } else {
                (pages - expected_pages).abs() <= tolerance_pages
            }
        });
    let rule = if exact {
        format!("every child's copied {region} pages == {expected_pages} (page truth, exact)")
    } else {
        format!(
            "every child's copied pages within {tolerance_pages:.0} pages ({:.0}% of data) of {expected_pages}",
            ESTIMATE_TOLERANCE_FRACTION * 100.0
        )
    };
    b.claim(
        short_id,
        statement,
        &rule,
        measured,
        expected_pages,
        "pages",
        Some(holds),
        approximation_note(b.result, by_region),
    )
}

pub fn evaluate(result: &ScenarioResult) -> Vec<Claim> {
    let children = child_figures(result);
    let b = ClaimBuilder { result };
    let mut claims = evaluate_for(&b, &children);
    // A rule over no children proves nothing: never let it pass by construction.
    if children.is_empty() || result.data_bytes == 0 {
        let why = if children.is_empty() {
            "no child was measured both before and after its operation"
        } else {
            "no data was measured (data_bytes is 0)"
        };
        for claim in &mut claims {
            claim.holds = None;
            claim.note = Some(why.to_string());
        }
    }
    claims
}

fn evaluate_for(b: &ClaimBuilder, children: &[ChildFigures]) -> Vec<Claim> {
    let result = b.result;
    let children = children.to_vec();
    let op = result.params.op.as_deref().unwrap_or("clone");
    match result.scenario.as_str() {
        "array-read" => vec![shared_claim(
            b,
            &children,
            "data",
            "a large array only read by forked children stays shared (copy-on-write)",
        )],
        "array-write" => vec![exact_pages_claim(
            b,
            &children,
            "data",
            "copied-pages-exact",
            "a child that writes a page copies exactly that page, and only it",
        )],
        "refcount-list" if op == "read" => vec![shared_claim(
            b,
            &children,
            "objects",
            "reading objects by reference writes no refcount: nothing is copied",
        )],
        "refcount-list" => {
            let by_region = children
                .iter()
                .all(|c| c.region_copied("objects").is_some());
            let mut claims = vec![copied_claim(
                b,
                &children,
                "objects",
                "iterating a list of small objects writes every object's refcount, so their pages are copied",
            )];
            claims.push(exact_pages_claim(
                b,
                &children,
                "objects",
                "refcount-pages-exact",
                "exactly the pages that hold a refcount are copied",
            ));
            if by_region {
                claims.push(shared_claim(
                    b,
                    &children,
                    "pointers",
                    "the list's pointer array is only read: it stays shared",
                ));
            } else {
                claims.push(b.claim(
                    "pointers-shared",
                    "the list's pointer array is only read: it stays shared",
                    "median child copied <= 2% of the pointer pages",
                    0.0,
                    SHARED_MAX_FRACTION,
                    "fraction",
                    None,
                    Some("needs page truth per region".into()),
                ));
            }
            claims
        }
        "refcount-same" => vec![shared_claim(
            b,
            &children,
            "references",
            "N references to one object ([1]*N) copy only that object's page",
        )],
        "refcount-objsize" => vec![exact_pages_claim(
            b,
            &children,
            "objects",
            "header-pages-exact",
            "a refcount write copies one page per object: the fraction copied falls as objects grow",
        )],
        "serialized-copy" => vec![private_copy_claim(
            b,
            &children,
            "data sent to a worker (as pool.map pickles self) becomes a full private copy in every worker",
        )],
        "shared-mapping" => vec![
            shared_claim(
                b,
                &children,
                "data",
                "children writing MAP_SHARED memory make no private copies",
            ),
            writes_visible_claim(
                b,
                "children's writes to shared memory are seen by the parent",
            ),
        ],
        "thp" => vec![thp_claim(b, &children)],
        _ => super::python_claims::evaluate(b, &children),
    }
}

fn thp_claim(b: &ClaimBuilder, children: &[ChildFigures]) -> Claim {
    let result = b.result;
    let statement =
        "writing one byte of a huge page shared by fork copies 4 KiB, not 2 MiB (Linux >= 5.8)";
    let huge_pages = result.fact_f64("huge_pages_touched").unwrap_or(0.0);
    let page_bytes = result.machine.page_size_bytes as f64;
    let in_huge_pages = result
        .phase("allocated")
        .and_then(|p| p.processes.iter().find(|p| p.role == Role::Parent))
        .and_then(|p| p.rollup.as_ref())
        .map(|r| r.anon_huge_pages_bytes)
        .unwrap_or(0);
    let kernel = crate::kernel::machine::kernel_major_minor(&result.machine.kernel);
    let expected = if kernel.is_some_and(|v| v < (5, 8)) {
        2.0 * 1024.0 * 1024.0
    } else {
        4096.0
    };
    if huge_pages == 0.0 || (in_huge_pages as f64) < 0.9 * result.data_bytes as f64 {
        return b.claim(
            "small-copy-per-huge-page",
            statement,
            "",
            0.0,
            expected,
            "bytes per huge page",
            None,
            Some(format!(
                "the data was not in huge pages (AnonHugePages {} of {} bytes; THP setting: {})",
                in_huge_pages,
                result.data_bytes,
                result.machine.thp_enabled.as_deref().unwrap_or("unknown")
            )),
        );
    }
    let per_child: Vec<(f64, bool)> = children
        .iter()
        .map(|c| match c.region_copied("data") {
            Some((copied, _)) => (copied as f64 / huge_pages, true),
            None => (c.copied_bytes as f64 / huge_pages, false),
        })
        .collect();
    let by_region = per_child.iter().all(|(_, r)| *r);
    let exact = result.summary.copied_exact && by_region;
    let measured = median(&per_child.iter().map(|(v, _)| *v).collect::<Vec<_>>());
    let holds = !per_child.is_empty()
        && per_child.iter().all(|(value, _)| {
            if exact {
                *value == expected
            } else {
                // Private_Dirty also grows with the child's own stack and heap: allow 10%,
                // or 16 pages over the whole data, whichever is larger.
                let noise_floor = 16.0 * page_bytes / huge_pages;
                (value - expected).abs() <= (0.10 * expected).max(noise_floor)
            }
        });
    let rule = if exact {
        format!("every child's copied data bytes / huge pages touched == {expected} (page truth)")
    } else {
        format!(
            "every child's copied bytes / huge pages touched within 10% (or 16 pages in all) of {expected}"
        )
    };
    b.claim(
        "small-copy-per-huge-page",
        statement,
        &rule,
        measured,
        expected,
        "bytes per huge page",
        Some(holds),
        approximation_note(b.result, by_region),
    )
}

/// The median child copied at least half of `region` (page truth), or of the data (estimate).
pub(super) fn copied_claim(
    b: &ClaimBuilder,
    children: &[ChildFigures],
    region: &str,
    statement: &str,
) -> Claim {
    let (fraction, by_region) = median_copied_fraction(b.result, children, region);
    b.claim(
        &format!("{region}-copied"),
        statement,
        &format!(
            "median child copied >= {:.0}% of the {region} pages",
            COPIED_MIN_FRACTION * 100.0
        ),
        fraction,
        COPIED_MIN_FRACTION,
        "fraction",
        Some(fraction >= COPIED_MIN_FRACTION),
        approximation_note(b.result, by_region),
    )
}

/// Every child holds a private copy: copied + child-only >= 90% of the data.
pub(super) fn private_copy_claim(
    b: &ClaimBuilder,
    children: &[ChildFigures],
    statement: &str,
) -> Claim {
    let fractions: Vec<f64> = children
        .iter()
        .map(|c| data_fraction(c.private_bytes, b.result.data_bytes))
        .collect();
    let lowest = fractions.iter().copied().fold(f64::INFINITY, f64::min);
    let lowest = if lowest.is_finite() { lowest } else { 0.0 };
    b.claim(
        "private-copy-per-child",
        statement,
        &format!(
            "every child holds >= {:.0}% of the data privately (copied + child-only)",
            PRIVATE_COPY_MIN_FRACTION * 100.0
        ),
        lowest,
        PRIVATE_COPY_MIN_FRACTION,
        "fraction",
        Some(!fractions.is_empty() && lowest >= PRIVATE_COPY_MIN_FRACTION),
        approximation_note(b.result, true),
    )
}

/// The workload's own check that the parent sees its children's writes.
pub(super) fn writes_visible_claim(b: &ClaimBuilder, statement: &str) -> Claim {
    let result = b.result;
    let visible = result
        .facts
        .get("writes_visible_to_parent")
        .and_then(|v| v.as_bool());
    let checked = result.fact_f64("pages_checked_by_parent").unwrap_or(0.0);
    let seen = result.fact_f64("pages_showing_child_writes").unwrap_or(0.0);
    b.claim(
        "writes-visible",
        statement,
        "every page a child stamped shows the stamp in the parent",
        seen,
        checked,
        "pages",
        visible,
        visible
            .is_none()
            .then(|| "the workload did not report the check".to_string()),
    )
}
