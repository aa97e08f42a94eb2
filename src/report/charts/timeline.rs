//! Per scenario: RSS, PSS and USS of every process over time (MiB against seconds), one panel
//! per measure, with the protocol's events as markers and the operation shaded. Without a
//! recorded timeline the panels join the phase snapshots and say so.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, Swatch};
use super::{Chart, DrawResult, axis_number, draw_note, mib, titled, upper_bound};
use crate::result::{Role, RunStatus, SampleKind, ScenarioResult};

pub struct TimelineChart<'a> {
    pub result: &'a ScenarioResult,
}

/// One line per process (descendants summed into one).
#[derive(Debug, Default, Clone)]
pub struct ProcessLine {
    pub label: String,
    /// Parent 0, children by index, others after.
    pub order: usize,
    pub rss: Vec<(f64, f64)>,
    pub pss: Vec<(f64, f64)>,
    pub uss: Vec<(f64, f64)>,
}

/// A marker on the time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub time_s: f64,
    pub label: String,
}

/// What the chart draws, extracted from the result (also used by tests).
#[derive(Debug, Default, Clone)]
pub struct TimelineData {
    pub lines: Vec<ProcessLine>,
    pub markers: Vec<Marker>,
    /// Operation spans (start, end) in seconds.
    pub operations: Vec<(f64, f64)>,
    /// True when the lines come from a sampled timeline, false from the phase snapshots.
    pub sampled: bool,
}

const OTHERS: usize = usize::MAX;

fn line_key(role: Option<Role>, pid: i32, child_index: &BTreeMap<i32, usize>) -> (usize, String) {
    match role {
        Some(Role::Parent) => (0, "parent".to_string()),
        Some(Role::Child) => match child_index.get(&pid) {
            Some(index) => (*index, format!("child {index}")),
            None => (10_000 + pid.max(0) as usize, format!("child (pid {pid})")),
        },
        _ => (OTHERS, "other processes (sum)".to_string()),
    }
}

impl TimelineData {
    pub fn from_result(result: &ScenarioResult) -> TimelineData {
        let child_index: BTreeMap<i32, usize> = result
            .phases
            .iter()
            .flat_map(|p| &p.processes)
            .filter_map(|p| p.child_index.map(|i| (p.pid, i)))
            .collect();
        let timeline = &result.timeline;
        let mut lines: BTreeMap<(usize, String), ProcessLine> = BTreeMap::new();
        let mut add = |key: (usize, String),
                       time: f64,
                       rss: u64,
                       pss: Option<u64>,
                       uss: Option<u64>,
                       sum: bool| {
            let line = lines.entry(key.clone()).or_insert_with(|| ProcessLine {
                label: key.1.clone(),
                order: key.0,
                ..ProcessLine::default()
            });
            let push = |points: &mut Vec<(f64, f64)>, value: f64| match points.last_mut() {
                Some(last) if sum && last.0 == time => last.1 += value,
                _ => points.push((time, value)),
            };
            push(&mut line.rss, mib(rss));
            if let Some(pss) = pss {
                push(&mut line.pss, mib(pss));
            }
            if let Some(uss) = uss {
                push(&mut line.uss, mib(uss));
            }
        };
        let sampled = !timeline.samples.is_empty();
        if sampled {
            let mut samples: Vec<_> = timeline.samples.iter().collect();
            samples.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
            for sample in samples {
                let rollup = sample.kind == SampleKind::Rollup;
                for process in &sample.processes {
                    // A live process always has resident pages: zero is one that has exited
                    // and awaits its reaping (statm of a zombie), not a measurement.
                    if process.rss_bytes == 0 {
                        continue;
                    }
                    let key = line_key(process.role, process.pid, &child_index);
                    let sum = key.0 == OTHERS;
                    let (pss, uss) = if rollup {
                        (process.pss_bytes, process.uss_bytes)
                    } else {
                        (None, None)
                    };
                    add(key, sample.time_s, process.rss_bytes, pss, uss, sum);
                }
            }
        } else {
            for phase in &result.phases {
                for process in &phase.processes {
                    let Some(rollup) = &process.rollup else {
                        continue;
                    };
                    let key = line_key(Some(process.role), process.pid, &child_index);
                    let sum = key.0 == OTHERS;
                    add(
                        key,
                        phase.time_s,
                        rollup.rss_bytes,
                        Some(rollup.pss_bytes),
                        Some(rollup.uss_bytes),
                        sum,
                    );
                }
            }
        }
        let mut lines: Vec<ProcessLine> = lines.into_values().collect();
        lines.sort_by_key(|l| l.order);

        let mut markers = Vec::new();
        let mut operations = Vec::new();
        let mut open: Option<f64> = None;
        let mut events: Vec<_> = timeline.events.iter().collect();
        events.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        for event in events {
            match event.kind.as_str() {
                "operation-start" => open = Some(event.time_s),
                "operation-end" => {
                    operations.push((open.take().unwrap_or(event.time_s), event.time_s));
                }
                "children" if event.name.parse::<u64>().is_ok() => markers.push(Marker {
                    time_s: event.time_s,
                    label: format!("{} children", event.name),
                }),
                kind => {
                    let label = if kind == "phase" || event.name.is_empty() {
                        if event.name.is_empty() {
                            kind.to_string()
                        } else {
                            event.name.clone()
                        }
                    } else {
                        format!("{kind}: {}", event.name)
                    };
                    markers.push(Marker {
                        time_s: event.time_s,
                        label,
                    });
                }
            }
        }
        if let Some(start) = open {
            let end = lines
                .iter()
                .flat_map(|l| l.rss.last())
                .map(|p| p.0)
                .fold(start, f64::max);
            operations.push((start, end));
        }
        if markers.is_empty() {
            // No events recorded: the phases the file holds are the markers.
            markers = result
                .phases
                .iter()
                .map(|p| Marker {
                    time_s: p.time_s,
                    label: p.name.clone(),
                })
                .collect();
        }
        TimelineData {
            lines,
            markers,
            operations,
            sampled,
        }
    }

    fn time_max(&self) -> f64 {
        let from_lines = self
            .lines
            .iter()
            .flat_map(|l| l.rss.iter().chain(&l.pss).chain(&l.uss))
            .map(|p| p.0);
        let from_markers = self.markers.iter().map(|m| m.time_s);
        let from_operations = self.operations.iter().map(|o| o.1);
        from_lines
            .chain(from_markers)
            .chain(from_operations)
            .fold(0.0, f64::max)
    }
}

#[derive(Clone, Copy)]
enum Measure {
    Rss,
    Pss,
    Uss,
}

impl Measure {
    fn name(self) -> &'static str {
        match self {
            Measure::Rss => "RSS",
            Measure::Pss => "PSS",
            Measure::Uss => "USS",
        }
    }
    fn points(self, line: &ProcessLine) -> &[(f64, f64)] {
        match self {
            Measure::Rss => &line.rss,
            Measure::Pss => &line.pss,
            Measure::Uss => &line.uss,
        }
    }
}

fn line_color(line: &ProcessLine, position: usize) -> RGBColor {
    if line.order == OTHERS {
        style::OTHERS
    } else {
        style::series_color(position)
    }
}

impl TimelineChart<'_> {
    fn subtitle(&self, data: &TimelineData) -> String {
        let result = self.result;
        let timeline = &result.timeline;
        let children = result
            .summary
            .copied_bytes_per_child
            .len()
            .max(result.params.as_ref().map_or(0, |p| p.workload.children));
        let mut parts = vec![format!(
            "data {} · {} children",
            crate::units::format_bytes(result.data_bytes),
            children
        )];
        if data.sampled {
            let rollups = timeline
                .samples
                .iter()
                .filter(|s| s.kind == SampleKind::Rollup)
                .count();
            let statms = timeline.samples.len() - rollups;
            parts.push(format!(
                "RSS from statm every {} ms ({statms} samples) and smaps_rollup every {} ms ({rollups} samples)",
                axis_number(timeline.statm_interval_ms, 1),
                axis_number(timeline.rollup_interval_ms, 1)
            ));
        } else {
            parts.push(format!(
                "no timeline recorded: lines join the {} phase snapshots",
                result.phases.len()
            ));
        }
        parts.join(" · ")
    }

    #[allow(clippy::too_many_arguments)]
    fn draw_panel<DB: DrawingBackend>(
        &self,
        panel: &DrawingArea<DB, Shift>,
        data: &TimelineData,
        measure: Measure,
        time_max: f64,
        bottom: bool,
        top: bool,
    ) -> DrawResult<DB> {
        let value_max = data
            .lines
            .iter()
            .flat_map(|l| measure.points(l))
            .map(|p| p.1)
            .fold(0.0, f64::max);
        let y_max = upper_bound(value_max) * if top { 1.12 } else { 1.0 };
        let mut chart = ChartBuilder::on(panel)
            .margin_left(8)
            .margin_right(14)
            .margin_top(if top { 6 } else { 10 })
            .x_label_area_size(if bottom { 48 } else { 24 })
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..time_max, 0f64..y_max)?;
        let mut mesh = chart.configure_mesh();
        mesh.y_desc(format!("{} (MiB)", measure.name()))
            .x_labels(12)
            .y_labels(5)
            .label_style(style::label_font())
            .axis_desc_style(style::axis_desc_font())
            .light_line_style(WHITE)
            .bold_line_style(style::GRID.mix(0.6))
            .x_label_formatter(&|v| axis_number(*v, 2))
            .y_label_formatter(&|v| axis_number(*v, 1));
        if bottom {
            mesh.x_desc("time since the workload started (s)");
        }
        mesh.draw()?;

        chart.draw_series(data.operations.iter().map(|(start, end)| {
            Rectangle::new(
                [(*start, 0.0), (*end, y_max)],
                style::OPERATION_BAND.mix(0.9).filled(),
            )
        }))?;
        for marker in &data.markers {
            chart.draw_series(DashedLineSeries::new(
                vec![(marker.time_s, 0.0), (marker.time_s, y_max)],
                6,
                4,
                style::PHASE_MARKER.stroke_width(1),
            ))?;
        }
        if top {
            self.draw_marker_labels(&chart, data, y_max)?;
        }

        let mut drawn = false;
        for (position, line) in data.lines.iter().enumerate() {
            let points = measure.points(line);
            if points.is_empty() {
                continue;
            }
            drawn = true;
            let color = line_color(line, position);
            chart.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?;
            if !data.sampled || points.len() == 1 {
                chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
            }
        }
        if !drawn {
            let (width, height) = chart.plotting_area().dim_in_pixel();
            let _ = (width, height);
            chart.plotting_area().draw(
                &(EmptyElement::at((time_max / 2.0, y_max / 2.0))
                    + Text::new(
                        format!(
                            "no {} samples recorded (statm gives RSS only)",
                            measure.name()
                        ),
                        (0, 0),
                        style::note_font().pos(Pos::new(HPos::Center, VPos::Center)),
                    )),
            )?;
        }
        Ok(())
    }

    /// Marker labels along the top of the first panel, in up to three rows so they do not
    /// overlap; a label that fits nowhere is left out (its line stays).
    fn draw_marker_labels<DB: DrawingBackend>(
        &self,
        chart: &ChartContext<
            DB,
            Cartesian2d<
                plotters::coord::types::RangedCoordf64,
                plotters::coord::types::RangedCoordf64,
            >,
        >,
        data: &TimelineData,
        y_max: f64,
    ) -> DrawResult<DB> {
        let area = chart.plotting_area();
        let font = style::small_font();
        let mut rows_right: [i32; 3] = [i32::MIN; 3];
        let mut markers: Vec<&Marker> = data.markers.iter().collect();
        markers.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        let (left_px, _) = area.map_coordinate(&(0.0, y_max));
        let right_px = area.get_pixel_range().0.end;
        for marker in markers {
            let (x, _) = area.map_coordinate(&(marker.time_s, y_max));
            let width = area
                .estimate_text_size(&marker.label, &font)
                .map(|(w, _)| w as i32)
                .unwrap_or(60);
            // Labels sit right of their line, or left of it near the right edge.
            let (start, anchor) = if x + 4 + width > right_px {
                (x - 4 - width, HPos::Right)
            } else {
                (x + 4, HPos::Left)
            };
            let start = start.max(left_px);
            let Some(row) = rows_right.iter().position(|right| start > *right + 6) else {
                continue;
            };
            rows_right[row] = start + width;
            let offset_x = if matches!(anchor, HPos::Left) { 4 } else { -4 };
            area.draw(
                &(EmptyElement::at((marker.time_s, y_max))
                    + Text::new(
                        marker.label.clone(),
                        (offset_x, 3 + row as i32 * 15),
                        font.clone().pos(Pos::new(anchor, VPos::Top)),
                    )),
            )?;
        }
        Ok(())
    }
}

impl Chart for TimelineChart<'_> {
    fn file_stem(&self) -> String {
        format!("timeline-{}", self.result.scenario)
    }

    fn title(&self) -> String {
        format!(
            "{}: RSS, PSS and USS of each process over time",
            self.result.scenario
        )
    }

    fn size(&self) -> (u32, u32) {
        (1100, 860)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let result = self.result;
        if result.status == RunStatus::Skipped {
            return draw_note(
                area,
                &self.title(),
                "scenario skipped: no timeline recorded",
            );
        }
        let data = TimelineData::from_result(result);
        if data.lines.is_empty() {
            return draw_note(
                area,
                &self.title(),
                "no timeline recorded, and no process was measured",
            );
        }
        let body = titled(area, &self.title(), Some(&self.subtitle(&data)))?;
        let (width, _) = body.dim_in_pixel();
        let (plot, legend) = body.split_horizontally(width - 215);
        let time_max = upper_bound(data.time_max()) / 1.08 * 1.02;
        let (plot_width, plot_height) = plot.dim_in_pixel();
        let _ = plot_width;
        let panel_height = plot_height.saturating_sub(24) / 3;
        let (first, rest) = plot.split_vertically(panel_height);
        let (second, third) = rest.split_vertically(panel_height);
        self.draw_panel(&first, &data, Measure::Rss, time_max, false, true)?;
        self.draw_panel(&second, &data, Measure::Pss, time_max, false, false)?;
        self.draw_panel(&third, &data, Measure::Uss, time_max, true, false)?;

        let mut entries: Vec<(Swatch, String)> = data
            .lines
            .iter()
            .enumerate()
            .map(|(position, line)| (Swatch::Line(line_color(line, position)), line.label.clone()))
            .collect();
        entries.push((Swatch::Dashed(style::PHASE_MARKER), "event / phase".into()));
        if !data.operations.is_empty() {
            entries.push((Swatch::Block(style::OPERATION_BAND), "operation".into()));
        }
        style::draw_legend(&legend.margin(10, 0, 0, 0), Some("processes"), &entries)
    }
}
