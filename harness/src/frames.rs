//! Whose code each frame of an allocation's stack is, and which frame owns the
//! allocation: the "where" of every attribution (sampled sites, `--dhat`'s top
//! sites, `soak sites`).
//!
//! # Kinds
//!
//! Every frame gets a [`Kind`]: the user's **own** code, a **dependency** (named
//! with its package and version), the **standard library** (and what it vendors,
//! such as `hashbrown`), or **plumbing** (the harness's measuring machinery and
//! run loop, the allocator's shims, profilers). Which is which is a language's
//! [`Convention`], given plain data — a function name and, when known, a source
//! path — so frames from any source classify the same way: [`rust::Rust`] reads
//! symbols, paths and the tree's `Cargo.lock`; a JavaScript convention would call
//! `node:` internals std-like and `node_modules/PKG/` a dependency, and frames of
//! another process's native code would come from [`crate::symbolize`] through its
//! `/proc/PID/maps`, classified by the same [`Convention`].
//!
//! # The answer
//!
//! The frame that owns an allocation is the innermost one that is neither the
//! standard library nor plumbing — except that a closure passed to code of the
//! same origin (own code to own code, a crate to itself) runs for that caller,
//! which then owns it (`TtlMap::upsert` owns what the value constructor it was
//! handed allocates), and that a dependency's dependency answers for the direct
//! dependency that called it (governor owns what it keeps in its dashmap). When
//! the owner is a dependency, the user's own frame that called into it follows: "`flume::Shared::recv` ← `my_service::worker`". Frames
//! outward of the harness's run loop (the test or `main` that started the run)
//! are never candidates. A stack with no candidate at all is a capture problem
//! (too shallow to reach a frame of substance): it keeps no owner.

pub mod lock;
pub mod rust;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::symbolize;

/// Frames shown per site at most (the owner, the caller into it, and their own
/// callers).
pub const FRAMES_PER_SITE: usize = 8;

/// Whose code a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The user's code: built from their own tree.
    Own,
    /// A downloaded package's code.
    Dependency,
    /// The standard library, the C library, and what they vendor: context.
    Std,
    /// The harness's measuring machinery and run loop, allocator shims,
    /// profilers: never the answer.
    Plumbing,
}

/// A frame's kind and, when known, its package and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Whose code it is.
    pub kind: Kind,
    /// The package (crate) the code belongs to.
    pub package: Option<String>,
    /// The package's version.
    pub version: Option<String>,
}

impl Origin {
    /// A kind with no package.
    pub fn of(kind: Kind) -> Origin {
        Origin {
            kind,
            package: None,
            version: None,
        }
    }
}

/// A language's notion of whose code a frame is, from plain data.
pub trait Convention {
    /// The frame's kind and package, from its function name (as full as known)
    /// and source path (absolute, or relative to the user's tree).
    fn origin(&self, function: &str, file: Option<&str>) -> Origin;
    /// Whether the frame belongs to what drives the run: it and every frame
    /// outward of it called the run, and are not candidates.
    fn drives(&self, _function: &str, _file: Option<&str>) -> bool {
        false
    }
    /// Whether the frame is measuring machinery, never shown even when nothing
    /// else is left.
    fn hidden(&self, function: &str, file: Option<&str>) -> bool {
        self.origin(function, file).kind == Kind::Plumbing
    }
    /// Whether the user's code depends on `package` directly; a dependency's
    /// dependency is context for the dependency that called it (governor, not
    /// the dashmap it keeps its keys in). Unknown packages are direct.
    fn direct(&self, _package: &str) -> bool {
        true
    }
    /// Whether the function is a closure (or the like), which runs on behalf of
    /// a caller of the same origin.
    fn runs_for_caller(&self, _function: &str) -> bool {
        false
    }
}

/// A classified frame, as `summary.json` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The function, as full as known.
    pub function: String,
    /// The source file: relative to the user's tree when inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line in `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Whose code it is.
    pub kind: Kind,
    /// Its package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Its package's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Inlined into the frame after it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inlined: bool,
}

impl Frame {
    /// `name (path:line)`, or the name alone: what a site's `frames` list.
    pub fn text(&self) -> String {
        match self.location() {
            Some(loc) => format!("{} ({loc})", short_name(&self.function)),
            None => rust::without_generics(&self.function),
        }
    }

    /// `path:line` with the path as a reader wants it: relative inside the tree,
    /// from the package directory for a registry dependency
    /// (`governor-0.10.4/src/lib.rs`), from `library/` for the standard library.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_deref()?;
        let shown = if let Some(i) = file.find("/registry/src/") {
            let rest = &file[i + "/registry/src/".len()..];
            rest.split_once('/').map_or(rest, |(_, r)| r)
        } else if let Some(i) = file
            .find("/library/")
            .filter(|_| file.starts_with("/rustc/"))
        {
            &file[i + 1..]
        } else {
            file
        };
        Some(match self.line {
            Some(l) => format!("{shown}:{l}"),
            None => shown.to_string(),
        })
    }

    /// Where a message says this frame is: `path:line (Type::method)` for the
    /// user's code, `Type::method (governor 0.10.4)` for a dependency's, the
    /// function's path when there is no source location.
    pub fn place(&self) -> String {
        let package = match (&self.package, &self.version) {
            (Some(p), Some(v)) => format!("{p} {v}"),
            (Some(p), None) => p.clone(),
            _ => String::new(),
        };
        match (self.kind, self.location()) {
            (Kind::Dependency, Some(_)) if !package.is_empty() => {
                format!("{} ({package})", short_name(&self.function))
            }
            (Kind::Dependency, None) if !package.is_empty() => {
                format!("{} ({package})", rust::without_generics(&self.function))
            }
            (_, Some(loc)) => format!("{loc} ({})", short_name(&self.function)),
            (_, None) => rust::without_generics(&self.function),
        }
    }

    /// What identifies the function (not the line): its name without generic
    /// arguments, and its file.
    pub fn function_key(&self) -> String {
        match &self.file {
            Some(f) => format!("{} ({f})", short_name(&self.function)),
            None => rust::without_generics(&self.function),
        }
    }
}

/// Classifies raw frames (innermost first); paths inside the user's tree become
/// relative to it.
pub fn classify(raw: &[symbolize::Frame], conv: &dyn Convention) -> Vec<Frame> {
    raw.iter()
        .map(|f| {
            let file = f.file.as_deref().map(|p| relative(Path::new(p)));
            let o = conv.origin(&f.function, file.as_deref());
            Frame {
                function: f.function.clone(),
                file,
                line: f.line,
                kind: o.kind,
                package: o.package,
                version: o.version,
                inlined: f.inlined,
            }
        })
        .collect()
}

/// What a stack shows: indices into its chain, innermost first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shown {
    /// The frames to show (owner first, unless closures it ran are inner).
    pub frames: Vec<usize>,
    /// Position in `frames` of the frame that owns the allocation.
    pub owner: Option<usize>,
    /// Position in `frames` of the user's frame that called into a dependency
    /// owner.
    pub caller: Option<usize>,
}

/// The owner of a classified stack and the frames worth showing: from the
/// innermost candidate (own or dependency, inward of the run loop) to the last
/// of the user's frames, at most [`FRAMES_PER_SITE`]. Without a candidate, the
/// first few frames that are not measuring machinery, and no owner.
pub fn show(chain: &[Frame], conv: &dyn Convention) -> Shown {
    let cut = chain
        .iter()
        .position(|f| conv.drives(&f.function, f.file.as_deref()))
        .unwrap_or(chain.len());
    let candidate = |f: &Frame| matches!(f.kind, Kind::Own | Kind::Dependency);
    let cands: Vec<usize> = (0..cut).filter(|&i| candidate(&chain[i])).collect();
    if cands.is_empty() {
        // Prefer frames inward of the run loop, and of those the ones that are not
        // the standard library's.
        let visible = |r: std::ops::Range<usize>| -> Vec<usize> {
            r.filter(|&i| !conv.hidden(&chain[i].function, chain[i].file.as_deref()))
                .collect()
        };
        let pick = |v: Vec<usize>| -> Vec<usize> {
            let not_std: Vec<usize> = v
                .iter()
                .copied()
                .filter(|&i| chain[i].kind != Kind::Std)
                .take(3)
                .collect();
            if not_std.is_empty() {
                v.into_iter().take(3).collect()
            } else {
                not_std
            }
        };
        let inner = pick(visible(0..cut));
        return Shown {
            frames: if inner.is_empty() {
                pick(visible(cut..chain.len()))
            } else {
                inner
            },
            owner: None,
            caller: None,
        };
    }
    let same_origin =
        |a: &Frame, b: &Frame| a.kind == b.kind && (a.kind == Kind::Own || a.package == b.package);
    // A closure runs for its caller when that caller is of the same origin and
    // not a closure itself (an async body polled by another reads as a closure
    // in symbols without line tables: it is not run on the poller's behalf).
    let mut owner = 0;
    while owner + 1 < cands.len()
        && conv.runs_for_caller(&chain[cands[owner]].function)
        && !conv.runs_for_caller(&chain[cands[owner + 1]].function)
        && same_origin(&chain[cands[owner]], &chain[cands[owner + 1]])
    {
        owner += 1;
    }
    // A dependency's dependency answers for the dependency that called it, when
    // one does before the user's code.
    let transitive = |f: &Frame| {
        f.kind == Kind::Dependency && f.package.as_deref().is_some_and(|p| !conv.direct(p))
    };
    if transitive(&chain[cands[owner]]) {
        if let Some(k) = (owner + 1..cands.len())
            .take_while(|&k| chain[cands[k]].kind == Kind::Dependency)
            .find(|&k| !transitive(&chain[cands[k]]))
        {
            owner = k;
        }
    }
    let caller = (chain[cands[owner]].kind == Kind::Dependency)
        .then(|| (owner + 1..cands.len()).find(|&k| chain[cands[k]].kind == Kind::Own))
        .flatten();
    let last_own = cands
        .iter()
        .rposition(|&i| chain[i].kind == Kind::Own)
        .map_or(cands.len() - 1, |k| k.max(owner));
    // Inward of the owner (closures it ran, its dependency's frames) and between
    // a dependency owner and the user's caller, two frames at most.
    let mut picked: Vec<usize> = (owner.saturating_sub(2)..=owner).collect();
    let after = owner + 1..=last_own;
    for k in after {
        let between = caller.is_some_and(|c| k < c);
        if between && k > owner + 2 {
            continue;
        }
        picked.push(k);
    }
    picked.truncate(FRAMES_PER_SITE);
    if let Some(c) = caller {
        if !picked.contains(&c) {
            // Keep the caller visible: it replaces the last picked frame.
            let last = picked.len() - 1;
            picked[last] = c;
        }
    }
    let pos = |k: usize| picked.iter().position(|&p| p == k);
    Shown {
        frames: picked.iter().map(|&k| cands[k]).collect(),
        owner: pos(owner),
        caller: caller.and_then(pos),
    }
}

/// The workspace the process runs in: the highest ancestor of the current
/// directory holding a `Cargo.toml` (a member's tests run in the member's
/// directory, `cargo run` in the root).
fn workspace_root() -> Option<&'static Path> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let cwd = std::env::current_dir().ok()?;
        cwd.ancestors()
            .filter(|d| d.join("Cargo.toml").is_file())
            .last()
            .map(Path::to_path_buf)
    })
    .as_deref()
}

/// A source path relative to the workspace root when it lies inside it (the
/// user's own code, as rustc recorded it), else as it is.
pub fn relative(path: &Path) -> String {
    match workspace_root().and_then(|r| path.strip_prefix(r).ok()) {
        Some(rel) => rel.display().to_string(),
        None => path.display().to_string(),
    }
}

/// `a::b::Type<T>::method::{{closure}}` → `Type::method::{{closure}}`: generic
/// arguments dropped, the last two path segments kept (plus closure markers).
pub fn short_name(full: &str) -> String {
    // `<Type<T> as Trait>::method` and `<Type<T>>::method` read as `Type<T>::method`.
    let mut owned = full.trim().to_string();
    if owned.starts_with('<') {
        let mut depth = 0usize;
        let close = owned.char_indices().find_map(|(i, c)| {
            match c {
                '<' => depth += 1,
                '>' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
            None
        });
        if let Some(k) = close {
            let inner = &owned[1..k];
            let ty = inner.split(" as ").next().unwrap_or(inner);
            owned = format!("{ty}{}", &owned[k + 1..]);
        }
    }
    let flat = rust::without_generics(&owned);
    let segs: Vec<&str> = flat.split("::").filter(|s| !s.is_empty()).collect();
    let tail_markers = segs.iter().rev().take_while(|s| s.starts_with('{')).count();
    let keep = (2 + tail_markers).min(segs.len());
    segs[segs.len() - keep..].join("::")
}

/// The address a profiler's frame line starts with (`0x55ed…: …`).
pub fn address(frame: &str) -> Option<u64> {
    let (addr, _) = frame.split_once(": ")?;
    u64::from_str_radix(addr.strip_prefix("0x")?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::rust::Rust;
    use super::*;

    fn raw(function: &str, file: Option<&str>, line: Option<u32>) -> symbolize::Frame {
        symbolize::Frame {
            function: function.into(),
            file: file.map(str::to_string),
            line,
            inlined: false,
        }
    }

    fn lock() -> lock::Lock {
        lock::Lock::parse(lock::EXAMPLE)
    }

    fn shown(stack: &[symbolize::Frame]) -> Vec<String> {
        let conv = Rust::new(Some(lock()), &[]);
        let chain = classify(stack, &conv);
        let s = show(&chain, &conv);
        let mut out: Vec<String> = s.frames.iter().map(|&i| chain[i].text()).collect();
        if let Some(o) = s.owner {
            out[o] = format!("*{}", out[o]);
        }
        if let Some(c) = s.caller {
            out[c] = format!("<{}", out[c]);
        }
        out
    }

    /// A binary without line tables: symbols only.
    #[test]
    fn without_line_tables_the_owner_is_the_first_frame_of_substance() {
        let stack = [
            raw(
                "soak_harness::alloc::Counting<A>::realloc_moving",
                None,
                None,
            ),
            raw("__rust_realloc", None, None),
            raw("alloc::raw_vec::finish_grow", None, None),
            raw(
                "<alloc::string::String as core::clone::Clone>::clone",
                None,
                None,
            ),
            raw("dashmap::DashMap<K,V,S>::_entry", None, None),
            raw(
                "governor::state::keyed::DashMapStateStore<K,S>::measure_and_replace",
                None,
                None,
            ),
            raw("governor::RateLimiter<K,S,C,MW>::check_key", None, None),
            raw("outside_crate::limiter::Cooldowns::check", None, None),
            raw(
                "outside_crate::governor_keys::GovernorKeys::run::{{closure}}",
                None,
                None,
            ),
            raw(
                "tokio::runtime::park::CachedParkThread::block_on",
                None,
                None,
            ),
            raw("soak_harness::run::replay", None, None),
            raw("governor_keys::leaky_fails", None, None),
            raw("std::rt::lang_start_internal", None, None),
            raw("main", None, None),
        ];
        // dashmap is governor's dependency, not the user's: governor answers.
        assert_eq!(
            shown(&stack),
            [
                "dashmap::DashMap::_entry",
                "*governor::state::keyed::DashMapStateStore::measure_and_replace",
                "governor::RateLimiter::check_key",
                "<outside_crate::limiter::Cooldowns::check",
                "outside_crate::governor_keys::GovernorKeys::run::{{closure}}",
            ]
        );
        // Plumbing and std only, up to the run loop: no owner, never the allocator.
        let shallow = [
            raw(
                "soak_harness::alloc::Counting<A>::realloc_moving",
                None,
                None,
            ),
            raw("hashbrown::raw::RawTable<T,A>::reserve_rehash", None, None),
            raw("soak_harness::run::replay", None, None),
        ];
        assert_eq!(
            shown(&shallow),
            ["hashbrown::raw::RawTable::reserve_rehash"]
        );
    }

    /// Line tables: inlined frames with short names and paths.
    #[test]
    fn closures_run_for_the_caller_they_were_handed_to() {
        let stack = [
            raw(
                "soak_harness::alloc::Counting<A>::alloc",
                Some("harness/src/alloc.rs"),
                Some(255),
            ),
            raw(
                "grow_one<u64>",
                Some("/rustc/h/library/alloc/src/raw_vec.rs"),
                Some(9),
            ),
            raw(
                "push<u64>",
                Some("/rustc/h/library/alloc/src/vec/mod.rs"),
                Some(9),
            ),
            raw(
                "{closure#0}",
                Some("components/src/rate_limit/anti_spam.rs"),
                Some(76),
            ),
            raw(
                "upsert<alloc::string::String, u32>",
                Some("components/src/ttl_map.rs"),
                Some(342),
            ),
            raw(
                "check",
                Some("components/src/rate_limit/anti_spam.rs"),
                Some(74),
            ),
            raw(
                "{async_block#0}",
                Some("scenarios/src/raid_burst.rs"),
                Some(157),
            ),
            raw(
                "poll<F>",
                Some("/root/.cargo/registry/src/i/tokio-1.47.1/src/x.rs"),
                Some(1),
            ),
            raw("{async_block#0}", Some("harness/src/run.rs"), Some(300)),
            raw("my_test", Some("scenarios/tests/raid_burst.rs"), Some(3)),
        ];
        assert_eq!(
            shown(&stack),
            [
                "{closure#0} (components/src/rate_limit/anti_spam.rs:76)",
                "*upsert (components/src/ttl_map.rs:342)",
                "check (components/src/rate_limit/anti_spam.rs:74)",
                "{async_block#0} (scenarios/src/raid_burst.rs:157)",
            ]
        );
        // A closure handed to a dependency is the user's code running there: the
        // owner.
        let rayon = [
            raw(
                "push<u8>",
                Some("/rustc/h/library/alloc/src/vec/mod.rs"),
                Some(9),
            ),
            raw("{closure#0}", Some("src/lib.rs"), Some(5)),
            raw(
                "for_each<F>",
                Some("/r/registry/src/i/rayon-1.10.0/src/iter.rs"),
                Some(9),
            ),
            raw("work", Some("src/lib.rs"), Some(4)),
        ];
        assert_eq!(
            shown(&rayon),
            [
                "*{closure#0} (src/lib.rs:5)",
                "for_each (rayon-1.10.0/src/iter.rs:9)",
                "work (src/lib.rs:4)"
            ]
        );
    }

    #[test]
    fn the_injected_leak_is_a_site_of_its_own() {
        let stack = [
            raw("__rust_alloc", None, None),
            raw("alloc::vec::from_elem", None, None),
            raw("soak_harness::inject::spawn::{{closure}}", None, None),
            raw("tokio::runtime::task::core::Core<T,S>::poll", None, None),
            raw("soak_harness::run::replay", None, None),
            raw("calibration::leak_test", None, None),
        ];
        assert_eq!(shown(&stack), ["*soak_harness::inject::spawn::{{closure}}"]);
        // An async fn's body polled by another reads as a closure in symbols: it
        // still owns what it allocates.
        let stack = [
            raw("alloc::raw_vec::finish_grow", None, None),
            raw("my_app::handle::{{closure}}", None, None),
            raw("my_app::serve::{{closure}}", None, None),
            raw("tokio::runtime::task::core::Core<T,S>::poll", None, None),
        ];
        assert_eq!(
            shown(&stack),
            ["*my_app::handle::{{closure}}", "my_app::serve::{{closure}}"]
        );
    }

    #[test]
    fn places_read_as_a_person_looks_for_them() {
        let conv = Rust::new(Some(lock()), &[]);
        let chain = classify(
            &[
                raw("upsert<K>", Some("components/src/ttl_map.rs"), Some(346)),
                raw(
                    "check_key<alloc::string::String>",
                    Some("/r/registry/src/i/governor-0.10.4/src/state/keyed.rs"),
                    Some(60),
                ),
                raw("governor::RateLimiter<K,S,C,MW>::check_key", None, None),
                raw("outside_crate::limiter::Cooldowns::check", None, None),
            ],
            &conv,
        );
        assert_eq!(chain[0].place(), "components/src/ttl_map.rs:346 (upsert)");
        assert_eq!(chain[1].place(), "check_key (governor 0.10.4)");
        assert_eq!(
            chain[1].text(),
            "check_key (governor-0.10.4/src/state/keyed.rs:60)"
        );
        assert_eq!(
            chain[2].place(),
            "governor::RateLimiter::check_key (governor 0.10.4)"
        );
        assert_eq!(chain[3].place(), "outside_crate::limiter::Cooldowns::check");
        assert_eq!(
            chain[0].function_key(),
            "upsert (components/src/ttl_map.rs)"
        );
    }

    #[test]
    fn short_names_keep_type_and_method() {
        assert_eq!(
            short_name("soak_components::ttl_map::TtlMap<K,V>::insert_with_ttl"),
            "TtlMap::insert_with_ttl"
        );
        assert_eq!(
            short_name("<soak_components::ttl_map::TtlMap<K,V>>::upsert"),
            "TtlMap::upsert"
        );
        assert_eq!(
            short_name("<alloc::vec::Vec<T> as core::clone::Clone>::clone"),
            "Vec::clone"
        );
        assert_eq!(
            short_name("soak::calibration::Calibration::run::{{closure}}"),
            "Calibration::run::{{closure}}"
        );
        assert_eq!(short_name("main"), "main");
        assert_eq!(
            short_name("upsert<alloc::string::String, u32, fn() -> a::B, a::{impl#0}::check::{closure_env#1}>"),
            "upsert"
        );
    }

    /// This test binary's own stack, resolved and classified.
    #[test]
    fn this_process_classifies_its_own_frames() {
        #[inline(never)]
        fn stack() -> Vec<u64> {
            let mut ips = Vec::new();
            backtrace::trace(|f| {
                ips.push(f.ip() as u64);
                ips.len() < 12
            });
            std::hint::black_box(ips)
        }
        let ips = stack();
        let r = symbolize::resolve_return_addresses(&symbolize::Mappings::of_self(), &ips);
        let raw: Vec<symbolize::Frame> = ips
            .iter()
            .filter_map(|a| r.frames.get(a))
            .flatten()
            .cloned()
            .collect();
        let chain = classify(&raw, &Rust::for_this_process(&[]));
        // The harness's own code is plumbing wherever it runs: never the answer.
        let here: Vec<&Frame> = chain
            .iter()
            .filter(|f| f.file.as_deref() == Some("harness/src/frames.rs"))
            .collect();
        assert!(!here.is_empty(), "{chain:#?}");
        assert!(here.iter().all(|f| f.kind == Kind::Plumbing), "{here:#?}");
        // The standard library's frames, by their /rustc/ paths.
        assert!(
            chain.iter().any(|f| f.kind == Kind::Std
                && f.file.as_deref().is_some_and(|p| p.starts_with("/rustc/"))),
            "{chain:#?}"
        );
    }
}
