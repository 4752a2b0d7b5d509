//! `trends/SCENARIO.svg` and `.png`: how a scenario's growth moved run after run,
//! drawn from `history.jsonl` alone.
//!
//! One panel per variant for heap growth, and one per other budgeted resource
//! that ever failed or regressed in the history. The x axis counts runs (the k-th
//! run of each seed shares a column, so a nightly with three seeds draws three
//! points per night, side by side); the y axis is growth per virtual hour with
//! error bars of ± 2 standard errors (the verdict's significance), one colour per
//! seed; the dashed orange line is the budget. A failing run is drawn as a red
//! ring, a regression as a red triangle above its point.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{png_of, register_fonts, FONT, PALETTE};
use super::write_atomic;
use crate::history::Entry;
use crate::units::bytes_text;
use crate::Error;

/// The directory under a report root that holds the trend charts.
pub const TRENDS_DIR: &str = "trends";

const WIDTH: u32 = 900;
const PANEL_HEIGHT: u32 = 300;
const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// One panel: a resource of one variant over the runs.
struct Panel {
    variant: String,
    resource: String,
    unit: String,
    budget: Option<f64>,
    /// Per seed: (k, per_hour, stderr, failed, regressed, time label).
    seeds: BTreeMap<u64, Vec<Point>>,
}

#[derive(Clone)]
struct Point {
    k: usize,
    y: f64,
    err: f64,
    failed: bool,
    regressed: bool,
    label: String,
}

/// The trend chart paths of `scenario` under `root` (svg, png).
pub fn paths(root: &Path, scenario: &str) -> (PathBuf, PathBuf) {
    let dir = root.join(TRENDS_DIR);
    (
        dir.join(format!("{scenario}.svg")),
        dir.join(format!("{scenario}.png")),
    )
}

fn panels(entries: &[&Entry]) -> Vec<Panel> {
    let mut variants: Vec<String> = entries.iter().map(|e| e.variant.clone()).collect();
    variants.sort_by_key(|v| (v != "fixed", v.clone()));
    variants.dedup();
    let mut out = Vec::new();
    for v in variants {
        let of_variant: Vec<&&Entry> = entries.iter().filter(|e| e.variant == v).collect();
        // Heap always; any other budgeted resource once it failed or regressed.
        let mut resources = vec!["heap".to_string()];
        for e in &of_variant {
            for (name, g) in &e.resources {
                let flagged = g.verdict != "pass" || e.regressions.contains(name);
                if name != "heap" && g.budget.is_some() && flagged && !resources.contains(name) {
                    resources.push(name.clone());
                }
            }
        }
        for resource in resources {
            let mut seeds: BTreeMap<u64, Vec<Point>> = BTreeMap::new();
            let mut budget = None;
            let mut unit = "bytes".to_string();
            for e in &of_variant {
                let Some(g) = e.resources.get(&resource) else {
                    continue;
                };
                budget = g.budget.or(budget);
                unit = g.unit.clone();
                let list = seeds.entry(e.seed).or_default();
                list.push(Point {
                    k: list.len(),
                    y: g.per_hour,
                    err: g.stderr,
                    failed: g.verdict == "fail",
                    regressed: e.regressions.contains(&resource),
                    label: e.time.get(5..16).unwrap_or(&e.time).replace('T', " "),
                });
            }
            if !seeds.is_empty() {
                out.push(Panel {
                    variant: v.clone(),
                    resource,
                    unit,
                    budget,
                    seeds,
                });
            }
        }
    }
    out
}

/// Draws the trend chart of every scenario in `history` into `root/trends/`.
/// Returns the PNG paths written.
pub fn draw_all(root: &Path, history: &[Entry]) -> Result<Vec<PathBuf>, Error> {
    let mut by_scenario: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in history {
        by_scenario.entry(&e.scenario).or_default().push(e);
    }
    if by_scenario.is_empty() {
        return Ok(Vec::new());
    }
    let dir = root.join(TRENDS_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Output {
        path: dir.clone(),
        source,
    })?;
    let mut written = Vec::new();
    for (scenario, entries) in by_scenario {
        written.push(draw(root, scenario, &entries)?);
    }
    Ok(written)
}

/// Draws one scenario's trend chart (SVG and PNG, each written atomically).
fn draw(root: &Path, scenario: &str, entries: &[&Entry]) -> Result<PathBuf, Error> {
    register_fonts();
    let panels = panels(entries);
    let height = PANEL_HEIGHT * panels.len().max(1) as u32 + 40;
    let (svg_path, png_path) = paths(root, scenario);
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        plot(&area, scenario, &panels).map_err(|why| Error::Chart {
            path: svg_path.clone(),
            why,
        })?;
    }
    write_atomic(&svg_path, svg.as_bytes())?;
    let png = png_of((WIDTH, height), |area| plot(&area, scenario, &panels)).map_err(|why| {
        Error::Chart {
            path: png_path.clone(),
            why,
        }
    })?;
    write_atomic(&png_path, &png)?;
    Ok(png_path)
}

/// Scale and unit label for a panel's values.
fn scale(unit: &str, max_abs: f64) -> (f64, String) {
    match unit {
        "bytes" if max_abs >= 2.0 * MIB => (MIB, "MiB/h".into()),
        "bytes" => (KIB, "KiB/h".into()),
        "count" => (1.0, "per h".into()),
        u => (1.0, format!("{u}/h")),
    }
}

fn plot<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    scenario: &str,
    panels: &[Panel],
) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| format!("{x:?}");
    root.fill(&WHITE).map_err(e)?;
    let (title, rest) = root.split_vertically(40);
    title
        .titled(
            &format!("{scenario}: growth per run (± 2 standard errors), budget dashed"),
            (FONT, 20),
        )
        .map_err(e)?;
    if panels.is_empty() {
        return root.present().map_err(e);
    }
    let areas = rest.split_evenly((panels.len(), 1));
    for (area, p) in areas.iter().zip(panels) {
        panel(area, p).map_err(e)?;
    }
    root.present().map_err(e)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let runs = p.seeds.values().map(Vec::len).max().unwrap_or(1);
    let all: Vec<&Point> = p.seeds.values().flatten().collect();
    let max_abs = all
        .iter()
        .map(|q| q.y.abs() + 2.0 * q.err)
        .chain(p.budget)
        .fold(0.0, f64::max);
    let (div, unit_label) = scale(&p.unit, max_abs);
    let lo = all.iter().map(|q| q.y - 2.0 * q.err).fold(0.0f64, f64::min) / div;
    let hi = all
        .iter()
        .map(|q| q.y + 2.0 * q.err)
        .chain(p.budget)
        .fold(0.0f64, f64::max)
        / div;
    let pad = ((hi - lo) * 0.1).max(1e-3);
    let labels: Vec<String> = (0..runs)
        .map(|k| {
            p.seeds
                .values()
                .find_map(|v| v.get(k).map(|q| q.label.clone()))
                .unwrap_or_default()
        })
        .collect();
    let caption = match p.budget {
        Some(b) => format!(
            "{} {} — budget {}",
            p.variant,
            p.resource,
            if p.unit == "bytes" {
                format!("{}/h", bytes_text(b))
            } else {
                format!("{b}/h")
            }
        ),
        None => format!("{} {}", p.variant, p.resource),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 15))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..(runs as f64 - 0.5), (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_desc("run (date, UTC)")
        .y_desc(unit_label.as_str())
        .x_labels(runs.min(12) + 1)
        .x_label_formatter(&|x| {
            let k = x.round();
            if (x - k).abs() > 0.01 || k < 0.0 {
                return String::new();
            }
            labels.get(k as usize).cloned().unwrap_or_default()
        })
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style((FONT, 12))
        .draw()?;
    if let Some(b) = p.budget {
        let orange = PALETTE[4];
        chart
            .draw_series(DashedLineSeries::new(
                vec![(-0.5, b / div), (runs as f64 - 0.5, b / div)],
                8,
                5,
                orange.stroke_width(2),
            ))?
            .label("budget")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], orange.stroke_width(2))
            });
    }
    chart.draw_series(LineSeries::new(
        vec![(-0.5, 0.0), (runs as f64 - 0.5, 0.0)],
        BLACK.mix(0.3),
    ))?;
    let n = p.seeds.len();
    let red = PALETTE[2];
    for (j, (seed, points)) in p.seeds.iter().enumerate() {
        let color = match PALETTE[j % PALETTE.len()] {
            c if c == red || c == PALETTE[4] => PALETTE[(j + 3) % PALETTE.len()],
            c => c,
        };
        let off = if n > 1 {
            (j as f64 - (n as f64 - 1.0) / 2.0) * (0.5 / n as f64)
        } else {
            0.0
        };
        let xy: Vec<(f64, f64)> = points
            .iter()
            .map(|q| (q.k as f64 + off, q.y / div))
            .collect();
        chart
            .draw_series(LineSeries::new(xy.clone(), color.mix(0.5).stroke_width(1)))?
            .label(format!("seed {seed}"))
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        let cap = 0.06;
        for q in points {
            let x = q.k as f64 + off;
            let (y0, y1) = ((q.y - 2.0 * q.err) / div, (q.y + 2.0 * q.err) / div);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, y0), (x, y1)],
                color.stroke_width(1),
            )))?;
            for yc in [y0, y1] {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x - cap, yc), (x + cap, yc)],
                    color.stroke_width(1),
                )))?;
            }
            chart.draw_series(std::iter::once(Circle::new(
                (x, q.y / div),
                4,
                color.filled(),
            )))?;
            if q.failed {
                chart.draw_series(std::iter::once(Circle::new(
                    (x, q.y / div),
                    7,
                    red.stroke_width(2),
                )))?;
            }
            if q.regressed {
                chart.draw_series(std::iter::once(TriangleMarker::new(
                    (x, y1 + pad * 0.3),
                    7,
                    red.filled(),
                )))?;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 12))
        .draw()?;
    Ok(())
}

/// The index's trend section: every `trends/SCENARIO.png` under `root` with a
/// caption saying, per variant, the latest verdict and heap growth and how it
/// moved since the previous run of the same seed ("worse" when it rose by more
/// than the default regression floor, regressed, or turned from pass to fail).
/// Empty when there are no trend charts.
pub(super) fn section(root: &Path) -> String {
    let history =
        crate::history::read(&root.join(crate::history::HISTORY_FILE)).unwrap_or_default();
    let mut scenarios: Vec<String> = history.iter().map(|e| e.scenario.clone()).collect();
    scenarios.sort();
    scenarios.dedup();
    let mut figures = String::new();
    for sc in &scenarios {
        let (_, png) = paths(root, sc);
        if !png.is_file() {
            continue;
        }
        let mut lines = Vec::new();
        let mut variants: Vec<&str> = history
            .iter()
            .filter(|e| &e.scenario == sc)
            .map(|e| e.variant.as_str())
            .collect();
        variants.sort_by_key(|v| (*v != "fixed", *v));
        variants.dedup();
        for v in variants {
            let runs: Vec<&Entry> = history
                .iter()
                .filter(|e| &e.scenario == sc && e.variant == v)
                .collect();
            let Some(last) = runs.last() else { continue };
            let prev = runs[..runs.len() - 1]
                .iter()
                .rev()
                .find(|e| e.seed == last.seed);
            let heap = |e: &Entry| e.resources.get("heap").map(|g| g.per_hour);
            let mut line = format!(
                "{v} seed {}: <b>{}</b>, heap {}/h",
                last.seed,
                last.verdict,
                heap(last).map(bytes_text).unwrap_or_else(|| "?".into())
            );
            let mut worse = !last.regressions.is_empty();
            if let (Some(p), Some(h)) = (prev, heap(last)) {
                if let Some(ph) = heap(p) {
                    let d = h - ph;
                    line.push_str(&format!(
                        " ({}{}/h since {})",
                        if d >= 0.0 { "+" } else { "−" },
                        bytes_text(d.abs()),
                        p.time.get(..16).unwrap_or(&p.time).replace('T', " ")
                    ));
                    worse |= d > crate::baseline::DEFAULT_HEAP_FLOOR;
                }
                worse |= p.verdict == "pass" && last.verdict == "fail";
            }
            if worse {
                line.push_str(" <b style=\"color:#c00\">▲ worse</b>");
            }
            lines.push(line);
        }
        let name = super::index::esc(sc);
        figures.push_str(&format!(
            "<figure><a href=\"{TRENDS_DIR}/{name}.svg\"><img src=\"{TRENDS_DIR}/{name}.png\" \
             alt=\"{name} trend\"></a><figcaption><b>{name}</b><br>{}</figcaption></figure>\n",
            lines.join("<br>")
        ));
    }
    if figures.is_empty() {
        return String::new();
    }
    format!(
        "<h2>Trends</h2>\n<p>Growth per run with ± 2 standard errors; the dashed line is \
         the budget; red rings failed, red triangles regressed.</p>\n\
         <div class=\"trends\">\n{figures}</div>\n"
    )
}
