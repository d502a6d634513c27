//! Files and directories: temporary directories, staging areas removed on drop, and the
//! machine-wide lock that serialises xtask runs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{check_interrupted, sys, Context, Result};

/// Creates a fresh directory `<prefix>XXXXXX` (mode 0700) with mkdtemp.
pub fn make_temp_dir(prefix: &Path) -> Result<PathBuf> {
    sys::mkdtemp(prefix).map_err(|e| {
        format!(
            "cannot create a temporary directory {}XXXXXX: {e}",
            prefix.display()
        )
    })
}

/// Removes a directory tree when dropped (for build staging areas, never for mount points).
#[derive(Debug)]
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            if e.kind() != io::ErrorKind::NotFound {
                eprintln!("xtask: warning: cannot remove {}: {e}", self.0.display());
            }
        }
    }
}

/// One xtask at a time per machine may build the image, mount it or run the suites: two runs
/// would fight over the image, and each one's leak audit would take the other's mounts, loop
/// devices and directories under `/tmp/furnace-*` for its own. Held until dropped (the descriptor is close-on-exec, so children
/// never hold it).
#[derive(Debug)]
pub struct MachineLock(#[allow(dead_code)] File);

/// Takes the machine lock (`/run/furnace-xtask.lock`), waiting for the run that holds it.
pub fn lock_machine() -> Result<MachineLock> {
    let dir = if Path::new("/run").is_dir() {
        Path::new("/run")
    } else {
        Path::new("/tmp")
    };
    let path = dir.join("furnace-xtask.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    let mut announced = false;
    loop {
        match sys::try_lock_exclusive(&file) {
            Ok(()) => break,
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {}
            Err(e) => return Err(format!("cannot lock {}: {e}", path.display())),
        }
        if !announced {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            eprintln!(
                "xtask: waiting for another xtask run (pid {}) to finish (lock {})",
                holder.trim(),
                path.display()
            );
            announced = true;
        }
        check_interrupted()?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    Ok(MachineLock(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dir_is_created_and_unique() {
        let base = std::env::temp_dir().join("xtask-unit-test.");
        let a = make_temp_dir(&base).unwrap();
        let b = make_temp_dir(&base).unwrap();
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        fs::remove_dir(a).unwrap();
        fs::remove_dir(b).unwrap();
    }
}
