//! The release console: a live terminal dashboard.
