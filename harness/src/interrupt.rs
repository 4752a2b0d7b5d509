//! SIGINT and SIGTERM as a request to stop: the first one is recorded in an atomic
//! that the run loop polls at every sample, so the replay stops, the samples so far
//! are judged and a report marked `"complete": false` is written; a second one
//! ends the process at once with the default action.
//!
//! The command line installs the handler ([`install`]); a library user who does not
//! keeps the default behaviour (the signal ends the process), and [`requested`]
//! stays `None`.

use std::sync::atomic::{AtomicI32, Ordering};

/// The first signal received, 0 while none was.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Exit status of a command a signal cut short: 128 + the signal's number (130 for
/// SIGINT, 143 for SIGTERM), the shell's convention.
pub fn exit_status(signal: i32) -> u8 {
    crate::status::signalled(signal)
}

/// The signal that asked the run to stop, if one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        s => Some(s),
    }
}

/// `SIGINT` or `SIGTERM` (or another signal's name) for a message.
pub fn name(signal: i32) -> &'static str {
    signal_name(signal).unwrap_or("a signal")
}

/// The name of the signals a soak process is stopped or killed by, `None` for
/// others.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGHUP => "SIGHUP",
        _ => return None,
    })
}

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe work here: an atomic swap, and on a second signal
    // sigaction and raise (both on POSIX's async-signal-safe list).
    if SIGNAL.swap(signal, Ordering::Relaxed) != 0 {
        // SAFETY: a zeroed sigaction with SIG_DFL is a valid "default action".
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &dfl, std::ptr::null_mut());
            libc::raise(signal);
        }
    }
}

/// Installs the handler for SIGINT and SIGTERM. Idempotent. Returns false where
/// the handler cannot be installed (the signals then keep their default action).
pub fn install() -> bool {
    let mut ok = true;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` is an `extern "C" fn(c_int)` that only touches an
        // atomic (and, on a second signal, restores the default and re-raises);
        // SA_RESTART keeps interrupted reads and writes from failing with EINTR.
        let rc = unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(signal, &act, std::ptr::null_mut())
        };
        ok &= rc == 0;
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_shell() {
        assert_eq!(exit_status(libc::SIGINT), 130);
        assert_eq!(exit_status(libc::SIGTERM), 143);
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
    }
}
