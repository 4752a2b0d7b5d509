//! Source maps (revision 3): where a compiled script's function came from.
//!
//! A Node service written in TypeScript, or bundled, runs compiled JavaScript:
//! V8 names `dist/server.js:412` or `bundle.js:1`, and the person reads
//! `src/server.ts`. Compilers leave a `//# sourceMappingURL=…` comment as the
//! script's last line, naming a `.map` file beside it or holding the map inline
//! (`data:application/json;base64,…`): `tsc --sourceMap`, esbuild, webpack, Vite,
//! Rollup. soak reads the map from disk the first time a profile names the
//! script, and turns a function's start (V8 reports the position of its
//! parameter list) into the source file, line and — where a minifier renamed it —
//! the name it has there. Code a loader compiles in memory (`tsx`, `ts-node`)
//! has no map on disk: its map is the one Node keeps, asked for through the
//! inspector (`session.rs`) and parsed here all the same.
//!
//! The map is kept as its `mappings` text with one decoder state per generated
//! line (one pass at parse time, keeping no segment), and a line's segments are
//! decoded when a function on it is looked up, the last such line kept: a large
//! bundle's map holds millions of segments, of which a profile needs a few hundred.
//! Not read: index maps (`sections`) and maps named by `http(s)` URLs.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

/// Largest map read, or last line of a script (an inline map), bytes: past it,
/// the script is named as it is.
pub const MAX_FILE: u64 = 64 << 20;

/// Most segments one generated line is decoded into (16 bytes each): a line
/// with more maps nowhere. esbuild's one-line bundle of TypeScript's compiler
/// has ~700,000.
pub const MAX_LINE_SEGMENTS: usize = 8 << 20;

/// The base64 digits, by value.
const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A position in an original source, 0-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// The source file, resolved against the map's directory (lexically: it
    /// need not exist).
    pub path: PathBuf,
    /// 0-based line in it.
    pub line: u32,
    /// The name the map gives at this position (a minified function's own).
    pub name: Option<String>,
}

/// A parsed source map.
#[derive(Debug)]
pub struct SourceMap {
    /// Sources, resolved; `None` for a null entry.
    sources: Vec<Option<PathBuf>>,
    names: Vec<String>,
    mappings: String,
    /// Per generated line: where its segments start in `mappings`, and the
    /// decoder's running (source, line, column, name) there.
    lines: Vec<(usize, [i64; 4])>,
    /// The line decoded last: a minified bundle is one line of them all.
    last: Option<(u32, Vec<Segment>)>,
}

/// One decoded segment: generated column, then source, line and name where
/// present ([`NONE`] where not): 16 bytes, as a bundle's line holds hundreds of
/// thousands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    column: u32,
    source: u32,
    line: u32,
    name: u32,
}

/// A segment's absent field.
const NONE: u32 = u32::MAX;

#[derive(Deserialize)]
struct Raw {
    version: Option<u32>,
    #[serde(default)]
    sources: Vec<Option<String>>,
    #[serde(rename = "sourceRoot", default)]
    source_root: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    mappings: Option<String>,
    sections: Option<serde::de::IgnoredAny>,
}

/// The value of a base64 digit.
fn sextet(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    })
}

/// Standard base64 (padding and line breaks allowed), as data URLs carry it.
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.bytes() {
        if b == b'=' || b.is_ascii_whitespace() {
            continue;
        }
        acc = (acc << 6) | u32::from(sextet(b)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decodes one base64 VLQ from the front of `s`, advancing it.
fn vlq(s: &mut &[u8]) -> Option<i64> {
    let (mut value, mut shift) = (0i64, 0u32);
    loop {
        let (&b, rest) = s.split_first()?;
        *s = rest;
        let d = i64::from(sextet(b)?);
        // Seven digits (35 bits) hold any 32-bit field with its sign; more is
        // no map's: refused, not wrapped.
        if shift >= 35 {
            return None;
        }
        value |= (d & 31) << shift;
        shift += 5;
        if d & 32 == 0 {
            break;
        }
    }
    Some(if value & 1 == 1 {
        -(value >> 1)
    } else {
        value >> 1
    })
}

/// Walks the segments of one generated line (its text, between `;`s) from the
/// running state `state`, which is left as the next line starts with, handing
/// each to `each`; `None` for a malformed line.
fn walk_line(text: &[u8], state: &mut [i64; 4], mut each: impl FnMut(Segment)) -> Option<()> {
    // A running value below zero or past u32 is no map's: the line is refused.
    let field = |v: i64| u32::try_from(v).ok().filter(|v| *v != NONE);
    let mut column = 0i64;
    for seg in text.split(|b| *b == b',') {
        if seg.is_empty() {
            continue;
        }
        let mut s = seg;
        column = column.checked_add(vlq(&mut s)?)?;
        let mut segment = Segment {
            column: field(column)?,
            source: NONE,
            line: NONE,
            name: NONE,
        };
        if !s.is_empty() {
            for v in state.iter_mut().take(3) {
                *v = v.checked_add(vlq(&mut s)?)?;
            }
            segment.source = field(state[0])?;
            segment.line = field(state[1])?;
            if !s.is_empty() {
                state[3] = state[3].checked_add(vlq(&mut s)?)?;
                segment.name = field(state[3])?;
            }
        }
        each(segment);
    }
    Some(())
}

/// The segments of one generated line, by column; `None` for a malformed
/// line or one of more than [`MAX_LINE_SEGMENTS`].
fn decode_line(text: &[u8], state: &mut [i64; 4]) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    let mut over = false;
    walk_line(text, state, |s| {
        if out.len() < MAX_LINE_SEGMENTS {
            out.push(s);
        } else {
            over = true;
        }
    })?;
    if over {
        return None;
    }
    out.sort_by_key(|s| s.column);
    Some(out)
}

/// The path a `file://` URL names.
pub(crate) fn file_url_path(url: &str) -> Option<PathBuf> {
    url::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "file")?
        .to_file_path()
        .ok()
}

/// `path` with `.` and `..` taken out, lexically.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Where a source named `root` + `source` is, for a map in `dir`; `base` is the
/// target's directory, which bundlers' own schemes (`webpack://app/./src/a.ts`)
/// are relative to.
fn resolve(root: &str, source: &str, dir: &Path, base: Option<&Path>) -> Option<PathBuf> {
    let joined = if root.is_empty() || source.contains("://") || source.starts_with('/') {
        source.to_string()
    } else if root.ends_with('/') {
        format!("{root}{source}")
    } else {
        format!("{root}/{source}")
    };
    if joined.starts_with("file://") {
        return file_url_path(&joined).map(|p| normal(&p));
    }
    if let Some((_, rest)) = joined.split_once("://") {
        // A bundler's namespace: `webpack://NAME/PATH`, PATH from the project root.
        let path = rest.split_once('/').map_or("", |(_, p)| p);
        return Some(normal(&base.unwrap_or(dir).join(path)));
    }
    Some(normal(&dir.join(joined)))
}

impl SourceMap {
    /// Parses a map's JSON; sources are resolved against `dir` (the map's
    /// directory). `None` for what is not a revision-3 map with mappings.
    pub fn parse(json: &[u8], dir: &Path, base: Option<&Path>) -> Option<SourceMap> {
        let raw: Raw = serde_json::from_slice(json).ok()?;
        if raw.version != Some(3) || raw.sections.is_some() {
            return None;
        }
        let mappings = raw.mappings?;
        let root = raw.source_root.unwrap_or_default();
        let sources = raw
            .sources
            .iter()
            .map(|s| resolve(&root, s.as_deref()?, dir, base))
            .collect();
        // One pass to index the lines: the state at each line's start (the
        // segments themselves are not kept).
        let mut lines = Vec::new();
        let mut state = [0i64; 4];
        let mut start = 0;
        for text in mappings.as_bytes().split(|b| *b == b';') {
            lines.push((start, state));
            walk_line(text, &mut state, |_| {})?;
            start += text.len() + 1;
        }
        Some(SourceMap {
            sources,
            names: raw.names,
            mappings,
            lines,
            last: None,
        })
    }

    /// The source of the generated position (0-based line and column): the
    /// last segment on that line at or before the column. `function` is V8's
    /// name for the function starting there: when a named segment sits right
    /// before the position with the same length (a minifier's `A` before the
    /// parameter list), its name is the source's.
    pub fn lookup(&mut self, line: u32, column: u32, function: &str) -> Option<Original> {
        if self.last.as_ref().is_none_or(|(l, _)| *l != line) {
            let &(start, mut state) = self.lines.get(line as usize)?;
            let text = self.mappings.as_bytes().get(start..)?;
            let end = text.iter().position(|b| *b == b';').unwrap_or(text.len());
            self.last = Some((line, decode_line(&text[..end], &mut state)?));
        }
        let segments = self.last.as_ref().map(|(_, s)| s.as_slice())?;
        let at = segments.partition_point(|s| s.column <= column);
        let seg = segments.get(at.checked_sub(1)?)?;
        if seg.source == NONE {
            return None;
        }
        let path = self.sources.get(seg.source as usize)?.clone()?;
        let src_line = seg.line;
        let is_identifier = !function.is_empty()
            && function
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$');
        let name = u32::try_from(function.len())
            .ok()
            .and_then(|len| column.checked_sub(len))
            .filter(|_| is_identifier)
            .and_then(|name_at| {
                let i = segments.partition_point(|s| s.column < name_at);
                segments.get(i).filter(|s| s.column == name_at)
            })
            .and_then(|s| self.names.get(s.name as usize))
            .cloned();
        Some(Original {
            path,
            line: src_line,
            name,
        })
    }

    /// The map a compiled script names in its last line, read from disk or
    /// from the data URL itself; `None` when the script names none, or it
    /// cannot be read or parsed.
    pub fn for_script(script: &Path, base: Option<&Path>) -> Option<SourceMap> {
        let line = last_line(script)?;
        let url = map_url(&line)?;
        let dir = script.parent()?;
        if let Some(data) = url.strip_prefix("data:") {
            let (kind, payload) = data.split_once(',')?;
            let json = if kind.ends_with(";base64") {
                base64(payload)?
            } else {
                payload.as_bytes().to_vec()
            };
            return SourceMap::parse(&json, dir, base);
        }
        let file = if url.starts_with("file://") {
            file_url_path(url)?
        } else if url.contains("://") {
            return None;
        } else {
            dir.join(url)
        };
        let json = read_file(&file, MAX_FILE)?;
        SourceMap::parse(&json, file.parent()?, base)
    }
}

/// A regular file's bytes, when it is no larger than `max` (a FIFO or a
/// device named by a map comment is not read).
pub(crate) fn read_file(path: &Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read as _;
    // Checked before opening: opening a FIFO to read waits for a writer.
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > max {
        return None;
    }
    let f = std::fs::File::open(path).ok()?;
    let mut out = Vec::new();
    f.take(max).read_to_end(&mut out).ok()?;
    Some(out)
}

/// A regular file's last non-blank line (its newline and trailing blanks
/// included), read from the end in blocks: a script's map comment, which may
/// hold an inline map of megabytes, without reading the script. `None` past
/// [`MAX_FILE`].
fn last_line(path: &Path) -> Option<Vec<u8>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    const BLOCK: u64 = 64 << 10;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut f = std::fs::File::open(path).ok()?;
    let mut end = meta.len();
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let start = end.saturating_sub(BLOCK);
        let mut block = vec![0; usize::try_from(end - start).ok()?];
        f.seek(SeekFrom::Start(start)).ok()?;
        f.read_exact(&mut block).ok()?;
        block.extend_from_slice(&tail);
        tail = block;
        let text = tail.trim_ascii_end();
        // The line starts after the last newline before its text.
        if let Some(i) = text.iter().rposition(|b| *b == b'\n') {
            return Some(tail.split_off(i + 1));
        }
        if start == 0 {
            return Some(tail);
        }
        if tail.len() as u64 >= MAX_FILE {
            return None;
        }
        end = start;
    }
}

/// The URL in a script's `//# sourceMappingURL=` comment, when that comment is
/// its last non-blank line (a string in the code that merely contains the words
/// is not taken).
fn map_url(text: &[u8]) -> Option<&str> {
    let trimmed = text.trim_ascii_end();
    let last = trimmed
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(trimmed, |i| &trimmed[i + 1..]);
    let line = std::str::from_utf8(last).ok()?.trim();
    let url = line
        .strip_prefix("//# sourceMappingURL=")
        .or_else(|| line.strip_prefix("//@ sourceMappingURL="))?
        .trim();
    (!url.is_empty() && !url.contains(char::is_whitespace)).then_some(url)
}

/// Base64 VLQ for `values`, as a map's `mappings` writes them (the inverse of
/// the decoder: its tests and the bench build maps with it).
#[doc(hidden)]
pub fn encode_vlq(values: &[i64]) -> String {
    let mut out = String::new();
    for &v in values {
        let mut x = if v < 0 { (-v << 1) | 1 } else { v << 1 };
        loop {
            let mut d = x & 31;
            x >>= 5;
            if x > 0 {
                d |= 32;
            }
            out.push(char::from(DIGITS[(d & 63) as usize]));
            if x == 0 {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Standard base64 without padding (the test's encoder, the inverse of
    /// [`base64`]).
    fn encode_base64(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |a, (i, b)| a | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(DIGITS[(n >> (18 - 6 * i) & 63) as usize]));
            }
        }
        out
    }

    #[test]
    fn vlq_reads_what_the_format_writes() {
        // The format's own examples: "A" 0, "C" 1, "D" −1, "gB" 16, "2H" 123.
        for (text, v) in [("A", 0), ("C", 1), ("D", -1), ("gB", 16), ("2H", 123)] {
            let mut s = text.as_bytes();
            assert_eq!(vlq(&mut s), Some(v), "{text}");
            assert!(s.is_empty());
        }
        for v in [
            0,
            1,
            -1,
            15,
            16,
            -16,
            1000,
            -123_456,
            1 << 33,
            i64::from(u32::MAX),
        ] {
            let e = encode_vlq(&[v]);
            assert_eq!(vlq(&mut e.as_bytes()), Some(v), "{v} as {e}");
        }
        // Cut short, a stray byte, or longer than any map's numbers: refused.
        for bad in ["g", "!", "ggggggggA", "gggggggggggggA"] {
            assert_eq!(vlq(&mut bad.as_bytes()), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// Whatever a map file holds, reading it and looking anything up in it
        /// ends in an answer or a refusal, never a panic: mappings of any
        /// characters (the VLQ alphabet and the separators weighted up), any
        /// lookup position, any V8 name.
        #[test]
        fn any_mappings_read_without_panicking(
            mappings in "[A-Za-z0-9+/,;!=\\-]{0,300}",
            line in 0u32..8,
            column in proptest::prelude::any::<u32>(),
            function in "[A-Za-z.$ ]{0,4}",
        ) {
            let json = serde_json::json!({
                "version": 3, "sources": ["a.ts", null], "names": ["x"], "mappings": mappings,
            })
            .to_string();
            if let Some(mut m) = SourceMap::parse(json.as_bytes(), Path::new("/d"), None) {
                let _ = m.lookup(line, column, &function);
                let _ = m.lookup(line, column % 64, &function);
            }
        }
    }

    #[test]
    fn base64_decodes_data_urls() {
        assert_eq!(base64("eyJhIjoxfQ==").as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(base64("aGk=\n").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64("a*b"), None);
    }

    /// tsc's map of `dist/hoard.js` (from `src/hoard.ts`, TypeScript 5): its
    /// first mappings, enough for the class method on generated line 10.
    const TSC: &str = r#"{"version":3,"file":"hoard.js","sourceRoot":"","sources":["../src/hoard.ts"],"names":[],"mappings":";;;AAAA,2DAA2D;AAC3D,2CAAkC;AAOlC,MAAM,IAAI,GAAY,EAAE,CAAC;AAEzB,MAAa,QAAQ;IAArB;QACmB,YAAO,GAAY,EAAE,CAAC;IAOzC,CAAC;IALC,GAAG,CAAC,CAAS;QACX,KAAK,IAAI,CAAC,GAAG,CAAC,EAAE,CAAC,GAAG,CAAC,EAAE,CAAC,EAAE,EAAE,CAAC;YAC3B,IAAI,CAAC,OAAO,CAAC,IAAI,CAAC,EAAE,EAAE,EAAE,CAAC,EAAE,MAAM,EAAE,IAAI,KAAK,CAAS,EAAE,CAAC,CAAC,IAAI,CAAC,CAAC,GAAG,GAAG,CAAC,EAAE,CAAC,CAAC"}"#;

    #[test]
    fn a_tsc_map_names_the_typescript_line() {
        let mut m = SourceMap::parse(TSC.as_bytes(), Path::new("/app/dist"), None).expect("a map");
        // `    add(n) {` is generated line 10; V8 reports the function at its
        // parameter list (column 7); the source is `  add(n: number): void {`,
        // line 14 (1-based) of src/hoard.ts.
        let o = m.lookup(10, 7, "add").expect("mapped");
        assert_eq!(o.path, Path::new("/app/src/hoard.ts"));
        assert_eq!(o.line + 1, 14);
        assert_eq!(o.name, None);
        // A line with no segments (the "use strict" prologue), a line past the
        // map, a column before the first segment: nothing.
        assert_eq!(m.lookup(0, 0, ""), None);
        assert_eq!(m.lookup(400, 0, ""), None);
        let line3 = m.lookup(3, 0, "").expect("line 3 starts mapped");
        assert_eq!(line3.line, 0);
    }

    #[test]
    fn a_minified_function_gets_its_source_name_and_an_unmapped_gap_maps_nowhere() {
        // One generated line: `function A(r){…}` at column 10 from a.ts line 5,
        // column 0, named "hoard"; an unmapped segment at column 30; then b.ts.
        let mappings = [
            encode_vlq(&[10, 0, 4, 9, 0]), // A → a.ts 5:9, names[0]
            encode_vlq(&[1, 0, 0, 5]),     // ( → a.ts 5:14
            encode_vlq(&[19]),             // unmapped from column 30
            encode_vlq(&[10, 1, 2, 0]),    // column 40 → b.ts 7:0
        ]
        .join(",");
        let json = format!(
            r#"{{"version":3,"sources":["a.ts","webpack://app/./node_modules/x/b.js"],"sourceRoot":"../src","names":["hoard"],"mappings":"{mappings}"}}"#
        );
        let mut m = SourceMap::parse(json.as_bytes(), Path::new("/p/dist"), Some(Path::new("/p")))
            .expect("a map");
        let o = m.lookup(0, 11, "A").expect("mapped");
        assert_eq!(
            (o.path.as_path(), o.line, o.name.as_deref()),
            (Path::new("/p/src/a.ts"), 4, Some("hoard"))
        );
        // V8's own name kept where no named segment ends at the position.
        assert_eq!(m.lookup(0, 12, "a.keep").expect("mapped").name, None);
        assert_eq!(m.lookup(0, 35, "f"), None);
        let b = m.lookup(0, 41, "g").expect("mapped");
        assert_eq!(
            (b.path.as_path(), b.line),
            (Path::new("/p/node_modules/x/b.js"), 6)
        );
    }

    #[test]
    fn what_is_not_a_map_is_refused_not_guessed() {
        let dir = Path::new("/d");
        for bad in [
            "",
            "{}",
            r#"{"version":2,"sources":[],"names":[],"mappings":""}"#,
            r#"{"version":3,"sections":[]}"#,
            r#"{"version":3,"sources":["a"],"names":[],"mappings":"A!"}"#,
        ] {
            assert!(
                SourceMap::parse(bad.as_bytes(), dir, None).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_long_inline_map_is_read_from_the_end_and_a_fifo_is_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        // An inline map over several read blocks (names padding it to ~300 KiB),
        // after a script of ~200 KiB, with trailing blank lines.
        let names: Vec<String> = (0..30_000).map(|i| format!("\"name{i}\"")).collect();
        let json = format!(
            r#"{{"version":3,"sources":["a.ts"],"names":[{}],"mappings":"AAAA"}}"#,
            names.join(",")
        );
        let b64 = encode_base64(json.as_bytes());
        let script = format!(
            "{}\n//# sourceMappingURL=data:application/json;base64,{b64}\n\n",
            "f();\n".repeat(50_000)
        );
        std::fs::write(d.join("big.js"), &script).expect("write");
        let mut m = SourceMap::for_script(&d.join("big.js"), None).expect("read");
        assert_eq!(m.lookup(0, 0, "f").expect("mapped").path, d.join("a.ts"));
        // A comment naming a FIFO: not opened for reading (it would block).
        let fifo = d.join("pipe.map");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("path");
        // SAFETY: a valid NUL-terminated path; mkfifo touches nothing else.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        std::fs::write(d.join("p.js"), "f();\n//# sourceMappingURL=pipe.map\n").expect("write");
        assert!(SourceMap::for_script(&d.join("p.js"), None).is_none());
    }

    #[test]
    fn the_map_url_is_the_last_lines_comment_only() {
        assert_eq!(
            map_url(b"x();\n//# sourceMappingURL=a.js.map\n\n"),
            Some("a.js.map")
        );
        assert_eq!(map_url(b"x();\n//@ sourceMappingURL=b.map"), Some("b.map"));
        assert_eq!(
            map_url(b"s = '//# sourceMappingURL=a.js.map';\nx();\n"),
            None
        );
        assert_eq!(map_url(b"//# sourceMappingURL="), None);
    }

    #[test]
    fn a_script_names_its_map_beside_it_or_inline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("dist")).expect("mkdir");
        std::fs::write(d.join("dist/hoard.js.map"), TSC).expect("write");
        std::fs::write(
            d.join("dist/hoard.js"),
            "f();\n//# sourceMappingURL=hoard.js.map\n",
        )
        .expect("write");
        let mut beside = SourceMap::for_script(&d.join("dist/hoard.js"), None).expect("read");
        let o = beside.lookup(10, 7, "add").expect("mapped");
        assert_eq!(o.path, d.join("src/hoard.ts"));
        // The same map inline, base64 in a data URL.
        let b64 = encode_base64(TSC.as_bytes());
        std::fs::write(
            d.join("dist/inline.js"),
            format!(
                "f();\n//# sourceMappingURL=data:application/json;charset=utf-8;base64,{b64}\n"
            ),
        )
        .expect("write");
        let mut inline = SourceMap::for_script(&d.join("dist/inline.js"), None).expect("read");
        assert_eq!(inline.lookup(10, 7, "add"), Some(o));
        // No comment, a missing map, a remote one: no map.
        std::fs::write(d.join("plain.js"), "f();\n").expect("write");
        std::fs::write(d.join("gone.js"), "//# sourceMappingURL=gone.js.map").expect("write");
        std::fs::write(
            d.join("remote.js"),
            "//# sourceMappingURL=https://example.com/a.map",
        )
        .expect("write");
        for s in ["plain.js", "gone.js", "remote.js", "absent.js"] {
            assert!(SourceMap::for_script(&d.join(s), None).is_none(), "{s}");
        }
    }
}
