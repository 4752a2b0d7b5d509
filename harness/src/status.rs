//! Exit statuses, the same for every command and both modes (ripgrep's 0/1/2,
//! plus 3 for a run that cannot tell, and 128 + n for a run a signal stopped).
//! [`crate::summary::exit_status`] decides a finished run's.

/// Every budgeted resource stayed within budget.
pub const EXIT_PASS: u8 = 0;
/// A resource grew past its budget (or regressed, or a live target died).
pub const EXIT_FAIL: u8 = 1;
/// Usage, input or harness error (and a live run whose load failed).
pub const EXIT_ERROR: u8 = 2;
/// No resource failed, but the run could not tell for at least one (the message
/// says why and what to run instead).
pub const EXIT_INCONCLUSIVE: u8 = 3;

/// Exit status of a command a signal cut short: 128 + the signal's number (130
/// for SIGINT, 143 for SIGTERM), the shell's convention.
pub fn signalled(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}
