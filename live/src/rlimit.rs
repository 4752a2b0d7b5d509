//! The open-descriptor limit: a soak of thousands of real connections needs more
//! than the common soft limit of 1,024, on both ends. Raised to the hard limit
//! where allowed; children inherit it.

/// The descriptor limit after trying to raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NoFile {
    /// Soft limit before.
    pub before: u64,
    /// Soft limit now.
    pub soft: u64,
    /// Hard limit (the ceiling an unprivileged process may raise to).
    pub hard: u64,
}

/// A soft limit no plan's connections come near: said only when it is lower.
pub const ENOUGH: u64 = 4096;

impl NoFile {
    /// One line for the console when there is something to say: it was raised,
    /// or it stays low.
    pub fn describe(&self) -> Option<String> {
        if self.soft > self.before {
            Some(format!(
                "raised the open-descriptor limit from {} to {} (the hard limit)",
                self.before, self.soft
            ))
        } else if self.soft >= ENOUGH {
            None
        } else if self.soft >= self.hard {
            Some(format!(
                "open-descriptor limit {} is already the hard limit; cannot raise it further",
                self.soft
            ))
        } else {
            Some(format!(
                "open-descriptor limit stays at {} (hard limit {})",
                self.soft, self.hard
            ))
        }
    }
}

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit.
pub fn raise_nofile() -> Result<NoFile, String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass; no other preconditions.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!(
            "cannot read the open-descriptor limit: {}",
            std::io::Error::last_os_error()
        ));
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass; raising the soft limit up
        // to the hard limit is always permitted.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
            return Err(format!(
                "cannot raise the open-descriptor limit from {before} to {}: {}",
                lim.rlim_max,
                std::io::Error::last_os_error()
            ));
        }
        lim.rlim_cur = lim.rlim_max;
    }
    Ok(NoFile {
        before,
        soft: lim.rlim_cur,
        hard: lim.rlim_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_told_only_when_raised_or_low() {
        let at = |before, soft, hard| NoFile { before, soft, hard }.describe();
        assert_eq!(at(20_000, 20_000, 20_000), None);
        assert_eq!(
            at(1024, 20_000, 20_000).as_deref(),
            Some("raised the open-descriptor limit from 1024 to 20000 (the hard limit)")
        );
        assert_eq!(
            at(1024, 1024, 1024).as_deref(),
            Some("open-descriptor limit 1024 is already the hard limit; cannot raise it further")
        );
        assert_eq!(
            at(1024, 1024, 4096).as_deref(),
            Some("open-descriptor limit stays at 1024 (hard limit 4096)")
        );
    }
}
