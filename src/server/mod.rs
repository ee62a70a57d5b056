//! The promotion server: the engine driver, the HTTP API, auth and SSE.
