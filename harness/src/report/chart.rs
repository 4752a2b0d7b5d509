//! `heap.svg` and `heap.png`: the run's memory over time with the fitted growth
//! and the budget (the panel scaled to the fitted series, the others such as RSS
//! on their own axis on the right), and beneath it the panels the run declared
//! in its summary ([`crate::summary::ChartSpec`]: load, tasks and descriptors,
//! each gauge for a virtual run; whatever its probes declared for a live one),
//! and the fastest growing allocation sites when there are any. An inconclusive
//! run gets its state and reasons in a line above the chart. Drawn from the
//! sample table and summary only.
//!
//! A run on the wall clock (a live run's `time_base`) is drawn over wall time
//! (minutes for runs under two hours), its rates per wall hour.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{write_atomic, PNG_FILE, SVG_FILE};
use crate::samples::Samples;
use crate::summary::{ChartSpec, Summary};
use crate::units::bytes_text;
use crate::verdict::Verdict;
use crate::Error;

const WIDTH: u32 = 1100;
const HEAP_HEIGHT: u32 = 440;
const PANEL_HEIGHT: u32 = 150;
const MIB: f64 = 1_048_576.0;
pub(super) const FONT: &str = "sans-serif";

static FONTS: Once = Once::new();

pub(super) fn register_fonts() {
    FONTS.call_once(|| {
        // An embedded font, so no fontconfig/freetype is needed; a failure only
        // means text is missing from the PNG, so it is not worth failing a run for.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Sites drawn in the allocation-site panel.
pub const CHART_SITES: usize = 5;

/// Both charts, drawn in memory: writing them is the caller's (so a full disk is
/// an I/O error naming the file, not a drawing error).
#[derive(Debug, Clone)]
pub struct Charts {
    /// `heap.svg`.
    pub svg: String,
    /// `heap.png`, encoded.
    pub png: Vec<u8>,
}

/// Draws both charts of a run in memory (with the allocation sites' panel when
/// there are sites). `dir` names the files in errors.
pub fn render(
    dir: &Path,
    samples: &Samples,
    sites: Option<&Samples>,
    summary: &Summary,
) -> Result<Charts, Error> {
    register_fonts();
    let spec = summary.chart_spec(samples);
    let mut panels = panels(samples, &spec);
    if let Some(p) = sites.and_then(|s| site_panel(s, summary)) {
        panels.insert(0, p);
    }
    let height =
        HEAP_HEIGHT + PANEL_HEIGHT * panels.len() as u32 + strip_height(&verdict_lines(summary));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        plot(&root, samples, summary, &panels).map_err(|why| Error::Chart {
            path: dir.join(SVG_FILE),
            why,
        })?;
    }
    let png = png_of((WIDTH, height), |root| {
        plot(&root, samples, summary, &panels)
    })
    .map_err(|why| Error::Chart {
        path: dir.join(PNG_FILE),
        why,
    })?;
    Ok(Charts { svg, png })
}

/// A chart drawn by `draw` into an RGB buffer of `size`, encoded as PNG (the
/// `png` crate; plotters' own file encoder would pull in the `image` crate).
pub(super) fn png_of(
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    let (width, height) = size;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    draw(BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area())?;
    let mut png = Vec::new();
    let mut enc = png::Encoder::new(&mut png, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // What plotters' file encoder (the `image` crate) chose: adaptive filtering.
    enc.set_filter(png::FilterType::Sub);
    enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&rgb).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(png)
}

/// Draws both chart files into the existing run directory `dir`, each written
/// atomically (what `soak report` does; a run writes its charts with the rest of
/// its files, see [`super::write_run`]).
pub fn draw(
    dir: &Path,
    samples: &Samples,
    sites: Option<&Samples>,
    summary: &Summary,
) -> Result<(), Error> {
    let charts = render(dir, samples, sites, summary)?;
    write_atomic(&dir.join(SVG_FILE), charts.svg.as_bytes())?;
    write_atomic(&dir.join(PNG_FILE), &charts.png)
}

struct Panel {
    title: String,
    series: Vec<(String, Vec<f64>)>,
    /// Hours of each value when not the samples' own.
    hours: Option<Vec<f64>>,
}

/// The top sites' estimated live bytes, fastest growing first.
fn site_panel(sites: &Samples, summary: &Summary) -> Option<Panel> {
    let series: Vec<(String, Vec<f64>)> = summary
        .growth_sites
        .iter()
        .take(CHART_SITES)
        .filter_map(|g| {
            let v = sites.column(&g.id)?;
            let label = if g.label.is_empty() {
                crate::attribution::place(g)
            } else {
                g.label.clone()
            };
            let growth = if g.fitted {
                summary
                    .time_base
                    .rate_text(g.growth_bytes_per_hour, "bytes")
            } else {
                "not fitted".to_string()
            };
            Some((format!("{label}  {growth}"), v))
        })
        .collect();
    (!series.is_empty()).then(|| Panel {
        title: format!(
            "allocation sites: estimated live bytes, top {} by growth (sampled every {})",
            series.len(),
            summary
                .site_sampling
                .as_ref()
                .map(|s| bytes_text(s.sample_bytes as f64))
                .unwrap_or_default()
        ),
        series,
        hours: Some(sites.hours()),
    })
}

/// The x axis: the run's length in display units and how to get there from hours.
struct Axis {
    span: f64,
    per_hour: f64,
    desc: &'static str,
    suffix: &'static str,
}

impl Axis {
    fn of(s: &Samples, sum: &Summary) -> Axis {
        if sum.time_base.is_virtual() {
            return Axis {
                span: sum.virtual_hours.max(1e-6),
                per_hour: 1.0,
                desc: "virtual hours",
                suffix: "h",
            };
        }
        let hours = s
            .hours()
            .last()
            .copied()
            .filter(|h| h.is_finite() && *h > 0.0)
            .unwrap_or(sum.wall_seconds / 3600.0)
            .max(1e-6);
        if hours < 5.0 / 60.0 {
            Axis {
                span: hours * 3600.0,
                per_hour: 3600.0,
                desc: "wall seconds",
                suffix: "s",
            }
        } else if hours < 2.0 {
            Axis {
                span: hours * 60.0,
                per_hour: 60.0,
                desc: "wall minutes",
                suffix: "m",
            }
        } else {
            Axis {
                span: hours,
                per_hour: 1.0,
                desc: "wall hours",
                suffix: "h",
            }
        }
    }

    /// Positions on this axis of times in hours.
    fn xs(&self, hours: &[f64]) -> Vec<f64> {
        hours.iter().map(|h| h * self.per_hour).collect()
    }

    /// Positions of a panel's values: its own times when it has them (a live
    /// run's sites are read on fewer samples than the table's), else `samples`'.
    fn panel_xs(&self, p: &Panel, samples: &[f64]) -> Vec<f64> {
        match &p.hours {
            Some(h) => self.xs(h),
            None => samples.to_vec(),
        }
    }
}

/// An x label: whole units, or tenths when the axis spans under 13 units.
fn axis_label(v: f64, span: f64, suffix: &str) -> String {
    if span < 13.0 {
        format!("{v:.1}{suffix}")
    } else {
        format!("{v:.0}{suffix}")
    }
}

/// The resource the top panel fits (the run's judged memory).
fn top_resource<'a>(
    sum: &'a Summary,
    spec: &ChartSpec,
) -> Option<&'a crate::verdict::ResourceVerdict> {
    sum.resource(spec.fit.as_deref()?)
}

/// The declared panels, with the columns the table has.
fn panels(s: &Samples, spec: &ChartSpec) -> Vec<Panel> {
    spec.panels
        .iter()
        .filter_map(|p| {
            let series: Vec<(String, Vec<f64>)> = p
                .series
                .iter()
                .filter_map(|c| Some((c.label.clone(), s.column(&c.column)?)))
                .collect();
            (!series.is_empty()).then(|| Panel {
                title: p.title.clone(),
                series,
                hours: None,
            })
        })
        .collect()
}

pub(super) const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn plot<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Samples,
    sum: &Summary,
    panels: &[Panel],
) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| format!("{x:?}");
    root.fill(&WHITE).map_err(e)?;
    let lines = verdict_lines(sum);
    let (strip, root) = root.split_vertically(strip_height(&lines));
    for (i, line) in lines.iter().enumerate() {
        strip
            .draw_text(
                line,
                &(FONT, 15).into_font().color(&INCONCLUSIVE_INK),
                (12, 8 + (LINE_HEIGHT * i as u32) as i32),
            )
            .map_err(e)?;
    }
    let (top, rest) = root.split_vertically(HEAP_HEIGHT);
    let axis = Axis::of(s, sum);
    heap_panel(&top, s, sum, &sum.chart_spec(s), &axis).map_err(e)?;
    let areas = rest.split_evenly((panels.len().max(1), 1));
    let hours = axis.span;
    let t = axis.xs(&s.hours());
    let suffix = axis.suffix;
    for (area, p) in areas.iter().zip(panels) {
        let ymax = p
            .series
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let ymax = if ymax <= 0.0 { 1.0 } else { ymax * 1.1 };
        let mut chart = ChartBuilder::on(area)
            .caption(&p.title, (FONT, 14))
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..hours, 0f64..ymax)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_labels(13)
            .y_labels(4)
            .x_label_formatter(&|h| axis_label(*h, hours, suffix))
            .y_label_formatter(&|v| compact(*v))
            .draw()
            .map_err(e)?;
        let t = axis.panel_xs(p, &t);
        for (k, (name, v)) in p.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    t.iter()
                        .zip(v)
                        .filter(|(_, y)| y.is_finite())
                        .map(|(&x, &y)| (x, y)),
                    color.stroke_width(1),
                ))
                .map_err(e)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        if p.series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.3))
                .label_font((FONT, 12))
                .draw()
                .map_err(e)?;
        }
    }
    root.present().map_err(e)
}

/// A segment from `a` to `b` clipped to `y ≤ top` (and `y ≥ bottom`): the
/// visible part, if any. Lines that leave the panel stop at its edge.
fn clip(a: (f64, f64), b: (f64, f64), bottom: f64, top: f64) -> Option<[(f64, f64); 2]> {
    let at = |y: f64| {
        if (b.1 - a.1).abs() < f64::EPSILON {
            a.0
        } else {
            a.0 + (b.0 - a.0) * (y - a.1) / (b.1 - a.1)
        }
    };
    let clamp = |p: (f64, f64)| -> (f64, f64) {
        if p.1 > top {
            (at(top), top)
        } else if p.1 < bottom {
            (at(bottom), bottom)
        } else {
            p
        }
    };
    let both_out = (a.1 > top && b.1 > top) || (a.1 < bottom && b.1 < bottom);
    (!both_out).then(|| [clamp(a), clamp(b)])
}

/// Decimals that tell apart the labels of an axis spanning `span`.
fn decimals(span: f64) -> usize {
    if span >= 5.0 {
        1
    } else if span >= 0.5 {
        2
    } else {
        3
    }
}

/// The range a series spans, with a margin; from zero when its lowest value is
/// under a quarter of its highest (a climb from nothing reads as one).
fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        return None;
    }
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.01).max(0.01);
    let lo = if lo < 0.25 * hi {
        0.0
    } else {
        (lo - pad).max(0.0)
    };
    Some((lo, hi + pad))
}

/// The top panel. A virtual run's is scaled to the live heap — the fitted
/// growth and the budget's start with it, the budget line stopping at the
/// panel's edge — with RSS on its own axis on the right, so a healthy heap's
/// swing fills the panel however large RSS is. A live run (no heap column) fits
/// and scales to the target's RSS.
fn heap_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Samples,
    sum: &Summary,
    spec: &ChartSpec,
    axis: &Axis,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let t = axis.xs(&s.hours());
    let x = |h: f64| h * axis.per_hour;
    let hours = axis.span;
    let heap = top_resource(sum, spec);
    // The declared series that have values, the fitted resource's first.
    let mut main: Vec<(&str, bool, Vec<f64>)> = spec
        .main
        .iter()
        .filter_map(|m| {
            let v = s.column(&m.column)?;
            let fitted = heap.is_some_and(|h| h.spec.column == m.column);
            v.iter()
                .any(|y| y.is_finite())
                .then_some((m.label.as_str(), fitted, v))
        })
        .collect();
    main.sort_by_key(|(_, fitted, _)| !*fitted);
    let est = heap.and_then(|h| h.estimate);
    let budget = heap.and_then(|h| h.spec.budget_per_hour).unwrap_or(0.0);
    // The fitted series (or the first) sets the left axis; the fit's ends
    // count, the budget line stops at the panel's edge.
    let fit_ends = est.map(|e| {
        [
            e.trend_at(e.from_hours),
            e.trend_at(e.to_hours),
            e.trend_start,
        ]
    });
    let (lo, hi) = span(
        main.first()
            .into_iter()
            .flat_map(|(_, _, v)| v.iter().copied())
            .chain(fit_ends.into_iter().flatten())
            .map(|v| v / MIB),
    )
    .unwrap_or((0.0, 1.0));
    let title = format!("{} — {}", sum.who(), sum.verdict.as_str().to_uppercase());
    let per = format!("/{}", sum.time_base.per_hour());
    let suffix = axis.suffix;
    // The other series (RSS beside the heap) are context on their own axis, from
    // zero: their level in proportion, not their wiggles magnified.
    let rss_range = span(
        main.iter()
            .skip(1)
            .flat_map(|(_, _, v)| v.iter().copied())
            .map(|v| v / MIB),
    )
    .map(|(_, hi)| (0.0, hi));
    let left = match main.first() {
        Some((label, _, _)) if rss_range.is_some() => format!("{label}, MiB"),
        _ => "MiB".to_string(),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(70)
        .right_y_label_area_size(if rss_range.is_some() { 70 } else { 0 })
        .build_cartesian_2d(0f64..hours, lo..hi)?
        .set_secondary_coord(0f64..hours, {
            let (a, b) = rss_range.unwrap_or((0.0, 1.0));
            a..b
        });
    chart
        .configure_mesh()
        .x_desc(axis.desc)
        .y_desc(left)
        .x_labels(13)
        .x_label_formatter(&|h| axis_label(*h, hours, suffix))
        .y_label_formatter(&|v| format!("{v:.*}", decimals(hi - lo)))
        .label_style((FONT, 13))
        .draw()?;
    let green = PALETTE[1];
    if rss_range.is_some() {
        chart
            .configure_secondary_axes()
            .y_desc("MiB")
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style((FONT, 13).into_font().color(&green.mix(0.9)))
            .draw()?;
    }
    let line = |v: &[f64]| -> Vec<(f64, f64)> {
        t.iter()
            .zip(v)
            .filter(|(_, y)| y.is_finite())
            .map(|(&x, &y)| (x, y / MIB))
            .collect()
    };
    // Red and orange are the fit's and the budget's.
    let colors = [PALETTE[0], PALETTE[1], PALETTE[3], PALETTE[5]];
    for (i, (label, _, v)) in main.iter().enumerate() {
        let color = colors[i % colors.len()];
        if i == 0 {
            let style = color.stroke_width(2);
            chart
                .draw_series(LineSeries::new(line(v), style))?
                .label(*label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        } else {
            let style = color.mix(0.7).stroke_width(1);
            chart
                .draw_secondary_series(LineSeries::new(line(v), style))?
                .label(format!("{label} (right axis)"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        }
    }
    if let Some(e) = est {
        let red = PALETTE[2];
        let fit = clip(
            (x(e.from_hours), e.trend_at(e.from_hours) / MIB),
            (x(e.to_hours), e.trend_at(e.to_hours) / MIB),
            lo,
            hi,
        );
        chart
            .draw_series(LineSeries::new(
                fit.into_iter().flatten(),
                red.stroke_width(2),
            ))?
            .label(format!(
                "fitted growth {}{per} (late half {}{per})",
                bytes_text(e.per_hour),
                bytes_text(e.late_per_hour)
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], red.stroke_width(2)));
        let orange = PALETTE[4];
        let b = clip(
            (x(e.from_hours), e.trend_start / MIB),
            (
                x(e.to_hours),
                (e.trend_start + budget * (e.to_hours - e.from_hours)) / MIB,
            ),
            lo,
            hi,
        );
        chart
            .draw_series(DashedLineSeries::new(
                b.into_iter().flatten(),
                8,
                5,
                orange.stroke_width(2),
            ))?
            .label(format!("budget {}{per}", bytes_text(budget)))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], orange.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

/// Ink of the inconclusive state and its reason (dark amber).
const INCONCLUSIVE_INK: RGBColor = RGBColor(150, 90, 0);
const LINE_HEIGHT: u32 = 20;
const STRIP_CHARS: usize = 125;

/// The lines above the heap panel: for an inconclusive run, its message (the
/// state and every reason) wrapped to the chart's width; none otherwise.
fn verdict_lines(sum: &Summary) -> Vec<String> {
    if sum.verdict != Verdict::Inconclusive {
        return Vec::new();
    }
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in sum.message.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > STRIP_CHARS {
            lines.push(std::mem::replace(&mut line, "   ".to_string()));
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

fn strip_height(lines: &[String]) -> u32 {
    if lines.is_empty() {
        0
    } else {
        LINE_HEIGHT * lines.len() as u32 + 12
    }
}

fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panel_with_its_own_times_is_drawn_on_the_runs_axis() {
        // A 5-minute live run is drawn in wall minutes; its sites were read every
        // 150 s (their own times, in hours).
        let axis = Axis {
            span: 5.0,
            per_hour: 60.0,
            desc: "wall minutes",
            suffix: "m",
        };
        let samples = axis.xs(&[0.0, 1.0 / 60.0, 5.0 / 60.0]);
        assert_eq!(samples, [0.0, 1.0, 5.0]);
        let sites = Panel {
            title: "sites".into(),
            series: vec![("s1".into(), vec![1.0, 2.0, 3.0])],
            hours: Some(vec![0.0, 150.0 / 3600.0, 300.0 / 3600.0]),
        };
        assert_eq!(axis.panel_xs(&sites, &samples), [0.0, 2.5, 5.0]);
        let gauge = Panel {
            hours: None,
            ..sites
        };
        assert_eq!(axis.panel_xs(&gauge, &samples), samples);
    }
}
