//! The config tests: loading, defaults, templates and error rendering
//! (`load`), one test per validation rule (`rules`), and the helpers they
//! share (`support`).

mod load;
mod rules;
mod support;
