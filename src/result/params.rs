//! A scenario's parameters as stored in its result: what the workload received, and how the
//! run was made (repetitions, interpreter).

use serde::{Deserialize, Serialize};

use crate::protocol::params::WorkloadParams;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Sent to the workload as they are (stored flat: `size_bytes`, `children`, `op`…).
    #[serde(flatten)]
    pub workload: WorkloadParams,
    pub repeat: usize,
    /// The interpreter, for Python scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
}
