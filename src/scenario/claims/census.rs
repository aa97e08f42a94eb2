//! Claims judged on the census: which Python objects lie on the pages the children copied
//! (or hold on their own). A claim says which type its scenario is about; it is not judged
//! without a census or when too few object pages were copied to tell.

use super::{Evidence, data_fraction};
use crate::result::census::{NOT_PYMALLOC_TYPE, TypeCount};
use crate::result::{Claim, ClaimUnit, median};

/// Fewer copied pages of Python objects than this say nothing about which type dominates.
pub const MIN_OBJECT_PAGES: u64 = 16;

/// Pages of identified Python objects (not free blocks, unidentified blocks, or pages outside
/// pymalloc), and those of them held by types `holds` picks.
fn object_pages(types: &[TypeCount], holds: impl Fn(&TypeCount) -> bool) -> (u64, u64) {
    let objects = types.iter().filter(|t| !t.is_special());
    let all: u64 = objects.clone().map(|t| t.pages).sum();
    let held: u64 = objects.filter(|t| holds(t)).map(|t| t.pages).sum();
    (all, held)
}

/// Why the census cannot judge: no census taken (with its note), or too few object pages.
fn no_census_reason(e: &Evidence) -> Option<String> {
    let censuses: Vec<_> = e
        .children
        .iter()
        .filter_map(|c| c.census.as_ref())
        .collect();
    if censuses.is_empty() {
        return Some("no census of the children's pages was taken".into());
    }
    if let Some(note) = censuses.iter().find_map(|c| c.python_types_note.clone()) {
        return Some(format!("no census: {note}"));
    }
    None
}

/// Where a census rule looks: one declared region's copied pages, or all of them.
#[derive(Debug, Clone, Copy)]
pub enum Pages<'a> {
    Region(&'a str),
    AllCopied,
}

/// The median child's share of copied object pages (in `pages`) held by the types `holds`
/// picks (`what` names them in the rule), at least `threshold`.
pub fn copied_types_claim(
    e: &Evidence,
    short_id: &str,
    statement: &str,
    pages: Pages,
    what: &str,
    threshold: f64,
    holds: impl Fn(&TypeCount) -> bool,
) -> Claim {
    let place = match pages {
        Pages::Region(region) => format!("the copied pages of Python objects in {region}"),
        Pages::AllCopied => "the copied pages of Python objects".to_string(),
    };
    let draft = e.claim(short_id, statement).rule(format!(
        "median child: {what} hold >= {:.0}% of {place} (census)",
        threshold * 100.0
    ));
    if let Some(why) = no_census_reason(e) {
        return draft
            .value(0.0, threshold, ClaimUnit::Fraction)
            .note(why)
            .done();
    }
    let shares: Vec<(u64, u64)> = e
        .children
        .iter()
        .filter_map(|c| {
            let census = c.census.as_ref()?;
            match pages {
                Pages::Region(region) => census.region(region),
                Pages::AllCopied => census.python_types.as_deref(),
            }
        })
        .map(|types| object_pages(types, &holds))
        .collect();
    let fewest = shares.iter().map(|(all, _)| *all).min().unwrap_or(0);
    let median_share = median(
        &shares
            .iter()
            .map(|(all, held)| data_fraction(*held, *all))
            .collect::<Vec<_>>(),
    );
    let draft = draft.value(median_share, threshold, ClaimUnit::Fraction);
    if fewest < MIN_OBJECT_PAGES {
        return draft
            .note(format!(
                "a child copied {fewest} pages of Python objects: too few to tell which type \
                 dominates (at least {MIN_OBJECT_PAGES})"
            ))
            .done();
    }
    draft
        .holds_if(median_share >= threshold)
        .note(format!(
            "{} copied pages of Python objects in the child with the fewest",
            fewest
        ))
        .done()
}

/// Every child's own pages hold an object of `type_name` (on pages it copied or on its
/// child-only pages: a new object may land in a pool page the parent had) and, on its
/// child-only pages outside pymalloc, at least `buffer_fraction` of the data: the object and
/// its buffer, rebuilt in the child.
pub fn rebuilt_copy_claim(
    e: &Evidence,
    short_id: &str,
    statement: &str,
    type_name: &str,
    buffer_fraction: f64,
) -> Claim {
    let draft = e.claim(short_id, statement).rule(format!(
        "every child's own pages hold a {type_name} object, and its child-only pages >= {:.0}% \
         of the data outside pymalloc (census)",
        buffer_fraction * 100.0
    ));
    if let Some(why) = no_census_reason(e) {
        return draft
            .value(0.0, buffer_fraction, ClaimUnit::Fraction)
            .note(why)
            .done();
    }
    let objects_of = |types: &[TypeCount]| -> u64 {
        types
            .iter()
            .filter(|t| t.type_name == type_name)
            .map(|t| t.objects)
            .sum()
    };
    let per_child: Vec<(u64, f64)> = e
        .children
        .iter()
        .filter_map(|c| {
            let census = c.census.as_ref()?;
            let (copied, own) = (
                census.python_types.as_deref()?,
                census.python_types_child_only.as_deref()?,
            );
            let outside: u64 = own
                .iter()
                .filter(|t| t.type_name == NOT_PYMALLOC_TYPE)
                .map(|t| t.bytes)
                .sum();
            Some((
                objects_of(copied) + objects_of(own),
                data_fraction(outside, e.result.data_bytes),
            ))
        })
        .collect();
    let lowest = per_child
        .iter()
        .map(|(_, fraction)| *fraction)
        .fold(f64::INFINITY, f64::min);
    let lowest = if lowest.is_finite() { lowest } else { 0.0 };
    let fewest_instances = per_child.iter().map(|(n, _)| *n).min().unwrap_or(0);
    draft
        .value(lowest, buffer_fraction, ClaimUnit::Fraction)
        .holds_if(!per_child.is_empty() && fewest_instances > 0 && lowest >= buffer_fraction)
        .note(format!(
            "at least {fewest_instances} {type_name} object(s) on every child's own pages"
        ))
        .done()
}
