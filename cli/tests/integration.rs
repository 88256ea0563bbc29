//! Integration tests of the `sealant` crate, one test binary (one link, not one per file).
//! Each module is one area; run one with `cargo test -p sealant --test integration MODULE::`.
#![allow(clippy::unwrap_used)] // test helpers may panic

mod common;
#[path = "common/cluster.rs"]
mod support;

mod audit;
mod cli;
mod cluster;
mod encryption_config;
mod errors;
mod exit_codes;
mod keys_cert;
mod kubeseal_cluster;
mod migrate;
mod oracle;
mod seal;
mod templates;
mod unseal;
mod web;
mod workflows;
