//! The target's Prometheus metrics: every numeric series of its `/metrics` (at
//! most [`prom::MAX_SERIES`]) is a column — gauges listed when they grow,
//! counters reported — and its request counter is read before and after the load
//! to compare with soak's own count.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::{Attached, Column, Probe, ProbeFuture, Refusal, Row, Setup, TargetView, WindDown};
use crate::addr::{self, Endpoint};
use crate::config::MetricsSource;
use crate::prom::{self, Series};

/// How long the first and the last scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Scrapes the target's metrics at every sample.
#[derive(Debug)]
pub struct Metrics {
    source: MetricsSource,
    target: Endpoint,
    count_metric: Option<String>,
    sample_timeout: Duration,
    /// Where it answered at attach (`None`: no metrics).
    endpoint: Option<Endpoint>,
    columns: Vec<String>,
    /// The count metric's value at attach.
    counted_before: Option<f64>,
    peaks: BTreeMap<String, f64>,
    failures: u64,
}

/// Unless `--metrics-url none`.
pub fn register(setup: &Setup<'_>) -> Option<Box<dyn Probe>> {
    if setup.cfg.metrics == MetricsSource::Off {
        return None;
    }
    Some(Box::new(Metrics {
        source: setup.cfg.metrics.clone(),
        target: setup.endpoint.clone(),
        count_metric: setup.cfg.count_metric.clone(),
        sample_timeout: setup
            .cfg
            .sample_every
            .clamp(Duration::from_millis(200), Duration::from_secs(2)),
        endpoint: None,
        columns: Vec::new(),
        counted_before: None,
        peaks: BTreeMap::new(),
        failures: 0,
    }))
}

impl Metrics {
    /// Where to scrape and its first answer; `Err` when given and silent.
    async fn first_scrape(&self) -> Result<Option<(Endpoint, String)>, Refusal> {
        match &self.source {
            MetricsSource::Off => Ok(None),
            MetricsSource::Given(e) => match prom::scrape(e, SCRAPE_TIMEOUT).await {
                Ok(text) => Ok(Some((e.clone(), text))),
                Err(why) => Err(Refusal::Usage(format!(
                    "--metrics-url {} did not answer: {why}; check the URL or pass --metrics-url none",
                    e.url
                ))),
            },
            MetricsSource::Auto => {
                let url = format!("{}/metrics", self.target.base());
                let Ok(e) = addr::parse("url", &url, !self.target.loopback) else {
                    return Ok(None);
                };
                Ok(prom::scrape(&e, SCRAPE_TIMEOUT)
                    .await
                    .ok()
                    .map(|text| (e, text)))
            }
        }
    }

    fn count_of(&self, series: &[Series]) -> Option<f64> {
        let name = self.count_metric.as_ref()?;
        series
            .iter()
            .find(|s| &s.metric == name && !s.labelled)
            .map(|s| s.value)
    }
}

impl Probe for Metrics {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn attach<'a>(&'a mut self, _target: &'a TargetView<'a>) -> ProbeFuture<'a, Attached> {
        Box::pin(async move {
            let Some((endpoint, text)) = self.first_scrape().await? else {
                return Ok(Vec::new());
            };
            let first = prom::parse(&text);
            let asked = self.count_metric.clone();
            self.count_metric = pick_count_metric(&first, asked.as_deref());
            if let (Some(name), None) = (&asked, &self.count_metric) {
                return Err(Refusal::Usage(format!(
                    "--count-metric {name}: the target's metrics have no such unlabelled series"
                )));
            }
            self.counted_before = self.count_of(&first);
            let mut columns: Vec<Column> = Vec::new();
            for s in first.iter().take(prom::MAX_SERIES) {
                if columns.iter().any(|c| c.name == s.column) {
                    continue;
                }
                columns.push(if s.counter || s.column.ends_with("_total") {
                    // Prometheus names totals `_total`: they only climb, whatever
                    // their declared type (or with none), so they are counters:
                    // not drawn, never a gauge that grew.
                    Column::counter(&s.column)
                } else {
                    Column::gauge(&s.column)
                });
            }
            self.columns = columns.iter().map(|c| c.name.clone()).collect();
            self.endpoint = Some(endpoint);
            Ok(columns)
        })
    }

    fn sample<'a>(&'a mut self, row: &'a mut Row<'_>) -> ProbeFuture<'a, ()> {
        Box::pin(async move {
            let Some(e) = &self.endpoint else { return };
            match prom::scrape(e, self.sample_timeout).await {
                Ok(text) => {
                    let now = prom::parse(&text);
                    for col in &self.columns {
                        let v = now
                            .iter()
                            .find(|s| &s.column == col)
                            .map(|s| s.value)
                            .unwrap_or(f64::NAN);
                        row.set(col, v);
                        if v.is_finite() {
                            let peak = self.peaks.entry(col.clone()).or_insert(0.0);
                            *peak = peak.max(v);
                        }
                    }
                }
                Err(_) => self.failures += 1,
            }
        })
    }

    fn finish<'a>(&'a mut self, end: &'a mut WindDown) -> ProbeFuture<'a, ()> {
        Box::pin(async move {
            let Some(e) = &self.endpoint else { return };
            let after = match (&self.count_metric, end.target_alive) {
                (Some(_), true) => prom::scrape(e, SCRAPE_TIMEOUT)
                    .await
                    .ok()
                    .and_then(|t| self.count_of(&prom::parse(&t))),
                _ => None,
            };
            let counted = match (self.counted_before, after) {
                (Some(a), Some(b)) => Some((b - a).max(0.0) as u64),
                _ => None,
            };
            // Every column, including those never read (peak 0).
            let peaks: BTreeMap<&String, f64> = self
                .columns
                .iter()
                .map(|c| (c, self.peaks.get(c).copied().unwrap_or(0.0)))
                .collect();
            end.fact("target", json!({ "metrics_url": e.url.as_str() }));
            end.fact(
                "requests",
                json!({ "target_counted": counted, "count_metric": self.count_metric }),
            );
            end.fact("metrics_peak", json!(peaks));
            end.fact("scrape_failures", json!(self.failures));
        })
    }

    fn describe(&self) -> Option<String> {
        Some(match &self.endpoint {
            Some(e) => format!("metrics {} ({} series)", e.url, self.columns.len()),
            None => "no metrics".into(),
        })
    }
}

/// The target's request counter: the one asked for, else the shortest unlabelled
/// series ending in `requests_total`.
fn pick_count_metric(first: &[Series], asked: Option<&str>) -> Option<String> {
    if let Some(name) = asked {
        return first
            .iter()
            .find(|s| s.metric == name && !s.labelled)
            .map(|s| s.metric.clone());
    }
    first
        .iter()
        .filter(|s| !s.labelled && s.metric.ends_with("requests_total"))
        .min_by_key(|s| s.metric.len())
        .map(|s| s.metric.clone())
}
