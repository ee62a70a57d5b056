//! The config tests: loading, defaults, templates and error rendering
//! (`load`), one test per validation rule (`rules`), people's names (`names`), and the helpers they
//! share (`support`).

mod credentials;
mod freezes;
mod load;
mod names;
mod rules;
mod safety;
mod signoff;
mod support;
