//! soak's own counts of the load it sends, per sample: requests (the growth
//! model's load covariate), latency, errors, open WebSocket connections, and the
//! WebSocket sessions the plan has on the target (`ws_sessions`: a load gauge of
//! the growth model, [`soak_harness::verdict::LOAD_GAUGES`]). `ws_sessions`
//! counts the sessions within their planned time, and those that went silent
//! with their socket open (half-open) less than the run's retention ago (the
//! time the plan gives a server to notice), so it follows the plan's day and its
//! random arrivals but nothing the target does;
//! `ws_connections` does not qualify as a load gauge: a server that never closes
//! the sockets its clients left open keeps it rising — a symptom, which a
//! covariate would explain away.
//!
//! With a retention (`--retention`, else the plan's), `recent_user`,
//! `recent_guild` and `recent_session` count the distinct ids of each pool the
//! plan's HTTP paths used within it ([`crate::load::recent`]): load gauges too,
//! the working set of a service that keeps per-id state that long.

use std::sync::Arc;

use super::{Attached, Column, Probe, ProbeFuture, Resource, Row, Setup, TargetView};
use crate::load::LoadStats;
use crate::plan::PLACEHOLDERS;

/// Takes the load's per-sample counts at every sample.
#[derive(Debug)]
pub struct LoadCounts {
    stats: Arc<LoadStats>,
    ws: bool,
    /// The `recent_*` columns: (pool index in [`PLACEHOLDERS`], column name).
    recent: Vec<(usize, String)>,
}

/// Every run has it.
pub fn register(setup: &Setup<'_>) -> Option<Box<dyn Probe>> {
    // The config's plan carries the run's retention, as the load's does.
    let plan = &setup.cfg.plan;
    let recent = plan
        .recent_pools()
        .map(|(_, pools)| {
            pools
                .into_iter()
                .map(|i| (i, format!("recent_{}", PLACEHOLDERS[i])))
                .collect()
        })
        .unwrap_or_default();
    Some(Box::new(LoadCounts {
        stats: setup.load.clone(),
        ws: plan.has_ws(),
        recent,
    }))
}

/// Reported per sample, never judged.
fn reported(name: &str) -> Column {
    Column::resource(name, Resource::new(name, "count", super::Budget::None))
}

impl Probe for LoadCounts {
    fn name(&self) -> &'static str {
        "load"
    }

    fn attach<'a>(&'a mut self, _target: &'a TargetView<'a>) -> ProbeFuture<'a, Attached> {
        let mut columns = vec![
            Column::series("load_events").in_panel("load (events per sample)", "load"),
            reported("latency_p50_ms").in_panel("latency (ms)", "p50_ms"),
            reported("latency_p99_ms").in_panel("latency (ms)", "p99_ms"),
            reported("errors"),
        ];
        if self.ws {
            columns.push(reported("ws_connections"));
            columns.push(
                Column::series("ws_sessions").in_panel("gauge: ws_connections", "ws_sessions"),
            );
        }
        for (_, name) in &self.recent {
            columns.push(Column::series(name).in_panel("ids used within the retention", name));
        }
        Box::pin(async move { Ok(columns) })
    }

    fn sample<'a>(&'a mut self, row: &'a mut Row<'_>) -> ProbeFuture<'a, ()> {
        let i = self.stats.take_interval();
        row.set("load_events", i.requests as f64);
        row.set("latency_p50_ms", i.p50_ms);
        row.set("latency_p99_ms", i.p99_ms);
        row.set("errors", i.errors as f64);
        if self.ws {
            row.set("ws_connections", i.ws_open as f64);
            row.set("ws_sessions", i.ws_active as f64);
        }
        for (pool, name) in &self.recent {
            row.set(name, i.recent[*pool] as f64);
        }
        Box::pin(async {})
    }
}
