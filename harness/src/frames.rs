//! Which stack frames an attribution shows: the code of the person reading it.
//!
//! A symbolised frame reads `symbol (path:line:col)`. Resolved from debug info, the
//! path is absolute, and where it lives says whose code it is: registry and git
//! dependencies sit under cargo's home (`~/.cargo/registry/…`, `~/.cargo/git/…`),
//! the standard library under `/rustc/…` or a toolchain's `rustlib/src`. Everything
//! else is code the user builds from their own tree — their crate, their workspace,
//! their path dependencies — and that is what attribution keeps, with no
//! configuration. This harness's own frames are kept only when nothing else is left,
//! and its measuring plumbing never. Extra prefixes (`--dhat-keep`) add code from a
//! dependency, matched against the path or the symbol.

/// Frames kept per site.
pub const FRAMES_PER_SITE: usize = 6;

/// Symbolises `addr` (a return address in this process, as a profiler recorded
/// it) into its frames, innermost inlined frame first, each `symbol (path:line:col)`
/// (see [`crate::sites::resolve`]). Empty when the address does not resolve (no
/// debug info). Profilers' own output may shorten paths (dhat keeps the last three
/// components), which loses where the code lives; re-resolving restores it.
pub fn resolve(addr: usize) -> Vec<String> {
    let frames = crate::sites::resolve(addr);
    // An address with no symbol comes back as itself.
    if frames.len() == 1 && frames[0] == format!("{addr:#x}") {
        return Vec::new();
    }
    frames
}

/// The address a profiler's frame line starts with (`0x55ed…: …`).
pub fn address(frame: &str) -> Option<usize> {
    let (addr, _) = frame.split_once(": ")?;
    usize::from_str_radix(addr.strip_prefix("0x")?, 16).ok()
}

/// Re-resolves a profiler's frame lines through [`resolve`]: each distinct address
/// once, in order; a line whose address does not resolve is kept as it is.
pub fn reresolve(frames: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut last = None;
    for f in frames {
        match address(f) {
            Some(a) if last == Some(a) => {}
            Some(a) => {
                last = Some(a);
                let r = resolve(a);
                if r.is_empty() {
                    out.push(f.to_string());
                } else {
                    out.extend(r);
                }
            }
            None => out.push(f.to_string()),
        }
    }
    out
}

/// The source location of a frame, `path:line:col`, when it has one.
pub fn location(frame: &str) -> Option<&str> {
    let open = frame.rfind(" (")?;
    frame[open + 2..].strip_suffix(')')
}

/// The frame without its leading address.
pub fn clean(frame: &str) -> String {
    match frame.split_once(": ") {
        Some((addr, rest)) if addr.starts_with("0x") => rest.to_string(),
        _ => frame.to_string(),
    }
}

/// Whether the frame is the harness's own measuring machinery (allocator,
/// profilers), which never explains where a subject's bytes went.
pub fn is_plumbing(frame: &str) -> bool {
    const PLUMBING: [&str; 4] = [
        "harness/src/alloc.rs",
        "harness/src/profile.rs",
        "harness/src/sites",
        "soak_harness::alloc::",
    ];
    PLUMBING.iter().any(|p| frame.contains(p))
}

fn is_harness(frame: &str) -> bool {
    frame.contains("harness/src/") || clean(frame).starts_with("soak_harness::")
}

/// Whether a source path is a downloaded dependency's or the standard library's.
pub fn is_dependency(path: &str) -> bool {
    const MARKS: [&str; 4] = [
        "/.cargo/registry/",
        "/.cargo/git/",
        "/rustlib/src/",
        "/cargo/registry/",
    ];
    // The standard library and its vendored dependencies (hashbrown, …).
    if path.starts_with("/rustc/")
        || path.starts_with("/rust/deps/")
        || MARKS.iter().any(|m| path.contains(m))
    {
        return true;
    }
    // A custom CARGO_HOME.
    std::env::var("CARGO_HOME").is_ok_and(|home| !home.is_empty() && path.starts_with(&home))
}

/// Whether the frame is the user's own code (it has a source location outside
/// cargo's dependencies and the standard library, and is not this harness), or
/// matches one of `keep` (a path or symbol prefix).
pub fn is_own(frame: &str, keep: &[String]) -> bool {
    let loc = location(frame);
    let symbol = clean(frame);
    let kept = keep
        .iter()
        .any(|k| symbol.starts_with(k.as_str()) || loc.is_some_and(|l| l.contains(k.as_str())));
    let users = loc.is_some_and(|l| !l.starts_with('<') && !is_dependency(l));
    (users && !is_harness(frame)) || kept
}

/// Keeps the reader's own frames, innermost first, without addresses: first the
/// user's code (see [`is_own`]); failing that the harness's (minus its measuring
/// plumbing); failing that the first few frames as they are.
pub fn trim(frames: &[&str], keep: &[String]) -> Vec<String> {
    let pick = |want: &dyn Fn(&str) -> bool, n: usize| -> Vec<String> {
        frames
            .iter()
            .filter(|f| want(f))
            .take(n)
            .map(|f| clean(f))
            .collect()
    };
    let own = pick(&|f| is_own(f, keep) && !is_plumbing(f), FRAMES_PER_SITE);
    if !own.is_empty() {
        return own;
    }
    let harness = pick(&|f| is_harness(f) && !is_plumbing(f), FRAMES_PER_SITE);
    if !harness.is_empty() {
        return harness;
    }
    pick(
        &|f| f != "[root]" && !f.contains("dhat-") && !is_plumbing(f),
        3,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const STD: &str = "0x1: alloc::vec::Vec<T>::push (/rustc/abc/library/alloc/src/vec.rs:1:1)";
    const USER_ABS: &str = "0x7: put (/home/u/my-cache/src/cache.rs:40:9)";
    const ALLOC: &str = "0x2: soak_harness::alloc::x (harness/src/alloc.rs:1:1)";
    const OURS: &str = "0x3: insert<K,V> (components/src/ttl_map.rs:9:5)";
    const USER: &str = "0x4: my_cache::Cache::put (src/cache.rs:40:9)";
    const HARNESS_OUTSIDE: &str =
        "0x5: soak_harness::run::spawn_leak (/home/u/soak/harness/src/run.rs:3:1)";
    const REGISTRY: &str =
        "0x6: governor::state::keyed::x (/root/.cargo/registry/src/i/governor-0.10/src/a.rs:1:1)";

    #[test]
    fn keeps_relative_paths_innermost_first() {
        assert_eq!(trim(&[STD, ALLOC, OURS], &[]), vec![clean(OURS)]);
        assert_eq!(trim(&[STD, USER, HARNESS_OUTSIDE], &[]), vec![clean(USER)]);
        assert_eq!(
            trim(&[REGISTRY, USER_ABS, HARNESS_OUTSIDE], &[]),
            vec![clean(USER_ABS)]
        );
    }

    #[test]
    fn falls_back_to_the_harness_then_to_the_first_frames() {
        assert_eq!(
            trim(&[STD, ALLOC, HARNESS_OUTSIDE], &[]),
            vec![clean(HARNESS_OUTSIDE)]
        );
        assert_eq!(trim(&["[root]", STD, ALLOC], &[]), vec![clean(STD)]);
    }

    /// Return addresses of this call stack, innermost first.
    #[inline(never)]
    fn stack() -> Vec<usize> {
        let mut ips = Vec::new();
        backtrace::trace(|f| {
            ips.push(f.ip() as usize);
            ips.len() < 8
        });
        ips
    }

    #[test]
    fn resolving_addresses_tells_dependencies_from_the_builders_tree() {
        let frames: Vec<String> = stack().into_iter().flat_map(resolve).collect();
        // This file: in the tree being built, with a full path.
        let here: Vec<&String> = frames
            .iter()
            .filter(|f| f.contains("harness/src/frames.rs"))
            .collect();
        assert!(!here.is_empty(), "{frames:?}");
        assert!(
            here.iter()
                .all(|f| !is_dependency(location(f).unwrap_or(""))),
            "{here:?}"
        );
        // The backtrace crate's code: a registry path, a dependency.
        let registry: Vec<&String> = frames.iter().filter(|f| f.contains("backtrace-")).collect();
        assert!(!registry.is_empty(), "{frames:?}");
        assert!(registry.iter().all(|f| !is_own(f, &[])), "{registry:?}");
        // A profiler's shortened line resolves again to the same frames, once.
        let ip = stack()[1];
        let line = format!("0x{ip:x}: short (src/frames.rs:1:1)");
        assert_eq!(reresolve(&[&line, &line]), resolve(ip));
        assert_eq!(reresolve(&["[root]"]), vec!["[root]".to_string()]);
    }

    #[test]
    fn keep_prefixes_add_code_from_elsewhere() {
        assert_eq!(
            trim(&[STD, REGISTRY], &[]),
            vec![clean(STD), clean(REGISTRY)]
        );
        assert_eq!(
            trim(&[STD, REGISTRY], &["governor::".to_string()]),
            vec![clean(REGISTRY)]
        );
        assert_eq!(
            trim(&[STD, REGISTRY], &["governor-0.10/".to_string()]),
            vec![clean(REGISTRY)]
        );
    }
}
