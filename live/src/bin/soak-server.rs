//! `soak-server`: the components' WebSocket server and cooldown limiters on real
//! TCP, the target of live mode's own soak runs (see `soak_live::server`).
// /metrics reports the live heap: the counting allocator measures it.
#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

fn main() -> std::process::ExitCode {
    soak_live::server_cli::main()
}
