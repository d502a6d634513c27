//! Builds `probe` (tests/probe/probe.c), the static helper the security and load tests copy
//! into their containers, with `gcc -static -O2` into `OUT_DIR`. A missing compiler or static
//! C library is a build error: those tests never run without it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = PathBuf::from("probe/probe.c");
    println!("cargo:rerun-if-changed={}", source.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("probe");
    let cc = std::env::var("FURNACE_PROBE_CC").unwrap_or_else(|_| "gcc".into());
    println!("cargo:rerun-if-env-changed=FURNACE_PROBE_CC");
    let status = Command::new(&cc)
        .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&source)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run {cc} to build the test probe (install gcc and libc6-dev): {e}")
        });
    assert!(
        status.success(),
        "{cc} -static -O2 {} failed ({status}): the security and load tests need a static \
         C toolchain (gcc, libc6-dev)",
        source.display()
    );
}
