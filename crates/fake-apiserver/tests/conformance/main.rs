//! Conformance suite: the fake API server's semantics, exercised through the real `kube`
//! client, `kube::runtime::watcher`, raw HTTP and `kubectl`.

mod common;

mod crd;
mod crud;
mod hooks;
mod kubectl;
mod lifecycle;
mod patch;
mod secrets;
mod watch;
