//! The charts' shared look: font sizes, colours, and the legend they draw beside the plot.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::DrawResult;

/// The family the embedded font is registered under (plotters' default family name).
pub const FAMILY: &str = "sans-serif";

pub fn title_font() -> FontDesc<'static> {
    (FAMILY, 24).into_font()
}
pub fn subtitle_font() -> TextStyle<'static> {
    (FAMILY, 16).into_font().color(&MUTED)
}
pub fn note_font() -> TextStyle<'static> {
    (FAMILY, 19).into_font().color(&MUTED)
}
pub fn label_font() -> TextStyle<'static> {
    (FAMILY, 15).into_font().color(&TEXT)
}
pub fn axis_desc_font() -> TextStyle<'static> {
    (FAMILY, 16).into_font().color(&TEXT)
}
pub fn small_font() -> TextStyle<'static> {
    (FAMILY, 13).into_font().color(&TEXT)
}

pub const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub const MUTED: RGBColor = RGBColor(0x5f, 0x63, 0x68);
pub const GRID: RGBColor = RGBColor(0xc8, 0xcc, 0xd0);

/// Page categories of a child: shared with its parent, copied, its own.
pub const SHARED: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
pub const COPIED: RGBColor = RGBColor(0xe1, 0x57, 0x59);
pub const CHILD_ONLY: RGBColor = RGBColor(0xf2, 0x8e, 0x2b);

/// Verdicts.
pub const HOLDS: RGBColor = RGBColor(0x3b, 0x8e, 0x3f);
pub const BROKEN: RGBColor = RGBColor(0xd6, 0x3a, 0x3a);
pub const NOT_JUDGED: RGBColor = RGBColor(0x9c, 0x9c, 0x9c);
pub const SKIPPED_FILL: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);

/// Tree totals: what naive tools add up, the proportional share, distinct frames.
pub const RSS: RGBColor = RGBColor(0xb0, 0xb7, 0xbf);
pub const PSS: RGBColor = RGBColor(0xf2, 0x8e, 0x2b);
pub const UNIQUE: RGBColor = RGBColor(0x4e, 0x79, 0xa7);

/// Processes of the tree the workload did not announce (helpers, servers), summed.
pub const OTHERS: RGBColor = RGBColor(0x17, 0x8f, 0x9f);

/// Markers on a timeline.
pub const PHASE_MARKER: RGBColor = RGBColor(0x70, 0x70, 0x70);
pub const OPERATION_BAND: RGBColor = RGBColor(0xff, 0xf1, 0xc1);

/// One colour per process (parent first) or per series, distinguishable and print-safe.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x22, 0x22, 0x22),
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xff, 0x9d, 0xa7),
];

pub fn series_color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy)]
pub enum Swatch {
    Line(RGBColor),
    Dashed(RGBColor),
    Block(RGBColor),
    /// A short vertical tick (a threshold).
    Tick(RGBColor),
    /// A hollow circle (a point singled out).
    Ring(RGBColor),
}

/// A legend in its own column: one swatch and label per line, from the top.
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: Option<&str>,
    entries: &[(Swatch, String)],
) -> DrawResult<DB> {
    let left = 8;
    let mut y = 14;
    let label = label_font().pos(Pos::new(HPos::Left, VPos::Center));
    if let Some(heading) = heading {
        area.draw(&Text::new(
            heading.to_string(),
            (left, y),
            axis_desc_font().pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        y += 24;
    }
    for (swatch, text) in entries {
        match swatch {
            Swatch::Line(color) => area.draw(&PathElement::new(
                vec![(left, y), (left + 26, y)],
                color.stroke_width(3),
            ))?,
            Swatch::Dashed(color) => {
                for start in [left, left + 10, left + 20] {
                    area.draw(&PathElement::new(
                        vec![(start, y), (start + 6, y)],
                        color.stroke_width(2),
                    ))?;
                }
            }
            Swatch::Block(color) => area.draw(&Rectangle::new(
                [(left, y - 7), (left + 26, y + 7)],
                color.filled(),
            ))?,
            Swatch::Tick(color) => area.draw(&PathElement::new(
                vec![(left + 13, y - 9), (left + 13, y + 9)],
                color.stroke_width(3),
            ))?,
            Swatch::Ring(color) => {
                area.draw(&Circle::new((left + 13, y), 8, color.stroke_width(3)))?
            }
        }
        area.draw(&Text::new(text.clone(), (left + 36, y), label.clone()))?;
        y += 24;
    }
    Ok(())
}

/// Width in pixels of `text` in `style` on `area` (an estimate from the embedded font).
pub fn text_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
) -> u32 {
    area.estimate_text_size(text, style)
        .map(|(w, _)| w)
        .unwrap_or(text.chars().count() as u32 * 8)
}
