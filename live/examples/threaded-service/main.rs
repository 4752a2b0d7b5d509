//! A threaded HTTP service on the standard library only, for `soak live --heap`:
//! a thread per connection, allocating per request, its cooldowns in an `lru`
//! cache (see `service.rs`). Serves the `cooldowns` plan's requests.
//!
//! ```text
//! cargo build --release -p soak-live --example threaded-service
//! soak live --cmd "target/release/examples/threaded-service --variant leaky" --plan cooldowns --heap
//! ```

mod service;

fn main() -> std::process::ExitCode {
    service::main()
}
