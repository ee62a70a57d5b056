//! Wire types of the HTTP API, shared by the server and its clients.
