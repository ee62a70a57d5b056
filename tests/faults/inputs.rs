//! Bad inputs across config, API and CLI.
