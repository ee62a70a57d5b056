//! Test doubles for the server's own tests: an in-memory store and a small
//! scripted decider standing in for the engine.
