//! A crate outside the soak workspace that soaks a component it does not own:
//! governor's keyed rate limiter, used as a per-user command cooldown.
//!
//! - [`clock`]: governor's `Clock` over tokio's, so the limiter runs in virtual time.
//! - [`limiter`]: the component as a user writes it, with governor's documented
//!   housekeeping ([`limiter::Cooldowns::new`]) and without it (the leak).
//! - [`governor_keys`]: the soak scenario, a day of commands from a churning crowd.
//! - [`listeners`], [`sessions`], [`audit`]: three more leaks in three shapes (a
//!   `Vec` growing inside a dependency, a `HashMap` keyed by request in our code,
//!   a `String` cloned into a long-lived list), soaked by `tests/shapes.rs` to
//!   check that soak names the code that owns each growth.
//!
//! `tests/governor_keys.rs` runs both variants as `#[test]`s; `src/main.rs` is the
//! same scenario behind soak's command line (`cargo run --release -- run
//! governor-keys --variant leaky`).

pub mod audit;
pub mod clock;
pub mod governor_keys;
pub mod limiter;
pub mod listeners;
pub mod sessions;
