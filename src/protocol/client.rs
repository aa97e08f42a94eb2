//! The workload side of the protocol, for workloads written in Rust (the native scenarios).
//! The Python client `memlab.workload` (python/memlab/workload.py) is the same thing in Python.

use std::io::{BufRead, Write};

use super::{
    OrchestratorMessage, PROTOCOL_VERSION, WorkloadMessage, encode, parse_orchestrator_line,
};

pub struct ProtocolClient<R: BufRead, W: Write> {
    input: R,
    output: W,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("orchestrator closed the protocol pipe")]
    Closed,
    #[error("orchestrator aborted: {0}")]
    Aborted(String),
    #[error("bad message from orchestrator: {0}")]
    Bad(#[from] super::ParseError),
    #[error("protocol pipe: {0}")]
    Io(#[from] std::io::Error),
}

impl<R: BufRead, W: Write> ProtocolClient<R, W> {
    pub fn new(input: R, output: W) -> Self {
        ProtocolClient { input, output }
    }

    pub fn send(&mut self, message: &WorkloadMessage) -> Result<(), ClientError> {
        self.output.write_all(encode(message).as_bytes())?;
        self.output.flush()?;
        Ok(())
    }

    pub fn hello(&mut self, workload: &str) -> Result<(), ClientError> {
        self.send(&WorkloadMessage::Hello {
            protocol: PROTOCOL_VERSION,
            workload: workload.to_string(),
            pid: std::process::id() as i32,
            runtime: Some(format!("memlab {} native", env!("CARGO_PKG_VERSION"))),
        })
    }

    pub fn region(&mut self, name: &str, start: u64, end: u64) -> Result<(), ClientError> {
        self.send(&WorkloadMessage::Region {
            name: name.to_string(),
            start,
            end,
        })
    }

    pub fn children(&mut self, pids: Vec<i32>) -> Result<(), ClientError> {
        self.send(&WorkloadMessage::Children { pids })
    }

    pub fn fact(&mut self, name: &str, value: serde_json::Value) -> Result<(), ClientError> {
        self.send(&WorkloadMessage::Fact {
            name: name.to_string(),
            value,
        })
    }

    /// Announces a phase and blocks until the orchestrator has measured it.
    pub fn phase(&mut self, name: &str) -> Result<(), ClientError> {
        self.send(&WorkloadMessage::Phase {
            name: name.to_string(),
        })?;
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            return Err(ClientError::Closed);
        }
        match parse_orchestrator_line(&line)? {
            OrchestratorMessage::Go => Ok(()),
            OrchestratorMessage::Abort { reason } => Err(ClientError::Aborted(reason)),
        }
    }

    pub fn done(&mut self) -> Result<(), ClientError> {
        self.send(&WorkloadMessage::Done)
    }

    pub fn error(&mut self, message: &str) -> Result<(), ClientError> {
        self.send(&WorkloadMessage::Error {
            message: message.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn phase_waits_for_go_and_reports_abort() {
        let mut sent = Vec::new();
        let mut client = ProtocolClient::new(Cursor::new("{\"msg\":\"go\"}\n"), &mut sent);
        client.phase("allocated").unwrap();
        assert!(matches!(client.phase("forked"), Err(ClientError::Closed)));
        assert_eq!(
            String::from_utf8(sent).unwrap(),
            "{\"msg\":\"phase\",\"name\":\"allocated\"}\n{\"msg\":\"phase\",\"name\":\"forked\"}\n"
        );

        let mut sink = Vec::new();
        let mut client = ProtocolClient::new(
            Cursor::new("{\"msg\":\"abort\",\"reason\":\"ctrl-c\"}\n"),
            &mut sink,
        );
        assert!(
            matches!(client.phase("forked"), Err(ClientError::Aborted(reason)) if reason == "ctrl-c")
        );
    }
}
