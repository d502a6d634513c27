//! Issue 13, first part: a pseudo-terminal of the container's own devpts for a command
//! (`Container::open_pty`, `Command::terminal`): the command's controlling terminal, usable as
//! a real one from the master side — what typed there reaches the shell, `Ctrl-C` its
//! foreground job — in both profiles.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use furnace_sys::fd::forksafe::poll_readable;
use furnace_tests::*;

/// Reads from the master until `needle` has appeared in what was read (or the deadline
/// passed), and returns all of it.
fn read_until(master: &OwnedFd, seen: &mut String, needle: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{needle:?} did not appear on the terminal; it showed {seen:?}"
        );
        if !poll_readable(master.as_fd(), Some(left.min(Duration::from_millis(200))))
            .unwrap_or(false)
        {
            continue;
        }
        match rustix::io::read(master, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    seen.clone()
}

fn write(master: &OwnedFd, text: &str) {
    let mut file = std::fs::File::from(master.try_clone().expect("dup the master"));
    file.write_all(text.as_bytes())
        .expect("write to the terminal");
}

/// A command on a pseudo-terminal of the container runs with it as its controlling terminal:
/// `tty` names the container's own `/dev/pts/N`, `/proc/self/stat` has a terminal, and the
/// exit status comes back as usual.
fn the_pty_is_the_commands_controlling_terminal(hardened: bool) {
    let scratch = Scratch::idmappable();
    let c = start_profile(&scratch.root(), hardened);
    let pty = c.open_pty().expect("open a pty of the container");
    let mut child = c
        .command("sh")
        .args([
            "-c",
            "tty; echo ctty=$(cut -d' ' -f7 /proc/self/stat); ls /dev/pts; exit 3",
        ])
        .terminal(&pty)
        .expect("use the pty")
        .spawn()
        .expect("spawn on the pty");
    let mut seen = String::new();
    let out = read_until(&pty.master, &mut seen, "ptmx");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(3), "{out:?}");
    assert!(
        out.contains("/dev/pts/0"),
        "the container's own devpts: {out:?}"
    );
    let ctty = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("ctty="))
        .unwrap_or_else(|| panic!("no ctty line: {out:?}"));
    assert_ne!(ctty.trim(), "0", "a controlling terminal: {out:?}");
}

/// The pty is the command's controlling terminal (privileged profile).
#[test]
fn the_pty_is_the_commands_controlling_terminal_privileged() {
    the_pty_is_the_commands_controlling_terminal(false);
}

/// The pty is the command's controlling terminal (hardened profile, which otherwise gives
/// none).
#[test]
fn the_pty_is_the_commands_controlling_terminal_hardened() {
    the_pty_is_the_commands_controlling_terminal(true);
}

/// An interactive shell on the pty: `Ctrl-C` typed at the master ends its foreground job (a
/// `sleep`) and leaves the shell alive, which then runs what is typed next and exits.
fn ctrl_c_reaches_the_foreground_job_not_the_shell(hardened: bool) {
    let scratch = Scratch::idmappable();
    let c = start_profile(&scratch.root(), hardened);
    let pty = c.open_pty().expect("open a pty of the container");
    let mut child = c
        .command("sh")
        .arg("-i")
        .env("PS1", "prompt> ")
        .terminal(&pty)
        .expect("use the pty")
        .spawn()
        .expect("spawn an interactive shell");
    let mut seen = String::new();
    read_until(&pty.master, &mut seen, "prompt> ");
    write(&pty.master, "sleep 100; echo after-sleep\n");
    // The sleep is the foreground job once its command line is echoed back.
    read_until(&pty.master, &mut seen, "after-sleep\r\n");
    std::thread::sleep(Duration::from_millis(200));
    write(&pty.master, "\u{3}");
    write(&pty.master, "echo answer=$((6*7))\n");
    let out = read_until(&pty.master, &mut seen, "answer=42");
    write(&pty.master, "exit 0\n");
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "the shell survived Ctrl-C and exited 0: {out:?}"
    );
    assert!(
        !out.contains("after-sleep\r\nafter-sleep"),
        "the interrupted line did not go on: {out:?}"
    );
}

/// Ctrl-C at the pty ends the foreground job, not the shell (privileged profile).
#[test]
fn ctrl_c_reaches_the_foreground_job_not_the_shell_privileged() {
    ctrl_c_reaches_the_foreground_job_not_the_shell(false);
}

/// Ctrl-C at the pty ends the foreground job, not the shell (hardened profile).
#[test]
fn ctrl_c_reaches_the_foreground_job_not_the_shell_hardened() {
    ctrl_c_reaches_the_foreground_job_not_the_shell(true);
}
