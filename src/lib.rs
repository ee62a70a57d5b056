//! ferry: carries every build of a service through its environments, gates
//! each step on tests and approvals, and rolls back by itself when a deploy
//! goes wrong. See DESIGN.md for the architecture and the domain words.

pub mod api;
pub mod backend;
pub mod build_info;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod engine;
pub mod errors;
pub mod fault;
pub mod insights;
pub mod logging;
pub mod model;
pub mod present;
pub mod runner;
pub mod server;
pub mod store;

/// Now, in epoch milliseconds: the one clock the edges read and hand to the engine.
pub fn now_millis() -> model::Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
