//! `ferry demo`: a throw-away workspace with real git repositories and a
//! committing developer, an embedded server and the console on it.
