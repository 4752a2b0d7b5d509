//! Which stack frames an attribution shows: the code of the person reading it.
//!
//! A symbolised frame reads `0xADDR: symbol (path:line:col)`. rustc records the
//! source paths of the crates of the workspace being built *relative* to it
//! (`src/cache.rs`, `components/src/ttl_map.rs`) and those of everything else —
//! registry crates, the standard library, a path dependency outside the workspace
//! such as this harness used from a user's crate — *absolute*. So "the user's own
//! code" needs no configuration: it is the frames with a relative source path.
//! Extra prefixes (`--dhat-keep`) add code that lives elsewhere (a sibling crate
//! in another workspace), matched against the path or the symbol.

/// Frames kept per site.
pub const FRAMES_PER_SITE: usize = 6;

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

/// Whether the frame is code of the workspace the binary was built in (a relative
/// source path) or matches one of `keep` (a path or symbol prefix).
pub fn is_own(frame: &str, keep: &[String]) -> bool {
    let loc = location(frame);
    let relative = loc.is_some_and(|l| !l.starts_with('/') && !l.starts_with('<'));
    let symbol = clean(frame);
    let kept = keep
        .iter()
        .any(|k| symbol.starts_with(k.as_str()) || loc.is_some_and(|l| l.contains(k.as_str())));
    (relative && !is_harness(frame)) || kept
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
    }

    #[test]
    fn falls_back_to_the_harness_then_to_the_first_frames() {
        assert_eq!(
            trim(&[STD, ALLOC, HARNESS_OUTSIDE], &[]),
            vec![clean(HARNESS_OUTSIDE)]
        );
        assert_eq!(trim(&["[root]", STD, ALLOC], &[]), vec![clean(STD)]);
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
