//! What a `Cargo.lock` says about the crates a frame can come from: which are
//! built from the user's own tree (no `source`: workspace members and path
//! dependencies), which are downloaded (a registry or git `source`), their
//! versions, and who depends on whom.
//!
//! The lock is read as the line format cargo writes (`[[package]]` blocks of
//! `name`, `version`, `source` and a `dependencies` list); anything else in it is
//! ignored, and a lock that cannot be read is no lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One package of the lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Package {
    /// As written in the lock (`rustc-hash`).
    pub name: String,
    /// Versions locked (several when the tree holds several).
    pub versions: Vec<String>,
    /// Whether it is downloaded (registry or git) rather than built from the tree.
    pub downloaded: bool,
    /// Crate names (underscored) of its dependencies.
    pub deps: Vec<String>,
}

/// The lock's packages by crate name (`rustc_hash`: hyphens read as underscores,
/// as in symbols).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    packages: HashMap<String, Package>,
}

/// The crate name a package name becomes in symbols.
pub fn crate_name(package: &str) -> String {
    package.replace('-', "_")
}

impl Lock {
    /// Parses a lock's text.
    pub fn parse(text: &str) -> Lock {
        let mut packages: HashMap<String, Package> = HashMap::new();
        let mut cur: Option<Package> = None;
        let mut in_deps = false;
        let flush = |p: Option<Package>, packages: &mut HashMap<String, Package>| {
            if let Some(p) = p.filter(|p| !p.name.is_empty()) {
                let e = packages.entry(crate_name(&p.name)).or_default();
                e.name = p.name;
                e.versions.extend(p.versions);
                e.downloaded |= p.downloaded;
                e.deps.extend(p.deps);
            }
        };
        for line in text.lines() {
            let line = line.trim();
            if line == "[[package]]" {
                flush(cur.take(), &mut packages);
                cur = Some(Package::default());
                in_deps = false;
                continue;
            }
            if line.starts_with('[') && !in_deps {
                flush(cur.take(), &mut packages);
                continue;
            }
            let Some(p) = cur.as_mut() else {
                continue;
            };
            if in_deps {
                if line.starts_with(']') {
                    in_deps = false;
                } else if let Some(dep) = quoted(line) {
                    let name = dep.split_whitespace().next().unwrap_or(dep);
                    p.deps.push(crate_name(name));
                }
                continue;
            }
            if let Some((key, value)) = line.split_once('=') {
                let value = value.trim();
                match key.trim() {
                    "name" => p.name = quoted(value).unwrap_or_default().to_string(),
                    "version" => p
                        .versions
                        .push(quoted(value).unwrap_or_default().to_string()),
                    "source" => p.downloaded = true,
                    "dependencies" => {
                        // `dependencies = [` on its own, or a one-line list.
                        let list = value.trim_start_matches('[');
                        for dep in list.trim_end_matches(']').split(',') {
                            if let Some(d) = quoted(dep.trim()) {
                                let name = d.split_whitespace().next().unwrap_or(d);
                                p.deps.push(crate_name(name));
                            }
                        }
                        in_deps = !value.ends_with(']');
                    }
                    _ => {}
                }
            }
        }
        flush(cur, &mut packages);
        Lock { packages }
    }

    /// The lock of the tree this process was started from: the first `Cargo.lock`
    /// in `CARGO_MANIFEST_DIR` (set by `cargo run` and `cargo test`) or the
    /// current directory, or their ancestors. `None` outside a cargo tree (a
    /// binary installed elsewhere).
    pub fn find() -> Option<(PathBuf, Lock)> {
        let starts = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .into_iter()
            .chain(std::env::current_dir().ok());
        for start in starts {
            for dir in start.ancestors() {
                let path = dir.join("Cargo.lock");
                if let Ok(text) = read_small(&path) {
                    return Some((path, Lock::parse(&text)));
                }
            }
        }
        None
    }

    /// A package by its crate name.
    pub fn get(&self, crate_name: &str) -> Option<&Package> {
        self.packages.get(crate_name)
    }

    /// Whether code built from the user's tree depends on crate `krate` directly
    /// (`false` for a dependency's dependency).
    pub fn direct(&self, krate: &str) -> bool {
        self.packages
            .values()
            .any(|p| !p.downloaded && p.deps.iter().any(|d| d == krate))
    }

    /// Whether crate `a` depends on crate `b` directly.
    pub fn depends(&self, a: &str, b: &str) -> bool {
        self.get(a).is_some_and(|p| p.deps.iter().any(|d| d == b))
    }
}

/// The text between the first pair of double quotes.
fn quoted(s: &str) -> Option<&str> {
    let start = s.find('"')? + 1;
    let end = start + s[start..].find('"')?;
    Some(&s[start..end])
}

/// Reads a file of at most 16 MiB (a lock is a few hundred KiB).
fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(16 << 20)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// A lock of a user's crate on governor (which depends on dashmap) and tokio, for
/// tests.
#[cfg(test)]
pub(crate) const EXAMPLE: &str = r#"
[[package]]
name = "governor"
version = "0.10.4"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = ["dashmap"]

[[package]]
name = "dashmap"
version = "6.1.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "tokio"
version = "1.47.1"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "outside-crate"
version = "0.1.0"
dependencies = ["governor", "tokio"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "dashmap"
version = "6.1.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "5041cc499144891f3790297212f32a74fb938e5136a14943f338ef9e0ae276cf"
dependencies = [
 "cfg-if",
 "hashbrown 0.14.5",
]

[[package]]
name = "governor"
version = "0.10.4"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "dashmap",
 "spinning_top",
]

[[package]]
name = "hashbrown"
version = "0.14.5"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "hashbrown"
version = "0.15.5"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "outside-crate"
version = "0.1.0"
dependencies = [
 "governor",
 "soak-harness",
]

[[package]]
name = "soak-harness"
version = "0.1.0"
dependencies = ["gimli"]
"#;

    #[test]
    fn reads_sources_versions_and_edges() {
        let l = Lock::parse(LOCK);
        let gov = l.get("governor").expect("governor");
        assert!(gov.downloaded);
        assert_eq!(gov.versions, ["0.10.4"]);
        assert!(l.depends("governor", "dashmap"));
        assert!(!l.depends("dashmap", "governor"));
        assert!(l.depends("dashmap", "hashbrown"));
        let own = l.get("outside_crate").expect("underscored");
        assert!(!own.downloaded);
        assert_eq!(own.name, "outside-crate");
        assert!(l.depends("outside_crate", "soak_harness"));
        assert!(l.depends("soak_harness", "gimli"));
        assert!(l.direct("governor") && l.direct("gimli"));
        assert!(!l.direct("dashmap"), "governor's, not ours");
        assert!(!l.get("soak_harness").expect("harness").downloaded);
        assert_eq!(
            l.get("hashbrown").expect("both").versions,
            ["0.14.5", "0.15.5"]
        );
        assert_eq!(l.get("tokio"), None);
    }

    #[test]
    fn finds_the_lock_of_this_tree() {
        let (path, lock) = Lock::find().expect("tests run inside the workspace");
        assert!(path.ends_with("Cargo.lock"), "{path:?}");
        assert!(lock.get("soak_harness").is_some_and(|p| !p.downloaded));
        assert!(lock.get("gimli").is_some_and(|p| p.downloaded));
    }
}
