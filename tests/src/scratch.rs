//! Where tests work: [`Scratch`], a throw-away overlay over the image per test; [`TempDir`] for
//! host-side files; [`PlainRoot`], a root that is not a mount point; and the gate that lets a
//! test that looks at the whole machine run alone.

use std::cell::Cell;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use furnace_core::host::{BindMountGuard, OverlayMountGuard};

use crate::image::image;
use crate::mounts::mount_points_under;

// ---------------------------------------------------------------------------------------------
// Names and temporary directories

/// A name unique in this machine's `/tmp` for this run: `furnace-test-{tag}-{pid}-{n}-{nanos}`.
///
/// The pid in it is how the leak oracle tells what this test process made from what other
/// processes on the machine made ([`made_here`]).
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("furnace-test-{tag}-{}-{n}-{nanos:x}", std::process::id())
}

/// A directory `/tmp/furnace-test-{tag}-*`, removed with its content on drop (after lazily
/// unmounting anything still mounted under it, so that removal never reaches into a mount).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh directory, mode 0755 whatever the umask.
    pub fn new(tag: &str) -> TempDir {
        loop {
            let path = Path::new("/tmp").join(unique_name(tag));
            match fs::create_dir(&path) {
                Ok(()) => {
                    let dir = TempDir { path };
                    fs::set_permissions(&dir.path, fs::Permissions::from_mode(0o755))
                        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.path.display()));
                    return dir;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path/rel`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        remove_tree(&self.path);
    }
}

/// Detaches every mount under `dir` (deepest first), then removes `dir` — unless something is
/// still mounted there, in which case removing would reach into another filesystem.
fn remove_tree(dir: &Path) {
    let mut mounted = mount_points_under(dir);
    mounted.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in &mounted {
        let _ = furnace_sys::mount::umount2(point, furnace_sys::mount::UnmountFlags::DETACH);
    }
    let still = mount_points_under(dir);
    if !still.is_empty() {
        eprintln!(
            "furnace-tests: not removing {}: still mounted under it: {still:?}",
            dir.display()
        );
        return;
    }
    if let Err(e) = fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("furnace-tests: cannot remove {}: {e}", dir.display());
        }
    }
}

/// Whether `name` (one path component) is a name [`unique_name`] gave out in this process:
/// `furnace-test-{tag}-{pid}-{n}-{nanos}` with this process's pid, possibly with a suffix such
/// as `.img` after the last field.
pub fn made_here(name: &str) -> bool {
    let Some(at) = name.find("furnace-test-") else {
        return false;
    };
    // From the right: nanos (with any suffix), n, pid; the tag may itself contain dashes.
    let mut fields = name[at..].rsplitn(4, '-');
    let (_nanos, n, pid) = (fields.next(), fields.next(), fields.next());
    let numeric =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    numeric(n) && numeric(pid) && pid == Some(std::process::id().to_string().as_str())
}

/// Whether any component of `text` — a path, or an option string such as overlayfs's
/// `lowerdir=A:B,upperdir=C` — is a name [`unique_name`] gave out in this process.
pub fn mentions_made_here(text: &str) -> bool {
    text.split(['/', ',', '=', ':', ' ']).any(made_here)
}

// ---------------------------------------------------------------------------------------------
// The scratch gate: shared for ordinary tests, exclusive for leak-checking ones

#[derive(Debug, Default)]
struct GateState {
    readers: usize,
    writer: bool,
}

static GATE: Mutex<GateState> = Mutex::new(GateState {
    readers: 0,
    writer: false,
});
static GATE_CHANGED: Condvar = Condvar::new();

thread_local! {
    static HOLDS_EXCLUSIVE: Cell<bool> = const { Cell::new(false) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Shared,
    Exclusive,
    /// A second scratch of a thread that holds the gate exclusively.
    Nested,
}

#[derive(Debug)]
struct GateToken(Access);

impl GateToken {
    fn enter(exclusive: bool) -> GateToken {
        if HOLDS_EXCLUSIVE.with(Cell::get) {
            return GateToken(Access::Nested);
        }
        let mut state = GATE.lock().unwrap_or_else(|e| e.into_inner());
        if exclusive {
            while state.writer || state.readers > 0 {
                state = GATE_CHANGED.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            state.writer = true;
            HOLDS_EXCLUSIVE.with(|h| h.set(true));
            GateToken(Access::Exclusive)
        } else {
            while state.writer {
                state = GATE_CHANGED.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            state.readers += 1;
            GateToken(Access::Shared)
        }
    }
}

impl Drop for GateToken {
    fn drop(&mut self) {
        let mut state = GATE.lock().unwrap_or_else(|e| e.into_inner());
        match self.0 {
            Access::Shared => state.readers -= 1,
            Access::Exclusive => {
                state.writer = false;
                HOLDS_EXCLUSIVE.with(|h| h.set(false));
            }
            Access::Nested => return,
        }
        GATE_CHANGED.notify_all();
    }
}

/// Whether the current thread holds the scratch gate exclusively ([`Scratch::exclusive`]).
pub fn holds_exclusive() -> bool {
    HOLDS_EXCLUSIVE.with(Cell::get)
}

// ---------------------------------------------------------------------------------------------
// Scratch: a throw-away overlay over the image

/// A throw-away writable view of the image: an overlay (lower: the image; upper and work in a
/// fresh `/tmp/furnace-test-scratch-*` directory) mounted on `merged` in that directory — or,
/// made with [`Scratch::idmappable`], a tmpfs on `merged` holding a copy of the image, for the
/// hardened profile, whose user namespace needs a root the kernel can idmap (overlayfs is not).
///
/// Dropping it unmounts the overlay (and anything left under it) and removes the directory,
/// also when the test panics. Declare it *first* in a test, so that containers and guards
/// declared after it are dropped before it.
#[derive(Debug)]
pub struct Scratch {
    dir: TempDir,
    overlay: Option<OverlayMountGuard>,
    /// The tmpfs of an idmappable scratch.
    copy: Option<crate::hostside::HostMount>,
    // Dropped last: the gate opens once the scratch is gone.
    _token: GateToken,
}

impl Scratch {
    /// A scratch for an ordinary test (runs alongside other tests).
    pub fn new() -> Scratch {
        Self::with_access(false)
    }

    /// A scratch whose root can be idmapped, for the hardened profile's default user namespace
    /// (`PrivateUsers::Pick`): a fresh tmpfs on `merged` with a copy of the image (`cp -a`, a
    /// few milliseconds), owners and modes kept. It has no upper layer: [`Scratch::upper`]
    /// panics.
    pub fn idmappable() -> Scratch {
        Self::copied(false)
    }

    /// An [`idmappable`](Scratch::idmappable) scratch for a test that looks at the whole
    /// machine (see [`Scratch::exclusive`]).
    pub fn exclusive_idmappable() -> Scratch {
        Self::copied(true)
    }

    fn copied(exclusive: bool) -> Scratch {
        let mut scratch = Self::bare(exclusive);
        let merged = scratch.root();
        scratch.copy = Some(crate::hostside::HostMount::tmpfs_with(
            &merged,
            "64m",
            furnace_sys::mount::MountFlags::empty(),
        ));
        let mut source = image().into_os_string();
        source.push("/.");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&source)
            .arg(&merged)
            .status()
            .expect("run cp -a to copy the image into the scratch's tmpfs");
        assert!(
            status.success(),
            "cp -a of the image into {merged:?}: {status}"
        );
        scratch
    }

    /// A scratch for a test that looks at the whole machine ([`LeakCheck`](crate::LeakCheck)): waits until no
    /// other test has a scratch, and keeps others from starting until it is dropped. Further
    /// scratches made on the same thread meanwhile share its exclusivity (scratches made on
    /// other threads would wait: do not).
    pub fn exclusive() -> Scratch {
        Self::with_access(true)
    }

    fn with_access(exclusive: bool) -> Scratch {
        let mut scratch = Self::bare(exclusive);
        let dir = &scratch.dir;
        for sub in ["upper", "work"] {
            fs::create_dir(dir.join(sub)).expect("create the overlay directories");
        }
        let overlay = OverlayMountGuard::new(
            &[&image()],
            dir.join("upper"),
            dir.join("work"),
            dir.join("merged"),
        )
        .unwrap_or_else(|e| panic!("cannot mount the scratch overlay: {e}"));
        scratch.overlay = Some(overlay);
        scratch
    }

    /// The gate entered, the directory and its empty `merged` made, nothing mounted.
    fn bare(exclusive: bool) -> Scratch {
        let token = GateToken::enter(exclusive);
        let dir = TempDir::new("scratch");
        fs::create_dir(dir.join("merged")).expect("create the scratch's root directory");
        Scratch {
            dir,
            overlay: None,
            copy: None,
            _token: token,
        }
    }

    /// The root directory for a container (the overlay's merged directory, a mount point).
    pub fn root(&self) -> PathBuf {
        self.dir.join("merged")
    }

    /// The overlay's upper directory: everything a container wrote. Panics for an
    /// [`idmappable`](Scratch::idmappable) scratch, which has no layers.
    pub fn upper(&self) -> PathBuf {
        assert!(
            self.overlay.is_some(),
            "an idmappable scratch is a copy of the image on a tmpfs: it has no upper layer"
        );
        self.dir.join("upper")
    }

    /// The scratch's own temporary directory, for host-side files outside the root.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The host path of `inside` (a path inside the container) in the merged directory.
    pub fn host_path(&self, inside: impl AsRef<Path>) -> PathBuf {
        let rel = inside.as_ref().strip_prefix("/").unwrap_or(inside.as_ref());
        self.root().join(rel)
    }

    /// Every path in the upper directory, relative to it, sorted.
    pub fn upper_entries(&self) -> Vec<PathBuf> {
        let upper = self.upper();
        let mut out = Vec::new();
        let mut stack = vec![upper.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(path.clone());
                }
                out.push(path.strip_prefix(&upper).unwrap_or(&path).to_path_buf());
            }
        }
        out.sort();
        out
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(overlay) = self.overlay.take() {
            if let Err(e) = overlay.unmount() {
                eprintln!("furnace-tests: unmounting the scratch overlay: {e}");
            }
        }
        if let Some(copy) = self.copy.take() {
            if let Err(e) = copy.unmount() {
                eprintln!("furnace-tests: unmounting the scratch's tmpfs: {e}");
            }
        }
        // The TempDir field then detaches whatever is left under it and removes it.
    }
}

// ---------------------------------------------------------------------------------------------
// A root that is not a mount point

/// A directory tree that is *not* a mount point but is a complete root, in a scratch's
/// directory: `usr` of the image bind-mounted read-only into it, the top-level links,
/// directories and `/etc` copied.
#[derive(Debug)]
pub struct PlainRoot {
    /// The root directory.
    pub root: PathBuf,
    _usr: BindMountGuard,
}

impl PlainRoot {
    /// Builds it in `scratch`'s directory.
    pub fn new(scratch: &Scratch) -> PlainRoot {
        let image = image();
        let root = scratch.dir().join("plain-root");
        fs::create_dir(&root).expect("create the plain root");
        for entry in fs::read_dir(&image).expect("list the image").flatten() {
            let name = entry.file_name();
            let to = root.join(&name);
            let kind = entry.file_type().expect("file type");
            if kind.is_symlink() {
                let target = fs::read_link(entry.path()).expect("readlink");
                std::os::unix::fs::symlink(target, &to).expect("symlink");
            } else if kind.is_dir() {
                fs::create_dir(&to).expect("mkdir");
                let mode = entry.metadata().expect("stat").permissions().mode();
                fs::set_permissions(&to, fs::Permissions::from_mode(mode)).expect("chmod");
            }
        }
        for entry in fs::read_dir(image.join("etc"))
            .expect("list /etc")
            .flatten()
        {
            let to = root.join("etc").join(entry.file_name());
            if entry.file_type().expect("file type").is_symlink() {
                let target = fs::read_link(entry.path()).expect("readlink");
                std::os::unix::fs::symlink(target, &to).expect("symlink");
            } else {
                fs::copy(entry.path(), &to).expect("copy /etc");
            }
        }
        fs::create_dir_all(root.join("run/lock")).expect("mkdir run/lock");
        std::os::unix::fs::symlink("/run/lock", root.join("var/lock")).expect("var/lock");
        let usr = BindMountGuard::new(image.join("usr"), root.join("usr"), true)
            .unwrap_or_else(|e| panic!("bind the image's usr: {e}"));
        assert!(
            !furnace_sys::mountinfo::is_mount_point(&root).expect("check the plain root"),
            "the plain root must not be a mount point"
        );
        PlainRoot { root, _usr: usr }
    }

    /// Every path in the tree (not descending into usr), sorted.
    pub fn listing(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).expect("list").flatten() {
                let path = entry.path();
                if path != self.root.join("usr") && entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(path.clone());
                }
                out.push(path);
            }
        }
        out.sort();
        out
    }
}
