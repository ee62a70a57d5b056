//! The fault suite: races and bad inputs against the real binary (and, from
//! the recovery work, kill points). Each section prints how many cases it
//! tried and how many passed.

#[path = "../common/mod.rs"]
mod common;

mod inputs;
mod races;
mod reconfig;
mod starve;
