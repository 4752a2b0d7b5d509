//! Rust's conventions: whose code a frame of a Rust program is, from its symbol,
//! its source path, or both.
//!
//! A symbol names its crate (`governor::…`, `alloc::string::…`,
//! `<dashmap::DashMap<…> as governor::state::StateStore>::…`), which is all a
//! binary built without line tables has; a path, when there is one, says where the
//! code was built from (`~/.cargo/registry/src/…/governor-0.10.4/…`, `/rustc/…`,
//! the user's tree), which is all an inlined frame's short DWARF name leaves. The
//! crate a symbol names is looked up in the tree's `Cargo.lock` ([`super::lock`]):
//! downloaded packages are dependencies (with their version when the lock holds
//! one), everything else built is the user's own. Without a lock (a binary run
//! outside its tree), a crate is a dependency only when its path says so.

use super::lock::{crate_name, Lock};
use super::{Convention, Kind, Origin};

/// The standard library and what it vendors: context, never the answer.
const STD: [&str; 10] = [
    "std",
    "core",
    "alloc",
    "hashbrown",
    "std_detect",
    "compiler_builtins",
    "panic_unwind",
    "panic_abort",
    "unwind",
    "test",
];

/// The harness's modules whose frames are its measuring machinery, never shown.
const MEASURING: [&str; 4] = ["alloc", "sites", "profile", "symbolize"];

/// The harness's modules that drive a run: frames from there outward called the
/// run (a test, `main`), they did not allocate for the subject.
const DRIVERS: [&str; 2] = ["run", "cli"];

/// The harness's module that injects the calibrated leak (`--leak-rate`): its
/// allocations are the run's own, deliberate site.
const INJECTOR: &str = "inject";

/// Rust frames, classified with the tree's lock and `--dhat-keep` prefixes.
#[derive(Debug, Clone, Default)]
pub struct Rust {
    lock: Option<Lock>,
    keep: Vec<String>,
    cargo_home: Option<String>,
}

impl Rust {
    /// With `lock` (the tree's `Cargo.lock`, if known) and `keep` (symbol or path
    /// prefixes to count as the user's own code).
    pub fn new(lock: Option<Lock>, keep: &[String]) -> Rust {
        Rust {
            lock,
            keep: keep.to_vec(),
            cargo_home: std::env::var("CARGO_HOME").ok().filter(|h| !h.is_empty()),
        }
    }

    /// For this process: the lock found from its directory ([`Lock::find`]).
    pub fn for_this_process(keep: &[String]) -> Rust {
        Rust::new(Lock::find().map(|(_, l)| l), keep)
    }

    /// The crate whose code `function` is, from its path: for a trait method
    /// `<A as B>::m`, the crate of the impl (the one that is not the standard
    /// library's, or the one that depends on the other).
    fn crate_of<'f>(&self, function: &'f str) -> Option<&'f str> {
        let (ty, tr) = impl_parts(function);
        let (a, b) = (ty.and_then(first_crate), tr.and_then(first_crate));
        match (a, b) {
            (Some(a), Some(b)) if a != b => {
                let (sa, sb) = (STD.contains(&a), STD.contains(&b));
                if sa && !sb {
                    Some(b)
                } else if sb && !sa {
                    Some(a)
                } else if self.lock.as_ref().is_some_and(|l| l.depends(b, a)) {
                    Some(b)
                } else {
                    Some(a)
                }
            }
            (a, b) => a.or(b),
        }
    }

    /// The harness module a frame is in (`alloc`, `run`, …), from its path or,
    /// without one, from its symbol when the code is the harness's (not a user's
    /// impl of a harness trait: `<my::Day as soak_harness::Scenario>::run`).
    fn harness_module<'f>(&self, function: &'f str, file: Option<&'f str>) -> Option<&'f str> {
        if let Some(f) = file {
            let rest = f
                .find("harness/src/")
                .map(|i| &f[i + "harness/src/".len()..])
                .or_else(|| {
                    let i = f.find("/soak-harness-")?;
                    let j = f[i..].find("/src/")?;
                    Some(&f[i + j + "/src/".len()..])
                });
            if let Some(rest) = rest {
                let module = rest.split('/').next().unwrap_or(rest);
                return Some(module.strip_suffix(".rs").unwrap_or(module));
            }
            return None;
        }
        if self.crate_of(function) != Some("soak_harness") {
            return None;
        }
        let (ty, tr) = impl_parts(function);
        [ty, tr].into_iter().flatten().find_map(|p| {
            let rest = p.strip_prefix("soak_harness::")?;
            Some(rest.split("::").next().unwrap_or(rest))
        })
    }

    fn downloaded(&self, krate: &str) -> Option<Origin> {
        let p = self.lock.as_ref()?.get(krate)?;
        p.downloaded.then(|| Origin {
            kind: Kind::Dependency,
            package: Some(p.name.clone()),
            version: (p.versions.len() == 1).then(|| p.versions[0].clone()),
        })
    }
}

impl Convention for Rust {
    fn origin(&self, function: &str, file: Option<&str>) -> Origin {
        let krate = self.crate_of(function);
        let own = |package: Option<&str>| Origin {
            kind: Kind::Own,
            package: package.map(str::to_string),
            version: None,
        };
        if self.keep.iter().any(|k| {
            function.starts_with(k.as_str()) || file.is_some_and(|f| f.contains(k.as_str()))
        }) {
            return own(krate);
        }
        if plumbing(function) {
            return Origin::of(Kind::Plumbing);
        }
        if let Some(m) = self.harness_module(function, file) {
            if m != INJECTOR {
                return Origin {
                    kind: Kind::Plumbing,
                    package: Some("soak-harness".into()),
                    version: None,
                };
            }
        }
        if krate == Some("hashbrown") || krate.is_some_and(|k| STD.contains(&k) && file.is_none()) {
            return Origin::of(Kind::Std);
        }
        if let Some(path) = file {
            if std_path(path) {
                return Origin::of(Kind::Std);
            }
            if let Some((name, version)) = registry_package(path) {
                if name == "hashbrown" {
                    return Origin::of(Kind::Std);
                }
                return Origin {
                    kind: Kind::Dependency,
                    package: Some(name.to_string()),
                    version: Some(version.to_string()),
                };
            }
            if let Some(name) = git_package(path) {
                return Origin {
                    kind: Kind::Dependency,
                    package: Some(name.to_string()),
                    version: None,
                };
            }
            if self
                .cargo_home
                .as_deref()
                .is_some_and(|h| path.starts_with(h))
            {
                return Origin {
                    kind: Kind::Dependency,
                    package: krate.map(str::to_string),
                    version: None,
                };
            }
            return own(krate);
        }
        match krate {
            // No path segment at all: C code (the C library, the program's entry).
            None if !function.contains("::") => Origin::of(Kind::Std),
            Some(k) => self.downloaded(k).unwrap_or_else(|| own(Some(k))),
            None => own(None),
        }
    }

    fn drives(&self, function: &str, file: Option<&str>) -> bool {
        self.harness_module(function, file)
            .is_some_and(|m| DRIVERS.contains(&m))
    }

    fn hidden(&self, function: &str, file: Option<&str>) -> bool {
        plumbing(function)
            || self
                .harness_module(function, file)
                .is_some_and(|m| MEASURING.contains(&m))
    }

    fn direct(&self, package: &str) -> bool {
        self.lock
            .as_ref()
            .is_none_or(|l| l.get(&crate_name(package)).is_none() || l.direct(&crate_name(package)))
    }

    fn runs_for_caller(&self, function: &str) -> bool {
        let name = without_generics(function);
        let last = name.rsplit("::").next().unwrap_or(&name);
        last.starts_with("{closure") || last.starts_with("{{closure")
    }
}

/// The allocator's shims (under `__rustc::` since Rust 1.89; a program's own
/// `#[global_allocator]` line is where its shim's frame points), any allocator's
/// `GlobalAlloc` methods (a program's own wrapper of the system allocator is the
/// allocator, not the code that asked for the memory) and the profilers' frames.
fn plumbing(function: &str) -> bool {
    const PREFIXES: [&str; 7] = [
        "__rustc::",
        "__rust_",
        "__rdl_",
        "__rg_",
        "dhat::",
        "<dhat::",
        "backtrace::",
    ];
    PREFIXES.iter().any(|p| function.starts_with(p))
        || function.contains(" as core::alloc::global::GlobalAlloc>::")
}

/// A path of the standard library's sources (as the toolchain ships them).
fn std_path(path: &str) -> bool {
    path.starts_with("/rustc/")
        || path.starts_with("/rust/deps/")
        || path.contains("/rustlib/src/rust/")
        || path.contains("/lib/rustlib/src/")
}

/// `(name, version)` of a registry package's path:
/// `…/registry/src/INDEX/NAME-VERSION/…` (VERSION starts at the last hyphen
/// followed by a digit).
pub fn registry_package(path: &str) -> Option<(&str, &str)> {
    let i = path.find("/registry/src/")?;
    let rest = &path[i + "/registry/src/".len()..];
    let mut parts = rest.split('/');
    let _index = parts.next()?;
    let dir = parts.next()?;
    let cut = dir
        .char_indices()
        .filter(|&(k, c)| c == '-' && dir[k + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map(|(k, _)| k)
        .next_back()?;
    Some((&dir[..cut], &dir[cut + 1..]))
}

/// The name of a git dependency's checkout: `…/git/checkouts/NAME-HASH/REV/…`.
fn git_package(path: &str) -> Option<&str> {
    let i = path.find("/git/checkouts/")?;
    let dir = path[i + "/git/checkouts/".len()..].split('/').next()?;
    Some(dir.rsplit_once('-').map_or(dir, |(n, _)| n))
}

/// `<A as B>::m` → (A, B); `<A>::m` → (A, None); `a::b::m` → (the whole, None).
fn impl_parts(function: &str) -> (Option<&str>, Option<&str>) {
    let f = function.trim();
    let Some(inner) = f.strip_prefix('<') else {
        return (Some(f), None);
    };
    let mut depth = 1usize;
    let mut close = None;
    let mut as_at = None;
    for (i, c) in inner.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if !inner[..i].ends_with('-') => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            ' ' if depth == 1 && inner[i..].starts_with(" as ") && as_at.is_none() => {
                as_at = Some(i)
            }
            _ => {}
        }
    }
    let inner = &inner[..close.unwrap_or(inner.len())];
    match as_at {
        Some(a) => (Some(&inner[..a]), Some(&inner[a + 4..])),
        None => (Some(inner), None),
    }
}

/// The crate a type or path starts with (`&mut alloc::vec::Vec<T>` → `alloc`);
/// `None` for a primitive or a name without a path.
fn first_crate(path: &str) -> Option<&str> {
    let mut p = path.trim();
    loop {
        let before = p;
        for prefix in ["&mut ", "&", "*const ", "*mut ", "dyn ", "[", "(", "impl "] {
            p = p.strip_prefix(prefix).unwrap_or(p).trim_start();
        }
        if p == before {
            break;
        }
    }
    let end = p.find("::")?;
    let head = &p[..end];
    (!head.is_empty() && head.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(head)
}

/// A path with every generic argument list removed; an impl block's segment
/// (`<impl governor::state::StateStore for dashmap::DashMap<K,V,S>>`) reads
/// `<impl StateStore for DashMap>`.
pub fn without_generics(function: &str) -> String {
    // `<Type<T> as Trait>::method` and `<Type<T>>::method` read as `Type::method`.
    if let (Some(ty), tr) = impl_parts(function) {
        if function.trim_start().starts_with('<') && (tr.is_some() || ty != function.trim()) {
            let rest = &function.trim_start()[1 + close_of(&function.trim_start()[1..])..];
            let rest = rest.strip_prefix('>').unwrap_or(rest);
            return format!("{}{}", without_generics(ty), without_generics(rest));
        }
    }
    let mut flat = String::with_capacity(function.len());
    let mut depth = 0usize;
    let mut prev = ' ';
    let mut impl_at: Option<usize> = None;
    for (i, ch) in function.char_indices() {
        match ch {
            '<' => {
                if depth == 0 && function[i + 1..].starts_with("impl ") {
                    impl_at = Some(i + 1);
                }
                depth += 1;
            }
            // `fn() -> T` inside generic arguments is not a closing bracket.
            '>' if prev != '-' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if let Some(start) = impl_at.take() {
                        flat.push_str(&impl_segment(&function[start..i]));
                    }
                }
            }
            _ if depth == 0 => flat.push(ch),
            _ => {}
        }
        prev = ch;
    }
    flat
}

/// The position of the `>` that closes an opening `<` just before `text`.
fn close_of(text: &str) -> usize {
    let mut depth = 1usize;
    let mut prev = ' ';
    for (i, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if prev != '-' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
        prev = c;
    }
    text.len()
}

/// `impl a::Trait<T> for b::Type<U>` → `<impl Trait for Type>`.
fn impl_segment(inner: &str) -> String {
    let body = inner.strip_prefix("impl ").unwrap_or(inner);
    let last = |p: &str| {
        let flat = without_generics(p.trim());
        flat.rsplit("::").next().unwrap_or(&flat).to_string()
    };
    let mut depth = 0usize;
    let mut split = None;
    for (i, c) in body.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ' ' if depth == 0 && body[i..].starts_with(" for ") => {
                split = Some(i);
                break;
            }
            _ => {}
        }
    }
    match split {
        Some(i) => format!("<impl {} for {}>", last(&body[..i]), last(&body[i + 5..])),
        None => format!("<impl {}>", last(body)),
    }
}

/// The package a crate name in a symbol stands for, as cargo names it.
pub fn package_of(krate: &str, lock: Option<&Lock>) -> String {
    lock.and_then(|l| l.get(krate))
        .map(|p| p.name.clone())
        .unwrap_or_else(|| crate_name(krate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rust() -> Rust {
        let lock = Lock::parse(crate::frames::lock::EXAMPLE);
        Rust::new(Some(lock), &[])
    }

    fn kind(function: &str, file: Option<&str>) -> (Kind, Option<String>, Option<String>) {
        let o = rust().origin(function, file);
        (o.kind, o.package, o.version)
    }

    #[test]
    fn symbols_alone_name_their_crate() {
        use Kind::*;
        let dep = |p: &str, v: &str| (Dependency, Some(p.to_string()), Some(v.to_string()));
        assert_eq!(
            kind(
                "governor::state::keyed::DashMapStateStore<K,S>::measure_and_replace",
                None
            ),
            dep("governor", "0.10.4")
        );
        // The impl of a dependency's trait for another dependency's type lives in
        // the crate that depends on the other.
        assert_eq!(
            kind(
                "<dashmap::DashMap<K,V,S> as governor::state::StateStore>::measure_and_replace",
                None
            ),
            dep("governor", "0.10.4")
        );
        assert_eq!(
            kind("<alloc::string::String as core::clone::Clone>::clone", None).0,
            Std
        );
        assert_eq!(
            kind("hashbrown::raw::RawTable<T,A>::reserve_rehash", None).0,
            Std
        );
        assert_eq!(
            kind("alloc::raw_vec::RawVecInner<A>::grow_one", None).0,
            Std
        );
        assert_eq!(kind("malloc", None).0, Std);
        assert_eq!(
            kind("outside_crate::limiter::Cooldowns::check", None),
            (Own, Some("outside_crate".to_string()), None)
        );
        // A user's impl of a standard trait is the user's.
        assert_eq!(
            kind("<my_app::Session as core::clone::Clone>::clone", None).0,
            Own
        );
        // The harness: measuring machinery and run loop are plumbing, the
        // injected leak is not.
        let harness = |f: &str| rust().origin(f, None).kind;
        assert_eq!(
            harness(
                "<soak_harness::alloc::Counting<A> as core::alloc::global::GlobalAlloc>::realloc"
            ),
            Plumbing
        );
        assert_eq!(
            harness("soak_harness::alloc::Counting<A>::realloc_moving"),
            Plumbing
        );
        assert_eq!(
            harness("soak_harness::scenario::Ticker::next::{{closure}}"),
            Plumbing
        );
        assert_eq!(harness("soak_harness::inject::spawn::{{closure}}"), Own);
        // A user's impl of the harness's trait is the user's code.
        assert_eq!(
            harness("<outside_crate::governor_keys::GovernorKeys as soak_harness::scenario::Scenario>::run::{{closure}}"),
            Own
        );
        assert_eq!(harness("__rust_alloc"), Plumbing);
        assert_eq!(harness("__rustc::__rust_alloc"), Plumbing);
        // A program's own allocator wrapper is the allocator.
        assert_eq!(
            harness("<my_app::Tracked as core::alloc::global::GlobalAlloc>::alloc"),
            Plumbing
        );
        assert_eq!(
            harness("<my_app::Tracked as core::alloc::global::GlobalAlloc>::realloc"),
            Plumbing
        );
        assert!(rust().drives("soak_harness::run::replay", None));
        assert!(!rust().drives("soak_harness::scenario::Ctx::gauge", None));
        assert!(rust().hidden("soak_harness::sites::sample", None));
        assert!(!rust().hidden("soak_harness::run::replay", None));
    }

    #[test]
    fn paths_say_where_code_was_built_from() {
        use Kind::*;
        let reg = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/governor-0.10.4/src/state/keyed.rs";
        assert_eq!(
            kind("check_key<alloc::string::String>", Some(reg)),
            (Dependency, Some("governor".into()), Some("0.10.4".into()))
        );
        let hb = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashbrown-0.14.5/src/raw/mod.rs";
        assert_eq!(
            kind("reserve_rehash<(alloc::string::String, u64)>", Some(hb)).0,
            Std
        );
        assert_eq!(
            kind("push<u8>", Some("/rustc/abc/library/alloc/src/vec/mod.rs")).0,
            Std
        );
        assert_eq!(
            kind("upsert<K, V>", Some("components/src/ttl_map.rs")).0,
            Own
        );
        assert_eq!(kind("check", Some("/home/u/app/src/limiter.rs")).0, Own);
        assert_eq!(
            kind("{async_block#0}", Some("harness/src/run.rs")).0,
            Plumbing
        );
        assert_eq!(
            kind("{async_block#0}", Some("harness/src/inject.rs")).0,
            Own
        );
        assert!(rust().drives("{async_block#0}", Some("/x/soak/harness/src/run.rs")));
        assert_eq!(
            kind(
                "f",
                Some("/u/.cargo/git/checkouts/mylib-0123abcd/4567/src/lib.rs")
            ),
            (Dependency, Some("mylib".into()), None)
        );
        assert_eq!(
            registry_package("/r/registry/src/idx/rustc-hash-2.1.1/src/lib.rs"),
            Some(("rustc-hash", "2.1.1"))
        );
        assert_eq!(
            registry_package("/r/registry/src/idx/soak-harness-0.1.0-beta.2/src/alloc.rs"),
            Some(("soak-harness", "0.1.0-beta.2"))
        );
        // The harness from the registry is still the harness.
        assert_eq!(
            kind(
                "f",
                Some("/r/registry/src/idx/soak-harness-0.1.0/src/sites/capture.rs")
            )
            .0,
            Plumbing
        );
    }

    #[test]
    fn keep_prefixes_make_code_the_users() {
        let r = Rust::new(None, &["governor-".to_string(), "dashmap::".to_string()]);
        let reg = "/r/registry/src/idx/governor-0.10.4/src/lib.rs";
        assert_eq!(r.origin("check_key", Some(reg)).kind, Kind::Own);
        assert_eq!(
            r.origin("dashmap::DashMap<K,V>::insert", None).kind,
            Kind::Own
        );
    }

    #[test]
    fn closures_run_for_their_caller() {
        let r = rust();
        assert!(r.runs_for_caller("my::f::{{closure}}"));
        assert!(r.runs_for_caller("{closure#0}"));
        assert!(r.runs_for_caller("my::f::{closure#1}<u8>"));
        assert!(!r.runs_for_caller("{async_block#0}"));
        assert!(!r.runs_for_caller("my::f"));
    }

    #[test]
    fn impl_parts_split_type_and_trait() {
        assert_eq!(
            impl_parts("<alloc::vec::Vec<T> as core::clone::Clone>::clone"),
            (Some("alloc::vec::Vec<T>"), Some("core::clone::Clone"))
        );
        assert_eq!(
            impl_parts("<a::B<fn() -> u8>>::f"),
            (Some("a::B<fn() -> u8>"), None)
        );
        assert_eq!(impl_parts("a::b"), (Some("a::b"), None));
        assert_eq!(first_crate("&mut alloc::vec::Vec<T>"), Some("alloc"));
        assert_eq!(first_crate("u64"), None);
        assert_eq!(without_generics("a::B<T, fn() -> C<D>>::f<E>"), "a::B::f");
        assert_eq!(
            without_generics(
                "governor::state::keyed::dashmap::<impl governor::state::StateStore for \
                 dashmap::DashMap<K,governor::state::in_memory::InMemoryState,S>>::measure_and_replace"
            ),
            "governor::state::keyed::dashmap::<impl StateStore for DashMap>::measure_and_replace"
        );
        assert_eq!(
            without_generics(
                "<outside_crate::Day as soak_harness::scenario::Scenario>::run::{{closure}}"
            ),
            "outside_crate::Day::run::{{closure}}"
        );
        assert_eq!(
            without_generics("<alloc::vec::Vec<T>>::push"),
            "alloc::vec::Vec::push"
        );
    }
}
