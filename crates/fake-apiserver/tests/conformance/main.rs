//! Conformance suite: the fake API server's semantics, exercised through the real `kube`
//! client, `kube::runtime::watcher`, raw HTTP and `kubectl`.

// Test helpers outside #[test] fns are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used)]

mod cli;
mod common;

mod crd;
mod crud;
mod events;
mod flux;
mod hooks;
mod kubectl;
mod lifecycle;
mod openapi;
mod patch;
mod protobuf;
mod rbac;
mod secrets;
mod structural;
mod watch;
