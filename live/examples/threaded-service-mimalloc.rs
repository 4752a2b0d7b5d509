//! `threaded-service` with mimalloc compiled in as its `#[global_allocator]`: its
//! blocks never reach `malloc`, so a preloaded heap sampler sees next to nothing
//! (what `soak live --heap` must notice and say).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "threaded-service/service.rs"]
mod service;

fn main() -> std::process::ExitCode {
    service::main()
}
