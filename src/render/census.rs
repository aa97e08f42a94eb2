//! The census of a child's pages for a reader: which Python types lie on the pages it copied,
//! largest first, and what the measured types suggest doing about it.

use super::table::{Cell, Table, terminal};
use super::text::percent;
use crate::result::ScenarioResult;
use crate::result::census::{ChildCensus, NOT_PYMALLOC_TYPE, TypeCount};
use crate::result::figures::summary_child;
use crate::result::run::{CensusMoment, Headline, ProcessKind, RunCensus, RunProcess, label};
use crate::units::format_bytes;

/// Types shown by name; the others are summed on one line.
pub const TOP_TYPES: usize = 8;

/// The census as a table: the `TOP_TYPES` largest entries by bytes (empty special entries
/// left out), then the rest summed.
pub fn types_table(types: &[TypeCount]) -> Table {
    let mut table = Table::new(&["type", "objects", "bytes", "pages"]);
    let shown: Vec<&TypeCount> = types
        .iter()
        .filter(|t| t.bytes > 0 || t.pages > 0)
        .collect();
    let row = |name: String, objects: u64, bytes: u64, pages: u64| {
        vec![
            Cell::text(name),
            Cell::number(objects.to_string()),
            Cell::number(format_bytes(bytes)),
            Cell::number(pages.to_string()),
        ]
    };
    for entry in shown.iter().take(TOP_TYPES) {
        let objects = if entry.type_name == NOT_PYMALLOC_TYPE {
            String::from("-")
        } else {
            entry.objects.to_string()
        };
        let mut cells = row(entry.type_name.clone(), 0, entry.bytes, entry.pages);
        cells[1] = Cell::number(objects);
        table.push(cells);
    }
    let rest = &shown[shown.len().min(TOP_TYPES)..];
    if !rest.is_empty() {
        table.push(row(
            format!("({} more types)", rest.len()),
            rest.iter().map(|t| t.objects).sum(),
            rest.iter().map(|t| t.bytes).sum(),
            rest.iter().map(|t| t.pages).sum(),
        ));
    }
    table
}

/// Bytes of the entries `picks` chooses, over all bytes of the census.
fn share(types: &[TypeCount], picks: impl Fn(&TypeCount) -> bool) -> (u64, u64) {
    let all: u64 = types.iter().map(|t| t.bytes).sum();
    let picked: u64 = types.iter().filter(|t| picks(t)).map(|t| t.bytes).sum();
    (picked, all)
}

/// Number and string objects: each read writes its refcount.
const SCALARS: [&str; 5] = ["int", "float", "str", "bytes", "complex"];

/// What the measured types suggest, each hint naming the figure it rests on. `data_bytes` is
/// what the child could have copied (for the rebuilt-copy hint).
pub fn hints(census: &ChildCensus, child_only_bytes: u64, data_bytes: u64) -> Vec<String> {
    let mut hints = Vec::new();
    if let Some(types) = census.python_types.as_deref() {
        let (scalars, all) = share(types, |t| SCALARS.contains(&t.type_name.as_str()));
        if all > 0 && scalars * 2 > all {
            let largest = types
                .iter()
                .filter(|t| SCALARS.contains(&t.type_name.as_str()))
                .max_by_key(|t| t.bytes)
                .map(|t| t.type_name.as_str())
                .unwrap_or("int");
            hints.push(format!(
                "{} of the {} copied are {largest} (and other number or string) objects ({}): \
                 reading them writes their refcounts; stored in an array.array or a numpy \
                 array they stay shared (compare py-list-sum with py-numpy-sum)",
                format_bytes(scalars),
                format_bytes(all),
                percent(scalars as f64 / all as f64)
            ));
        }
        let (containers, all) = share(types, |t| t.gc_tracked);
        if all > 0 && containers * 2 > all {
            hints.push(format!(
                "{} of the {} copied are objects the garbage collector tracks ({}): a \
                 collection in the child writes each one's GC header; gc.freeze() before \
                 forking keeps them shared (compare py-gc-collect with py-gc-freeze)",
                format_bytes(containers),
                format_bytes(all),
                percent(containers as f64 / all as f64)
            ));
        }
    }
    if data_bytes > 0 && child_only_bytes * 2 > data_bytes {
        hints.push(format!(
            "the child holds {} of its own ({} of the data it could share): a rebuilt copy, as \
             when Pool.map pickles self into every task; kept in a module global before the \
             pool forks, the data stays shared (compare py-pool-self with py-pool-global)",
            format_bytes(child_only_bytes),
            percent(child_only_bytes as f64 / data_bytes as f64)
        ));
    }
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, objects: u64, bytes: u64, pages: u64, gc: bool) -> TypeCount {
        TypeCount {
            type_name: name.into(),
            gc_tracked: gc,
            objects,
            bytes,
            pages,
        }
    }

    #[test]
    fn the_table_shows_the_largest_types_and_sums_the_rest() {
        let mut types: Vec<TypeCount> = (0..12)
            .map(|i| entry(&format!("t{i}"), 10, 1000 - i * 10, 1, false))
            .collect();
        types.push(entry("<free>", 0, 0, 0, false));
        let table = types_table(&types);
        assert_eq!(table.rows.len(), TOP_TYPES + 1);
        let text = super::super::table::terminal(&table);
        assert!(text.contains("(4 more types)"), "{text}");
        assert!(!text.contains("<free>"), "{text}");
    }

    #[test]
    fn hints_follow_the_measured_types_and_name_their_figure() {
        let ints = ChildCensus {
            python_types: Some(vec![
                entry("int", 1000, 32 << 20, 8000, false),
                entry("str", 10, 1 << 20, 200, false),
            ]),
            ..ChildCensus::default()
        };
        let hints_for_ints = hints(&ints, 0, 64 << 20);
        assert_eq!(hints_for_ints.len(), 1, "{hints_for_ints:?}");
        assert!(hints_for_ints[0].contains("33.0 MiB of the 33.0 MiB copied are int"));
        assert!(hints_for_ints[0].contains("numpy"));

        let lists = ChildCensus {
            python_types: Some(vec![
                entry("list", 1000, 30 << 20, 8000, true),
                entry("int", 10, 1 << 20, 20, false),
            ]),
            ..ChildCensus::default()
        };
        let hints_for_lists = hints(&lists, 0, 64 << 20);
        assert_eq!(hints_for_lists.len(), 1, "{hints_for_lists:?}");
        assert!(hints_for_lists[0].contains("gc.freeze()"));

        let rebuilt = hints(&ChildCensus::default(), 60 << 20, 64 << 20);
        assert_eq!(rebuilt.len(), 1);
        assert!(rebuilt[0].contains("module global"));
        assert!(rebuilt[0].contains("60.0 MiB"));
        assert!(hints(&ChildCensus::default(), 1 << 20, 64 << 20).is_empty());
    }
}

/// One child's census as every output shows it (terminal table, Markdown and HTML reports):
/// the copied pages by type, the child's own pages by type, and the hints.
#[derive(Debug, Clone, PartialEq)]
pub struct CensusView {
    /// "child 1" — the child the tables show (the first measured child at the summary phase).
    pub child_label: String,
    /// "CPython 3.11.9", when the census ran.
    pub interpreter: Option<String>,
    /// Why no census was taken, when it was not.
    pub note: Option<String>,
    pub copied: Option<Table>,
    pub child_only: Option<Table>,
    pub hints: Vec<String>,
}

impl CensusView {
    /// A child without a census, and why (not a CPython memlab decodes, no permission…).
    fn noted(child_label: String, note: &str) -> CensusView {
        CensusView {
            child_label,
            interpreter: None,
            note: Some(note.to_string()),
            copied: None,
            child_only: None,
            hints: Vec::new(),
        }
    }

    /// For the terminal: the note when there is no census, else the copied and child-only
    /// tables, each under its heading.
    pub fn terminal_text(&self) -> String {
        if let Some(line) = self.note_line() {
            return format!("{line}\n");
        }
        let indent =
            |text: String| -> String { text.lines().map(|line| format!("  {line}\n")).collect() };
        let mut out = String::new();
        if let Some(table) = &self.copied {
            out.push_str(&format!("{}:\n", self.copied_heading()));
            out.push_str(&indent(terminal(table)));
        }
        if let Some(table) = &self.child_only {
            out.push_str(&format!("{}:\n", self.child_only_heading()));
            out.push_str(&indent(terminal(table)));
        }
        out
    }

    pub fn copied_heading(&self) -> String {
        let interpreter = self.interpreter.as_deref().unwrap_or("CPython");
        format!(
            "copied by Python type ({}, {interpreter})",
            self.child_label
        )
    }

    pub fn child_only_heading(&self) -> String {
        format!("child-only by Python type ({})", self.child_label)
    }

    pub fn note_line(&self) -> Option<String> {
        let note = self.note.as_deref()?;
        Some(format!(
            "copied by Python type ({}): no census: {note}",
            self.child_label
        ))
    }
}

/// The census view of a result's summary child (of a run: [`run_census_view`]); None when no
/// census was taken or attempted.
pub fn census_view(result: &ScenarioResult) -> Option<CensusView> {
    if result.run.is_some() {
        return run_census_view(result);
    }
    let child = summary_child(result)?;
    let truth = child.page_truth.as_ref()?;
    let census = &truth.census;
    let child_label = child
        .child_index
        .map(|i| format!("child {i}"))
        .unwrap_or_else(|| "child".into());
    if census.python_types.is_none() && census.python_types_note.is_none() {
        return None;
    }
    if let Some(note) = &census.python_types_note {
        return Some(CensusView::noted(child_label, note));
    }
    let child_only_bytes = truth.total.child_only_bytes(truth.page_size_bytes);
    Some(CensusView {
        child_label,
        interpreter: census.python_interpreter.clone(),
        note: None,
        copied: census.python_types.as_deref().map(types_table),
        child_only: census
            .python_types_child_only
            .as_deref()
            .filter(|_| child_only_bytes > 0)
            .map(types_table),
        hints: hints(census, child_only_bytes, result.data_bytes),
    })
}

/// A run's census for its headline ([`shown_census`]): the census of the headline's pass, else
/// the child's latest before it, naming its moment.
pub fn run_census_view(result: &ScenarioResult) -> Option<CensusView> {
    let body = result.run.as_ref()?;
    let headline = body.headline.as_ref()?;
    let (process, census, moment) = shown_census(&body.processes, headline)?;
    let child_label = format!(
        "{}, pid {}, {}",
        label(process),
        process.pid,
        census_moment(census, moment, headline)
    );
    let census_types = &census.census;
    if let Some(note) = &census_types.python_types_note {
        return Some(CensusView::noted(child_label, note));
    }
    Some(CensusView {
        child_label,
        interpreter: census_types.python_interpreter.clone(),
        note: None,
        copied: census_types.python_types.as_deref().map(types_table),
        child_only: census_types
            .python_types_child_only
            .as_deref()
            .filter(|_| census.child_only_bytes > 0)
            .map(types_table),
        hints: hints(census_types, census.child_only_bytes, result.data_bytes),
    })
}

/// The child whose census the table shows for `headline`: among those with one then or
/// before, one with types before one with a note, then the one that copied the most at the
/// headline.
pub fn shown_census<'a>(
    processes: &'a [RunProcess],
    headline: &Headline,
) -> Option<(&'a RunProcess, &'a RunCensus, CensusMoment)> {
    headline_censuses(processes, headline)
        .into_iter()
        .max_by_key(|(process, census, _)| {
            (
                census.census.python_types.is_some(),
                process.figures.as_ref().map_or(0, |f| f.copied_bytes),
                census.copied_bytes,
            )
        })
}

/// Every forked child's census for `headline`, in record order.
pub fn headline_censuses<'a>(
    processes: &'a [RunProcess],
    headline: &Headline,
) -> Vec<(&'a RunProcess, &'a RunCensus, CensusMoment)> {
    processes
        .iter()
        .filter(|p| p.kind == ProcessKind::Forked)
        .filter_map(|p| {
            let (census, moment) = p.census_for(headline)?;
            Some((p, census, moment))
        })
        .collect()
}

/// When a census was taken, against the headline: `at the headline 'end' (1.38 s)`, or
/// `at 't-373ms' (0.37 s), 1.00 s before the headline 'end' (1.38 s)`.
pub fn census_moment(census: &RunCensus, moment: CensusMoment, headline: &Headline) -> String {
    let pass = match &census.phase {
        Some(phase) => format!("'{phase}' ({:.2} s)", census.time_s),
        None => format!("{:.2} s (a pass not kept as a phase)", census.time_s),
    };
    match moment {
        CensusMoment::AtHeadline => format!("at the headline {pass}"),
        CensusMoment::Before => format!(
            "at {pass}, {:.2} s before the headline '{}' ({:.2} s)",
            headline.time_s - census.time_s,
            headline.phase,
            headline.time_s
        ),
    }
}

#[cfg(test)]
mod run_tests;
