//! `cargo xtask image`: the test image, an ext4 file holding a small real userland.
//!
//! Made offline from `busybox-static` (every applet, as symlinks) plus the host's own `bash` and
//! `mke2fs` (as `mkfs.ext4` & co.) with the shared libraries and the dynamic loader they need
//! (read from `ldd`). A staging directory is filled, then `mkfs.ext4 -d` turns it into the image
//! without mounting anything. The image is rebuilt only when its inputs change: the stamp file
//! beside it holds a hash of the builder version, the list of host files copied in and their
//! sizes and modification times.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::audit;
use crate::loopmount::LoopMount;
use crate::util::{self, Context, Result};

/// Bump when the builder changes what it puts into the image: that invalidates every cache.
const BUILDER_VERSION: &str = "furnace-image-builder 1";

/// Free space on top of the contents.
const SLACK_BYTES: u64 = 64 << 20;

/// Commands the image must provide (the integration suite and the demo rely on them).
pub const REQUIRED_COMMANDS: &[&str] = &[
    "sh",
    "bash",
    "ps",
    "cat",
    "dd",
    "touch",
    "test",
    "sleep",
    "ls",
    "echo",
    "kill",
    "true",
    "false",
    "id",
    "hostname",
    "env",
    "ip",
    "mount",
    "umount",
    "mkfs.ext4",
    "grep",
    "gzip",
    "mkdir",
    "rm",
    "ln",
    "readlink",
    "stat",
    "wc",
    "head",
    "tail",
    "sort",
    "uniq",
    "tr",
    "cut",
    "sed",
    "awk",
    "find",
    "xargs",
    "mktemp",
    "chmod",
    "losetup",
];

/// Directories the image must contain, with their modes.
const DIRS: &[(&str, u32)] = &[
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
    ("run", 0o755),
    ("run/lock", 0o1777),
    ("tmp", 0o1777),
    ("etc", 0o755),
    ("var", 0o755),
    ("var/tmp", 0o1777),
    ("var/log", 0o755),
    ("var/lib", 0o755),
    ("root", 0o700),
    ("home", 0o755),
    ("mnt", 0o755),
    ("usr/local/bin", 0o755),
];

/// Symlinks (path, target).
const LINKS: &[(&str, &str)] = &[
    ("bin", "usr/bin"),
    ("sbin", "usr/sbin"),
    ("lib", "usr/lib"),
    ("lib64", "usr/lib64"),
    ("var/lock", "/run/lock"),
    ("var/run", "/run"),
    ("etc/mtab", "/proc/self/mounts"),
];

/// Small files written into /etc.
const ETC_FILES: &[(&str, &str)] = &[
    (
        "passwd",
        "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    ),
    ("group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"),
    ("resolv.conf", ""),
    ("hostname", "localhost\n"),
    ("hosts", "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"),
    ("nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"),
    ("shells", "/bin/sh\n/bin/bash\n/usr/bin/bash\n"),
    (
        "os-release",
        "NAME=\"furnace test image\"\nID=furnace-test\nPRETTY_NAME=\"furnace test image (busybox + host bash, mke2fs)\"\n",
    ),
];

/// Where the image and its stamp live.
pub fn image_dir() -> PathBuf {
    util::workspace_root().join("target/furnace-image")
}

pub fn image_path() -> PathBuf {
    image_dir().join("rootfs.ext4")
}

fn stamp_path() -> PathBuf {
    image_dir().join("rootfs.ext4.stamp")
}

/// `cargo xtask image [--rebuild] [--check [--hold SECONDS]]`.
pub fn run(args: &[String]) -> Result<()> {
    let (mut rebuild, mut check, mut hold) = (false, false, 0u64);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rebuild" => rebuild = true,
            "--check" => check = true,
            "--hold" => {
                let secs = it.next().ok_or("--hold needs a number of seconds")?;
                hold = secs.parse().with_context(|| format!("--hold {secs}"))?;
                check = true;
            }
            other => {
                return Err(format!(
                    "image: unknown argument `{other}` (see `cargo xtask help`)"
                ))
            }
        }
    }
    util::require_root("cargo xtask image")?;
    let image = ensure(rebuild)?;
    if check {
        check_image(&image, hold)?;
    }
    Ok(())
}

/// Builds the image unless an up-to-date one exists; returns its path.
/// The caller holds the machine lock.
pub fn ensure(force: bool) -> Result<PathBuf> {
    let started = Instant::now();
    let inputs = Inputs::gather()?;
    let key = inputs.key();
    let hash = format!("{:016x}", fnv1a(key.as_bytes()));
    let image = image_path();
    let stamp = fs::read_to_string(stamp_path()).unwrap_or_default();
    if !force && image.is_file() && stamp.lines().next() == Some(hash.as_str()) {
        eprintln!(
            "image: reused {} (inputs unchanged, key {hash})",
            util::display_path(&image)
        );
        return Ok(image);
    }
    let (bytes, files) = build(&inputs, &image)?;
    fs::write(stamp_path(), format!("{hash}\n{key}"))
        .with_context(|| format!("writing {}", stamp_path().display()))?;
    eprintln!(
        "image: built {} in {:.1}s ({} MiB, {files} files, key {hash})",
        util::display_path(&image),
        started.elapsed().as_secs_f64(),
        bytes >> 20
    );
    Ok(image)
}

/// The host files the image is made of.
#[derive(Debug)]
struct Inputs {
    busybox: PathBuf,
    /// Host programs copied in at their own paths (bash, mke2fs).
    programs: Vec<PathBuf>,
    /// Their shared libraries and the dynamic loader, as `ldd` names them.
    libs: BTreeSet<PathBuf>,
    /// Plain host files copied in (e.g. /etc/mke2fs.conf).
    extra: Vec<PathBuf>,
}

impl Inputs {
    fn gather() -> Result<Inputs> {
        let busybox = util::ensure_tool("busybox", "busybox-static")?;
        let bash = util::which("bash").ok_or("`bash` is missing on the host")?;
        let mke2fs = util::ensure_tool("mke2fs", "e2fsprogs")?;
        let programs = vec![canonical(&bash)?, canonical(&mke2fs)?];
        let mut libs = BTreeSet::new();
        for program in programs.iter().chain([&busybox]) {
            libs.extend(shared_libraries(program)?);
        }
        let extra = ["/etc/mke2fs.conf"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .collect();
        Ok(Inputs {
            busybox,
            programs,
            libs,
            extra,
        })
    }

    /// The cache key: builder version, then every host file with its size and mtime.
    fn key(&self) -> String {
        let mut key = format!("{BUILDER_VERSION}\n");
        let files = [&self.busybox]
            .into_iter()
            .chain(&self.programs)
            .chain(&self.libs)
            .chain(&self.extra);
        for path in files {
            let (size, mtime) = fs::metadata(path)
                .map(|m| (m.size(), format!("{}.{:09}", m.mtime(), m.mtime_nsec())))
                .unwrap_or((0, "missing".into()));
            let _ = writeln!(key, "{} {size} {mtime}", path.display());
        }
        key
    }
}

fn canonical(path: &Path) -> Result<PathBuf> {
    fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))
}

/// The shared libraries and the dynamic loader `program` needs, with the paths `ldd` prints
/// (empty for static programs).
fn shared_libraries(program: &Path) -> Result<BTreeSet<PathBuf>> {
    let ldd = util::which("ldd").ok_or("`ldd` is missing (package `libc-bin`)")?;
    let out = Command::new(ldd)
        .arg(program)
        .stdin(Stdio::null())
        .output()
        .context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if text.contains("not a dynamic executable") || err.contains("not a dynamic executable") {
            return Ok(BTreeSet::new());
        }
        return Err(format!("ldd {} failed: {}", program.display(), err.trim()));
    }
    parse_ldd(&text).with_context(|| format!("ldd {}", program.display()))
}

/// Parses `ldd` output: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` and
/// `/lib64/ld-linux-x86-64.so.2 (0x...)`; `linux-vdso.so.1 (0x...)` has no file.
fn parse_ldd(text: &str) -> Result<BTreeSet<PathBuf>> {
    let mut libs = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.contains("statically linked") {
            continue;
        }
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(format!("library {} not found", name.trim()));
                }
                rest.split_whitespace().next().unwrap_or("")
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libs.insert(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// Fills a staging directory and makes the image from it. Returns (image bytes, file count).
fn build(inputs: &Inputs, image: &Path) -> Result<(u64, usize)> {
    let dir = image_dir();
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Leftovers of a run that was SIGKILLed half-way.
    for entry in fs::read_dir(&dir)
        .context("listing the image directory")?
        .flatten()
    {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("staging.") {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let _ = fs::remove_file(stamp_path());

    let staging = util::RemoveOnDrop(util::make_temp_dir(&dir.join("staging."))?);
    let root = staging.0.as_path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).context("chmod staging")?;
    populate(inputs, root)?;
    util::check_interrupted()?;

    let (content, files) = tree_size(root)?;
    let bytes = (content + SLACK_BYTES).div_ceil(1 << 20) << 20;
    let tmp = dir.join("rootfs.ext4.tmp");
    let _ = fs::remove_file(&tmp);
    fs::File::create(&tmp)
        .and_then(|f| f.set_len(bytes))
        .with_context(|| format!("creating {}", tmp.display()))?;
    let mkfs = util::ensure_tool("mkfs.ext4", "e2fsprogs")?;
    let mut cmd = Command::new(mkfs);
    cmd.args([
        "-q",
        "-F",
        "-b",
        "4096",
        "-L",
        "furnace-rootfs",
        "-m",
        "0",
        "-E",
        "root_owner=0:0",
        "-d",
    ])
    .arg(root)
    .arg(&tmp)
    .arg(format!("{}k", bytes >> 10))
    .stdin(Stdio::null());
    let status = util::run_status(&mut cmd);
    util::check_interrupted().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    let status = status?;
    if !status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(format!("`{}` failed ({status})", util::describe(&cmd)));
    }
    // Rename over the old image: a loop device still using the old one keeps its own inode.
    fs::rename(&tmp, image).with_context(|| format!("renaming to {}", image.display()))?;
    Ok((bytes, files))
}

/// The contents of the image.
fn populate(inputs: &Inputs, root: &Path) -> Result<()> {
    // Merged /usr, like Debian: real directories under usr/, top-level symlinks to them.
    for d in ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64"] {
        mkdir(root, d, 0o755)?;
    }
    for (path, mode) in DIRS {
        mkdir(root, path, *mode)?;
    }
    for (path, target) in LINKS {
        symlink(target, root.join(path)).with_context(|| format!("symlink /{path}"))?;
    }
    for (name, text) in ETC_FILES {
        fs::write(root.join("etc").join(name), text)
            .with_context(|| format!("writing /etc/{name}"))?;
    }
    for path in &inputs.extra {
        install_host_file(root, path)?;
    }

    // The host programs and their libraries, at the host's paths.
    for program in &inputs.programs {
        install_host_file(root, program)?;
    }
    for lib in &inputs.libs {
        install_host_file(root, lib)?;
    }
    // mkfs.ext4 & co. are links to mke2fs, as on the host.
    if let Some(mke2fs) = inputs.programs.iter().find(|p| p.ends_with("mke2fs")) {
        let rel = mke2fs.strip_prefix("/").unwrap_or(mke2fs);
        let dir = root.join(rel.parent().unwrap_or(Path::new("")));
        for name in ["mkfs.ext4", "mkfs.ext3", "mkfs.ext2"] {
            let link = dir.join(name);
            if fs::symlink_metadata(&link).is_err() {
                symlink("mke2fs", &link).with_context(|| format!("symlink {name}"))?;
            }
        }
    }

    // busybox and every applet it has, where busybox says it belongs, unless a host program is
    // already there (bash, mke2fs).
    fs::copy(&inputs.busybox, root.join("usr/bin/busybox")).context("copying busybox")?;
    let list = Command::new(&inputs.busybox)
        .arg("--list-full")
        .stdin(Stdio::null())
        .output()
        .context("running busybox --list-full")?;
    if !list.status.success() {
        return Err("`busybox --list-full` failed".into());
    }
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let Some((dir, target)) = applet_location(applet) else {
            continue;
        };
        let name = Path::new(applet).file_name().unwrap_or_default();
        let link = root.join(dir).join(name);
        if fs::symlink_metadata(&link).is_ok() {
            continue;
        }
        symlink(target, &link).with_context(|| format!("symlink {}", link.display()))?;
    }
    Ok(())
}

/// Where an applet from `busybox --list-full` goes in the merged-/usr image, and the link target.
fn applet_location(applet: &str) -> Option<(&'static str, &'static str)> {
    let dir = Path::new(applet).parent()?.to_str()?;
    match dir {
        "bin" | "usr/bin" => Some(("usr/bin", "busybox")),
        "sbin" | "usr/sbin" => Some(("usr/sbin", "../bin/busybox")),
        _ => None,
    }
}

fn mkdir(root: &Path, path: &str, mode: u32) -> Result<()> {
    let full = root.join(path);
    fs::create_dir_all(&full).with_context(|| format!("mkdir /{path}"))?;
    fs::set_permissions(&full, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod /{path}"))
}

/// Copies a host file into the image at the same path. A symlink is recreated as a symlink and
/// its target copied as well (so `/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...`
/// keeps its shape). Directories on the way are created; they may be the image's merged-/usr
/// symlinks, which `create_dir_all` follows.
fn install_host_file(root: &Path, host: &Path) -> Result<()> {
    let mut host = host.to_path_buf();
    for _ in 0..16 {
        let rel = relative(&host)?;
        let dest = root.join(&rel);
        if fs::symlink_metadata(&dest).is_ok() {
            return Ok(());
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).with_context(|| format!("mkdir {}", parent.display()))?;
            // The image's own symlinks (e.g. /var/run -> /run) must never lead a copy onto the host.
            if !canonical(parent)?.starts_with(canonical(root)?) {
                return Err(format!("{} would land outside the image", host.display()));
            }
        }
        let meta = fs::symlink_metadata(&host).with_context(|| format!("{}", host.display()))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&host).with_context(|| format!("{}", host.display()))?;
            symlink(&target, &dest).with_context(|| format!("symlink {}", dest.display()))?;
            host = host.parent().unwrap_or(Path::new("/")).join(target);
            continue;
        }
        fs::copy(&host, &dest)
            .with_context(|| format!("copying {} to {}", host.display(), dest.display()))?;
        return Ok(());
    }
    Err(format!(
        "too many levels of symbolic links at {}",
        host.display()
    ))
}

/// An absolute path made relative to `/`, with `.` and `..` resolved lexically.
fn relative(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(format!("cannot install {} into the image", path.display()));
    }
    Ok(out)
}

/// Bytes of regular files (rounded up to 4 KiB blocks, plus one block per entry) and the number
/// of entries.
fn tree_size(dir: &Path) -> Result<(u64, usize)> {
    let (mut bytes, mut files) = (0u64, 0usize);
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.context("listing the staging directory")?;
        let meta = entry.metadata().context("stat in the staging directory")?;
        files += 1;
        bytes += meta.len().div_ceil(4096) * 4096 + 4096;
        if meta.is_dir() {
            let (b, f) = tree_size(&entry.path())?;
            bytes += b;
            files += f;
        }
    }
    Ok((bytes, files))
}

/// 64-bit FNV-1a: stable across Rust releases (unlike `DefaultHasher`).
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `cargo xtask image --check`: mounts the image the way itest and demo do, lists its root,
/// verifies its layout and that its programs run (in a chroot, and `ps aux` / `ip address list`
/// in fresh pid + network namespaces), optionally holds the mount for `hold` seconds, then
/// cleans up and runs the leak audit.
fn check_image(image: &Path, hold: u64) -> Result<()> {
    let before = audit::snapshot()?;
    let result = (|| {
        let mount = LoopMount::new(image, "furnace-check")?;
        let mnt = mount.path().to_path_buf();
        eprintln!(
            "image: mounted {} read-only on {} via {}",
            util::display_path(image),
            mnt.display(),
            mount.device().display()
        );
        util::run(Command::new("ls").arg("-la").arg(&mnt))?;
        verify_layout(&mnt)?;
        verify_programs(&mnt)?;
        if hold > 0 {
            eprintln!("image: holding the mount for {hold} s (Ctrl-C to stop early)");
            util::run_status(Command::new("sleep").arg(hold.to_string()))?;
        }
        util::check_interrupted()?;
        mount.cleanup()
    })();
    let audit = audit::finish(&before);
    match (result, audit) {
        (Ok(()), Ok(())) => {
            eprintln!("image: check passed");
            Ok(())
        }
        (Err(e), _) | (Ok(()), Err(e)) => Err(e),
    }
}

fn verify_layout(mnt: &Path) -> Result<()> {
    let mut problems = Vec::new();
    for d in [
        "proc", "sys", "dev", "run", "tmp", "etc", "var", "root", "home", "mnt",
    ] {
        if !mnt.join(d).is_dir() {
            problems.push(format!("/{d} is not a directory"));
        }
    }
    match fs::symlink_metadata(mnt.join("tmp")) {
        Ok(m) if m.permissions().mode() & 0o7777 == 0o1777 => {}
        _ => problems.push("/tmp is not mode 1777".into()),
    }
    match fs::read_link(mnt.join("var/lock")) {
        Ok(t) if t == Path::new("/run/lock") => {}
        _ => problems.push("/var/lock is not a symlink to /run/lock".into()),
    }
    match fs::symlink_metadata(mnt.join("etc/resolv.conf")) {
        Ok(m) if m.is_file() && m.len() == 0 => {}
        _ => problems.push("/etc/resolv.conf is not an empty regular file".into()),
    }
    let passwd = fs::read_to_string(mnt.join("etc/passwd")).unwrap_or_default();
    if !passwd.starts_with("root:") || !passwd.contains("\nnobody:") {
        problems.push("/etc/passwd lacks root or nobody".into());
    }
    for f in ["etc/group", "etc/hostname"] {
        if !mnt.join(f).is_file() {
            problems.push(format!("/{f} is missing"));
        }
    }
    if problems.is_empty() {
        eprintln!("image: layout ok");
        Ok(())
    } else {
        Err(format!("image layout: {}", problems.join("; ")))
    }
}

fn verify_programs(mnt: &Path) -> Result<()> {
    let chroot = util::which("chroot").ok_or("`chroot` is missing (package `coreutils`)")?;
    let script = format!(
        "for c in {}; do p=$(command -v \"$c\") || {{ echo \"missing: $c\"; exit 1; }}; done; \
         bash -c 'echo bash $BASH_VERSION'; mkfs.ext4 -V 2>&1 | head -n 1",
        REQUIRED_COMMANDS.join(" ")
    );
    let out = Command::new(&chroot)
        .arg(mnt)
        .args(["/bin/sh", "-c", &script])
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::null())
        .output()
        .context("running chroot")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "programs in the image: {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    eprintln!(
        "image: all {} required commands present; {}",
        REQUIRED_COMMANDS.len(),
        text.trim().replace('\n', "; ")
    );

    // What a container sees: `ps aux` in a fresh pid namespace lists its PID 1 and itself only,
    // and `ip address list` in a fresh network namespace shows lo only. (`unshare --mount-proc`
    // mounts /proc in a private mount namespace: nothing reaches the host.)
    let Some(unshare) = util::which("unshare") else {
        eprintln!("image: `unshare` missing on the host; skipped the namespace check");
        return Ok(());
    };
    let out = Command::new(unshare)
        .args(["--pid", "--fork", "--net"])
        .arg(format!("--mount-proc={}", mnt.join("proc").display()))
        .arg(&chroot)
        .arg(mnt)
        .args(["/bin/sh", "-c", "ps aux; echo ---; ip address list"])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .output()
        .context("running unshare")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (ps, ip) = text.split_once("---\n").unwrap_or((&text, ""));
    eprint!("{ps}");
    let processes = ps.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    let interfaces: Vec<&str> = ip
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split(':').nth(1).map(str::trim))
        .collect();
    if !out.status.success() || processes != 2 || interfaces != ["lo"] {
        return Err(format!(
            "in fresh namespaces expected `ps aux` to list 2 processes and `ip address list` lo \
             only; got {processes} processes and interfaces {interfaces:?} ({}; stderr: {})",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    eprintln!(
        "image: in fresh namespaces `ps aux` lists PID 1 and ps only, `ip address list` lo only"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibtinfo.so.6 => /lib/x86_64-linux-gnu/libtinfo.so.6 (0x00007f)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        let libs: Vec<_> = parse_ldd(text).unwrap().into_iter().collect();
        assert_eq!(
            libs,
            [
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib/x86_64-linux-gnu/libtinfo.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").is_err());
    }

    #[test]
    fn applets_go_to_merged_usr() {
        assert_eq!(applet_location("bin/ls"), Some(("usr/bin", "busybox")));
        assert_eq!(applet_location("usr/bin/awk"), Some(("usr/bin", "busybox")));
        assert_eq!(
            applet_location("sbin/ip"),
            Some(("usr/sbin", "../bin/busybox"))
        );
        assert_eq!(applet_location("linuxrc"), None);
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/lib/../usr/lib/x.so")).unwrap(),
            Path::new("usr/lib/x.so")
        );
        assert!(relative(Path::new("/")).is_err());
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
