//! Report-time symbolisation: return addresses to `name (file:line:col)` frames,
//! inlined frames expanded innermost first (the form dhat prints, so the same
//! trimming applies). Runs after the replay; it allocates (DWARF caches) freely.

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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

/// Turns return addresses into frames, remembering each address's frames in `cache`.
pub fn symbolize(ips: &[usize], cache: &mut HashMap<usize, Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for &ip in ips {
        let frames = cache.entry(ip).or_insert_with(|| resolve(ip));
        out.extend(frames.iter().cloned());
    }
    out
}

/// The frames of one return address, innermost inlined frame first; paths inside
/// the workspace relative to it.
pub fn resolve(ip: usize) -> Vec<String> {
    let mut frames = Vec::new();
    backtrace::resolve(ip as *mut c_void, |sym| {
        let name = sym
            .name()
            .map(|n| short_name(&format!("{n:#}")))
            .unwrap_or_else(|| "?".to_string());
        let frame = match (sym.filename(), sym.lineno()) {
            (Some(file), Some(line)) => {
                let col = sym.colno().map(|c| format!(":{c}")).unwrap_or_default();
                format!("{name} ({}:{line}{col})", relative(file))
            }
            _ => name,
        };
        frames.push(frame);
    });
    if frames.is_empty() {
        frames.push(format!("{ip:#x}"));
    }
    frames
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
    let full = owned.as_str();
    let mut flat = String::with_capacity(full.len());
    let mut depth = 0usize;
    let mut prev = ' ';
    for ch in full.chars() {
        match ch {
            '<' => depth += 1,
            // `fn() -> T` inside generic arguments is not a closing bracket.
            '>' if prev != '-' => depth = depth.saturating_sub(1),
            _ if depth == 0 => flat.push(ch),
            _ => {}
        }
        prev = ch;
    }
    let segs: Vec<&str> = flat.split("::").filter(|s| !s.is_empty()).collect();
    let tail_markers = segs.iter().rev().take_while(|s| s.starts_with('{')).count();
    let keep = (2 + tail_markers).min(segs.len());
    segs[segs.len() - keep..].join("::")
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn resolves_a_function_of_this_crate() {
        let mut cache = HashMap::new();
        let ip = resolves_a_function_of_this_crate as fn() as usize + 1;
        let frames = symbolize(&[ip], &mut cache);
        assert!(
            frames
                .iter()
                .any(|f| f.contains("harness/src/sites/symbols.rs:")),
            "workspace-relative: {frames:?}"
        );
        assert_eq!(cache.len(), 1);
    }
}
