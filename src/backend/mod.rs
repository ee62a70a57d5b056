//! The console's (and the CLI's) client of the server API: reqwest + SSE.
