//! Negative controls (`loom-tests/README.md`): `CHANNEL_REGISTRY_BROKEN=NAME`
//! compiles this crate with `--cfg channel_registry_broken="NAME"`, one
//! deliberately broken variant of its protocol, for the scripts that require
//! every checker to catch each variant. Passing the cfg in `RUSTFLAGS`
//! instead would rebuild every dependency for every variant; this way only
//! this crate is rebuilt. Unset (the normal case), it does nothing.

fn main() {
    println!("cargo::rerun-if-env-changed=CHANNEL_REGISTRY_BROKEN");
    if let Ok(name) = std::env::var("CHANNEL_REGISTRY_BROKEN") {
        if !name.is_empty() {
            println!("cargo::rustc-cfg=channel_registry_broken=\"{name}\"");
        }
    }
}
