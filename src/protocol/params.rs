//! The parameters a workload (native or Python) receives as JSON: `--params` for native
//! workloads, `MEMLAB_PARAMS` for the others. Every field the workload needs is always sent, so
//! no client has to know memlab's defaults.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadParams {
    pub size_bytes: u64,
    pub children: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_bytes: Option<u64>,
    /// Python workloads: `default` (sizes from --size) or `paper` (the documents' sizes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
}
