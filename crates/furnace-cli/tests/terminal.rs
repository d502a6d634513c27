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
    tmux.type_line("$F run $R sh -c 'stty raw -echo; kill -9 $$'; echo status=$?; stty -a");
    tmux.expect("status=137");
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
    tmux.type_line("$F run -t $R sh -c 'stty raw -echo; kill -9 $$'; echo status=$?; stty -a");
    tmux.expect("status=137");
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
