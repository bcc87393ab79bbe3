//! Nothing here: the usage examples are in `examples/` (`tokio.rs`, `smol.rs`),
//! run as `cargo run -p channel-registry-usage --example tokio` (or `smol`).
