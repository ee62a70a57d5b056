//! The server's tests: the real engine behind real HTTP on 127.0.0.1, over
//! an in-memory store. `support` holds the store, the fixture pipeline and
//! the ways to start a server over it.

mod api;
mod driver;
mod evidence;
mod insights;
mod ops;
mod retention;
mod stream;
pub(crate) mod support;
mod watch;
