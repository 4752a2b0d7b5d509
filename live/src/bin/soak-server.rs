//! `soak-server`: the components' WebSocket server and cooldown limiters on real
//! TCP, the target of live mode's own soak runs (see `soak_live::server`).
// /metrics reports the live heap: the counting allocator measures it (and, with
// SOAK_SERVER_USABLE_HEAP=1, the system allocator's usable size of the same blocks).
#[global_allocator]
static ALLOC: soak_harness::Counting<soak_live::server::usable::UsableSystem> =
    soak_harness::Counting::new(soak_live::server::usable::UsableSystem);

fn main() -> std::process::ExitCode {
    soak_live::server_cli::main()
}
