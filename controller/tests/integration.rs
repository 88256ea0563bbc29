//! Integration tests of the `sealant-controller` crate, one test binary (one link, not one per file).
//! Each module is one area; run one with `cargo test -p sealant-controller --test integration MODULE::`.
#![allow(clippy::unwrap_used)] // test helpers may panic

mod common;

mod binary;
mod http_api;
mod http_limits;
mod keys;
mod leader;
mod metrics;
mod options;
mod reconcile;
mod relist;
mod resilience;
mod secret_watch;
mod soak;
mod templates;
mod upstream_crd;
mod upstream_flags;
mod web_page;
