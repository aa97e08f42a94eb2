//! What the follow loop does with the marker pipe's messages: each marker from a process of the
//! tree becomes a pass of the whole tree, kept as a phase named after it and marked on the
//! timeline; a checkpoint is answered once its pass is taken; a `stop` (`--markers-fd` only)
//! ends following. Markers beyond the rate or the count are not measured (one warning per
//! kind), and a process outside the tree is never written to.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::follow::follower::{Follower, PassReason};
use crate::follow::marker_pipe::{Answer, answer_checkpoint};
use crate::follow::markers::{
    LineProblem, MAX_MARKERS, Marker, Message, ProblemKind, RateLimit, Warnings,
};
use crate::measure::sampler::Sampler;
use crate::result::run::{MarkerKind, MarkersFact, PhaseMarker};

pub struct Inbox {
    pending: VecDeque<Message>,
    rate: RateLimit,
    warnings: Arc<Warnings>,
    fact: MarkersFact,
    /// `--markers-fd`: a `stop` ends following. Where memlab started the command, the command's
    /// end ends it.
    stop_allowed: bool,
    stop_requested: bool,
    /// Something came through the pipe (the result then says what).
    used: bool,
}

impl Inbox {
    pub fn new(warnings: Arc<Warnings>, stop_allowed: bool) -> Inbox {
        Inbox {
            pending: VecDeque::new(),
            rate: RateLimit::default(),
            warnings,
            fact: MarkersFact::default(),
            stop_allowed,
            stop_requested: false,
            used: false,
        }
    }

    pub fn push(&mut self, message: Message) {
        self.used = true;
        self.pending.push_back(message);
    }

    /// A `stop` came from a process of the tree.
    pub fn stop_requested(&self) -> bool {
        self.stop_requested
    }

    /// Measures the pending markers, one pass each, in the order they came.
    pub fn handle(
        &mut self,
        follower: &mut Follower,
        sampler: Option<&Sampler>,
    ) -> anyhow::Result<()> {
        while let Some(message) = self.pending.pop_front() {
            match message {
                Message::Marker(marker) => self.measure(marker, follower, sampler)?,
                Message::Stop { pid } => self.stop(pid, follower),
            }
        }
        Ok(())
    }

    fn warn(&self, kind: ProblemKind, detail: String) {
        self.warnings.warn(&LineProblem { kind, detail });
    }

    fn stop(&mut self, pid: i32, follower: &Follower) {
        if !self.stop_allowed {
            self.warn(ProblemKind::StopIgnored, format!("a stop from pid {pid}"));
        } else if !follower.knows(pid) {
            self.warn(
                ProblemKind::ForeignPid,
                format!("a stop from pid {pid}, which is not in the followed tree"),
            );
        } else {
            self.stop_requested = true;
        }
    }

    fn measure(
        &mut self,
        marker: Marker,
        follower: &mut Follower,
        sampler: Option<&Sampler>,
    ) -> anyhow::Result<()> {
        // A process outside the tree is neither measured for nor written to.
        if !follower.knows(marker.pid) {
            self.fact.dropped += 1;
            self.warn(
                ProblemKind::ForeignPid,
                format!(
                    "marker '{}' from pid {}, which is not in the followed tree",
                    marker.name, marker.pid
                ),
            );
            return Ok(());
        }
        let refused = if self.fact.measured >= MAX_MARKERS {
            Some((
                ProblemKind::TooMany,
                format!("more than {MAX_MARKERS} markers in one run"),
            ))
        } else if !self.rate.allow(Instant::now()) {
            Some((
                ProblemKind::TooFast,
                format!(
                    "markers come faster than {} per second",
                    crate::follow::markers::MARKERS_PER_SECOND
                ),
            ))
        } else {
            None
        };
        if let Some((kind, detail)) = refused {
            self.fact.dropped += 1;
            self.answer(&marker, Answer::Error(&detail));
            self.warn(kind, detail);
            return Ok(());
        }
        let tag = PhaseMarker {
            kind: marker.kind,
            name: marker.name.clone(),
            pid: marker.pid,
        };
        let phase_name = marker.phase_name();
        if let Some(sampler) = sampler {
            sampler.event(marker.kind.name(), &phase_name);
        }
        match follower.pass(sampler, PassReason::Marker(tag)) {
            Ok(Some(_)) => {
                self.fact.measured += 1;
                self.answer(&marker, Answer::Measured(&marker.name));
            }
            Ok(None) => {
                self.fact.dropped += 1;
                self.answer(&marker, Answer::Error("no process of the tree is alive"));
                self.warn(
                    ProblemKind::NothingAlive,
                    format!(
                        "marker '{}' from pid {} came when no process of the tree was alive",
                        marker.name, marker.pid
                    ),
                );
            }
            Err(error) => {
                self.answer(&marker, Answer::Error(&format!("{error:#}")));
                return Err(error);
            }
        }
        Ok(())
    }

    /// Answers a checkpoint (other markers wait for nothing).
    fn answer(&mut self, marker: &Marker, answer: Answer) {
        let (MarkerKind::Checkpoint, Some(reply_fd)) = (marker.kind, marker.reply_fd) else {
            return;
        };
        match answer_checkpoint(marker.pid, reply_fd, answer) {
            Ok(()) => self.fact.answered += 1,
            Err(why) => self.warn(
                ProblemKind::Reply,
                format!("cannot answer checkpoint '{}': {why}", marker.name),
            ),
        }
    }

    /// What the run's result says about the marker pipe: nothing when nothing came through
    /// it.
    pub fn finish(self, rejected_lines: u64) -> Option<MarkersFact> {
        if !self.used && rejected_lines == 0 {
            return None;
        }
        Some(MarkersFact {
            rejected_lines,
            warnings: self.warnings.texts(),
            ..self.fact
        })
    }
}
