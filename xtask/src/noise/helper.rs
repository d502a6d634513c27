//! The foreign-noise helper itself (`xtask __foreign-noise`), a daemon outside xtask's process
//! tree. It reads one byte at a time from its stdin (a pipe from xtask): `g` makes the noise;
//! end-of-file — xtask closed the pipe or died — removes it, and the helper exits. It reports on
//! stdout, one line each: `ready <pid>`, `made <dir> <loop device> <pid> <start time>` or
//! `error <why>`, and `removed` or `cleanup-error <why>`.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use furnace_sys::process::ProcStat;

use super::Made;
use crate::util::{self, sys, Context, Result};

/// The helper's main: says `ready <pid>`, makes the noise on `g`, removes it at end-of-file.
pub fn daemon_main() -> ExitCode {
    let _ = std::env::set_current_dir("/");
    let pid = std::process::id();
    say(&format!("ready {pid}"));
    let mut noise = Noise::default();
    let mut input = io::stdin().lock();
    let mut byte = [0u8];
    while let Ok(1) = input.read(&mut byte) {
        if byte[0] == b'g' && noise.dir.is_none() {
            match noise.make(pid) {
                Ok(m) => say(&format!(
                    "made {} {} {} {}",
                    m.dir.display(),
                    m.device,
                    m.pid,
                    m.start_time
                )),
                Err(e) => say(&format!("error {e}")),
            }
        }
    }
    match noise.remove() {
        Ok(()) => say("removed"),
        Err(e) => say(&format!("cleanup-error {e}")),
    }
    ExitCode::SUCCESS
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// What the helper has made so far.
#[derive(Debug, Default)]
struct Noise {
    dir: Option<PathBuf>,
    mounted: bool,
    device: Option<String>,
    process: Option<(u32, u64)>,
}

impl Noise {
    fn make(&mut self, pid: u32) -> Result<Made> {
        let dir = PathBuf::from(format!("/run/furnace-foreign-{pid}"));
        fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        self.dir = Some(dir.clone());
        let target = util::cstring(&dir)?;
        sys::mount(
            c"foreign-noise",
            &target,
            c"tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(c"size=4m,mode=0755"),
        )
        .with_context(|| format!("mount tmpfs on {}", dir.display()))?;
        self.mounted = true;

        let image = dir.join("disk.img");
        fs::File::create(&image)
            .and_then(|f| f.set_len(1 << 20))
            .with_context(|| format!("creating {}", image.display()))?;
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&image)
            .stdin(Stdio::null())
            .output()
            .context("losetup --find --show")?;
        let device = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() || !device.starts_with("/dev/") {
            return Err(format!(
                "losetup: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        self.device = Some(device.clone());

        // A double fork, as daemons and container runtimes do: `sh` exits, and `sleep` is
        // re-parented to PID 1 (or to a sub-reaper above this helper, never to xtask).
        let out = Command::new("sh")
            .args(["-c", "sleep 600 </dev/null >/dev/null 2>&1 & echo $!"])
            .stdin(Stdio::null())
            .output()
            .context("sh -c 'sleep 600 &'")?;
        let sleeper: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| "sh did not print the pid of `sleep`".to_string())?;
        let info = ProcStat::read(sleeper).ok_or("`sleep` is gone at once")?;
        self.process = Some((sleeper, info.start_time));
        Ok(Made {
            dir,
            device,
            pid: sleeper,
            start_time: info.start_time,
        })
    }

    /// Kills the process, detaches the loop device, unmounts and removes the directory.
    fn remove(&mut self) -> Result<()> {
        let mut problems = Vec::new();
        if let Some((pid, start)) = self.process.take() {
            if ProcStat::read(pid).is_some_and(|p| p.start_time == start) {
                let _ = sys::kill(pid, libc::SIGKILL);
                // Its parent (PID 1 or a sub-reaper) reaps it.
                for _ in 0..100 {
                    if !ProcStat::read(pid).is_some_and(|p| p.start_time == start && !p.is_zombie())
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        if let Some(device) = self.device.take() {
            let detached = Command::new("losetup")
                .args(["--detach", &device])
                .stdin(Stdio::null())
                .status();
            if !detached.is_ok_and(|s| s.success()) {
                problems.push(format!("losetup --detach {device} failed"));
            }
        }
        if let Some(dir) = self.dir.take() {
            if self.mounted {
                if let Err(e) = unmount(&dir) {
                    problems.push(e);
                }
            }
            if let Err(e) = fs::remove_dir(&dir) {
                problems.push(format!("rmdir {}: {e}", dir.display()));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Unmounts, retrying while the loop device lets go of its file, then lazily.
fn unmount(dir: &Path) -> Result<()> {
    let target = util::cstring(dir)?;
    for _ in 0..50 {
        match sys::umount2(&target, 0) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(e) => return Err(format!("umount {}: {e}", dir.display())),
        }
    }
    sys::umount2(&target, libc::MNT_DETACH).with_context(|| format!("umount -l {}", dir.display()))
}
