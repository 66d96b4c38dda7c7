//! Build script every function shares: how its binary is linked, for size and cold start
//! (`make bench` prints both; README "Performance").
//!
//! Position-dependent on Linux (`-no-pie`). A position-independent executable carries a
//! dynamic relocation for every pointer in its read-only data (about 1.1 MB of `.rela.dyn` in
//! each function, measured with `size -A`), which the loader also applies at every cold start.
//! Lambda runs each function in its own sandbox, so giving up the address randomisation of the
//! executable itself (its shared libraries keep theirs) buys a smaller, faster-starting binary.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=../link.rs");
}
