//! rapsheet's integration tests: one binary, so Pingora is linked once. Each test starts the
//! real proxy and the real demo upstream in-process on free loopback ports, drives time
//! through a manual clock, and speaks HTTP to them.

mod harness;

mod actions;
mod admin;
mod benign;
mod core;
mod persist;
mod reload;
mod tls;
mod user_agents;
