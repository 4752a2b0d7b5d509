//! The target's process from `/proc/PID`: resident set size (the judged memory
//! unless a heap probe attached), threads and open descriptors — of the process
//! that listens on the endpoint (a wrapper's child under `npm start`).

use super::{Attached, Budget, Column, Probe, ProbeFuture, Resource, Row, Setup, TargetView};
use crate::procfs;
use soak_harness::verdict;

const PANEL: &str = "target threads, open descriptors";

/// Reads `/proc/PID/status` and `/proc/PID/fd` at every sample.
#[derive(Debug)]
pub struct Proc {
    pid: u32,
    fd_budget: Budget,
}

/// Every run has it.
pub fn register(setup: &Setup<'_>) -> Option<Box<dyn Probe>> {
    Some(Box::new(Proc {
        pid: 0,
        fd_budget: match setup.cfg.max_fd_growth {
            Some(b) => Budget::PerHour(b),
            None => Budget::None,
        },
    }))
}

impl Probe for Proc {
    fn name(&self) -> &'static str {
        "proc"
    }

    fn attach<'a>(&'a mut self, target: &'a TargetView<'a>) -> ProbeFuture<'a, Attached> {
        self.pid = target.serving;
        let columns = vec![
            Column::resource(
                "rss_bytes",
                Resource::new(verdict::RSS, "bytes", Budget::Memory),
            )
            .main("target RSS"),
            Column::resource("open_fds", Resource::new("fds", "fds", self.fd_budget))
                .in_panel(PANEL, "fds"),
            Column::resource(
                "alive_tasks",
                Resource::new("threads", "threads", Budget::None),
            )
            .in_panel(PANEL, "threads"),
        ];
        Box::pin(async move { Ok(columns) })
    }

    fn sample<'a>(&'a mut self, row: &'a mut Row<'_>) -> ProbeFuture<'a, ()> {
        // A process that is gone (or a zombie) leaves the row empty: the run
        // sees the target's exit itself.
        if let Some(p) = procfs::read(self.pid) {
            row.set("rss_bytes", p.rss_bytes as f64);
            row.set("alive_tasks", p.threads as f64);
            row.set("open_fds", p.fds as f64);
        }
        Box::pin(async {})
    }
}
