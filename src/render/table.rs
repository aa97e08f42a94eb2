//! One table model, three renderings: GitHub-flavoured Markdown, HTML and the terminal. A
//! table is built once from stored results (report sections, matrix, scans) and each renderer
//! writes its cells its own way: a verdict is `✅ holds` in Markdown, a coloured badge in HTML,
//! `holds` on a terminal.

use std::fmt::Write;

use super::text::{verdict_short, verdict_word};
use crate::result::Verdict;

/// What a cell holds. Text is plain: each renderer escapes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// A figure: right-aligned where the medium allows.
    Number(String),
    /// An identifier (a claim id, a scenario name): code style.
    Code(String),
    /// An identifier linking to a section of the same page (HTML), code elsewhere.
    Link {
        text: String,
        anchor: String,
    },
    /// An identifier followed by where it comes from: `` `id` (place) ``.
    CodeWithPlace {
        code: String,
        place: String,
    },
    Verdict(Verdict),
    /// How many claims hold, are broken, are not judged.
    VerdictCounts {
        holds: usize,
        broken: usize,
        not_judged: usize,
    },
    /// A value with its verdict, as in a matrix cell: `12.3% ✅`.
    ValueVerdict {
        value: String,
        verdict: Verdict,
    },
    /// Each claim of a result in one cell: a mark per claim, broken ones named with their value.
    ClaimMarks(Vec<ClaimMark>),
    /// A measured value with the claim's note under it.
    Annotated {
        text: String,
        note: Option<String>,
    },
    /// A skipped result, with the reason.
    Skipped(String),
    Empty,
}

/// One claim in a [`Cell::ClaimMarks`]: its verdict, and for a broken one its short id and
/// measured value.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimMark {
    pub verdict: Verdict,
    pub short_id: String,
    pub measured: String,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    pub fn number(text: impl Into<String>) -> Cell {
        Cell::Number(text.into())
    }

    pub fn code(text: impl Into<String>) -> Cell {
        Cell::Code(text.into())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn with_header(header: Vec<String>) -> Table {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

// --- Markdown -----------------------------------------------------------------------------------

/// Text for a Markdown table cell: one line, pipes escaped, nothing that could open an HTML
/// tag (`<=` stays).
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\r' => out.push(' '),
            '|' => out.push_str("\\|"),
            '<' if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')) =>
            {
                out.push_str("&lt;")
            }
            c => out.push(c),
        }
    }
    out
}

fn markdown_mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Holds => "✅",
        Verdict::Broken => "❌",
        Verdict::NotJudged => "➖",
    }
}

fn markdown_cell(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) | Cell::Number(text) => markdown_text(text),
        Cell::Code(code) | Cell::Link { text: code, .. } => format!("`{}`", markdown_text(code)),
        Cell::CodeWithPlace { code, place } => {
            format!("`{}` ({})", markdown_text(code), markdown_text(place))
        }
        Cell::Verdict(Verdict::Broken) => "❌ **BROKEN**".into(),
        Cell::Verdict(verdict) => format!("{} {}", markdown_mark(*verdict), verdict_word(*verdict)),
        Cell::VerdictCounts {
            holds,
            broken,
            not_judged,
        } => {
            let mut parts = Vec::new();
            if *broken > 0 {
                parts.push(format!("❌ {broken} broken"));
            }
            if *holds > 0 {
                parts.push(format!("✅ {holds} hold"));
            }
            if *not_judged > 0 {
                parts.push(format!("➖ {not_judged} not judged"));
            }
            if parts.is_empty() {
                parts.push("no claim".into());
            }
            parts.join(", ")
        }
        Cell::ValueVerdict { value, verdict } => {
            format!("{} {}", markdown_text(value), markdown_mark(*verdict))
        }
        Cell::ClaimMarks(marks) => marks
            .iter()
            .map(|mark| match mark.verdict {
                Verdict::Broken => format!(
                    "❌ {}: {}",
                    markdown_text(&mark.short_id),
                    markdown_text(&mark.measured)
                ),
                other => markdown_mark(other).to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Cell::Annotated { text, note } => match note {
            Some(note) => format!("{} — {}", markdown_text(text), markdown_text(note)),
            None => markdown_text(text),
        },
        Cell::Skipped(reason) if reason.is_empty() => "skipped".into(),
        Cell::Skipped(reason) => format!("⏭ skipped: {}", markdown_text(reason)),
        Cell::Empty => String::new(),
    }
}

/// The table in GitHub-flavoured Markdown, followed by a blank line.
pub fn markdown(table: &Table) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", table.header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        table.header.iter().map(|_| "---|").collect::<String>()
    );
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(markdown_cell).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    out
}

// --- HTML -------------------------------------------------------------------------------------

/// Text for HTML: the five characters that matter escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A verdict as a coloured badge (the page's style sheet colours `.badge.holds` and so on).
pub fn badge(verdict: Verdict) -> String {
    let class = match verdict {
        Verdict::Holds => "holds",
        Verdict::Broken => "broken",
        Verdict::NotJudged => "na",
    };
    format!(
        r#"<span class="badge {class}">{}</span>"#,
        verdict_word(verdict)
    )
}

fn html_cell(cell: &Cell) -> String {
    let td = |body: String| format!("<td>{body}</td>");
    match cell {
        Cell::Text(text) => td(escape(text)),
        Cell::Number(text) => format!(r#"<td class="num">{}</td>"#, escape(text)),
        Cell::Code(code) => td(format!("<code>{}</code>", escape(code))),
        Cell::Link { text, anchor } => td(format!(
            r##"<a class="nowrap" href="#{}"><code>{}</code></a>"##,
            escape(anchor),
            escape(text)
        )),
        Cell::CodeWithPlace { code, place } => {
            td(format!("<code>{}</code> ({})", escape(code), escape(place)))
        }
        Cell::Verdict(verdict) => td(badge(*verdict)),
        Cell::VerdictCounts {
            holds,
            broken,
            not_judged,
        } => {
            let mut parts = Vec::new();
            for (verdict, count) in [
                (Verdict::Broken, broken),
                (Verdict::Holds, holds),
                (Verdict::NotJudged, not_judged),
            ] {
                if *count > 0 {
                    parts.push(format!("{} ×{count}", badge(verdict)));
                }
            }
            td(parts.join(" "))
        }
        Cell::ValueVerdict { value, verdict } => {
            td(format!("{} {}", escape(value), badge(*verdict)))
        }
        Cell::ClaimMarks(marks) => td(marks
            .iter()
            .map(|mark| match mark.verdict {
                Verdict::Broken => format!(
                    "{} <code>{}</code> {}",
                    badge(mark.verdict),
                    escape(&mark.short_id),
                    escape(&mark.measured)
                ),
                other => badge(other),
            })
            .collect::<Vec<_>>()
            .join(" ")),
        Cell::Annotated { text, note } => td(match note {
            Some(note) => format!(
                r#"{}<br><span class="note">{}</span>"#,
                escape(text),
                escape(note)
            ),
            None => escape(text),
        }),
        Cell::Skipped(reason) if reason.is_empty() => {
            td(r#"<span class="badge skipped">skipped</span>"#.into())
        }
        Cell::Skipped(reason) => td(format!(
            r#"<span class="badge skipped">skipped</span> {}"#,
            escape(reason)
        )),
        Cell::Empty => td(String::new()),
    }
}

/// The table as an HTML `<table>`.
pub fn html(table: &Table) -> String {
    let mut out = String::from("<table><thead><tr>");
    for header in &table.header {
        let _ = write!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&html_cell(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    out
}

// --- Terminal ---------------------------------------------------------------------------------

fn terminal_cell(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) | Cell::Number(text) | Cell::Code(text) => text.clone(),
        Cell::Link { text, .. } => text.clone(),
        Cell::CodeWithPlace { code, place } => format!("{code} ({place})"),
        Cell::Verdict(verdict) => verdict_word(*verdict).to_string(),
        Cell::VerdictCounts {
            holds,
            broken,
            not_judged,
        } => {
            let mut text = format!("{holds}/{} hold", holds + broken + not_judged);
            if *broken > 0 {
                let _ = write!(text, ", {broken} BROKEN");
            }
            text
        }
        Cell::ValueVerdict { value, verdict } => format!("{value} {}", verdict_short(*verdict)),
        Cell::ClaimMarks(marks) => marks
            .iter()
            .map(|mark| match mark.verdict {
                Verdict::Broken => format!("BROKEN {}: {}", mark.short_id, mark.measured),
                other => verdict_short(other).to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Cell::Annotated { text, note } => match note {
            Some(note) => format!("{text} ({note})"),
            None => text.clone(),
        },
        Cell::Skipped(reason) if reason.is_empty() => "skipped".into(),
        Cell::Skipped(reason) => format!("skipped: {reason}"),
        Cell::Empty => "-".into(),
    }
}

/// The table as aligned columns for a terminal: numbers right-aligned, the last column left
/// as it is (it may be long).
pub fn terminal(table: &Table) -> String {
    let rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|row| row.iter().map(terminal_cell).collect())
        .collect();
    let columns = table.header.len();
    let mut widths: Vec<usize> = table.header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let right: Vec<bool> = (0..columns)
        .map(|i| {
            table
                .rows
                .iter()
                .any(|row| matches!(row.get(i), Some(Cell::Number(_))))
        })
        .collect();
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i > 0 {
                out.push_str("  ");
            }
            if right[i] {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if !last {
                    out.push_str(&" ".repeat(pad));
                }
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(&table.header) + "\n";
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut table = Table::new(&["claim", "verdict", "measured"]);
        table.push(vec![
            Cell::code("a/b"),
            Cell::Verdict(Verdict::Broken),
            Cell::number("99.5%"),
        ]);
        table.push(vec![
            Cell::code("a|c"),
            Cell::Verdict(Verdict::Holds),
            Cell::number("1%"),
        ]);
        table
    }

    #[test]
    fn one_model_three_renderings() {
        let table = sample();
        assert_eq!(
            markdown(&table),
            "| claim | verdict | measured |\n|---|---|---|\n| `a/b` | ❌ **BROKEN** | 99.5% |\n\
             | `a\\|c` | ✅ holds | 1% |\n\n"
        );
        let html = html(&table);
        assert!(html.contains(r#"<td><span class="badge broken">BROKEN</span></td>"#));
        assert!(html.contains(r#"<td class="num">99.5%</td>"#));
        assert!(html.contains("<code>a|c</code>"));
        assert_eq!(
            terminal(&table),
            "claim  verdict  measured\na/b    BROKEN      99.5%\na|c    holds          1%\n"
        );
    }

    #[test]
    fn markup_is_escaped_in_every_medium() {
        let mut table = Table::new(&["x"]);
        table.push(vec![Cell::text("<script>alert('x')</script> | <= 2%")]);
        assert!(html(&table).contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(markdown(&table).contains("&lt;script>alert('x')&lt;/script> \\| <= 2%"));
    }
}
