//! `soak-live`: live mode on its own, the same as `soak live` (for installing live
//! mode without the scenarios, and for this crate's tests).
fn main() -> std::process::ExitCode {
    let rest = std::env::args_os().skip(1);
    soak_live::cli::main_from(std::iter::once(std::ffi::OsString::from("soak live")).chain(rest))
}
