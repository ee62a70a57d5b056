//! The console's tests. `support` holds their fixture (a config parsed from
//! TOML and a story told as events); `update` and `actions` drive the pure
//! half with keys and replies; `snapshots` renders frames for insta (the
//! `.snap` files under `tests/snapshots/`).

mod actions;
mod snapshots;
mod support;
mod update;
