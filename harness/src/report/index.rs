//! `OUT/index.html`: the trend chart of every scenario with a history (see
//! [`super::trend`]), then one row per run found under the report root, newest data
//! only, each with a thumbnail of its heap chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::{find_runs, load_run, write_atomic, PNG_FILE, SUMMARY_FILE, SVG_FILE};
use crate::Error;

/// Rewrites `root/index.html` from every run directory below `root`. Runs whose
/// files do not parse are listed as unreadable rather than failing the index.
pub fn write_index(root: &Path) -> Result<(), Error> {
    let mut rows = String::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for dir in find_runs(root) {
        let rel = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
        match load_run(&dir) {
            Ok((_, s)) => {
                *tally.entry(s.verdict.to_string()).or_default() += 1;
                let _ = writeln!(
                    rows,
                    "<tr class=\"{v}\"><td>{sc}</td><td>{va}</td><td>{seed}</td><td>{h}</td>\
                     <td><b>{v}</b></td><td>{g}</td><td>{b}</td><td>{w:.2}</td>\
                     <td>{msg}</td><td><a href=\"{rel}/{PNG_FILE}\"><img class=\"thumb\" \
                     src=\"{rel}/{PNG_FILE}\" alt=\"heap chart\" loading=\"lazy\"></a><br>\
                     <a href=\"{rel}/{SVG_FILE}\">svg</a> <a href=\"{rel}/{SUMMARY_FILE}\">json</a></td></tr>",
                    v = s.verdict,
                    sc = esc(&s.run_name()),
                    va = s.variant,
                    seed = s.seed,
                    h = s.length_text(),
                    g = s.time_base.rate_text(s.growth_bytes_per_hour, "bytes"),
                    b = s.time_base.rate_text(s.threshold_bytes_per_hour, "bytes"),
                    w = s.wall_seconds,
                    msg = esc(&s.message),
                );
            }
            Err(e) => {
                let _ = writeln!(
                    rows,
                    "<tr><td colspan=\"10\">{}: {}</td></tr>",
                    esc(&rel),
                    esc(&e.to_string())
                );
            }
        }
    }
    let trends = super::trend_section(root);
    let counts = ["pass", "fail", "inconclusive"]
        .iter()
        .map(|v| format!("{} {v}", tally.get(*v).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ");
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>soak reports</title>\n\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px}}tr.fail td{{background:#fde2e2}}\
         tr.pass td{{background:#e6f4e6}}tr.inconclusive td{{background:#fdf1d6}}img.thumb{{width:240px;height:100px;object-fit:cover;object-position:top;border:1px solid #ccc}}\
         .trends{{display:flex;flex-wrap:wrap;gap:12px}}.trends figure{{margin:0}}\
         .trends img{{width:560px;border:1px solid #ccc}}</style></head><body>\n<h1>soak reports</h1>\n<p>{counts}</p>\n\
         {trends}<h2>Runs</h2>\n\
         <table><tr><th>scenario</th><th>variant</th><th>seed</th><th>length</th><th>verdict</th>\
         <th>heap growth</th><th>budget</th><th>wall s</th><th>message</th><th>files</th></tr>\n\
         {rows}</table></body></html>\n"
    );
    write_atomic(&root.join("index.html"), html.as_bytes())
}

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
