//! rapsheet: an edge reverse proxy that keeps a record of every client, scores each request
//! from behavioural signals, and tarpits or blocks on the request that crosses a threshold.
//!
//! The [`engine`] decides and does no IO; the [`proxy`] (Pingora), the log replay and the
//! tests drive it. The [`policy`] is read from YAML and list files and swapped whole on
//! reload.

pub mod admin;
pub mod clock;
pub mod config;
pub mod decision_log;
pub mod demo;
pub mod detect;
pub mod engine;
pub mod export;
pub mod logging;
pub mod metrics;
pub mod persist;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod replay;
pub mod report;
pub mod server;
pub mod shared;
pub mod store;
pub mod tls;
pub mod yaml;
