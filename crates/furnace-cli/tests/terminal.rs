//! The furnace binary on a real terminal, under tmux: `furnace shell` and `furnace run -t` on
//! a terminal of the container's own, proxied to the user's (job control, Ctrl-C to the inner
//! job, window size, raw mode restored); `furnace run` without `-t` on the user's terminal.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn shell_on_a_terminal() {
    let t = TestRoot::new();
    let tmux = Tmux::start();
    tmux.type_line(&format!(
        "'{FURNACE}' shell -e GREETING=hi '{}'",
        t.root().display()
    ));
    tmux.expect("[furnace localhost /]#");
    tmux.clear();
    tmux.type_line("hostname; stty size; echo inside=$FURNACE_CONTAINER:$GREETING");
    tmux.expect("localhost\n40 120\ninside=1:hi");
    // Ctrl-C reaches the inner foreground job, and the shell survives it.
    tmux.clear();
    tmux.type_line("sleep 100");
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys(&["C-c"]);
    tmux.type_line("echo survived=$?");
    tmux.expect("survived=130");
    // Job control: Ctrl-Z stops the foreground job, fg brings it back.
    tmux.clear();
    tmux.type_line("sleep 101");
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys(&["C-z"]);
    tmux.expect("Stopped");
    tmux.type_line(r#"kill -9 %1; wait; echo job""-gone"#);
    tmux.expect("job-gone");
    // exit ends furnace with the shell's status and gives the terminal back.
    tmux.clear();
    tmux.type_line("exit 3");
    tmux.expect("host$");
    tmux.type_line("echo furnace-exit=$?");
    tmux.expect("furnace-exit=3");
}

#[test]
fn run_on_a_terminal() {
    let t = TestRoot::new();
    let root = t.root();
    let tmux = Tmux::start();
    tmux.type_line(&format!("F='{FURNACE}'; R='{}'", root.display()));
    // Ctrl-C interrupts the command (it is in the terminal's foreground group).
    tmux.clear();
    tmux.type_line("$F run $R sleep 100; echo status=$?");
    std::thread::sleep(Duration::from_millis(500));
    tmux.keys(&["C-c"]);
    tmux.expect("status=130");
    // A command that leaves the terminal raw, and dies: furnace restores the attributes.
    tmux.clear();
    tmux.type_line(
        r#"$F run $R sh -c 'stty raw -echo; kill -9 $$'; echo status=$?; stty -a; echo stty-do""ne"#,
    );
    tmux.expect("status=137");
    // `stty -a` runs after the echo: its output is all there once the marker is.
    tmux.expect("stty-done");
    let screen = tmux.screen();
    assert!(
        screen.contains(" icanon") && screen.contains(" echo "),
        "terminal left raw:\n{screen}"
    );
    // The window size is the terminal's own.
    tmux.clear();
    tmux.type_line("$F run $R stty size");
    tmux.expect("40 120");
}

/// Issue 13: in the hardened profile too, the shell runs on a terminal of the container's own
/// (before, it had none: "no job control"): two Ctrl-C at the prompt leave it alive, Ctrl-Z
/// stops its foreground job — and furnace stays in the foreground, so the host's prompt never
/// comes back while the container has the terminal.
#[test]
fn hardened_shell_has_job_control_and_survives_ctrl_c() {
    let t = TestRoot::new();
    let tmux = Tmux::start();
    tmux.type_line(&format!(
        "'{FURNACE}' shell --hardened '{}'",
        t.root().display()
    ));
    tmux.expect("[furnace localhost /]#");
    tmux.clear();
    tmux.type_line("sleep 100");
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys(&["C-c"]);
    std::thread::sleep(Duration::from_millis(200));
    tmux.keys(&["C-c"]);
    tmux.type_line("echo survived=$?");
    tmux.expect("survived=130");
    tmux.clear();
    tmux.type_line("sleep 101");
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys(&["C-z"]);
    tmux.expect("Stopped");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !tmux.screen().contains("host$"),
        "the host's prompt came back while the container had the terminal:\n{}",
        tmux.screen()
    );
    tmux.type_line(r#"jobs; kill -9 %1; wait; echo job""-gone"#);
    tmux.expect("job-gone");
    tmux.type_line("exit 4");
    std::thread::sleep(Duration::from_millis(300));
    if tmux.screen().contains("You have stopped jobs") {
        // The shell reports the killed job only at the next prompt; a second exit goes.
        tmux.type_line("exit 4");
    }
    tmux.expect("host$");
    tmux.type_line("echo furnace-exit=$?");
    tmux.expect("furnace-exit=4");
}

/// Issue 13: the container's terminal follows the user's window size, at the start and when
/// it changes.
#[test]
fn the_window_size_follows_the_terminal() {
    let t = TestRoot::new();
    let tmux = Tmux::start();
    tmux.type_line(&format!("'{FURNACE}' shell '{}'", t.root().display()));
    tmux.expect("[furnace localhost /]#");
    tmux.clear();
    tmux.type_line("stty size");
    tmux.expect("40 120");
    tmux.resize(100, 30);
    std::thread::sleep(Duration::from_millis(300));
    tmux.clear();
    tmux.type_line("stty size");
    tmux.expect("30 100");
    tmux.type_line("exit");
    tmux.expect("host$");
}

/// Issue 13: `furnace run -t` runs the command on a terminal of the container's own devpts
/// (`/dev/pts/0` inside), and a command that leaves it raw and dies leaves the user's
/// terminal as it was.
#[test]
fn run_t_gives_a_terminal_of_the_container() {
    let t = TestRoot::new();
    let tmux = Tmux::start();
    tmux.type_line(&format!("F='{FURNACE}'; R='{}'", t.root().display()));
    tmux.clear();
    tmux.type_line("$F run -t $R tty; echo status=$?");
    tmux.expect("status=0");
    assert!(tmux.screen().contains("/dev/pts/0"), "{}", tmux.screen());
    tmux.clear();
    tmux.type_line(
        r#"$F run -t $R sh -c 'stty raw -echo; kill -9 $$'; echo status=$?; stty -a; echo stty-do""ne"#,
    );
    tmux.expect("status=137");
    // `stty -a` runs after the echo: its output is all there once the marker is.
    tmux.expect("stty-done");
    let screen = tmux.screen();
    assert!(
        screen.contains(" icanon") && screen.contains(" echo "),
        "terminal left raw:\n{screen}"
    );
}

/// Issue 13: without a terminal on stdin, `-t` makes no terminal: stdin, stdout and the exit
/// status pass straight through.
#[test]
fn run_t_without_a_terminal_passes_stdio_through() {
    let t = TestRoot::new();
    let mut child = Command::new(FURNACE)
        .args(["run", "-t"])
        .arg(t.root())
        .args(["sh", "-c", "cat; [ -t 0 ] || echo no-terminal; exit 5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start furnace");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"binary\x00data\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert_eq!(out.stdout, b"binary\x00data\nno-terminal\n");
}

// ---------------------------------------------------------------------------------------------
// Issue 13: full-screen programs, the terminal given back, TIOCSTI, Ctrl-C and Ctrl-Z
// ---------------------------------------------------------------------------------------------

/// The prompt of the shell `furnace shell` starts in a test root (busybox's `sh`).
const PROMPT: &str = "[furnace localhost /]#";

/// Starts tmux and, in it, `furnace shell OPTIONS ROOT` (see [`start_shell`]).
fn shell(t: &TestRoot, options: &[String]) -> Tmux {
    let tmux = Tmux::start();
    start_shell(&tmux, t, options);
    tmux
}

/// Types `furnace shell OPTIONS ROOT` at the host's prompt; returns once the container's
/// prompt is alone on a cleared screen.
fn start_shell(tmux: &Tmux, t: &TestRoot, options: &[String]) {
    let options: String = options.iter().map(|o| format!(" '{o}'")).collect();
    tmux.type_line(&format!(
        "'{FURNACE}' shell{options} '{}'",
        t.root().display()
    ));
    tmux.expect(PROMPT);
    fresh_screen(tmux, PROMPT);
}

/// Clears the screen and waits until `prompt` is all there is on it, so that what the test
/// waits for next can only be new output.
fn fresh_screen(tmux: &Tmux, prompt: &str) {
    tmux.clear();
    assert!(
        eventually(Duration::from_secs(10), || tmux.screen().trim() == prompt),
        "the screen did not clear down to {prompt:?}:\n{}",
        tmux.screen()
    );
}

/// `exit` at the container's prompt, and the host's prompt back. The shell refuses the first
/// `exit` while it has a job it has not reported as ended yet; the second one goes.
fn exit_shell(tmux: &Tmux) {
    tmux.type_line("exit");
    let screen = || tmux.screen();
    assert!(
        eventually(Duration::from_secs(10), || {
            let s = screen();
            s.contains("host$") || s.contains("You have stopped jobs")
        }),
        "`exit` did not end the shell:\n{}",
        screen()
    );
    if !screen().contains("host$") {
        tmux.type_line("exit");
    }
    tmux.expect("host$");
}

/// What the screen says from each `tag` on to the end of its line (output of two processes
/// on one terminal may share a line).
fn reports(tmux: &Tmux, tag: &str) -> Vec<String> {
    tmux.screen()
        .lines()
        .flat_map(|l| l.match_indices(tag).map(|(at, _)| l[at..].to_owned()))
        .collect()
}

/// `--hardened` or nothing, for the tests run in both profiles.
fn profile(hardened: bool) -> Vec<String> {
    if hardened {
        vec!["--hardened".into()]
    } else {
        Vec::new()
    }
}

/// `less` and `top` in `furnace shell`: each gets the whole screen and the keys (raw mode on
/// the container's terminal), and `q` gives the prompt back.
fn less_and_top(hardened: bool) {
    let t = TestRoot::new();
    let tmux = shell(&t, &profile(hardened));
    tmux.type_line("seq 500 | sed s/^/row-/ > /tmp/rows; less /tmp/rows");
    tmux.expect("row-39");
    tmux.keys(&["Space"]);
    tmux.expect("row-78");
    let screen = tmux.screen();
    assert!(
        !screen.contains(PROMPT),
        "less is not on the screen:\n{screen}"
    );
    tmux.keys(&["q"]);
    tmux.expect(PROMPT);
    tmux.type_line("echo less-status=$?");
    tmux.expect("less-status=0");

    fresh_screen(&tmux, PROMPT);
    tmux.type_line("top");
    tmux.expect("Load average:");
    tmux.expect("PPID USER");
    let screen = tmux.screen();
    assert!(
        !screen.contains(PROMPT),
        "top is not on the screen:\n{screen}"
    );
    tmux.keys(&["q"]);
    tmux.expect(PROMPT);
    tmux.type_line("echo top-status=$?");
    tmux.expect("top-status=0");
    exit_shell(&tmux);
}

/// Issue 13: `less` in `furnace shell` shows its file, pages on a key, and `q` gives the
/// prompt back; the same with `top` (its header, `q`, the prompt).
#[test]
fn less_and_top_in_the_shell() {
    less_and_top(false);
}

/// Issue 13: `less` and `top` work the same in the hardened profile's shell.
#[test]
fn less_and_top_in_the_hardened_shell() {
    less_and_top(true);
}

/// The host terminal's settings before `furnace shell` and after `exit`: the same, though the
/// container's programs changed the modes of theirs (top, `stty raw -echo`).
fn exit_gives_the_terminal_back_unchanged(hardened: bool) {
    let t = TestRoot::new();
    let tmux = Tmux::start();
    // `stty -g` says every attribute; the checksum of `stty -a` adds the window size and the
    // line discipline.
    let state = r#"echo "tty-st""ate: $(stty -g) $(stty -a | cksum)""#;
    fresh_screen(&tmux, "host$");
    tmux.type_line(state);
    tmux.expect("tty-state: ");
    let before = reports(&tmux, "tty-state: ");
    assert_eq!(before.len(), 1, "{}", tmux.screen());

    start_shell(&tmux, &t, &profile(hardened));
    tmux.type_line("top");
    tmux.expect("Load average:");
    tmux.keys(&["q"]);
    tmux.expect(PROMPT);
    fresh_screen(&tmux, PROMPT);
    tmux.type_line(r#"stty raw -echo; echo container-""raw"#);
    tmux.expect("container-raw");
    exit_shell(&tmux);

    fresh_screen(&tmux, "host$");
    tmux.type_line(state);
    tmux.expect("tty-state: ");
    let after = reports(&tmux, "tty-state: ");
    assert_eq!(
        after, before,
        "the host's terminal after `exit` differs from before `furnace shell`"
    );
}

/// Issue 13: `exit` gives the user's terminal back exactly as it was (`stty -a` before and
/// after are the same), whatever the container did with its own.
#[test]
fn exit_gives_the_terminal_back_unchanged_in_the_shell() {
    exit_gives_the_terminal_back_unchanged(false);
}

/// Issue 13: the same in the hardened profile.
#[test]
fn exit_gives_the_terminal_back_unchanged_in_the_hardened_shell() {
    exit_gives_the_terminal_back_unchanged(true);
}

/// A Perl script (the test root has only busybox, which has no way to call `ioctl`, and
/// furnace-cli's code, tests included, may not use `unsafe`; `perl` is part of every Debian,
/// and the test binds it in with its libraries: [`perl_binds`]) that pushes `TEXT` and a newline into every terminal it can reach with `TIOCSTI`: each terminal
/// open in any process it may look at (`/proc/PID/fd`, itself included, so its own controlling
/// terminal), once per terminal. For each one it prints `terminal NAME: injected` or
/// `terminal NAME: refused: ERROR`, where NAME is the node of the container's `/dev/pts` that
/// is that terminal (same filesystem and inode), or `NOT-THE-CONTAINERS dev:ino` when none is.
/// Usage: `perl /inject.pl TIOCSTI TEXT` (the request number, from the libc crate).
const INJECTOR: &str = r#"
my ($request, $text) = @ARGV;
my %ours;
opendir(my $pts, "/dev/pts") or die "/dev/pts: $!";
for my $n (grep { /^\d+$/ } readdir $pts) {
    my ($dev, $ino) = stat "/dev/pts/$n";
    $ours{"$dev:$ino"} = "/dev/pts/$n";
}
my %seen;
opendir(my $proc, "/proc") or die "/proc: $!";
for my $pid (sort { $a <=> $b } grep { /^\d+$/ } readdir $proc) {
    opendir(my $fds, "/proc/$pid/fd") or next;
    for my $fd (sort { $a <=> $b } grep { /^\d+$/ } readdir $fds) {
        open(my $t, "+<", "/proc/$pid/fd/$fd") or next;
        -t $t or next;
        my ($dev, $ino, $rdev) = (stat $t)[0, 1, 6];
        # /dev/tty is the opener's controlling terminal, found through fd 0 anyway.
        next if $rdev == (5 << 8) || $seen{"$dev:$ino"}++;
        my $name = $ours{"$dev:$ino"} // "NOT-THE-CONTAINERS $dev:$ino";
        my $ok = 1;
        for my $c (split //, "$text\n") {
            ioctl($t, $request, $c) or do { $ok = 0; last };
        }
        print "terminal $name: ", ($ok ? "injected" : "refused: $!"), "\n";
    }
}
print "injector ", "done\n";
"#;

/// `--ro-bind` options that give the container the host's `perl` and the libraries it loads,
/// each at its own path.
fn perl_binds() -> Vec<String> {
    let perl = "/usr/bin/perl";
    assert!(
        Path::new(perl).is_file(),
        "{perl} not found: the TIOCSTI test injects with the host's perl (install perl-base)"
    );
    let ldd = Command::new("ldd").arg(perl).output().expect("run ldd");
    assert!(ldd.status.success(), "ldd {perl}: {ldd:?}");
    let mut files = vec![perl.to_owned()];
    files.extend(
        text(&ldd.stdout)
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
            .map(str::to_owned),
    );
    files
        .iter()
        .flat_map(|f| ["--ro-bind".to_owned(), format!("{f}:{f}")])
        .collect()
}

/// `TIOCSTI` from inside the container: see [`INJECTOR`].
fn tiocsti_stays_inside(hardened: bool) {
    let t = TestRoot::new();
    fs::write(t.root().join("inject.pl"), INJECTOR).expect("write the injector");
    let mut options = profile(hardened);
    options.extend(perl_binds());
    let tmux = shell(&t, &options);
    // Run by the container's shell it prints `injected-42-in-1`; by the host's, `…-in-host`.
    let injected = r#"echo inj""ected-$((6*7))-in-${FURNACE_CONTAINER:-host}"#;
    tmux.type_line(&format!(
        "LC_ALL=C perl /inject.pl {} '{injected}'",
        libc::TIOCSTI
    ));
    tmux.expect("injector done");
    // Root in the privileged profile may inject anywhere (CAP_SYS_ADMIN), and only its own
    // terminal is within reach; the hardened profile's seccomp filter refuses TIOCSTI
    // everywhere, its own terminal included.
    let works = !hardened;
    let expected = if works {
        "terminal /dev/pts/0: injected"
    } else {
        "terminal /dev/pts/0: refused: Operation not permitted"
    };
    assert_eq!(
        reports(&tmux, "terminal "),
        [expected],
        "the container's terminal, and no other, is within reach:\n{}",
        tmux.screen()
    );
    if works {
        tmux.expect("injected-42-in-1");
    }
    tmux.type_line(r#"echo after-inj""ection"#);
    tmux.expect("after-injection");
    // Text pushed into the user's terminal while furnace has it would come back through the
    // proxy and run a second time here.
    let runs = tmux
        .screen()
        .lines()
        .filter(|l| l.trim() == "injected-42-in-1")
        .count();
    assert_eq!(runs, usize::from(works), "{}", tmux.screen());
    exit_shell(&tmux);
    tmux.type_line(r#"echo host-che""cked"#);
    tmux.expect("host-checked");
    let screen = tmux.screen();
    assert!(
        !screen.contains("injected-42-in-host"),
        "the host's shell ran injected input:\n{screen}"
    );
}

/// Issue 13: `TIOCSTI` inside `furnace shell` reaches the container's own terminal only (root
/// there may inject, and the injected line runs once, in the container), never the user's:
/// no process inside holds it, and nothing runs at the host's prompt after `exit`.
#[test]
fn tiocsti_inside_the_shell_never_reaches_the_users_terminal() {
    tiocsti_stays_inside(false);
}

/// Issue 13: the same in the hardened profile, where the command may inject into its own
/// terminal only when `dev.tty.legacy_tiocsti` allows it without `CAP_SYS_ADMIN`.
#[test]
fn tiocsti_inside_the_hardened_shell_never_reaches_the_users_terminal() {
    tiocsti_stays_inside(true);
}

/// Issue 13: Ctrl-C at the prompt, twice and more, never ends the shell (furnace forwards no
/// SIGINT of its own: the key is a byte for the container's terminal).
#[test]
fn ctrl_c_at_the_prompt_leaves_the_shell_alive() {
    let t = TestRoot::new();
    let tmux = shell(&t, &[]);
    for presses in 1..=3 {
        tmux.keys(&["C-c"]);
        // The shell answers each with a new prompt.
        assert!(
            eventually(Duration::from_secs(10), || {
                tmux.screen().matches(PROMPT).count() > presses
            }),
            "no new prompt after Ctrl-C number {presses}:\n{}",
            tmux.screen()
        );
    }
    tmux.type_line("echo alive=${FURNACE_CONTAINER:-host}");
    tmux.expect("alive=1");
    exit_shell(&tmux);
}

/// Issue 13: Ctrl-Z — at the prompt, on a foreground job, and on `furnace run -t`'s command
/// — never stops furnace, so the host's prompt does not come back while the container has the
/// terminal, and what the user types next goes to the container, never read behind the
/// host's back.
#[test]
fn ctrl_z_never_gives_the_terminal_back_to_the_host_early() {
    let t = TestRoot::new();
    let tmux = shell(&t, &[]);
    let where_ = "echo where=${FURNACE_CONTAINER:-host}";
    // At the prompt.
    tmux.keys(&["C-z"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.type_line(where_);
    tmux.expect("where=1");
    // On the foreground job: it stops, the container's shell takes the terminal back.
    fresh_screen(&tmux, PROMPT);
    tmux.type_line(r#"sh -c 'echo job-rea""dy; exec sleep 101'"#);
    tmux.expect("job-ready");
    tmux.keys(&["C-z"]);
    tmux.expect("Stopped");
    std::thread::sleep(Duration::from_millis(300));
    tmux.type_line(where_);
    tmux.expect("where=1");
    let screen = tmux.screen();
    assert!(
        !screen.contains("host$") && !screen.contains("where=host"),
        "the host's shell got the terminal:\n{screen}"
    );
    tmux.type_line(r#"kill -9 %1; wait; echo job""-gone"#);
    tmux.expect("job-gone");
    exit_shell(&tmux);
    // `furnace run -t`: its command leads an orphaned process group, so Ctrl-Z does nothing;
    // furnace stays in the foreground until Ctrl-C ends the command. (The command's output
    // reaches the screen only once furnace has made the terminal raw.)
    fresh_screen(&tmux, "host$");
    tmux.type_line(&format!(
        r#"'{FURNACE}' run -t '{}' sh -c 'echo run-rea""dy; exec sleep 100'; echo status=$?"#,
        t.root().display()
    ));
    tmux.expect("run-ready");
    tmux.keys(&["C-z"]);
    std::thread::sleep(Duration::from_millis(500));
    let screen = tmux.screen();
    assert_eq!(
        screen.matches("host$").count(),
        1,
        "the host's prompt came back while the command ran:\n{screen}"
    );
    tmux.keys(&["C-c"]);
    tmux.expect("status=130");
}

/// Issue 15: without `-t`, on the user's terminal, the command leads a process group of its
/// own in the terminal's foreground: `kill 0` inside ends the command alone (the host's shell
/// lives on), it reads the terminal, Ctrl-C reaches it, and Ctrl-Z stops it and furnace with
/// it as one job of the host's shell, which `fg` continues — in both profiles.
#[test]
fn run_on_the_users_terminal_has_a_process_group_and_job_control_of_its_own() {
    let t = TestRoot::new();
    let tmux = Tmux::start();
    for options in ["", "--hardened"] {
        tmux.type_line(&format!(
            "F='{FURNACE}'; R='{}'; O='{options}'",
            t.root().display()
        ));
        tmux.clear();
        tmux.type_line(r#"$F run $O $R sh -c 'kill 0; echo not-rea""ched'; echo after=$?"#);
        tmux.expect("after=143");
        tmux.type_line("echo host-shell-alive");
        tmux.expect("host-shell-alive");
        assert!(!tmux.screen().contains("not-reached"));
        tmux.clear();
        tmux.type_line(r#"$F run $O $R sh -c 'read x; echo got=$x'"#);
        std::thread::sleep(Duration::from_millis(500));
        tmux.type_line("typed");
        tmux.expect("got=typed");
        tmux.clear();
        tmux.type_line(r#"$F run $O $R sh -c 'echo sleep-re""ady; sleep 2; echo wo""ke'"#);
        tmux.expect("sleep-ready");
        tmux.keys(&["C-z"]);
        tmux.expect("Stopped");
        tmux.type_line("jobs -l; echo jobs-li\"\"sted");
        tmux.expect("jobs-listed");
        tmux.type_line("fg");
        tmux.expect("woke");
        tmux.type_line("echo fg=$?");
        tmux.expect("fg=0");
    }
}
