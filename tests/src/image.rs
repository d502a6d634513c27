//! The test image: a read-only busybox root the runner (`cargo xtask itest`) loop-mounts and
//! names in `FURNACE_TEST_IMAGE`.

use std::path::PathBuf;

/// The environment variable through which the runner passes the image's mount point.
pub const IMAGE_ENV: &str = "FURNACE_TEST_IMAGE";

/// The test image (read-only mount point), from `FURNACE_TEST_IMAGE`.
///
/// # Panics
/// When the variable is unset or does not name a root directory with `/bin/sh`: these tests
/// are never skipped; they run through `cargo xtask itest`.
pub fn image() -> PathBuf {
    let Some(dir) = std::env::var_os(IMAGE_ENV) else {
        panic!(
            "{IMAGE_ENV} is not set: the integration tests need the test image mounted \
             read-only; run them through `cargo xtask itest` (as root)"
        );
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("bin/sh").exists(),
        "{IMAGE_ENV}={} does not look like the test image (no bin/sh): run through `cargo xtask itest`",
        dir.display()
    );
    dir
}
