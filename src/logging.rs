//! Logs go to a file (tracing-appender), never to a screen the console draws on.
