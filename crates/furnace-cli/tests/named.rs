//! Integration tests of named, long-lived containers from the command line (issue 13):
//! `furnace start`, `exec`, `shell NAME`, `list` and `stop`, over a busybox root per test.
//!
//! Each test has a state dir of its own (`--state-dir`, in its temp dir) and a [`Named`] guard
//! that stops every container it started and removes the dir, even when the test fails, and
//! then checks that no process of those containers is left. They need root and a static
//! busybox, like `cli.rs`; run them with `cargo test -p furnace-cli --test named` as root.

mod common;

use std::cell::RefCell;
use std::os::unix::fs::MetadataExt;

use common::*;
use furnace_sys::process::ProcStat;
use serde_json::Value;

/// Forks `sleep`s in the background until the shell cannot fork any more (or 40 run; then it
/// exits 0, which the test reports as the limit not holding).
const FORK_LOOP: &str = "i=0; while [ $i -lt 40 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & \
                         i=$((i+1)); done; exit 0";

/// How long a container may take to be gone once stopped or expired.
const GONE_WITHIN: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A container's PID 1 as the host sees it: its pid, start time (against pid reuse) and pid
/// namespace (to find every process of the container).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Init {
    pid: u32,
    start_time: u64,
    pid_ns: u64,
}

impl Init {
    fn of(pid: u32) -> Init {
        let stat = ProcStat::read(pid).unwrap_or_else(|| panic!("no process {pid}"));
        assert_eq!(stat.comm, "furnace-init", "pid {pid} is not a PID 1");
        let pid_ns = fs::metadata(format!("/proc/{pid}/ns/pid"))
            .unwrap_or_else(|e| panic!("the pid namespace of {pid}: {e}"))
            .ino();
        Init {
            pid,
            start_time: stat.start_time,
            pid_ns,
        }
    }

    /// Whether PID 1 still runs (a zombie has ended; only its reaper's wait is missing).
    fn alive(&self) -> bool {
        ProcStat::read(self.pid).is_some_and(|s| s.start_time == self.start_time && !s.is_zombie())
    }

    /// Host pids of the processes that run in the container's pid namespace (zombies, which
    /// have ended and wait for a reaper outside the container, left out).
    fn processes(&self) -> Vec<u32> {
        fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                fs::metadata(format!("/proc/{pid}/ns/pid")).is_ok_and(|m| m.ino() == self.pid_ns)
                    && ProcStat::read(*pid).is_some_and(|s| !s.is_zombie())
            })
            .collect()
    }

    /// Nothing of the container runs any more.
    fn gone(&self) -> bool {
        !self.alive() && self.processes().is_empty()
    }

    #[track_caller]
    fn assert_gone(&self) {
        assert!(
            eventually(GONE_WITHIN, || self.gone()),
            "the container of PID 1 {} is still there: processes {:?}",
            self.pid,
            self.processes()
        );
    }
}

/// A test's busybox root, its own state dir and the containers it started. On drop: `furnace
/// stop` for each (SIGKILL of PID 1 should that fail), leftover cgroups removed, the state dir
/// removed; then, unless the test failed already, a failure if anything was left to clean.
struct Named {
    state: PathBuf,
    started: RefCell<Vec<(String, Option<Init>)>>,
    cgroups: RefCell<Vec<PathBuf>>,
    t: TestRoot,
}

impl Named {
    fn new() -> Named {
        let t = TestRoot::new();
        Named {
            state: t.dir.join("state"),
            started: RefCell::default(),
            cgroups: RefCell::default(),
            t,
        }
    }

    /// `furnace --state-dir STATE ARGS...`, stdin null.
    fn furnace(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(FURNACE);
        cmd.arg("--state-dir").arg(&self.state).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        output(&mut self.furnace(args))
    }

    /// `furnace start OPTIONS --name NAME ROOT`: checks it printed the name, and returns its
    /// PID 1 (from `list --json`).
    fn start(&self, options: &[&str], name: &str) -> Init {
        self.started.borrow_mut().push((name.to_owned(), None));
        let mut cmd = self.furnace(&["start"]);
        cmd.args(options).args(["--name", name]).arg(self.t.root());
        let out = output(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "start {name}: {out:?}");
        assert_eq!(text(&out.stdout), format!("{name}\n"), "start {name}");
        assert!(out.stderr.is_empty(), "start {name}: {}", text(&out.stderr));
        let init = Init::of(self.entry(name)["pid"].as_u64().unwrap() as u32);
        self.started.borrow_mut().last_mut().unwrap().1 = Some(init);
        self.cgroups.borrow_mut().extend(cgroups_of(&init));
        init
    }

    /// `furnace list --json`, parsed.
    fn list_json(&self) -> Vec<Value> {
        let out = self.run(&["list", "--json"]);
        assert_eq!(out.status.code(), Some(0), "list --json: {out:?}");
        match serde_json::from_slice(&out.stdout) {
            Ok(Value::Array(list)) => list,
            other => panic!("list --json printed no array ({other:?}): {out:?}"),
        }
    }

    /// The `list --json` object of `name`.
    fn entry(&self, name: &str) -> Value {
        let list = self.list_json();
        let found = list.iter().find(|c| c["name"] == name);
        found
            .cloned()
            .unwrap_or_else(|| panic!("{name} not listed: {list:?}"))
    }

    /// The rows of `furnace list` (the header checked), split at whitespace.
    fn list_rows(&self) -> Vec<Vec<String>> {
        let out = self.run(&["list"]);
        assert_eq!(out.status.code(), Some(0), "list: {out:?}");
        let table = text(&out.stdout);
        let mut lines = table.lines().map(|l| {
            l.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<String>>()
        });
        let header = lines.next().unwrap_or_default();
        assert_eq!(
            header,
            ["NAME", "PID", "AGE", "PROCESSES", "ROOT"],
            "{table}"
        );
        lines.collect()
    }

    /// `furnace exec NAME COMMAND...`.
    fn exec(&self, name: &str, command: &[&str]) -> Output {
        let mut cmd = self.furnace(&["exec", name]);
        cmd.args(command);
        output(&mut cmd)
    }

    /// The names in the state dir (temporary leftovers of starts included).
    fn state_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.state)
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let mut left = Vec::new();
        // What the test started, and whatever else the state dir holds (a start whose name
        // the test could not learn).
        let mut all = self.started.borrow().clone();
        for name in self.state_entries() {
            if !name.starts_with('.') && !all.iter().any(|(n, _)| *n == name) {
                all.push((name, None));
            }
        }
        for (name, init) in &all {
            let mut stop = self.furnace(&["stop", name]);
            let stopped = stop.stdout(Stdio::null()).stderr(Stdio::null()).spawn();
            if let Ok(mut child) = stopped {
                let deadline = Instant::now() + TIMEOUT;
                while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            let Some(init) = init else { continue };
            if !eventually(GONE_WITHIN, || init.gone()) {
                left.push(format!("{name}: {:?}", init.processes()));
                if init.alive() {
                    let pid = rustix::process::Pid::from_raw(init.pid as i32).unwrap();
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        for dir in self.cgroups.borrow().iter().filter(|d| d.exists()) {
            left.push(format!("cgroup {}", dir.display()));
            let _ = fs::remove_dir(dir.join("contained"));
            let _ = eventually(Duration::from_secs(5), || fs::remove_dir(dir).is_ok());
        }
        let _ = fs::remove_dir_all(&self.state);
        if !std::thread::panicking() {
            assert!(left.is_empty(), "left behind after the test: {left:?}");
        }
    }
}

/// Runs `cmd` with `input` written to its stdin through a pipe (then closed), within
/// [`TIMEOUT`].
fn output_with_input(cmd: &mut Command, input: Vec<u8>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn furnace");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).map(|_| buf).unwrap_or_default()
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let status = wait_within(&mut child);
    writer.join().unwrap().expect("write furnace's stdin");
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// The container's cgroups: the `furnace-*` directories holding its PID 1 in this test's own
/// cgroup of each hierarchy (the library makes them under its caller's, which `furnace start`
/// inherits from the test).
fn cgroups_of(init: &Init) -> Vec<PathBuf> {
    use furnace_sys::cgroup;
    let mut found = Vec::new();
    for line in cgroup::own_cgroups().expect("read /proc/self/cgroup") {
        let own = match line.controllers.first() {
            _ if line.is_v2() => cgroup::own_cgroup_dir_v2(),
            Some(controller) => cgroup::own_cgroup_dir_v1(controller),
            None => continue,
        };
        let Some(own) = own.expect("find this process's cgroup") else {
            continue;
        };
        for entry in fs::read_dir(&own).into_iter().flatten().flatten() {
            let furnace = entry.file_name().to_string_lossy().starts_with("furnace-");
            let procs = fs::read_to_string(entry.path().join("cgroup.procs")).unwrap_or_default();
            if furnace && procs.lines().any(|p| p.trim() == init.pid.to_string()) {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Whether `path` holds `value` (whitespace trimmed).
fn holds(path: &Path, value: &str) -> bool {
    fs::read_to_string(path).is_ok_and(|v| v.trim() == value)
}

// ---------------------------------------------------------------------------------------------
// start, list, exec
// ---------------------------------------------------------------------------------------------

/// `start` prints the container's name (given, or a generated `c-xxxxxxxx`) and exits 0;
/// `list` shows it as a table and as JSON with its PID 1, root and process count.
#[test]
fn start_prints_the_name_and_list_shows_it() {
    let n = Named::new();
    let before = SystemTimeSecs::now();
    let init = n.start(&[], "web");
    let root = fs::canonicalize(n.t.root()).unwrap();
    // Without --name: a generated one.
    let out = output(n.furnace(&["start"]).arg(n.t.root()));
    let generated = text(&out.stdout).trim_end().to_owned();
    n.started.borrow_mut().push((generated.clone(), None));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let hex = generated.strip_prefix("c-").unwrap_or_default();
    assert!(
        hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "generated name {generated:?}"
    );
    let other = Init::of(n.entry(&generated)["pid"].as_u64().unwrap() as u32);
    n.started.borrow_mut().last_mut().unwrap().1 = Some(other);
    assert_ne!(other, init, "two containers, two PID 1s");

    let rows = n.list_rows();
    let mut expected = [(generated.clone(), other.pid), ("web".into(), init.pid)];
    expected.sort();
    assert_eq!(rows.len(), 2, "sorted by name: {rows:?}");
    for (row, (name, pid)) in rows.iter().zip(expected) {
        assert_eq!(row.len(), 5, "{row:?}");
        assert_eq!(row[..2], [name, pid.to_string()], "{rows:?}");
        assert!(row[2].ends_with('s'), "age in seconds: {row:?}");
        assert_eq!((row[3].as_str(), Path::new(&row[4])), ("1", &*root));
    }

    let web = n.entry("web");
    assert_eq!(web["pid"], init.pid);
    assert_eq!(web["root"], root.to_str().unwrap());
    assert_eq!(web["processes"], 1);
    assert_eq!(web["expires"], Value::Null);
    assert_eq!(
        (&web["hardened"], &web["rootless"]),
        (&false.into(), &false.into())
    );
    let created = web["created"].as_u64().expect("created");
    assert!(
        (before.0 - 1..=SystemTimeSecs::now().0 + 1).contains(&created),
        "{web}"
    );
    assert!(web["age_seconds"].as_u64().is_some_and(|a| a < 30), "{web}");
}

/// Seconds since the epoch, now.
struct SystemTimeSecs(u64);

impl SystemTimeSecs {
    fn now() -> Self {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        SystemTimeSecs(now.unwrap().as_secs())
    }
}

/// `exec` runs commands inside the container (its hostname; `ps` shows furnace-init as PID 1
/// and the command), with the command's exit status (7, 137 for SIGKILL, 127 for a missing
/// program), and applies `-w`, `-e`, `--uid` and `--gid`.
#[test]
fn exec_runs_commands_inside_with_their_exit_statuses() {
    let n = Named::new();
    n.start(&["--hostname", "named-box"], "box");
    let out = n.exec("box", &["hostname"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "named-box\n".into())
    );
    let out = n.exec("box", &["ps", "-o", "pid,comm"]);
    assert!(out.status.success(), "{out:?}");
    let ps = text(&out.stdout);
    let rows: Vec<&str> = ps.lines().skip(1).map(str::trim).collect();
    assert_eq!(rows.len(), 2, "PID 1 and ps alone: {ps}");
    assert_eq!(rows[0], "1 furnace-init", "{ps}");
    assert!(rows[1].ends_with(" ps"), "{ps}");
    for (command, code) in [
        (&["true"][..], 0),
        (&["sh", "-c", "exit 7"][..], 7),
        (&["sh", "-c", "kill -9 $$"][..], 137),
    ] {
        let out = n.exec("box", command);
        assert_eq!(out.status.code(), Some(code), "{command:?}: {out:?}");
        // The container runs on: no word of it being stopped.
        assert!(out.stderr.is_empty(), "{command:?}: {}", text(&out.stderr));
    }
    let out = n.exec("box", &["no-such-program"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(text(&out.stderr).contains("no-such-program"), "{out:?}");
    let out = output(
        n.furnace(&["exec", "-w", "/tmp", "-e", "GREETING=hi there"])
            .args([
                "--uid",
                "1000",
                "--gid",
                "1001",
                "box",
                "--",
                "sh",
                "-c",
                "echo \"$GREETING|$(pwd)|$(id -u):$(id -g)\"",
            ]),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "hi there|/tmp|1000:1001\n");
}

/// `exec` passes binary stdin and stdout through (every byte value, NULs included, more than a
/// pipe holds), keeps stderr apart, and the command sees stdin's EOF.
#[test]
fn exec_passes_binary_stdio_and_eof_through() {
    let n = Named::new();
    n.start(&[], "pipe");
    let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let mut cmd = n.furnace(&["exec", "pipe", "sh", "-c", "cat; echo done >&2"]);
    let out = output_with_input(&mut cmd, data.clone());
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), "done\n");
    assert!(out.stdout == data, "{} bytes came back", out.stdout.len());
    let out = output_with_input(
        &mut n.furnace(&["exec", "pipe", "wc", "-c"]),
        b"a\0b\n".to_vec(),
    );
    assert_eq!(text(&out.stdout).trim(), "4", "{out:?}");
}

/// `exec -t` without a terminal passes stdio straight through: no pty, the same bytes, the
/// command's exit status.
#[test]
fn exec_t_without_a_terminal_passes_stdio_straight_through() {
    let n = Named::new();
    n.start(&[], "notty");
    let script = "[ -t 0 ] && echo STDIN-IS-A-TTY; [ -t 1 ] && echo STDOUT-IS-A-TTY; cat; exit 5";
    let data: Vec<u8> = b"line\r\n\0\x03\x04\xff end".repeat(1000);
    let mut cmd = n.furnace(&["exec", "-t", "notty", "sh", "-c", script]);
    let out = output_with_input(&mut cmd, data.clone());
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        out.stdout == data,
        "changed on the way: {:?}",
        text(&out.stdout)
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

/// A container is one place for many commands: a file written by one exec is read by the
/// next, and a background process one exec started runs on into the next one's `ps` (and
/// `list`'s process count).
#[test]
fn a_container_is_one_place_for_many_commands() {
    let n = Named::new();
    let init = n.start(&[], "place");
    let out = n.exec("place", &["sh", "-c", "echo kept > /tmp/note"]);
    assert!(out.status.success(), "{out:?}");
    let out = n.exec("place", &["cat", "/tmp/note"]);
    assert_eq!(text(&out.stdout), "kept\n", "{out:?}");
    let background = "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!";
    let out = n.exec("place", &["sh", "-c", background]);
    assert!(out.status.success(), "{out:?}");
    let sleep_pid = text(&out.stdout).trim().to_owned();
    let out = n.exec("place", &["ps", "-o", "pid,comm"]);
    let ps = text(&out.stdout);
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().eq([sleep_pid.as_str(), "sleep"])),
        "the sleep {sleep_pid} is gone: {ps}"
    );
    assert_eq!(n.entry("place")["processes"], 2, "PID 1 and the sleep");
    assert_eq!(init.processes().len(), 2, "{:?}", init.processes());
}

/// Two execs run at the same time: each waits for a file the other makes (for 15 s at
/// most), and both succeed.
#[test]
fn two_execs_run_at_once() {
    let n = Named::new();
    n.start(&[], "both");
    let waiter = |mine: &str, theirs: &str| {
        let script = format!(
            "touch /tmp/{mine}; i=0; while [ ! -e /tmp/{theirs} ]; do \
             i=$((i+1)); [ $i -lt 150 ] || exit 9; sleep 0.1; done; echo {mine} saw {theirs}"
        );
        let mut cmd = n.furnace(&["exec", "both", "sh", "-c", &script]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("spawn furnace exec")
    };
    let a = waiter("a", "b");
    let b = waiter("b", "a");
    for (child, expected) in [(a, "a saw b\n"), (b, "b saw a\n")] {
        let mut child = child;
        let status = wait_within(&mut child);
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!((status.code(), out.as_str()), (Some(0), expected));
    }
}

/// Of two starts under one name at the same time, exactly one wins; the other says the name
/// is taken, and leaves nothing behind.
#[test]
fn two_starts_under_one_name_one_wins() {
    let n = Named::new();
    n.started.borrow_mut().push(("twin".into(), None));
    let starts: Vec<Child> = (0..2)
        .map(|_| {
            let mut cmd = n.furnace(&["start", "--name", "twin"]);
            cmd.arg(n.t.root())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let mut codes: Vec<(Option<i32>, String)> = starts
        .into_iter()
        .map(|mut child| {
            let status = wait_within(&mut child);
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            (status.code(), err)
        })
        .collect();
    codes.sort();
    let init = Init::of(n.entry("twin")["pid"].as_u64().unwrap() as u32);
    n.started.borrow_mut()[0].1 = Some(init);
    assert_eq!((codes[0].0, codes[1].0), (Some(0), Some(125)), "{codes:?}");
    assert!(codes[1].1.contains("runs already"), "{codes:?}");
    assert_eq!(n.list_json().len(), 1);
    assert_eq!(n.state_entries(), ["twin"]);
}

// ---------------------------------------------------------------------------------------------
// stop, errors, stale state, timeouts
// ---------------------------------------------------------------------------------------------

/// `stop` while an exec runs: the exec ends with 137 and one line saying the container was
/// stopped; `stop` exits 0, PID 1 and everything inside are gone and so is the state; a
/// second `stop` is exit 0 and says nothing is running; `exec` into it then fails plainly.
#[test]
fn stop_while_an_exec_runs_ends_it_with_137_and_one_line() {
    let n = Named::new();
    let init = n.start(&[], "doomed");
    let mut exec = n
        .furnace(&["exec", "doomed", "sh", "-c", "echo ready; sleep 1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut BufReader::new(exec.stdout.take().unwrap()), "ready");
    let out = n.run(&["stop", "doomed"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let status = wait_within(&mut exec);
    let mut stderr = String::new();
    exec.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(137), "{stderr}");
    assert_eq!(
        stderr,
        "furnace: the container doomed was stopped while the command ran\n"
    );
    init.assert_gone();
    assert!(!n.state.join("doomed").exists(), "{:?}", n.state_entries());
    assert!(n.list_rows().is_empty());
    let out = n.run(&["stop", "doomed"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let note = text(&out.stderr);
    assert_eq!(note.lines().count(), 1, "{note:?}");
    assert!(note.starts_with("furnace: ") && note.contains("is running (nothing to stop)"));
    let out = n.exec("doomed", &["true"]);
    assert_furnace_failure(&out, "no container named \"doomed\" is running");
}

/// Each error is one `furnace: ` line and exit 125, and loses nothing: starting under a name
/// that runs, bad names (`../x`, empty, 65 characters, `-x`) to start, exec and stop, and exec
/// into a name that does not run. The running container still works afterwards, and nothing
/// was made in the state dir.
#[test]
fn errors_are_one_line_and_lose_nothing() {
    let n = Named::new();
    let init = n.start(&[], "keeper");
    let out = n.exec("keeper", &["sh", "-c", "echo still here > /tmp/mark"]);
    assert!(out.status.success(), "{out:?}");
    let out = output(n.furnace(&["start", "--name", "keeper"]).arg(n.t.root()));
    assert_furnace_failure(&out, "\"keeper\" runs already");
    let long = "n".repeat(65);
    for bad in ["../x", "", long.as_str(), "-x"] {
        let out = output(
            n.furnace(&["start", &format!("--name={bad}")])
                .arg(n.t.root()),
        );
        assert_furnace_failure(&out, &format!("container name {bad:?}"));
        let out = n.run(&["exec", "--", bad, "true"]);
        assert_furnace_failure(&out, &format!("container name {bad:?}"));
        let out = n.run(&["stop", "--", bad]);
        assert_furnace_failure(&out, &format!("container name {bad:?}"));
    }
    let out = n.exec("ghost", &["true"]);
    assert_furnace_failure(&out, "no container named \"ghost\" is running");
    // Nothing lost, nothing made.
    assert_eq!(n.state_entries(), ["keeper"]);
    assert_eq!(n.entry("keeper")["pid"], init.pid);
    assert_eq!(n.list_json().len(), 1);
    let out = n.exec("keeper", &["cat", "/tmp/mark"]);
    assert_eq!(text(&out.stdout), "still here\n", "{out:?}");
}

/// A container whose PID 1 was killed from outside is stale: the next `list` no longer shows
/// it and removes its directory and cgroups; `exec` says no container of that name runs;
/// `stop` is a no-op.
#[test]
fn a_stale_container_is_cleaned_by_the_next_look() {
    let n = Named::new();
    let init = n.start(&["--pids-limit", "50"], "stale");
    let cgroups = cgroups_of(&init);
    assert!(!cgroups.is_empty(), "no cgroup holds PID 1 {}", init.pid);
    kill(init.pid, libc::SIGKILL);
    init.assert_gone();
    assert!(n.state.join("stale").exists(), "nobody has looked yet");
    assert!(n.list_rows().is_empty());
    assert!(!n.state.join("stale").exists(), "{:?}", n.state_entries());
    let left: Vec<&PathBuf> = cgroups.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    assert!(n.list_json().is_empty());
    let out = n.exec("stale", &["true"]);
    assert_furnace_failure(&out, "no container named \"stale\" is running");
    let out = n.run(&["stop", "stale"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// `--timeout 2s`: the container is gone after it (PID 1 and all inside; `list` empty, the
/// state and cgroups removed). A bad timeout (`0`, `5x`) is 125 before anything starts.
#[test]
fn a_timeout_ends_the_container_and_a_bad_one_starts_nothing() {
    let n = Named::new();
    for bad in ["0", "5x", "1h1h"] {
        let mut cmd = n.furnace(&["start", "--name", "never", "--timeout", bad]);
        let out = output(cmd.arg(n.t.root()));
        assert_furnace_failure(&out, &format!("--timeout {bad:?}"));
    }
    assert!(n.state_entries().is_empty(), "{:?}", n.state_entries());
    assert!(n.list_json().is_empty());
    let started = Instant::now();
    let init = n.start(&["--timeout", "2s", "--pids-limit", "50"], "brief");
    let cgroups = cgroups_of(&init);
    let entry = n.entry("brief");
    let (created, expires) = (entry["created"].as_u64(), entry["expires"].as_u64());
    assert_eq!(expires, created.map(|c| c + 2), "{entry}");
    let out = n.exec(
        "brief",
        &["sh", "-c", "sleep 1000 </dev/null >/dev/null 2>&1 &"],
    );
    assert!(out.status.success(), "{out:?}");
    init.assert_gone();
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "ended after {:?}, before its timeout",
        started.elapsed()
    );
    assert!(n.list_rows().is_empty());
    assert!(n.state_entries().is_empty(), "{:?}", n.state_entries());
    let left: Vec<&PathBuf> = cgroups.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

// ---------------------------------------------------------------------------------------------
// shell NAME, limits
// ---------------------------------------------------------------------------------------------

/// `furnace shell NAME` without a terminal: the shell reads its script from stdin, runs in
/// the running container (its hostname, its files) and exits with the script's status;
/// options that describe a new container are refused (125), and the container runs on.
#[test]
fn shell_into_a_running_container_reads_stdin_without_a_terminal() {
    let n = Named::new();
    n.start(&["--hostname", "shellbox"], "sh1");
    let out = n.exec("sh1", &["sh", "-c", "echo from-exec > /tmp/left"]);
    assert!(out.status.success(), "{out:?}");
    let script = b"echo \"in-$(hostname)-$(cat /tmp/left)\"; exit 3\n".to_vec();
    let out = output_with_input(&mut n.furnace(&["shell", "sh1"]), script);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("in-shellbox-from-exec"), "{stdout:?}");
    for option in ["--hardened", "--isolate-net"] {
        let out = n.run(&["shell", option, "sh1"]);
        assert_furnace_failure(&out, "sh1 is a running container");
    }
    let out = n.exec("sh1", &["hostname"]);
    assert_eq!(text(&out.stdout), "shellbox\n", "{out:?}");
}

/// `start --memory 64M --pids-limit 20`: the limits are in the container's cgroups and hold
/// for exec'd commands (a memory hog is OOM-killed and said so; a fork loop cannot fork past
/// 20), the container runs on, and `stop` removes the cgroups and every process.
#[test]
fn limits_hold_for_execs_and_stop_removes_the_cgroups() {
    let n = Named::new();
    let init = n.start(&["--memory", "64M", "--pids-limit", "20"], "tight");
    let cgroups = cgroups_of(&init);
    assert!(
        cgroups.iter().any(|d| holds(&d.join("pids.max"), "20")),
        "no cgroup of PID 1 has pids.max 20: {cgroups:?}"
    );
    let bytes = (64u64 << 20).to_string();
    assert!(
        cgroups.iter().any(|d| holds(&d.join("memory.max"), &bytes)
            || holds(&d.join("contained/memory.limit_in_bytes"), &bytes)),
        "no cgroup of PID 1 limits memory to 64M: {cgroups:?}"
    );
    let out = n.exec("tight", &["tail", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    assert!(text(&out.stderr).contains("OOM"), "{}", text(&out.stderr));
    let out = n.exec("tight", &["sh", "-c", FORK_LOOP]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("can't fork"),
        "the shell forked past pids-limit 20: {out:?}"
    );
    assert!(init.processes().len() <= 20, "{:?}", init.processes());
    assert!(n.entry("tight")["processes"]
        .as_u64()
        .is_some_and(|p| (10..=20).contains(&p)));
    let out = n.run(&["stop", "tight"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    init.assert_gone();
    let left: Vec<&PathBuf> = cgroups.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroups left after stop: {left:?}");
}

/// `stop` while an exec runs in a container with limits (cgroups, whose kill-all reaches the
/// command before PID 1 dies): the exec still says, every time, that the container was
/// stopped. Several rounds, since the order in which the two die varies.
#[test]
fn stop_while_an_exec_runs_with_limits_says_so_every_time() {
    let n = Named::new();
    let mut silent = Vec::new();
    for round in 0..25 {
        let name = format!("round{round}");
        let init = n.start(&["--pids-limit", "50"], &name);
        let mut exec = n
            .furnace(&["exec", &name, "sh", "-c", "echo ready; sleep 1000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_line(&mut BufReader::new(exec.stdout.take().unwrap()), "ready");
        let out = n.run(&["stop", &name]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let status = wait_within(&mut exec);
        let mut stderr = String::new();
        exec.stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(137), "round {round}: {stderr}");
        let said = format!("furnace: the container {name} was stopped while the command ran\n");
        if stderr != said {
            silent.push((round, stderr));
        }
        init.assert_gone();
    }
    assert!(silent.is_empty(), "rounds without the line: {silent:?}");
}
