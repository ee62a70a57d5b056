//! The console's tests. `support` holds their fixture (a config parsed from
//! TOML, the story told as events, the app after it), `story` the builder of
//! such stories; `update` and `actions` drive the pure
//! half with keys and replies; `snapshots` renders frames for insta (the
//! `.snap` files under `tests/snapshots/`).

mod actions;
mod command;
mod freeze;
mod incident;
mod insights;
mod plan;
mod signoff;
mod snapshots;
mod story;
mod support;
mod travel;
mod update;
