//! Scenario tests, one binary (ripgrep style): each module runs one scenario
//! through the harness in virtual time. Run with `cargo nextest --release` so
//! every test has the process (and its heap counter) to itself.

mod timer_lifecycle;
