//! The fault suite: the real `ferry server` binary, crashed on purpose.
//!
//! - `kills`: SIGKILL-like aborts at named points (`FERRY_FAULT`), a
//!   restart, and one oracle over what the restarted server says.
//!
//! Each section prints `faults/<section>: tried N, passed M` at its end.

#[path = "../common/mod.rs"]
mod common;

mod kills;
