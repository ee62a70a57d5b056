//! Race scenarios against the real binary.
