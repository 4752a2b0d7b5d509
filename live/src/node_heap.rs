//! Where a Node target's live JS heap is: V8's sampling heap profile turned into
//! per-site series of live bytes, the data the harness's growth fit takes.
//!
//! V8's sampler (`HeapProfiler.startSampling`) picks allocations by a Poisson
//! process, one every `samplingInterval` bytes on average, and keeps each sample
//! while its object lives. `getSamplingProfile` returns the call tree of the live
//! samples; each node's `selfSize` is already scaled by the interval (V8 counts a
//! sample of `size` bytes as `1 / (1 − exp(−size/interval))` allocations of that
//! size), so it estimates the live bytes allocated by that function on that path.
//!
//! A *site* is a function, keyed by (function name, script URL, line of its
//! start, and its column where the script has a source map: a bundle's
//! functions share one line): V8 records functions, not lines, and attributes what an inlined
//! function allocates to the function it was inlined into — so when V8 inlines a
//! function mid-run, what it allocates from then on is its caller's, and a cache
//! whose entries are replaced drains from one site into the other with no growth
//! at all; such a transfer is folded into the caller's site before the fits
//! ([`NodeSites::folded`]). Bytes allocated inside
//! Node's own code (`node:` URLs) or a builtin (no URL: `Map.prototype.set`, …) are
//! folded into their first caller outside them, so the site that keeps growing is
//! the code that called `map.set`, `setInterval` or `emitter.on`, not Node's
//! internals. A site under `node_modules/PKG/` names the package and the version in
//! its `package.json`. A compiled or bundled script's frames are shown in their
//! sources through its source map ([`source_map`]). Each poll adds a row: every
//! site's live bytes then.

pub mod session;
pub mod source_map;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::inspector::PROBE_URL;

/// Frames kept per site (innermost first), as the harness keeps.
pub const FRAMES_PER_SITE: usize = 6;

/// Sites with a column of their own; the rest are summed in [`NodeSites::other`].
pub const MAX_COLUMNS: usize = 512;

/// Rows kept; past this every other row is dropped (and [`NodeSites::stride`]
/// doubles, so the caller can poll half as often).
pub const MAX_ROWS: usize = 2048;

/// A sampling heap profile (`HeapProfiler.SamplingHeapProfile`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Profile {
    /// The root of the call tree.
    pub head: ProfileNode,
    /// The live samples (only counted).
    #[serde(default, deserialize_with = "count")]
    pub samples: usize,
}

/// The length of a JSON array, without keeping its items.
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(Vec::<serde::de::IgnoredAny>::deserialize(d)?.len())
}

/// One node of the call tree: a function called on one path.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProfileNode {
    /// The function.
    #[serde(rename = "callFrame")]
    pub call_frame: CallFrame,
    /// Estimated live bytes allocated by this function on this path (scaled).
    #[serde(rename = "selfSize", default)]
    pub self_size: f64,
    /// Its callees.
    #[serde(default)]
    pub children: Vec<ProfileNode>,
}

/// A function as the inspector names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub struct CallFrame {
    /// Its name (empty for an anonymous function).
    #[serde(rename = "functionName", default)]
    pub function_name: String,
    /// Its script's URL: a path or `file://` URL, `node:…` for Node's own code,
    /// empty for builtins and VM states.
    #[serde(default)]
    pub url: String,
    /// The line it starts on, 0-based (−1: unknown).
    #[serde(rename = "lineNumber", default = "unknown")]
    pub line_number: i64,
    /// The column it starts on (V8: its parameter list), 0-based (−1: unknown).
    /// Part of the key: a bundled or minified script has every function on one
    /// line.
    #[serde(rename = "columnNumber", default = "unknown")]
    pub column_number: i64,
}

fn unknown() -> i64 {
    -1
}

/// Whose code a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// The service's own scripts.
    Own,
    /// A package under `node_modules/`.
    Dependency,
    /// Node's own code (`node:`) and V8's builtins: context, never the answer
    /// while a caller outside them exists.
    Std,
}

/// A frame as soak shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsFrame {
    /// Function name (`(anonymous)` when it has none).
    pub function: String,
    /// Script path, relative to the target's directory when inside it; `node:…`
    /// as it is; empty when the frame has no script.
    pub path: String,
    /// 1-based line of the function's start, when known.
    pub line: Option<u32>,
    /// `name@version` of the package it belongs to.
    pub package: Option<String>,
    /// Whose code it is.
    pub class: Class,
}

impl JsFrame {
    /// `function (path:line)`, with ` [package@version]` after the name for a
    /// dependency: the harness's frame text.
    pub fn text(&self) -> String {
        let name = match &self.package {
            Some(p) => format!("{} [{p}]", self.function),
            None => self.function.clone(),
        };
        match (self.path.is_empty(), self.line) {
            (true, _) => name,
            (false, Some(l)) => format!("{name} ({}:{l})", self.path),
            (false, None) => format!("{name} ({})", self.path),
        }
    }
}

/// How a file is shown: display path, `name@version` of its package, class.
type Named = (String, Option<String>, Class);

/// A script as first seen: how it is shown, and its source map if it has one.
#[derive(Debug, Clone)]
struct Script {
    named: Named,
    /// Its source map, in [`Namer::maps`].
    map: Option<usize>,
    /// The file, for a script on disk.
    file: Option<PathBuf>,
    /// Whether the target was asked for its map ([`Namer::unmapped`]).
    asked: bool,
}

/// A script's state as [`Namer::known`] reads it.
struct Known {
    /// It has a source map.
    mapped: bool,
    /// It is on disk without a map, and the target was not asked for one.
    to_ask: bool,
}

/// Names frames: script URLs to display paths, classes and packages (each
/// package's `package.json` read once), and a compiled script's functions to
/// their sources through its source map ([`source_map`]).
#[derive(Debug, Default)]
pub struct Namer {
    base: Option<PathBuf>,
    scripts: HashMap<String, Script>,
    packages: HashMap<PathBuf, Option<String>>,
    /// The scripts' source maps.
    maps: Vec<source_map::SourceMap>,
    /// Frames named so far: a source-mapped one costs decoding its line.
    frames: HashMap<CallFrame, JsFrame>,
    /// The target said it keeps no source maps: scripts without one on disk
    /// are not asked about.
    target_keeps_none: bool,
    /// A map was given since [`Namer::take_remapped`].
    remapped: bool,
}

/// Scripts and frames remembered at most; a target that evaluates endless
/// distinct code only stops being cached.
const MAX_CACHED: usize = 65_536;

impl Namer {
    /// Paths are shown relative to `base` (the target's working directory) when
    /// inside it.
    pub fn new(base: Option<PathBuf>) -> Self {
        Namer {
            base,
            ..Default::default()
        }
    }

    /// The frame soak shows for `f`: where its script has a source map, the
    /// function's source file and line (and its source name, if a minifier
    /// renamed it).
    pub fn frame(&mut self, f: &CallFrame) -> JsFrame {
        if let Some(j) = self.frames.get(f) {
            return j.clone();
        }
        let j = self.name(f);
        if self.frames.len() < MAX_CACHED {
            self.frames.insert(f.clone(), j.clone());
        }
        j
    }

    fn name(&mut self, f: &CallFrame) -> JsFrame {
        let script = self.script(&f.url);
        let function = if f.function_name.is_empty() {
            "(anonymous)".to_string()
        } else {
            f.function_name.clone()
        };
        let mapped = script.map.and_then(|m| {
            self.maps.get_mut(m)?.lookup(
                u32::try_from(f.line_number).ok()?,
                u32::try_from(f.column_number).ok()?,
                &f.function_name,
            )
        });
        if let Some(o) = mapped {
            let (path, package, class) = self.file(&o.path);
            // A dependency's own map may name sources outside its directory
            // (where it was built): it stays that package's.
            let (package, class) = match package {
                Some(p) => (Some(p), class),
                None => (script.named.1.clone(), script.named.2),
            };
            return JsFrame {
                function: o.name.unwrap_or(function),
                path,
                line: Some(o.line.saturating_add(1)),
                package,
                class,
            };
        }
        let (path, package, class) = script.named;
        JsFrame {
            function,
            path,
            line: (!f.url.is_empty() && f.line_number >= 0)
                .then(|| u32::try_from(f.line_number + 1).unwrap_or(u32::MAX)),
            package,
            class,
        }
    }

    /// The site key of `f`: the frame itself where its script has a source
    /// map (a bundle's functions share one line, their columns tell them
    /// apart), else without its column — functions on one line of a script
    /// soak can show only by line are one site, as their text is one.
    pub fn key(&mut self, f: &CallFrame) -> CallFrame {
        let mut key = f.clone();
        if !self.known(&f.url).mapped {
            key.column_number = -1;
        }
        key
    }

    /// What [`Namer::key`] and [`Namer::unmapped`] need of a script, read
    /// without copying it (they run for every node of every profile).
    fn known(&mut self, url: &str) -> Known {
        let of = |s: &Script| Known {
            mapped: s.map.is_some(),
            to_ask: !s.asked && s.file.is_some(),
        };
        match self.scripts.get(url) {
            Some(s) => of(s),
            None => of(&self.script(url)),
        }
    }

    /// Whether a map was given since the last call (frames named before it
    /// may read otherwise now).
    pub fn take_remapped(&mut self) -> bool {
        std::mem::take(&mut self.remapped)
    }

    /// Whether `url` is Node's or V8's own code.
    pub fn is_std(url: &str) -> bool {
        url.is_empty() || url.starts_with("node:")
    }

    fn script(&mut self, url: &str) -> Script {
        if let Some(s) = self.scripts.get(url) {
            return s.clone();
        }
        let script = if Self::is_std(url) {
            Script {
                named: (url.to_string(), None, Class::Std),
                map: None,
                file: None,
                asked: true,
            }
        } else {
            let file: Option<PathBuf> = if url.starts_with('/') {
                Some(PathBuf::from(url))
            } else {
                source_map::file_url_path(url)
            };
            // Past the cache's size nothing is kept: no map is read (it would
            // be read again at every naming) nor asked for.
            let full = self.scripts.len() >= MAX_CACHED;
            match file {
                Some(p) => {
                    let map = (!full)
                        .then(|| source_map::SourceMap::for_script(&p, self.base.as_deref()))
                        .flatten()
                        .map(|m| self.add_map(m));
                    Script {
                        named: self.file(&p),
                        asked: full || map.is_some(),
                        map,
                        file: Some(p),
                    }
                }
                // Some other scheme (eval'd code, a loader's URL): shown as it is.
                None => Script {
                    named: (url.to_string(), None, Class::Own),
                    map: None,
                    file: None,
                    asked: true,
                },
            }
        };
        if self.scripts.len() < MAX_CACHED {
            self.scripts.insert(url.to_string(), script.clone());
        }
        script
    }

    /// Scripts of `profile` on disk with no source map there, which the
    /// target was not yet asked about: code a loader compiled in memory (ts-node,
    /// tsx) runs under its source file's name, and the map is only in the target
    /// ([`Namer::give_map`]). At most `most` of them; none once the target said
    /// it keeps no maps.
    pub fn unmapped(&mut self, profile: &Profile, most: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if self.target_keeps_none {
            return out;
        }
        let mut stack = vec![&profile.head];
        while let Some(node) = stack.pop() {
            stack.extend(&node.children);
            let url = &node.call_frame.url;
            if out.len() >= most || url == PROBE_URL || out.contains(url) {
                continue;
            }
            if self.known(url).to_ask {
                out.push(url.clone());
            }
        }
        out
    }

    /// What the target answered for `url`'s map: `Some(json)` (its map, parsed
    /// with sources relative to the script), `None` (it keeps none for it); a
    /// map that does not parse is as none.
    pub fn give_map(&mut self, url: &str, json: Option<&str>) {
        let Some(script) = self.scripts.get_mut(url) else {
            return;
        };
        script.asked = true;
        let dir = script.file.clone();
        let Some(map) = json
            .zip(dir.as_deref().and_then(Path::parent))
            .and_then(|(json, dir)| {
                source_map::SourceMap::parse(json.as_bytes(), dir, self.base.as_deref())
            })
        else {
            return;
        };
        let m = self.add_map(map);
        if let Some(script) = self.scripts.get_mut(url) {
            script.map = Some(m);
        }
        self.frames.retain(|f, _| f.url != url);
        self.remapped = true;
    }

    fn add_map(&mut self, map: source_map::SourceMap) -> usize {
        self.maps.push(map);
        self.maps.len() - 1
    }

    /// The target keeps no source maps: stop asking.
    pub fn target_keeps_none(&mut self) {
        self.target_keeps_none = true;
    }

    /// How the file at `p` is shown: relative to the base when inside it, the
    /// package holding it, whose code it is.
    fn file(&mut self, p: &Path) -> Named {
        let package = package_dir(p).map(|dir| {
            self.packages
                .entry(dir.clone())
                .or_insert_with(|| package_name(&dir))
                .clone()
        });
        let shown = match &self.base {
            Some(b) => p.strip_prefix(b).unwrap_or(p),
            None => p,
        };
        let class = if package.is_some() {
            Class::Dependency
        } else {
            Class::Own
        };
        (
            shown.to_string_lossy().into_owned(),
            package.flatten(),
            class,
        )
    }
}

/// `…/node_modules/PKG` (or `…/node_modules/@scope/PKG`) holding `path`, the
/// innermost one.
fn package_dir(path: &Path) -> Option<PathBuf> {
    let parts: Vec<&std::ffi::OsStr> = path.iter().collect();
    let at = parts.iter().rposition(|p| *p == "node_modules")?;
    let first = parts.get(at + 1)?;
    // The file itself is not a package directory.
    if at + 2 >= parts.len() {
        return None;
    }
    let take = if first.to_string_lossy().starts_with('@') {
        if at + 3 >= parts.len() {
            return None;
        }
        at + 3
    } else {
        at + 2
    };
    Some(parts[..take].iter().collect())
}

/// `name@version` from `dir/package.json`, else the directory's name (the
/// package is named even when its manifest cannot be read).
fn package_name(dir: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct Manifest {
        name: Option<String>,
        version: Option<String>,
    }
    let fallback = || {
        let mut it = dir.iter().rev();
        let last = it.next()?.to_string_lossy().into_owned();
        let scope = it
            .next()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| s.starts_with('@'));
        Some(match scope {
            Some(s) => format!("{s}/{last}"),
            None => last,
        })
    };
    let manifest = source_map::read_file(&dir.join("package.json"), 1 << 20)
        .and_then(|text| serde_json::from_slice::<Manifest>(&text).ok());
    let name = manifest
        .as_ref()
        .and_then(|m| m.name.clone())
        .or_else(fallback)?;
    Some(match manifest.and_then(|m| m.version) {
        Some(v) => format!("{name}@{v}"),
        None => name,
    })
}

/// One site's live bytes in one profile, and the frames it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteBytes {
    /// The site's frame (the innermost outside Node's own code).
    pub key: CallFrame,
    /// Estimated live bytes.
    pub bytes: f64,
    /// Innermost first: the site, then its callers outside Node's own code (the
    /// path holding most of its bytes), at most [`FRAMES_PER_SITE`].
    pub frames: Vec<JsFrame>,
}

/// Every site of `profile` with live bytes, folding Node's and V8's own frames
/// into their first caller outside them; soak's own code ([`PROBE_URL`]) and what
/// it calls are left out.
pub fn sites(profile: &Profile, namer: &mut Namer) -> Vec<SiteBytes> {
    // The frames outside Node's own code on the path being walked, as a tree of
    // entries pointing at their caller's entry.
    struct Entry<'a> {
        frame: &'a CallFrame,
        caller: Option<usize>,
    }
    let mut entries: Vec<Entry> = Vec::new();
    // (site key, entry or the std frame itself) → bytes.
    // Site key ([`Namer::key`]) → (a frame of it, bytes, bytes per path).
    type Site<'a> = (&'a CallFrame, f64, HashMap<Option<usize>, f64>);
    let mut by_site: HashMap<CallFrame, Site> = HashMap::new();
    // Depth-first, iteratively: (node, innermost entry on its callers' path).
    let mut stack: Vec<(&ProfileNode, Option<usize>)> =
        profile.head.children.iter().map(|c| (c, None)).collect();
    while let Some((node, outer)) = stack.pop() {
        let f = &node.call_frame;
        if f.url == PROBE_URL {
            continue;
        }
        let here = if Namer::is_std(&f.url) {
            outer
        } else {
            entries.push(Entry {
                frame: f,
                caller: outer,
            });
            Some(entries.len() - 1)
        };
        if node.self_size > 0.0 {
            // With no caller outside Node's code, the frame itself is the site.
            let frame = here.map_or(f, |e| entries[e].frame);
            let (_, total, paths) = by_site
                .entry(namer.key(frame))
                .or_insert_with(|| (frame, 0.0, HashMap::new()));
            *total += node.self_size;
            *paths.entry(here).or_default() += node.self_size;
        }
        stack.extend(node.children.iter().map(|c| (c, here)));
    }
    let mut out: Vec<SiteBytes> = by_site
        .into_iter()
        .map(|(key, (frame, bytes, paths))| {
            let heaviest = paths
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .and_then(|(e, _)| e);
            let mut chain: Vec<&CallFrame> = Vec::new();
            let mut at = heaviest;
            while let Some(e) = at {
                chain.push(entries[e].frame);
                at = entries[e].caller;
            }
            if chain.is_empty() {
                chain.push(frame);
            }
            let named: Vec<JsFrame> = chain.iter().map(|f| namer.frame(f)).collect();
            SiteBytes {
                key,
                bytes,
                frames: shown_frames(named),
            }
        })
        .collect();
    out.sort_by(|a, b| b.bytes.total_cmp(&a.bytes).then(a.key.cmp(&b.key)));
    out
}

/// The first [`FRAMES_PER_SITE`] of a chain, keeping the service's own first
/// frame in view when the site is a dependency's (it is the caller to change).
fn shown_frames(chain: Vec<JsFrame>) -> Vec<JsFrame> {
    let own = chain.iter().position(|f| f.class == Class::Own);
    let mut out: Vec<JsFrame> = chain.iter().take(FRAMES_PER_SITE).cloned().collect();
    if let Some(i) = own.filter(|i| *i >= FRAMES_PER_SITE) {
        out[FRAMES_PER_SITE - 1] = chain[i].clone();
    }
    out
}

/// One site's series.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteColumn {
    /// Its frames as text, innermost first (from the poll where it held most).
    pub frames: Vec<String>,
    /// Whose code its first frame is.
    pub class: Class,
    /// Estimated live bytes at each kept poll.
    pub values: Vec<f64>,
    most: f64,
}

/// The per-site series of a run, one row per kept poll.
#[derive(Debug)]
pub struct NodeSites {
    namer: Namer,
    times: Vec<f64>,
    index: HashMap<CallFrame, usize>,
    columns: Vec<SiteColumn>,
    other: Vec<f64>,
    polls: u64,
    stride: u64,
    live_samples: usize,
}

impl NodeSites {
    /// An empty series; paths shown relative to `base`.
    pub fn new(base: Option<PathBuf>) -> Self {
        NodeSites {
            namer: Namer::new(base),
            times: Vec::new(),
            index: HashMap::new(),
            columns: Vec::new(),
            other: Vec::new(),
            polls: 0,
            stride: 1,
            live_samples: 0,
        }
    }

    /// Names its frames (for [`Namer::unmapped`] and [`Namer::give_map`]).
    pub fn namer(&mut self) -> &mut Namer {
        &mut self.namer
    }

    /// Adds the profile polled at `seconds` as a row.
    pub fn record(&mut self, seconds: f64, profile: &Profile) {
        self.polls += 1;
        self.live_samples = profile.samples;
        let row = self.times.len();
        self.times.push(seconds);
        self.other.push(0.0);
        for c in &mut self.columns {
            c.values.push(0.0);
        }
        let found = sites(profile, &mut self.namer);
        // A map given this poll renames frames: each column's text is taken
        // again from this poll, not kept from a poll before the map.
        if self.namer.take_remapped() {
            for c in &mut self.columns {
                c.most = 0.0;
            }
        }
        for s in found {
            let col = match self.index.get(&s.key) {
                Some(&c) => Some(c),
                None if self.columns.len() < MAX_COLUMNS => {
                    self.columns.push(SiteColumn {
                        frames: Vec::new(),
                        class: s.frames.first().map_or(Class::Std, |f| f.class),
                        values: vec![0.0; row + 1],
                        most: 0.0,
                    });
                    self.index.insert(s.key.clone(), self.columns.len() - 1);
                    Some(self.columns.len() - 1)
                }
                None => None,
            };
            match col {
                Some(c) => {
                    let column = &mut self.columns[c];
                    column.values[row] = s.bytes;
                    if s.bytes >= column.most {
                        column.most = s.bytes;
                        column.frames = s.frames.iter().map(JsFrame::text).collect();
                    }
                }
                None => self.other[row] += s.bytes,
            }
        }
        if self.times.len() > MAX_ROWS {
            self.halve();
        }
    }

    /// Drops every other row (keeping the latest), doubling the stride.
    fn halve(&mut self) {
        let keep = |v: &mut Vec<f64>| {
            let n = v.len();
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                (n - i) % 2 == 0
            });
        };
        keep(&mut self.times);
        keep(&mut self.other);
        for c in &mut self.columns {
            keep(&mut c.values);
        }
        self.stride *= 2;
    }

    /// Seconds of each kept row.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// One column per site seen, in order of first appearance.
    pub fn columns(&self) -> &[SiteColumn] {
        &self.columns
    }

    /// Sites past [`MAX_COLUMNS`], summed per row.
    pub fn other(&self) -> &[f64] {
        &self.other
    }

    /// Profiles recorded (kept or not).
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// Samples V8 held live at the last poll.
    pub fn live_samples(&self) -> usize {
        self.live_samples
    }

    /// Polls per kept row: a caller may poll this many times less often.
    pub fn stride(&self) -> u64 {
        self.stride
    }

    /// The columns with every *transfer* folded away, judged on the rows from
    /// `from` seconds on: a site whose live bytes move against its caller's own
    /// (their correlation [`TRANSFER_Z`] standard errors below zero: what one
    /// loses the other gains) is added into its caller's column, deepest first.
    /// That is V8 inlining a function into its caller mid-run, or throwing the
    /// inlined code away again (a forced collection can): V8's sampler names only
    /// the function whose code runs, so the objects a cache replaces move from the
    /// callee's site to the caller's as the caller is optimised — the callee's
    /// bytes drain, the caller's fill, the sum holds (the catalog fixture:
    /// `loadItem` 804 → 16 KiB, `item` 549 → 1,651 KiB over 2 minutes, its cache
    /// full at 2,000 items throughout), and the caller alone would read as a leak.
    /// Sites that follow the load together, or one steady, are left apart. Also
    /// returns the folds made, as (site, into) frame texts.
    pub fn folded(&self, from: f64) -> (Vec<SiteColumn>, Vec<(String, String)>) {
        let rows: Vec<usize> = (0..self.times.len())
            .filter(|&r| self.times[r] >= from)
            .collect();
        let mut columns = self.columns.clone();
        let mut folds = Vec::new();
        if rows.len() < TRANSFER_MIN_ROWS {
            return (columns, folds);
        }
        let window = |values: &[f64]| rows.iter().map(|&r| values[r]).collect::<Vec<f64>>();
        let mut order: Vec<usize> = (0..columns.len()).collect();
        order.sort_by_key(|&c| std::cmp::Reverse(columns[c].frames.len()));
        let mut gone = vec![false; columns.len()];
        for x in order {
            let Some(caller) = columns[x].frames.get(1).cloned() else {
                continue;
            };
            let Some(y) = (0..columns.len())
                .find(|&c| !gone[c] && c != x && columns[c].frames.first() == Some(&caller))
            else {
                continue;
            };
            let t = correlation_t(&window(&columns[x].values), &window(&columns[y].values));
            if t <= -TRANSFER_Z {
                let moved = std::mem::take(&mut columns[x].values);
                for (a, b) in columns[y].values.iter_mut().zip(&moved) {
                    *a += b;
                }
                gone[x] = true;
                folds.push((columns[x].frames[0].clone(), caller));
            }
        }
        let kept = columns
            .into_iter()
            .zip(gone)
            .filter_map(|(c, g)| (!g).then_some(c))
            .collect();
        (kept, folds)
    }
}

/// Standard errors below zero the correlation of a callee's and its caller's
/// series must reach for their sites to be one (see [`NodeSites::folded`]).
pub const TRANSFER_Z: f64 = 3.0;

/// Fewest rows in the window for a fold: fewer say nothing about a correlation.
const TRANSFER_MIN_ROWS: usize = 8;

/// Pearson's correlation of `x` and `y` as a t statistic, `r·√(n−2)/√(1−r²)`
/// (0 when either is constant; ±∞ when they are exactly in or out of step).
fn correlation_t(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    if n < 3.0 {
        return 0.0;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return 0.0;
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    if r.abs() >= 1.0 {
        return r * f64::INFINITY;
    }
    r * ((n - 2.0) / (1.0 - r * r)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sites with the given frames and series, polled once a second.
    fn polled(columns: &[(&[&str], Vec<f64>)]) -> NodeSites {
        let mut s = NodeSites::new(None);
        s.times = (0..columns[0].1.len()).map(|i| i as f64).collect();
        s.columns = columns
            .iter()
            .map(|(frames, values)| SiteColumn {
                frames: frames.iter().map(|f| f.to_string()).collect(),
                class: Class::Own,
                values: values.clone(),
                most: 0.0,
            })
            .collect();
        s
    }

    /// `from` to `to` over 60 polls, with a few KiB of deterministic jitter.
    fn ramp(from: f64, to: f64) -> Vec<f64> {
        (0..60)
            .map(|i| from + (to - from) * i as f64 / 59.0 + ((i * 7919) % 13) as f64 * 1e3)
            .collect()
    }

    const LOAD_ITEM: &[&str] = &[
        "loadItem (a.js:57)",
        "item (a.js:70)",
        "(anonymous) (a.js:111)",
    ];
    const ITEM: &[&str] = &["item (a.js:70)", "(anonymous) (a.js:111)"];
    const CHECK: &[&str] = &["check (b.js:47)", "(anonymous) (b.js:90)"];

    #[test]
    fn a_callee_draining_into_its_rising_caller_is_one_site() {
        // The catalog fixture's cache, full throughout: its items were loaded by
        // `loadItem` until V8 inlined it into `item`, and each replaced item is now
        // `item`'s. A real leak elsewhere is left alone.
        let s = polled(&[
            (LOAD_ITEM, ramp(800e3, 16e3)),
            (ITEM, ramp(550e3, 1_650e3)),
            (CHECK, ramp(100e3, 900e3)),
        ]);
        let (columns, folds) = s.folded(10.0);
        assert_eq!(
            folds,
            vec![(
                "loadItem (a.js:57)".to_string(),
                "item (a.js:70)".to_string()
            )]
        );
        assert_eq!(columns.len(), 2);
        assert_eq!(columns[0].frames[0], "item (a.js:70)");
        let sum = &columns[0].values;
        // The sum moves far less than either part (about 1,400 → 1,670 KiB, against
        // `item`'s own 740 → 1,650)…
        assert!(
            (sum[59] - sum[10]).abs() < 0.4 * (1_650e3 - 550e3),
            "{sum:?}"
        );
        // …and the leak is as it was.
        assert_eq!(columns[1].values, ramp(100e3, 900e3));
    }

    #[test]
    fn a_callee_and_its_caller_trading_bytes_back_and_forth_are_one_site() {
        // No trend in either: V8 inlines `loadItem`, a forced collection throws the
        // code away, V8 inlines it again — the cache's items flip between the two
        // sites and only their sum is steady.
        let flips = |i: usize| if (i / 6) % 2 == 0 { 900e3 } else { 200e3 };
        let callee: Vec<f64> = (0..60)
            .map(|i| flips(i) + ((i * 7919) % 13) as f64 * 1e3)
            .collect();
        let caller: Vec<f64> = (0..60)
            .map(|i| 1_600e3 - flips(i) + ((i * 31) % 7) as f64 * 1e3)
            .collect();
        let s = polled(&[(LOAD_ITEM, callee), (ITEM, caller)]);
        let (columns, folds) = s.folded(10.0);
        assert_eq!(folds.len(), 1, "{folds:?}");
        let sum = &columns[0].values;
        let (lo, hi) = sum[10..]
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        assert!(hi - lo < 30e3, "{lo} {hi}");
    }

    #[test]
    fn sites_that_move_together_or_alone_stay_apart() {
        for (callee, caller) in [
            (ramp(100e3, 900e3), ramp(500e3, 500e3)), // a leak in the callee
            (ramp(100e3, 900e3), ramp(300e3, 600e3)), // both grow (a leak inlined mid-run)
            (ramp(900e3, 100e3), ramp(600e3, 300e3)), // both follow a falling load
            (ramp(500e3, 500e3), ramp(100e3, 900e3)), // a leak in the caller
        ] {
            let s = polled(&[(LOAD_ITEM, callee), (ITEM, caller)]);
            let (columns, folds) = s.folded(10.0);
            assert!(folds.is_empty(), "{folds:?}");
            assert_eq!(columns.len(), 2);
        }
    }

    #[test]
    fn a_transfer_in_the_warm_up_alone_folds_nothing() {
        // The callee drains and the caller fills in the first 30 polls only.
        let half = |a: f64, b: f64| {
            let mut v = ramp(a, b)[..30].to_vec();
            v.extend(std::iter::repeat_n(b, 30));
            v.iter()
                .enumerate()
                .map(|(i, x)| x + ((i * 31) % 7) as f64 * 1e3)
                .collect::<Vec<_>>()
        };
        let s = polled(&[(LOAD_ITEM, half(800e3, 16e3)), (ITEM, half(550e3, 1_650e3))]);
        assert_eq!(s.folded(0.0).1.len(), 1);
        assert!(s.folded(30.0).1.is_empty());
        // Too few rows after the warm-up to say anything.
        assert!(s.folded(55.0).1.is_empty());
    }

    fn node(
        name: &str,
        url: &str,
        line: i64,
        bytes: f64,
        children: Vec<ProfileNode>,
    ) -> ProfileNode {
        ProfileNode {
            call_frame: CallFrame {
                function_name: name.into(),
                url: url.into(),
                line_number: line,
                column_number: 0,
            },
            self_size: bytes,
            children,
        }
    }

    fn root(children: Vec<ProfileNode>) -> Profile {
        Profile {
            head: node("(root)", "", -1, 0.0, children),
            samples: 0,
        }
    }

    #[test]
    fn profiles_parse_from_the_inspectors_json() {
        let text = r#"{"head":{"callFrame":{"functionName":"(root)","scriptId":"0","url":"","lineNumber":-1,"columnNumber":-1},"selfSize":0,"id":1,"children":[
            {"callFrame":{"functionName":"leak","scriptId":"9","url":"/srv/app.js","lineNumber":4,"columnNumber":13},"selfSize":3181056,"id":19,"children":[]}]},
            "samples":[{"size":32,"nodeId":19,"ordinal":1}]}"#;
        let p: Profile = serde_json::from_str(text).expect("profile");
        assert_eq!(p.samples, 1);
        let s = sites(&p, &mut Namer::new(Some("/srv".into())));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].bytes, 3181056.0);
        assert_eq!(s[0].frames[0].text(), "leak (app.js:5)");
    }

    #[test]
    fn functions_on_one_line_are_apart_only_where_a_map_tells_them_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        // Two arrow functions on line 1 of each script; b.js has a map putting
        // them on lines 1 and 2 of b.ts (columns 0 and 10 of its one line).
        std::fs::write(d.join("a.js"), "x(()=>[],()=>[]);\n").expect("write");
        std::fs::write(
            d.join("b.js"),
            "x(()=>[],()=>[]);\n//# sourceMappingURL=b.js.map\n",
        )
        .expect("write");
        std::fs::write(
            d.join("b.js.map"),
            r#"{"version":3,"sources":["b.ts"],"names":[],"mappings":"AAAA,UACA"}"#,
        )
        .expect("write");
        let at = |url: &str, column: i64, bytes: f64| ProfileNode {
            call_frame: CallFrame {
                function_name: String::new(),
                url: d.join(url).to_string_lossy().into_owned(),
                line_number: 0,
                column_number: column,
            },
            self_size: bytes,
            children: vec![],
        };
        let p = root(vec![
            at("a.js", 2, 1e6),
            at("a.js", 9, 2e6),
            at("b.js", 2, 3e6),
            at("b.js", 11, 4e6),
        ]);
        let mut namer = Namer::new(Some(d.to_path_buf()));
        let s: Vec<(String, f64)> = sites(&p, &mut namer)
            .into_iter()
            .map(|s| (s.frames[0].text(), s.bytes))
            .collect();
        assert_eq!(
            s,
            [
                ("(anonymous) (b.ts:2)".to_string(), 4e6),
                ("(anonymous) (a.js:1)".to_string(), 3e6),
                ("(anonymous) (b.ts:1)".to_string(), 3e6),
            ]
        );
    }

    #[test]
    fn node_internals_and_builtins_fold_into_their_first_caller_outside() {
        // handler → setCooldown → Map.prototype.set (builtin)
        //                      → setInterval (node:timers) → Timeout (node:internal/timers)
        // handler → JSON.stringify (builtin, called from Node's http code only)
        let p = root(vec![node(
            "parserOnIncomingClient",
            "node:_http_server",
            100,
            50.0,
            vec![node(
                "handler",
                "file:///srv/server.js",
                40,
                10.0,
                vec![node(
                    "setCooldown",
                    "file:///srv/server.js",
                    26,
                    1000.0,
                    vec![
                        node("set", "", -1, 4000.0, vec![]),
                        node(
                            "setInterval",
                            "node:timers",
                            10,
                            0.0,
                            vec![node("Timeout", "node:internal/timers", 20, 300.0, vec![])],
                        ),
                    ],
                )],
            )],
        )]);
        let s = sites(&p, &mut Namer::new(Some("/srv".into())));
        let texts: Vec<(String, f64)> = s.iter().map(|x| (x.frames[0].text(), x.bytes)).collect();
        assert_eq!(
            texts,
            vec![
                ("setCooldown (server.js:27)".to_string(), 5300.0),
                (
                    "parserOnIncomingClient (node:_http_server:101)".to_string(),
                    50.0
                ),
                ("handler (server.js:41)".to_string(), 10.0),
            ]
        );
        // The site's callers outside Node's code follow it.
        assert_eq!(
            s[0].frames.iter().map(JsFrame::text).collect::<Vec<_>>(),
            vec!["setCooldown (server.js:27)", "handler (server.js:41)"]
        );
        assert_eq!(s[1].frames[0].class, Class::Std);
    }

    #[test]
    fn the_probes_own_allocations_are_no_site() {
        // (root) → (anonymous) [callFunctionOn's wrapper] → soak's gc function
        //        → getHeapSpaceStatistics (node:v8): soak's reads, left out.
        let probe = node(
            "",
            "",
            0,
            0.0,
            vec![node(
                "",
                PROBE_URL,
                0,
                64.0,
                vec![node(
                    "getHeapSpaceStatistics",
                    "node:v8",
                    176,
                    4096.0,
                    vec![],
                )],
            )],
        );
        let served = node("handle", "/srv/app.js", 9, 1000.0, vec![]);
        let got = sites(&root(vec![probe, served]), &mut Namer::new(None));
        let names: Vec<String> = got.iter().map(|s| s.frames[0].text()).collect();
        assert_eq!(names, vec!["handle (/srv/app.js:10)"]);
    }

    #[test]
    fn one_function_on_two_paths_is_one_site_showing_its_heavier_path() {
        let f = |bytes| node("remember", "/srv/a.js", 2, bytes, vec![]);
        let p = root(vec![
            node("fromTimer", "/srv/a.js", 10, 0.0, vec![f(100.0)]),
            node("fromRequest", "/srv/a.js", 20, 0.0, vec![f(900.0)]),
        ]);
        let s = sites(&p, &mut Namer::new(Some("/srv".into())));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].bytes, 1000.0);
        assert_eq!(s[0].frames[1].text(), "fromRequest (a.js:21)");
    }

    #[test]
    fn vm_states_and_anonymous_functions_are_named() {
        let p = root(vec![
            node("(V8 API)", "", -1, 70.0, vec![]),
            node("", "/srv/a.js", 0, 30.0, vec![]),
        ]);
        let s = sites(&p, &mut Namer::new(Some("/srv".into())));
        let texts: Vec<String> = s.iter().map(|x| x.frames[0].text()).collect();
        assert_eq!(texts, vec!["(V8 API)", "(anonymous) (a.js:1)"]);
    }

    #[test]
    fn a_dependencys_site_names_its_package_and_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().to_path_buf();
        let pkg = base.join("node_modules/lru-cache");
        std::fs::create_dir_all(pkg.join("dist")).expect("mkdir");
        std::fs::write(
            pkg.join("package.json"),
            r#"{"name":"lru-cache","version":"7.18.3","main":"dist/index.js"}"#,
        )
        .expect("write");
        let scoped = base.join("node_modules/@acme/cache/node_modules/tiny");
        std::fs::create_dir_all(&scoped).expect("mkdir");
        let file = |p: &Path| url::Url::from_file_path(p).expect("absolute").to_string();
        let p = root(vec![node(
            "handler",
            &file(&base.join("server.js")),
            5,
            0.0,
            vec![
                node("set", &file(&pkg.join("dist/index.js")), 99, 800.0, vec![]),
                node("put", &file(&scoped.join("index.js")), 0, 100.0, vec![]),
            ],
        )]);
        let s = sites(&p, &mut Namer::new(Some(base.clone())));
        assert_eq!(
            s[0].frames[0].text(),
            "set [lru-cache@7.18.3] (node_modules/lru-cache/dist/index.js:100)"
        );
        assert_eq!(s[0].frames[0].class, Class::Dependency);
        // The caller to change comes next.
        assert_eq!(s[0].frames[1].text(), "handler (server.js:6)");
        assert_eq!(s[0].frames[1].class, Class::Own);
        // No manifest: the directory names the package (the innermost one).
        assert_eq!(s[1].frames[0].package.as_deref(), Some("tiny"));
        assert_eq!(
            package_dir(Path::new("/a/node_modules/@s/p/x.js")),
            Some(PathBuf::from("/a/node_modules/@s/p"))
        );
        assert_eq!(package_dir(Path::new("/a/node_modules/x.js")), None);
        assert_eq!(
            package_name(&base.join("node_modules/@s/p")),
            Some("@s/p".into())
        );
    }

    #[test]
    fn a_dependency_deep_in_the_stack_keeps_the_services_caller_in_view() {
        let mut chain = node("handler", "/srv/server.js", 1, 0.0, vec![]);
        let mut inner = node("deep0", "/srv/node_modules/p/i.js", 0, 10.0, vec![]);
        for i in 1..9 {
            inner = node(
                &format!("deep{i}"),
                "/srv/node_modules/p/i.js",
                i,
                0.0,
                vec![inner],
            );
        }
        chain.children.push(inner);
        let s = sites(&root(vec![chain]), &mut Namer::new(Some("/srv".into())));
        let f = &s[0].frames;
        assert_eq!(f.len(), FRAMES_PER_SITE);
        assert_eq!(f[0].function, "deep0");
        assert_eq!(f[FRAMES_PER_SITE - 1].text(), "handler (server.js:2)");
    }

    #[test]
    fn series_give_each_site_a_column_from_its_first_poll() {
        let mut ns = NodeSites::new(Some("/srv".into()));
        let a = |b| node("a", "/srv/x.js", 0, b, vec![]);
        let b = |v| node("b", "/srv/x.js", 9, v, vec![]);
        ns.record(1.0, &root(vec![a(10.0)]));
        ns.record(2.0, &root(vec![a(20.0), b(5.0)]));
        ns.record(3.0, &root(vec![b(7.0)]));
        assert_eq!(ns.times(), &[1.0, 2.0, 3.0]);
        let cols = ns.columns();
        assert_eq!(cols[0].frames, vec!["a (x.js:1)"]);
        assert_eq!(cols[0].values, vec![10.0, 20.0, 0.0]);
        assert_eq!(cols[1].values, vec![0.0, 5.0, 7.0]);
        assert_eq!(ns.other(), &[0.0, 0.0, 0.0]);
    }

    #[test]
    fn long_series_keep_every_other_row_and_the_latest() {
        let mut ns = NodeSites::new(None);
        for i in 0..=MAX_ROWS {
            ns.record(
                i as f64,
                &root(vec![node("a", "/x.js", 0, i as f64, vec![])]),
            );
        }
        assert_eq!(ns.times().len(), MAX_ROWS / 2 + 1);
        assert_eq!(ns.times().last(), Some(&(MAX_ROWS as f64)));
        assert_eq!(ns.times()[0], 0.0);
        assert_eq!(ns.stride(), 2);
        assert_eq!(ns.columns()[0].values, ns.times());
        assert_eq!(ns.polls(), MAX_ROWS as u64 + 1);
    }

    #[test]
    fn sites_past_the_column_limit_share_one() {
        let mut ns = NodeSites::new(None);
        let many: Vec<ProfileNode> = (0..MAX_COLUMNS as i64 + 3)
            .map(|i| node("f", "/x.js", i, 1.0, vec![]))
            .collect();
        ns.record(0.0, &root(many));
        assert_eq!(ns.columns().len(), MAX_COLUMNS);
        assert_eq!(ns.other(), &[3.0]);
    }
}
