//! `soak-server`: the components' WebSocket server and cooldown limiters on real
//! TCP, the target of live mode's own soak runs (see `soak_live::server`).
fn main() -> std::process::ExitCode {
    soak_live::server_cli::main()
}
