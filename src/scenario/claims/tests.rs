//! No verdict without a measurement: every rule, fed an empty measurement, is not judged.

use super::*;
use crate::result::load::parse_result;

/// A real array-write result: 2 children, each copied 512 of the 2048 `data` pages.
fn measured() -> ScenarioResult {
    parse_result(include_str!("../../../tests/fixtures/array-write.json")).unwrap()
}

/// The same result where page truth found no page of the declared region (a region
/// declared at an address the workload never mapped).
fn region_never_mapped() -> ScenarioResult {
    let mut result = measured();
    for process in result.phases.iter_mut().flat_map(|p| &mut p.processes) {
        if let Some(truth) = process.page_truth.as_mut() {
            for region in truth.regions.iter_mut().filter(|r| r.declared) {
                region.counts = Default::default();
            }
        }
    }
    result
}

fn judged(claims: &[Claim]) -> Vec<(&str, Verdict)> {
    claims.iter().map(|c| (c.id.as_str(), c.verdict)).collect()
}

#[test]
fn the_measured_fixture_is_judged() {
    // Otherwise the tests below would pass for the wrong reason.
    let result = measured();
    let claims = evaluate(native::array_write, &result);
    assert_eq!(
        judged(&claims),
        [("array-write/copied-pages-exact", Verdict::Holds)]
    );
    let e = Evidence::of(&result);
    assert_eq!(copied_claim(&e, "data", "s").verdict, Verdict::Broken);
    assert_eq!(shared_claim(&e, "data", "s").verdict, Verdict::Broken);
}

/// Every rule over region 'data' is not judged on `result`, with a note saying each of `why`.
fn assert_region_rules_not_judged(result: &ScenarioResult, why: &[&str]) {
    let e = Evidence::of(result);
    for claim in [
        shared_claim(&e, "data", "s"),
        copied_claim(&e, "data", "s"),
        exact_pages_claim(&e, "data", "exact", "s"),
    ] {
        assert_eq!(claim.verdict, Verdict::NotJudged, "{claim:?}");
        let note = claim.note.unwrap_or_default();
        for part in why {
            assert!(note.contains(part), "{note}");
        }
    }
}

#[test]
fn region_rules_over_an_empty_region_are_not_judged() {
    let result = region_never_mapped();
    assert_region_rules_not_judged(
        &result,
        &["holds no page of the parent", "declared 8.0 MiB"],
    );
    // And through the catalog: array-read's claim on this measurement.
    let claims = evaluate(native::array_read, &result);
    assert_eq!(
        judged(&claims),
        [("array-write/data-shared", Verdict::NotJudged)]
    );
}

#[test]
fn region_rules_over_a_region_no_child_maps_are_not_judged() {
    // The parent's pages are all there; the children map none of them at these addresses
    // (they reach the memory through mappings of their own).
    let mut result = measured();
    for process in result.phases.iter_mut().flat_map(|p| &mut p.processes) {
        if let Some(truth) = process.page_truth.as_mut() {
            for region in truth.regions.iter_mut().filter(|r| r.declared) {
                let parent_pages = region.counts.parent_present_pages();
                region.counts = crate::kernel::pagemap::PageCounts {
                    parent_only_pages: parent_pages,
                    ..Default::default()
                };
            }
        }
    }
    assert_region_rules_not_judged(
        &result,
        &["no child maps a page", "8.0 MiB there in the parent"],
    );
}

#[test]
fn a_region_smaller_than_declared_is_judged_with_a_note() {
    let mut result = measured();
    // Declare the region twice as large as what is mapped: half of it was found.
    let region = &mut result.regions[0];
    region.end += 2 * (region.end - region.start);
    let e = Evidence::of(&result);
    let claim = exact_pages_claim(&e, "data", "exact", "s");
    assert_eq!(claim.verdict, Verdict::Holds);
    assert!(
        claim
            .note
            .unwrap()
            .contains("found 8.0 MiB of the declared region")
    );
}

#[test]
fn no_child_or_no_data_judges_nothing_in_any_scenario() {
    let mut no_children = measured();
    for phase in &mut no_children.phases {
        phase
            .processes
            .retain(|p| p.role != crate::result::Role::Child);
    }
    let mut no_data = measured();
    no_data.data_bytes = 0;
    for definition in crate::scenario::all() {
        for result in [&no_children, &no_data] {
            for claim in evaluate(definition.claims, result) {
                assert_eq!(
                    claim.verdict,
                    Verdict::NotJudged,
                    "{}: {claim:?}",
                    definition.name
                );
            }
        }
    }
}

#[test]
fn a_visibility_check_over_no_page_is_not_judged() {
    let mut result = measured();
    result
        .facts
        .insert("writes_visible_to_parent".into(), true.into());
    result
        .facts
        .insert("pages_checked_by_parent".into(), 0.into());
    let e = Evidence::of(&result);
    let claim = writes_visible_claim(&e, "s");
    assert_eq!(claim.verdict, Verdict::NotJudged);
    result
        .facts
        .insert("pages_checked_by_parent".into(), 12.into());
    result
        .facts
        .insert("pages_showing_child_writes".into(), 12.into());
    let e = Evidence::of(&result);
    assert_eq!(writes_visible_claim(&e, "s").verdict, Verdict::Holds);
}
