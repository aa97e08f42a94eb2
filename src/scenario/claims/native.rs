//! The native scenarios' claims, one function per scenario (named by the catalog).

use super::{
    Evidence, SHARED_MAX_FRACTION, approximation_note, copied_claim, exact_pages_claim,
    private_copy_claim, shared_claim, writes_visible_claim,
};
use crate::result::{Claim, ClaimUnit, Role, Verdict, median};

pub fn array_read(e: &Evidence) -> Vec<Claim> {
    vec![shared_claim(
        e,
        "data",
        "a large array only read by forked children stays shared (copy-on-write)",
    )]
}

pub fn array_write(e: &Evidence) -> Vec<Claim> {
    vec![exact_pages_claim(
        e,
        "data",
        "copied-pages-exact",
        "a child that writes a page copies exactly that page, and only it",
    )]
}

pub fn refcount_list(e: &Evidence) -> Vec<Claim> {
    if e.op() == Some("read") {
        return vec![shared_claim(
            e,
            "objects",
            "reading objects by reference writes no refcount: nothing is copied",
        )];
    }
    let by_region = e
        .children
        .iter()
        .all(|c| c.region_copied("objects").is_some());
    let mut claims = vec![copied_claim(
        e,
        "objects",
        "iterating a list of small objects writes every object's refcount, so their pages are copied",
    )];
    claims.push(exact_pages_claim(
        e,
        "objects",
        "refcount-pages-exact",
        "exactly the pages that hold a refcount are copied",
    ));
    let pointers = "the list's pointer array is only read: it stays shared";
    if by_region {
        claims.push(shared_claim(e, "pointers", pointers));
    } else {
        claims.push(
            e.claim("pointers-shared", pointers)
                .rule("median child copied <= 2% of the pointer pages")
                .value(0.0, SHARED_MAX_FRACTION, ClaimUnit::Fraction)
                .verdict(Verdict::NotJudged)
                .note("needs page truth per region")
                .done(),
        );
    }
    claims
}

pub fn refcount_same(e: &Evidence) -> Vec<Claim> {
    vec![shared_claim(
        e,
        "references",
        "N references to one object ([1]*N) copy only that object's page",
    )]
}

pub fn refcount_objsize(e: &Evidence) -> Vec<Claim> {
    vec![exact_pages_claim(
        e,
        "objects",
        "header-pages-exact",
        "a refcount write copies one page per object: the fraction copied falls as objects grow",
    )]
}

pub fn serialized_copy(e: &Evidence) -> Vec<Claim> {
    vec![private_copy_claim(
        e,
        "data sent to a worker (as pool.map pickles self) becomes a full private copy in every worker",
    )]
}

pub fn shared_mapping(e: &Evidence) -> Vec<Claim> {
    vec![
        shared_claim(
            e,
            "data",
            "children writing MAP_SHARED memory make no private copies",
        ),
        writes_visible_claim(
            e,
            "children's writes to shared memory are seen by the parent",
        ),
    ]
}

pub fn thp(e: &Evidence) -> Vec<Claim> {
    vec![thp_claim(e)]
}

fn thp_claim(e: &Evidence) -> Claim {
    let result = e.result;
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
        return e
            .claim("small-copy-per-huge-page", statement)
            .value(0.0, expected, ClaimUnit::BytesPerHugePage)
            .verdict(Verdict::NotJudged)
            .note(format!(
                "the data was not in huge pages (AnonHugePages {} of {} bytes; THP setting: {})",
                in_huge_pages,
                result.data_bytes,
                result.machine.thp_enabled.as_deref().unwrap_or("unknown")
            ))
            .done();
    }
    let per_child: Vec<(f64, bool)> = e
        .children
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
    e.claim("small-copy-per-huge-page", statement)
        .rule(&rule)
        .value(measured, expected, ClaimUnit::BytesPerHugePage)
        .holds_if(holds)
        .note_if(approximation_note(e.result, by_region))
        .done()
}
