//! Integration tests of live mode: one binary that `mod`s the rest. They start
//! real processes and send real traffic to 127.0.0.1 only, each run bounded by
//! its --duration (10 s or less) and stopping by itself.

mod ctx_switches;
mod heap_probe;
mod js_heap;
mod lifecycle;
mod native_heap;
mod node;
mod node_inspector;
mod preload_reader;
mod refusals;
mod soak_server;
mod support;
