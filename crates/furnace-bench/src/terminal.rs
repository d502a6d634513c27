//! The terminal rows: the round trip of a keystroke's echo on a pseudo-terminal, with the
//! program run directly on it, through `furnace run -t`, and through bubblewrap.
//!
//! The bench opens a pseudo-terminal of its own (the host's devpts) and runs `cat` with its
//! terminal side as stdin, stdout and stderr and as the controlling terminal of a new session
//! (`setsid --ctty`, util-linux: the bench has no `unsafe` for a `pre_exec` hook). A keystroke
//! is one byte written to the master; its round trip is the time until the echo of that byte
//! is read back from the master. An erase follows each one, untimed, so the line never fills.
//!
//! - Directly, and under bubblewrap (which passes the terminal through), the byte lands on
//!   this terminal, whose line discipline (canonical, `ECHO`) echoes it in the kernel: the
//!   floor. `cat` never reads it (no end of line) — the echo is the kernel's alone.
//! - `furnace run -t` puts this terminal in raw mode (no echo) and runs `cat` on a terminal of
//!   the container's own: the byte goes through furnace's proxy to the inner terminal, which
//!   echoes it, and the echo comes back through the proxy. Before the first keystroke and after
//!   the last, the bench checks (with `stty`) that this terminal is raw, so every echo it reads
//!   came through the proxy; for the other two, that it is canonical with echo.
//!
//! The three run at once, interleaved keystroke by keystroke (the order rotating), after a
//! warm-up that is not counted; each keystroke is sent as soon as the previous erase came back
//! (no typing pause: with pauses, waking from idle dominates every row alike). Each ends with
//! `Ctrl-D` on the empty line: `cat` reads end of file and exits, and furnace tears its
//! container down.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::peers::{Peer, Tool};

/// The row names the report looks up.
pub(crate) const DIRECT: &str = "`cat` directly on the terminal";
pub(crate) const FURNACE: &str = "furnace run -t (CLI)";
pub(crate) const BWRAP: &str = "bubblewrap";

/// Keystrokes per configuration before the counted ones.
pub(crate) const WARM_UP: usize = 20;

/// The keystroke: a plain letter, echoed as itself.
const KEY: u8 = b'x';
/// `VERASE` of a new terminal (DEL), echoed as backspace, space, backspace (`ECHOE`).
const ERASE: u8 = 0x7f;
const ERASE_ECHO: &[u8] = b"\x08 \x08";
/// `VEOF` (`Ctrl-D`): on an empty line, end of file for the reader.
const EOF: u8 = 0x04;

/// The longest any single wait may take before the bench gives up on a configuration.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Round trips of one configuration, in µs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Echoes {
    micros: Vec<f64>,
}

impl Echoes {
    pub fn push(&mut self, d: Duration) {
        self.micros.push(d.as_secs_f64() * 1e6);
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    fn quantile(&self, q: f64) -> f64 {
        let mut v = self.micros.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        let pos = q * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    }

    /// The median, in µs.
    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    /// The 99th percentile, in µs.
    pub fn p99(&self) -> f64 {
        self.quantile(0.99)
    }
}

/// The rows, in the order reported: directly, furnace, bubblewrap (when it is a peer).
pub(crate) fn measure(
    root: &Path,
    cli: &Path,
    peers: &[Peer],
    keystrokes: usize,
) -> Result<Vec<(String, Echoes)>, String> {
    let mut sessions = vec![
        Session::start(DIRECT, root.join("bin/cat").into(), &[], Mode::Echo)?,
        Session::start(
            FURNACE,
            cli.into(),
            &["run".into(), "-t".into(), root.into(), "/bin/cat".into()],
            Mode::Raw,
        )?,
    ];
    if peers.iter().any(|p| p.tool == Tool::Bwrap) {
        let mut args = crate::peers::bwrap_args(root, false);
        if let Some(last) = args.last_mut() {
            *last = "/bin/cat".into();
        }
        sessions.push(Session::start(BWRAP, "bwrap".into(), &args, Mode::Echo)?);
    }
    let mut echoes: Vec<Echoes> = sessions.iter().map(|_| Echoes::default()).collect();
    let count = sessions.len();
    for i in 0..WARM_UP + keystrokes {
        if i % 10 == 0 {
            eprint!("\r[bench] keystroke echo: {i}/{}", WARM_UP + keystrokes);
        }
        for k in 0..count {
            let k = (i + k) % count;
            let rtt = sessions[k].keystroke()?;
            if i >= WARM_UP {
                echoes[k].push(rtt);
            }
        }
    }
    eprintln!();
    let mut out = Vec::new();
    for (session, echoes) in sessions.into_iter().zip(echoes) {
        let name = session.name;
        session.finish()?;
        out.push((name.to_owned(), echoes));
    }
    Ok(out)
}

/// What the bench's terminal must be in for a configuration's echo to be the one meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Canonical with echo: the kernel echoes on this terminal.
    Echo,
    /// Raw (no `icanon`, no `echo`): any echo came from the other side of furnace's proxy.
    Raw,
}

/// One program running on a terminal of the bench's.
#[derive(Debug)]
struct Session {
    name: &'static str,
    /// The master side; `None` once hung up.
    master: Option<File>,
    /// The terminal side, kept for `stty` until the end.
    terminal: Option<OwnedFd>,
    mode: Mode,
    child: Child,
}

impl Session {
    /// Opens a terminal, starts `setsid --ctty PROGRAM ARGS` on it and waits until the
    /// terminal is in `mode`.
    fn start(
        name: &'static str,
        program: OsString,
        args: &[OsString],
        mode: Mode,
    ) -> Result<Session, String> {
        let fail = |e: &dyn std::fmt::Display| format!("{name}: {e}");
        let dev = File::open("/dev").map_err(|e| fail(&format_args!("open /dev: {e}")))?;
        let pty = furnace_sys::pty::open_beneath(dev.as_fd(), "ptmx").map_err(|e| fail(&e))?;
        furnace_sys::pty::set_window_size(&pty.peer, 24, 80).map_err(|e| fail(&e))?;
        let stdio = || {
            pty.peer
                .try_clone()
                .map(Stdio::from)
                .map_err(|e| fail(&format_args!("dup the terminal: {e}")))
        };
        let child = Command::new("setsid")
            .arg("--ctty")
            .arg(&program)
            .args(args)
            .stdin(stdio()?)
            .stdout(stdio()?)
            .stderr(stdio()?)
            .spawn()
            .map_err(|e| {
                fail(&format_args!(
                    "setsid --ctty {}: {e}",
                    program.to_string_lossy()
                ))
            })?;
        let mut session = Session {
            name,
            master: Some(File::from(pty.master)),
            terminal: Some(pty.peer),
            mode,
            child,
        };
        // furnace makes the terminal raw once its container is up and the command started.
        let deadline = Instant::now() + TIMEOUT;
        while session.terminal_mode()? != Some(mode) {
            if let Ok(Some(status)) = session.child.try_wait() {
                return Err(fail(&format_args!(
                    "exited ({status}) before the first keystroke: {:?}",
                    session.drain()
                )));
            }
            if Instant::now() > deadline {
                return Err(fail(&format_args!(
                    "the terminal is not {mode:?} after {TIMEOUT:?}: {:?}",
                    session.drain()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(session)
    }

    /// The terminal's mode as `stty` reads it (`None`: neither raw nor canonical with echo).
    fn terminal_mode(&self) -> Result<Option<Mode>, String> {
        let terminal = self.terminal.as_ref().ok_or("terminal closed")?;
        let stdin = terminal
            .try_clone()
            .map_err(|e| format!("{}: dup the terminal: {e}", self.name))?;
        let out = Command::new("stty")
            .arg("-a")
            .stdin(stdin)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("{}: stty: {e}", self.name))?;
        if !out.status.success() {
            return Err(format!("{}: stty -a failed ({})", self.name, out.status));
        }
        Ok(parse_mode(&String::from_utf8_lossy(&out.stdout)))
    }

    fn master(&mut self) -> Result<&mut File, String> {
        self.master
            .as_mut()
            .ok_or_else(|| format!("{}: terminal hung up", self.name))
    }

    /// One keystroke: the time from writing it to reading its echo. The erase after it is not
    /// timed.
    fn keystroke(&mut self) -> Result<Duration, String> {
        let start = Instant::now();
        self.send(KEY)?;
        self.expect(&[KEY])?;
        let rtt = start.elapsed();
        self.send(ERASE)?;
        self.expect(ERASE_ECHO)?;
        Ok(rtt)
    }

    fn send(&mut self, byte: u8) -> Result<(), String> {
        let name = self.name;
        self.master()?
            .write_all(&[byte])
            .map_err(|e| format!("{name}: write to the terminal: {e}"))
    }

    /// Reads exactly `want` from the master (no allocation: this is in the timed path).
    fn expect(&mut self, want: &[u8]) -> Result<(), String> {
        let name = self.name;
        let master = self.master()?;
        let mut got = [0u8; 16];
        let mut len = 0;
        let deadline = Instant::now() + TIMEOUT;
        while len < want.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let ready = furnace_sys::fd::forksafe::poll_readable(master.as_fd(), Some(left))
                .map_err(|e| format!("{name}: poll the terminal: {e}"))?;
            if !ready {
                return Err(format!(
                    "{name}: no echo after {TIMEOUT:?} (wanted {want:?}, got {:?})",
                    &got[..len]
                ));
            }
            let n = master
                .read(&mut got[len..])
                .map_err(|e| format!("{name}: read the terminal: {e}"))?;
            if n == 0 {
                return Err(format!("{name}: the terminal was closed"));
            }
            len += n;
            if !want.starts_with(&got[..len]) {
                return Err(format!(
                    "{name}: echo {:?}, wanted {want:?}",
                    String::from_utf8_lossy(&got[..len])
                ));
            }
        }
        Ok(())
    }

    /// Whatever the terminal has to read now, for an error message.
    fn drain(&mut self) -> String {
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while let Some(master) = self.master.as_mut() {
            match furnace_sys::fd::forksafe::poll_readable(master.as_fd(), Some(Duration::ZERO)) {
                Ok(true) => match master.read(&mut buf) {
                    Ok(n) if n > 0 => text.extend_from_slice(&buf[..n]),
                    _ => break,
                },
                _ => break,
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Checks the terminal is still in its mode, sends end of file and waits for the program
    /// (for furnace: its container torn down) to exit with success.
    fn finish(mut self) -> Result<(), String> {
        if self.terminal_mode()? != Some(self.mode) {
            return Err(format!(
                "{}: the terminal left {:?} mode during the keystrokes",
                self.name, self.mode
            ));
        }
        self.terminal = None;
        self.send(EOF)?;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    let name = self.name;
                    return Err(format!("{name} ended with {status}: {:?}", self.drain()));
                }
                Ok(None) if Instant::now() > deadline => {
                    return Err(format!("{}: still running after Ctrl-D", self.name))
                }
                Ok(None) => {
                    // Read what it writes, so that nothing waits on a full terminal.
                    self.drain();
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(format!("{}: wait: {e}", self.name)),
            }
        }
    }
}

impl Drop for Session {
    /// On the error paths: hang the terminal up (furnace forwards the `SIGHUP` to its command
    /// and tears down), then kill whatever is left.
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        self.terminal = None;
        self.master = None;
        let deadline = Instant::now() + Duration::from_secs(3);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Raw` when `stty -a` shows `-icanon` and `-echo`, `Echo` when it shows `icanon` and `echo`,
/// `None` for anything between.
fn parse_mode(stty: &str) -> Option<Mode> {
    let has = |flag: &str| {
        stty.split(|c: char| c.is_whitespace() || c == ';')
            .any(|t| t == flag)
    };
    if has("-icanon") && has("-echo") {
        Some(Mode::Raw)
    } else if has("icanon") && has("echo") {
        Some(Mode::Echo)
    } else {
        None
    }
}

fn micros(us: f64) -> String {
    if !us.is_finite() {
        "–".to_owned()
    } else if us.abs() >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn signed(us: Option<f64>) -> String {
    match us {
        Some(us) if us.is_finite() => {
            format!("{}{}", if us < 0.0 { "-" } else { "+" }, micros(us.abs()))
        }
        _ => "–".to_owned(),
    }
}

fn row<'a>(rows: &'a [(String, Echoes)], name: &str) -> Option<&'a Echoes> {
    rows.iter().find(|(n, _)| n == name).map(|(_, e)| e)
}

/// What furnace's proxy adds to an echo: (median, p99) of furnace less those of the direct
/// row, in µs.
pub(crate) fn added(rows: &[(String, Echoes)]) -> Option<(f64, f64)> {
    let (furnace, direct) = (row(rows, FURNACE)?, row(rows, DIRECT)?);
    Some((
        furnace.median() - direct.median(),
        furnace.p99() - direct.p99(),
    ))
}

/// The summary's lines: what the proxy adds, and furnace against bubblewrap.
pub(crate) fn summary(out: &mut String, rows: &[(String, Echoes)]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| terminal: `furnace run -t` adds to a keystroke's echo (median) | {} |",
        signed(added(rows).map(|(median, _)| median))
    );
    if let (Some(furnace), Some(bwrap)) = (row(rows, FURNACE), row(rows, BWRAP)) {
        let _ = writeln!(
            out,
            "| terminal: keystroke echo, `furnace run -t` ÷ bubblewrap | {:.2} |",
            furnace.median() / bwrap.median()
        );
    }
}

/// The section of the report.
pub(crate) fn markdown(out: &mut String, rows: &[(String, Echoes)]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Keystroke echo on a terminal — `furnace run -t` against the terminal alone\n\n\
         The bench opens a pseudo-terminal and runs `cat` on it, as the controlling terminal of \
         a new session: directly, through `furnace run -t`, and through bubblewrap, the three at \
         once, interleaved keystroke by keystroke. A keystroke is one byte written to the \
         terminal's master side; its round trip is the time until the echo of that byte is read \
         back there (an erase follows, untimed). Directly and under bubblewrap, which passes \
         the terminal through, the terminal itself echoes in the kernel: the floor. furnace \
         puts the terminal in raw mode (checked before the first keystroke and after the last) \
         and runs `cat` on a terminal of the container's own, so the byte goes through \
         furnace's proxy to that terminal, which echoes it, and the echo comes back through the \
         proxy: two reads, two writes and two wake-ups of furnace more. The keystrokes follow \
         one another without a typing pause, so the difference is the proxy's own cost with \
         every process awake; {WARM_UP} of warm-up are not counted. Medians and 99th \
         percentiles.\n"
    );
    let _ = writeln!(
        out,
        "| tool | median | p99 | keystrokes | added to direct, median | added, p99 |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let direct = row(rows, DIRECT);
    for (name, echoes) in rows {
        let diff = |f: fn(&Echoes) -> f64| signed(direct.map(|d| f(echoes) - f(d)));
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
            micros(echoes.median()),
            micros(echoes.p99()),
            echoes.len(),
            diff(Echoes::median),
            diff(Echoes::p99),
        );
    }
    out.push('\n');
    if let Some((median, p99)) = added(rows) {
        let bwrap = match (row(rows, FURNACE), row(rows, BWRAP)) {
            (Some(furnace), Some(bwrap)) => format!(
                "; `furnace run -t` ÷ bubblewrap: {:.2}",
                furnace.median() / bwrap.median()
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "furnace's proxy adds **{}** to a keystroke's echo (difference of the medians; {} \
             at the 99th percentile){bwrap}.\n",
            signed(Some(median)),
            signed(Some(p99)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echoes(us: &[u64]) -> Echoes {
        let mut e = Echoes::default();
        for &us in us {
            e.push(Duration::from_micros(us));
        }
        e
    }

    #[test]
    fn median_and_p99() {
        let e = echoes(&(1..=101).collect::<Vec<_>>());
        assert_eq!(e.len(), 101);
        assert!((e.median() - 51.0).abs() < 1e-9);
        assert!((e.p99() - 100.0).abs() < 1e-9);
        assert!(Echoes::default().p99().is_nan());
    }

    #[test]
    fn stty_modes() {
        let cooked = "speed 38400 baud; rows 24; columns 80; line = 0;\n\
                      isig icanon iexten echo echoe echok -echonl -noflsh\n";
        let raw = "speed 38400 baud; rows 24; columns 80; line = 0;\n\
                   -isig -icanon -iexten -echo echoe echok -echonl -noflsh\n";
        assert_eq!(parse_mode(cooked), Some(Mode::Echo));
        assert_eq!(parse_mode(raw), Some(Mode::Raw));
        // Half raw is neither.
        assert_eq!(parse_mode("-icanon echo"), None);
    }

    #[test]
    fn section_and_summary() {
        let rows = vec![
            (DIRECT.to_owned(), echoes(&[10, 12, 14])),
            (FURNACE.to_owned(), echoes(&[40, 42, 44])),
            (BWRAP.to_owned(), echoes(&[11, 13, 15])),
        ];
        let mut md = String::new();
        markdown(&mut md, &rows);
        assert!(
            md.contains("| furnace run -t (CLI) | 42.0 µs | 44.0 µs | 3 | +30.0 µs | +30.0 µs |")
        );
        assert!(md.contains("adds **+30.0 µs** to a keystroke's echo"));
        assert!(md.contains("`furnace run -t` ÷ bubblewrap: 3.23"));
        let mut summary_md = String::new();
        summary(&mut summary_md, &rows);
        assert!(summary_md.contains("(median) | +30.0 µs |"));
        let mut none = String::new();
        markdown(&mut none, &[]);
        summary(&mut none, &[]);
        assert!(none.is_empty());
    }
}
