//! The host's packages: what the test image, the suites and the demo need from the machine, and
//! installing it with apt-get when it is missing, so that a fresh Debian or Ubuntu machine works.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{check_interrupted, is_root, run, which, Result};

/// Finds `name`, installing the Debian package `package` with apt-get when it is missing.
pub fn ensure_tool(name: &str, package: &str) -> Result<PathBuf> {
    if let Some(path) = which(name) {
        return Ok(path);
    }
    eprintln!("xtask: `{name}` is missing; installing the package `{package}` with apt-get");
    apt_install(&[package])?;
    which(name).ok_or_else(|| format!("`{name}` is still missing after installing `{package}`"))
}

/// `apt-get install -y --no-install-recommends PACKAGES...`, running `apt-get update` first if
/// the plain install fails (a fresh machine has no package lists).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    if !is_root() || which("apt-get").is_none() {
        return Err(format!(
            "missing packages; install them (e.g. `apt-get install -y {}`)",
            packages.join(" ")
        ));
    }
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(std::process::Stdio::null());
        run(&mut cmd)
    };
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend_from_slice(packages);
    if apt(&install).is_err() {
        check_interrupted()?;
        apt(&["update"])?;
        apt(&install)?;
    }
    Ok(())
}

/// A Debian package the runs need and how to tell that it is there.
struct Requirement {
    package: &'static str,
    /// What it provides, for messages.
    provides: &'static str,
    present: fn() -> bool,
}

/// Everything `test`, `itest`, `demo` and `ci` need on the host (the same list `.ci/run`
/// installs before xtask is even built).
const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        package: "busybox-static",
        provides: "a statically linked busybox (the image, furnace-cli's tests)",
        present: || static_busybox().is_some(),
    },
    Requirement {
        package: "e2fsprogs",
        provides: "mkfs.ext4, mke2fs",
        present: || all_found(&["mkfs.ext4", "mke2fs"]),
    },
    Requirement {
        package: "util-linux",
        provides: "unshare, nsenter, setsid",
        present: || all_found(&["unshare", "nsenter", "setsid"]),
    },
    Requirement {
        package: "mount",
        provides: "losetup, mount, umount",
        present: || all_found(&["losetup", "mount", "umount"]),
    },
    Requirement {
        package: "iproute2",
        provides: "ip",
        present: || all_found(&["ip"]),
    },
    Requirement {
        package: "procps",
        provides: "ps",
        present: || all_found(&["ps"]),
    },
    Requirement {
        package: "strace",
        provides: "strace (fault injection in tests/it/failure.rs)",
        present: || all_found(&["strace"]),
    },
    Requirement {
        package: "uidmap",
        provides: "newuidmap, newgidmap (the rootless tests' subordinate id maps)",
        present: || all_found(&["newuidmap", "newgidmap"]),
    },
    Requirement {
        package: "gcc",
        provides: "gcc (tests/build.rs compiles the static /probe)",
        present: || all_found(&["gcc"]),
    },
    Requirement {
        package: "libc6-dev",
        provides: "a static libc (libc.a) for `gcc -static`",
        present: has_static_libc,
    },
    Requirement {
        package: "podman",
        provides: "podman and conmon (tests/it/podman.rs drives furnace-oci through them)",
        present: || all_found(&["podman", "conmon"]),
    },
    Requirement {
        package: "runc",
        provides: "runc (podman's runtime where furnace-oci is compared with it)",
        present: || all_found(&["runc"]),
    },
    Requirement {
        package: "containerd",
        provides: "containerd, ctr and the runc shim (tests/it/containerd.rs drives furnace-oci \
                   through them)",
        present: || all_found(&["containerd", "ctr", "containerd-shim-runc-v2"]),
    },
];

fn all_found(names: &[&str]) -> bool {
    names.iter().all(|n| which(n).is_some())
}

/// A busybox that is statically linked (one with an ELF interpreter cannot run alone in a
/// test root), where Debian's `busybox-static` puts it.
pub fn static_busybox() -> Option<PathBuf> {
    ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| fs::read(p).is_ok_and(|elf| is_static_elf(&elf)))
        .map(Path::to_path_buf)
}

/// Whether a 64-bit little-endian ELF file has no `PT_INTERP` program header.
fn is_static_elf(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(|b| u64::from_le_bytes(b) as usize)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        elf.get(at..at + 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP)
    })
}

/// Whether `gcc -static` can link: `gcc -print-file-name=libc.a` names an existing file.
fn has_static_libc() -> bool {
    let Some(gcc) = which("gcc") else {
        return false;
    };
    Command::new(gcc)
        .arg("-print-file-name=libc.a")
        .output()
        .is_ok_and(|o| {
            let path = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            Path::new(&path).is_absolute() && Path::new(&path).is_file()
        })
}

/// Checks every package `test`, `itest`, `demo` and `ci` need and installs the missing ones
/// with one apt-get call, before anything is built or run.
pub fn ensure_host_packages() -> Result<()> {
    let missing: Vec<&Requirement> = REQUIREMENTS.iter().filter(|r| !(r.present)()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|r| r.package).collect();
    eprintln!(
        "xtask: missing on this machine: {}; installing {} with apt-get",
        missing
            .iter()
            .map(|r| r.provides)
            .collect::<Vec<_>>()
            .join("; "),
        packages.join(" ")
    );
    apt_install(&packages)?;
    let still: Vec<&str> = REQUIREMENTS
        .iter()
        .filter(|r| !(r.present)())
        .map(|r| r.package)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "still missing after apt-get install: {}",
            still.join(" ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header with one program header of type `p_type`.
    fn elf_with(p_type: u32) -> Vec<u8> {
        let mut elf = vec![0u8; 0x40 + 0x38];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[0x40..0x44].copy_from_slice(&p_type.to_le_bytes());
        elf
    }

    #[test]
    fn static_and_dynamic_elf() {
        assert!(is_static_elf(&elf_with(1)));
        assert!(!is_static_elf(&elf_with(3)));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        assert!(!is_static_elf(&elf_with(1)[..0x30]));
    }
}
