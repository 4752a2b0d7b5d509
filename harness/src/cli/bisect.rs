//! `--bisect`: a run's exit status as `git bisect run` reads it — 0 good, 1 bad,
//! 125 skip this commit — so `git bisect run soak run … --bisect` finds the
//! commit that brought a leak in.
//!
//! A pass is good and a failure (or a regression against `--baseline`) bad. An
//! inconclusive run cannot say, and a usage or build problem (exit 2: the
//! commit's scenario does not know an option, a report cannot be written) is
//! not the leak: both skip. A stop by SIGINT/SIGTERM keeps its 130/143, which
//! `git bisect run` takes as "abort the bisection".

use std::ffi::OsString;

use super::{EXIT_ERROR, EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS};

/// `git bisect run`'s "this commit cannot be tested".
pub const EXIT_SKIP: u8 = 125;

/// The status `--bisect` exits with for a run that would exit `code`.
pub fn status(code: u8) -> u8 {
    match code {
        EXIT_PASS | EXIT_FAIL => code,
        EXIT_ERROR | EXIT_INCONCLUSIVE => EXIT_SKIP,
        other => other,
    }
}

/// Whether `args` (program name first) ask for `--bisect`: read before parsing,
/// so a command line that does not parse still skips instead of counting as bad.
pub fn requested(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--bisect")
}

/// `code`, or [`status`] of it when `args` ask for `--bisect`.
pub fn status_if_requested(args: &[OsString], code: u8) -> u8 {
    if requested(args) {
        status(code)
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_map_to_git_bisect_run() {
        assert_eq!(status(EXIT_PASS), 0);
        assert_eq!(status(EXIT_FAIL), 1);
        assert_eq!(status(EXIT_INCONCLUSIVE), EXIT_SKIP);
        assert_eq!(status(EXIT_ERROR), EXIT_SKIP);
        assert_eq!(status(130), 130);
        assert_eq!(status(143), 143);
    }

    #[test]
    fn flag_is_found_before_a_double_dash_only() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(requested(&a(&["soak", "run", "x", "--bisect"])));
        assert!(!requested(&a(&["soak", "run", "x"])));
        assert!(!requested(&a(&["--bisect", "run"])));
        assert!(!requested(&a(&["soak", "--", "--bisect"])));
    }
}
