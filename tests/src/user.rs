//! Unprivileged callers for the rootless tests: [`TestUser`], a throw-away system user (with or
//! without subordinate id ranges) removed on drop, and [`BusyboxRoot`], a minimal root owned
//! by it (or by root), both made by the suite, which runs as root.
//!
//! The user can traverse `/tmp` and the 0755 directories made here, but maybe not the
//! directory the repository (and so cargo's target directory) lives in, which in CI can be
//! `/root`: binaries it runs are copied first ([`TestUser::install`]).

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::run::Ran;
use crate::scratch::TempDir;
use crate::wait::wait_child;
use crate::DEADLINE;

/// The `PATH` commands run as a test user get.
pub const USER_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// How many ids each subordinate range holds.
pub const SUBID_COUNT: u32 = 65536;

/// Where subordinate ranges are picked: far above anything `useradd` hands out (its
/// `SUB_UID_MAX` is 600100000 on Debian) and below 2^32 - 1 with room for a whole range.
const SUBID_BASE: u32 = 1_000_000_000;
const SUBID_SLOTS: u32 = 40_000;

/// Serialises this process's calls of `useradd`, `usermod` and `userdel` (they lock
/// `/etc/passwd`; tests run four at a time). Another process holding the lock is retried.
static ACCOUNTS: Mutex<()> = Mutex::new(());

/// A throw-away unprivileged system user, `fnr-{pid}-{n}` (no home, no login shell, a group of
/// its own), optionally with one [`SUBID_COUNT`]-id range in `/etc/subuid` and `/etc/subgid`.
///
/// Dropping it removes the user, its group and its subordinate ranges (`userdel` does all
/// three on Debian 12, shadow 4.13; the fixture checks and removes leftovers itself), also when
/// the test panics, and the directory [`install`](TestUser::install) copies into.
///
/// [`create`](TestUser::create) fails the test, loudly and with the reason, when the kernel
/// forbids this user unprivileged user namespaces: the rootless tests never skip.
#[derive(Debug)]
pub struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    subids: Option<u32>,
    /// Executables copied for the user, 0755 in `/tmp`.
    bin: TempDir,
}

impl TestUser {
    /// Creates the user (`useradd -r -M -s /usr/sbin/nologin -U`), with a subordinate uid and
    /// gid range when `subids`, and checks that it can make a user namespace.
    pub fn create(subids: bool) -> TestUser {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("fnr-{pid}-{n}");
        let bin = TempDir::new("user-bin");
        account_tool(
            "useradd",
            &["-r", "-M", "-s", "/usr/sbin/nologin", "-U", &name],
        );
        let (uid, gid) = match (numeric_id(&name, "-u"), numeric_id(&name, "-g")) {
            (Some(uid), Some(gid)) => (uid, gid),
            ids => {
                // Remove it before failing; Drop never runs for a value not made.
                let _ = account_tool_status("userdel", &[&name]);
                panic!("useradd made {name}, but `id` does not know its ids: {ids:?}");
            }
        };
        let mut user = TestUser {
            name,
            uid,
            gid,
            subids: None,
            bin,
        };
        if subids {
            let first = free_subid_range(pid, n);
            let range = format!("{first}-{}", first + (SUBID_COUNT - 1));
            // Recorded first: a failing usermod still leaves Drop the lines to look for.
            user.subids = Some(first);
            account_tool(
                "usermod",
                &["--add-subuids", &range, "--add-subgids", &range, &user.name],
            );
        }
        user.require_user_namespaces();
        user
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user's uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The gid of the user's own group.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The first id of its subordinate uid and gid ranges (both the same, [`SUBID_COUNT`]
    /// long), when it has them.
    pub fn subids(&self) -> Option<u32> {
        self.subids
    }

    /// `program` to be run as this user: its uid and gid (std drops the supplementary groups
    /// when root sets a uid), an empty environment but `PATH` ([`USER_PATH`]) and `HOME=/`,
    /// working directory `/`, stdin `/dev/null`.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.uid(self.uid)
            .gid(self.gid)
            .env_clear()
            .env("PATH", USER_PATH)
            .env("HOME", "/")
            .current_dir("/")
            .stdin(Stdio::null());
        cmd
    }

    /// Copies the executable `exe` into a 0755 directory of `/tmp` the user can run it from
    /// (the copy keeps the file name, mode 0755, owned by root); returns the copy's path.
    pub fn install(&self, exe: impl AsRef<Path>) -> PathBuf {
        let exe = exe.as_ref();
        let name = exe
            .file_name()
            .unwrap_or_else(|| panic!("{} names no file", exe.display()));
        let to = self.bin.join(name);
        copy_executable(exe, &to);
        to
    }

    /// A fresh directory in `/tmp` owned by the user (mode 0755), e.g. a bind source.
    pub fn owned_dir(&self, tag: &str) -> TempDir {
        let dir = TempDir::new(tag);
        chown_tree(dir.path(), self.uid, self.gid);
        dir
    }

    /// A [`BusyboxRoot`] owned by the user.
    pub fn busybox_root(&self) -> BusyboxRoot {
        BusyboxRoot::build(Some((self.uid, self.gid)))
    }

    /// Fails the test with the reason when `unshare -Ur true`, run as the user, fails: the
    /// kernel (or a security module) forbids unprivileged user namespaces here.
    fn require_user_namespaces(&self) {
        let mut cmd = self.command("unshare");
        cmd.args(["-Ur", "true"]);
        let ran = output_within(&mut cmd, "unshare -Ur true");
        if ran.status.success() {
            return;
        }
        let knob = |path: &str| {
            fs::read_to_string(path)
                .map(|v| format!("{path} = {}", v.trim()))
                .unwrap_or_else(|_| format!("{path}: absent"))
        };
        panic!(
            "THE ROOTLESS TESTS CANNOT RUN HERE: the kernel forbids unprivileged user namespaces \
             to the test user {}: `unshare -Ur true` run as it failed ({}): {}\n  {}\n  {}\n  {}\n\
             These tests fail rather than skip, so that CI never passes without running them.",
            self.name,
            ran.status,
            ran.stderr.trim(),
            knob("/proc/sys/user/max_user_namespaces"),
            knob("/proc/sys/kernel/unprivileged_userns_clone"),
            knob("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
        );
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // A process of the user (a container of a failed test) keeps userdel from working for
        // a moment; after the deadline it is forced.
        let deadline = Instant::now() + DEADLINE;
        loop {
            match account_tool_status("userdel", &[&self.name]) {
                Ok(()) => break,
                Err(e) if e.contains("currently used by process") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    eprintln!("furnace-tests: {e}; forcing it with userdel -f");
                    if let Err(e) = account_tool_status("userdel", &["-f", &self.name]) {
                        eprintln!("furnace-tests: cannot remove the test user: {e}");
                    }
                    break;
                }
            }
        }
        // Debian 12's userdel (shadow 4.13) removes the user's group and subordinate ranges
        // too; elsewhere, what it left is removed here.
        let left = leftover_lines(&self.name);
        if left.is_empty() {
            return;
        }
        eprintln!("furnace-tests: userdel {} left {left:?}", self.name);
        if left.iter().any(|(file, _)| file == "/etc/group") {
            if let Err(e) = account_tool_status("groupdel", &[&self.name]) {
                eprintln!("furnace-tests: {e}");
            }
        }
        for file in ["/etc/subuid", "/etc/subgid"] {
            remove_lines_of(file, &self.name);
        }
    }
}

/// `(file, line)` for every line naming `name` (its first field) in the account files.
pub fn leftover_lines(name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in [
        "/etc/passwd",
        "/etc/shadow",
        "/etc/group",
        "/etc/gshadow",
        "/etc/subuid",
        "/etc/subgid",
    ] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            if line.split(':').next() == Some(name) {
                out.push((file.to_owned(), line.to_owned()));
            }
        }
    }
    out
}

/// Removes the lines of `file` whose first field is `name` (under the account lock, so that
/// no tool of this process writes it meanwhile).
fn remove_lines_of(file: &str, name: &str) {
    let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let Ok(text) = fs::read_to_string(file) else {
        return;
    };
    let kept: String = text
        .lines()
        .filter(|l| l.split(':').next() != Some(name))
        .map(|l| format!("{l}\n"))
        .collect();
    if let Err(e) = fs::write(file, kept) {
        eprintln!("furnace-tests: cannot rewrite {file}: {e}");
    }
}

/// `id OPTION name`, as a number.
fn numeric_id(name: &str, option: &str) -> Option<u32> {
    let out = Command::new("id").args([option, name]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The first id of a [`SUBID_COUNT`]-id range, picked from the pid and a counter, that no line
/// of `/etc/subuid` or `/etc/subgid` overlaps.
fn free_subid_range(pid: u32, n: u32) -> u32 {
    let taken: Vec<(u64, u64)> = ["/etc/subuid", "/etc/subgid"]
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| {
                    let mut fields = l.split(':').skip(1);
                    let start: u64 = fields.next()?.parse().ok()?;
                    let count: u64 = fields.next()?.parse().ok()?;
                    Some((start, start + count))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let slot0 = (pid.wrapping_mul(64).wrapping_add(n)) % SUBID_SLOTS;
    (0..SUBID_SLOTS)
        .map(|i| SUBID_BASE + ((slot0 + i) % SUBID_SLOTS) * SUBID_COUNT)
        .find(|&first| {
            let (a, b) = (u64::from(first), u64::from(first) + u64::from(SUBID_COUNT));
            taken.iter().all(|&(s, e)| b <= s || e <= a)
        })
        .expect("a free subordinate id range")
}

/// Runs one of shadow's account tools, retrying while another process holds the lock of an
/// account file; panics when it fails otherwise.
fn account_tool(tool: &str, args: &[&str]) {
    if let Err(e) = account_tool_status(tool, args) {
        panic!("{e}");
    }
}

/// Runs `tool args...` (from `/usr/sbin`), retrying for up to [`DEADLINE`] while it fails
/// because an account file is locked (`cannot lock /etc/passwd; try again later`: exit 1 for
/// the passwd file, 10 for the group file, others for the subordinate id files).
fn account_tool_status(tool: &str, args: &[&str]) -> Result<(), String> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let out = {
            let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
            Command::new(Path::new("/usr/sbin").join(tool))
                .args(args)
                .env_clear()
                .env("PATH", USER_PATH)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {tool}: {e}"))?
        };
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let locked = stderr.contains("cannot lock") || stderr.contains("try again later");
        if !locked || Instant::now() >= deadline {
            return Err(format!(
                "`{tool} {}` failed ({}): {}",
                args.join(" "),
                out.status,
                stderr.trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Copies the executable `from` to `to` (mode 0755) with `cp`, in a process of its own.
///
/// Not with `fs::copy`: the copy's writable fd would be in this process while other tests'
/// threads fork, and a child between its fork and its exec keeps it open; executing the copy
/// then fails with `ETXTBSY`.
pub fn copy_executable(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("--")
        .arg(from)
        .arg(to)
        .env_clear()
        .env("PATH", USER_PATH)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cp: {e}"));
    assert!(
        out.status.success(),
        "cp {} {}: {}",
        from.display(),
        to.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", to.display()));
}

/// `lchown` of `path` and everything under it (symlinks themselves, never followed).
pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    lchown(path, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("lchown {}: {e}", path.display()));
    let is_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if is_dir {
        for entry in fs::read_dir(path)
            .unwrap_or_else(|e| panic!("list {}: {e}", path.display()))
            .flatten()
        {
            chown_tree(&entry.path(), uid, gid);
        }
    }
}

/// Runs `cmd` with stdout and stderr piped, for at most [`DEADLINE`] (then it is killed and the
/// test fails, naming `what`), and collects what it printed.
pub fn output_within(cmd: &mut Command, what: &str) -> Ran {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let status = wait_child(&mut child, what);
    Ran {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal root

/// A minimal root in a [`TempDir`] (`DIR/root`): a static busybox in `/bin` with a link per
/// applet; `bin etc dev proc sys tmp run mnt root`; `/etc/passwd` with `root` and
/// `alice` (1000:1000), `/etc/group` with `root`, `tty` (5), `alice` (1000) and `extra` (2000,
/// with `alice` as a member). Everything is owned by the given uid and gid (or by root).
///
/// Removed on drop (by root, who may remove what any user made; nothing is mounted on the host
/// under it, which [`TempDir`] checks).
#[derive(Debug)]
pub struct BusyboxRoot {
    dir: TempDir,
}

/// `/etc/passwd` of a [`BusyboxRoot`].
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n";

/// `/etc/group` of a [`BusyboxRoot`].
pub const GROUP: &str = "root:x:0:\ntty:x:5:\nalice:x:1000:\nextra:x:2000:alice\n";

impl BusyboxRoot {
    /// A root owned by root.
    pub fn owned_by_root() -> BusyboxRoot {
        BusyboxRoot::build(None)
    }

    /// Builds it; `owner` is `(uid, gid)`, `None` for root.
    pub fn build(owner: Option<(u32, u32)>) -> BusyboxRoot {
        let busybox = static_busybox();
        let dir = TempDir::new("userroot");
        let root = dir.join("root");
        for sub in [
            "bin", "etc", "dev", "proc", "sys", "tmp", "run", "mnt", "root",
        ] {
            fs::create_dir_all(root.join(sub)).expect("create the root's directories");
        }
        fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))
            .expect("chmod tmp");
        copy_executable(&busybox, &root.join("bin/busybox"));
        for applet in busybox_applets(&busybox) {
            let link = root.join("bin").join(&applet);
            if applet != "busybox" && fs::symlink_metadata(&link).is_err() {
                symlink("busybox", link).expect("link an applet");
            }
        }
        fs::write(root.join("etc/passwd"), PASSWD).expect("write /etc/passwd");
        fs::write(root.join("etc/group"), GROUP).expect("write /etc/group");
        if let Some((uid, gid)) = owner {
            chown_tree(&root, uid, gid);
        }
        BusyboxRoot { dir }
    }

    /// The root directory.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// The host path of `inside` (a path in the root).
    pub fn host_path(&self, inside: impl AsRef<Path>) -> PathBuf {
        let inside = inside.as_ref();
        self.root().join(inside.strip_prefix("/").unwrap_or(inside))
    }

    /// The directory holding the root (for a check that nothing is mounted under it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The host's statically linked busybox (Debian's `busybox-static`), or a failure that says
/// how to get one.
pub fn static_busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| fs::read(p).is_ok_and(|elf| is_static_elf(&elf)))
        .unwrap_or_else(|| {
            panic!(
                "no statically linked busybox in /bin or /usr/bin: the rootless tests build their \
                 root from it; install it with `apt-get install -y busybox-static`"
            )
        })
}

/// Whether a 64-bit little-endian ELF file has no `PT_INTERP` program header.
fn is_static_elf(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let at = |o: usize, n: usize| elf.get(o..o + n);
    let u16_at = |o| at(o, 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let u64_at = |o| {
        at(o, 8)
            .and_then(|b| b.try_into().ok())
            .map(|b| u64::from_le_bytes(b) as usize)
    };
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    (0..count).all(|i| {
        at(phoff + i * size, 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP)
    })
}

/// The applet names busybox offers.
fn busybox_applets(busybox: &Path) -> Vec<String> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .expect("run busybox --list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.contains('/'))
        .map(str::to_owned)
        .collect()
}
