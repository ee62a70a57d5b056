//! The fault suite: the real `ferry server` binary, crashed on purpose,
//! raced and fed bad input.
//!
//! - `kills`: SIGKILL-like aborts at named points (`FERRY_FAULT`), a
//!   restart, and one oracle over what the restarted server says.
//! - `races`: concurrent requests that must not break the rules.
//! - `inputs`: bad config, API and CLI input, each refused precisely.
//! - `starve`, `reconfig`: idle connections; a config changed across a restart.
//!
//! Each section prints `faults/<section>: tried N, passed M` at its end.

#[path = "../common/mod.rs"]
mod common;

mod inputs;
mod kills;
mod races;
mod reconfig;
mod starve;
