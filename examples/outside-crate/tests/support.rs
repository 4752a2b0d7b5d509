//! What the tests check of a failing run's "where", with or without line tables.

use soak_harness::attribution::{OwnerGrowth, SiteGrowth};
use soak_harness::frames::{Frame, Kind};
use soak_harness::{Outcome, Verdict};

/// Whether this binary was built with line tables, told without soak's own
/// symboliser: the backtrace crate finds a source file for this function.
pub fn line_tables() -> bool {
    let mut found = false;
    // An address inside this function (its first byte may be read as the end of
    // the one before when looked up as a return address).
    let inside = line_tables as fn() -> bool as usize + 1;
    backtrace::resolve(inside as *mut std::ffi::c_void, |s| {
        found |= s.filename().is_some();
    });
    found
}

/// The run failed on its heap, and its message ends with where the top owner is;
/// that owner and its fastest growing site.
pub fn failing_owner(o: &Outcome) -> (&OwnerGrowth, &SiteGrowth, &Frame) {
    let s = &o.summary;
    assert_eq!(s.verdict, Verdict::Fail, "{}", s.message);
    assert_eq!(s.failed_resources, ["heap"], "{}", s.message);
    let owner = s.growth_owners.first().expect("the sites group by owner");
    let id = owner.sites.first().expect("an owner has sites");
    let site = s
        .growth_sites
        .iter()
        .find(|g| &g.id == id)
        .expect("the owner's site is saved");
    let frame = site.owner.as_ref().expect("the site has an owner");
    assert!(
        s.message.contains(&format!("at {}", owner.place)),
        "the message names the owner: {}",
        s.message
    );
    // Never the harness, never the standard library: the code of substance.
    assert!(
        matches!(frame.kind, Kind::Own | Kind::Dependency),
        "{frame:?}"
    );
    for prefix in ["soak_harness", "std::", "core::", "alloc::", "hashbrown::", "<"] {
        assert!(
            !frame.function.starts_with(prefix) || frame.function.starts_with("<outside_crate"),
            "{frame:?}\n{}",
            s.message
        );
    }
    (owner, site, frame)
}

/// Whether `frame` is this crate's function `path` (`limiter::Cooldowns::check`):
/// by its full symbol without line tables, by its short name and file with them.
pub fn is_ours(frame: &Frame, path: &str, file: &str) -> bool {
    let short: Vec<&str> = path.rsplit("::").take(2).collect();
    let name = frame.function.as_str();
    frame.kind == Kind::Own
        && (name.contains(&format!("outside_crate::{path}"))
            || (frame.file.as_deref().is_some_and(|f| f.ends_with(file))
                && name.contains(short[0])))
}
