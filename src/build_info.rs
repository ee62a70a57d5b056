//! What build this is, stamped by build.rs.

/// The git commit the binary was built from ("unknown" outside a checkout).
pub const COMMIT: &str = env!("FERRY_GIT_COMMIT");
/// The UTC build date, YYYY-MM-DD.
pub const DATE: &str = env!("FERRY_BUILD_DATE");
/// `0.1.0 (abc123 2026-12-01)`, for `ferry --version`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("FERRY_GIT_COMMIT"),
    " ",
    env!("FERRY_BUILD_DATE"),
    ")"
);
