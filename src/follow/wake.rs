//! What wakes the follow loop between its polls: a message on the marker pipe (from the reader
//! thread).

use std::time::Instant;

use crate::follow::markers::Message;

#[derive(Debug)]
pub enum Wake {
    /// A message from the marker pipe, and when it was read.
    Marker(Message, Instant),
}
