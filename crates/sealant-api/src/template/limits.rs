//! The limits of template rendering. Each is checked before any value is read, from the
//! template text and the value lengths only (see `check`), so hitting one never depends on a
//! secret.

/// Longest template source, per `spec.template.data` item.
pub const MAX_SOURCE: usize = 64 * 1024;
/// Deepest nesting of control structures, parenthesised pipelines and `template` calls.
/// Parsing, checking and rendering recurse at most this deep (a few KiB of stack per level).
pub const MAX_DEPTH: usize = 32;
/// Most tokens and nodes in one template.
pub const MAX_NODES: usize = 20_000;
/// Deepest nesting of lists and maps a template may build.
pub const MAX_VALUE_DEPTH: usize = 100;
/// Deepest JSON `fromJson` decodes (deeper input decodes to nil, as invalid JSON does).
pub const MAX_JSON_DEPTH: usize = 64;
/// Most work, in bytes processed and allocated (each collection item counts 16), for all
/// templates of one SealedSecret: about 16 MiB of memory traffic, tens of milliseconds.
pub const MAX_WORK: u64 = 1 << 24;
/// Most bytes of Secret data (keys and values, rendered or not): the API server's Secret limit.
pub const MAX_SECRET_BYTES: u64 = 1 << 20;
/// Most steps the static analysis itself may take, per SealedSecret.
pub const MAX_ANALYSIS_STEPS: u64 = 2_000_000;
/// Most `htpasswd` (bcrypt, cost 10) calls a SealedSecret may make.
pub const MAX_BCRYPT_CALLS: u64 = 8;
