//! Test-only failpoints: make a chosen stage of start-up, spawn or teardown die or hang, to
//! prove that a failure anywhere leaves nothing behind.
//!
//! Compiled in only with the cargo feature `failpoints` (the integration tests enable it;
//! release builds of the library and the CLI do not have it). Then the environment variable
//! `FURNACE_FAILPOINT=<stage>:<action>`, read when a container starts, arms one failpoint:
//!
//! - stages in the owner process: `pre-clone`, `post-clone`, `ready-received`,
//!   `spawn-pre-fork`, `teardown-signalled`;
//! - in PID 1: `pid1-start`, `step-N` (after set-up step N, numbered as in
//!   [`Error::Setup`](crate::Error::Setup)), `before-mask` (before the hardened profile's
//!   first mask), `mount-verified:<target>` (a standard mount's target was opened and
//!   checked, the filesystem is not attached yet: `mount-verified:/sys`), `pid1-ready`
//!   (before it reports);
//! - in a command's child before exec: `spawn-forked`, `spawn-pre-exec`;
//!
//! and the actions: `exit` (leave at once with status 97, no clean-up), `kill` (`SIGKILL`
//! itself; PID 1, which cannot, exits), `pause` (hang for ever, until killed), `delay` (wait
//! one second, then go on: a window for a test to race with).

/// What an armed failpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Exit,
    Kill,
    Pause,
    Delay,
}

/// One armed failpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failpoint {
    stage: String,
    action: Action,
}

impl Failpoint {
    /// The failpoint `FURNACE_FAILPOINT` arms, if the feature is on and the variable is set.
    pub(crate) fn from_env() -> Option<Failpoint> {
        if !cfg!(feature = "failpoints") {
            return None;
        }
        Self::parse(&std::env::var("FURNACE_FAILPOINT").ok()?)
    }

    fn parse(text: &str) -> Option<Failpoint> {
        let (stage, action) = text.rsplit_once(':')?;
        let action = match action {
            "exit" => Action::Exit,
            "kill" => Action::Kill,
            "pause" => Action::Pause,
            "delay" => Action::Delay,
            _ => return None,
        };
        Some(Failpoint {
            stage: stage.to_owned(),
            action,
        })
    }

    /// Acts if `stage` is the armed one. Makes system calls only, so it may run after a fork.
    pub(crate) fn hit(this: Option<&Failpoint>, stage: &str) {
        self::hit_numbered(this, stage, None);
    }

    /// As [`Failpoint::hit`], for `step-N` stages: compares without formatting the name.
    pub(crate) fn hit_step(this: Option<&Failpoint>, step: usize) {
        self::hit_numbered(this, "step-", Some(step));
    }

    /// As [`Failpoint::hit`], for stages named by a prefix and a path (`mount-verified:/sys`):
    /// compares without building the name.
    pub(crate) fn hit_suffixed(this: Option<&Failpoint>, prefix: &str, suffix: &std::ffi::CStr) {
        let Some(failpoint) = this else { return };
        if failpoint.stage.as_bytes().strip_prefix(prefix.as_bytes()) == Some(suffix.to_bytes()) {
            act(failpoint.action);
        }
    }
}

fn hit_numbered(this: Option<&Failpoint>, prefix: &str, number: Option<usize>) {
    let Some(failpoint) = this else { return };
    let matches = match number {
        None => failpoint.stage == prefix,
        Some(n) => {
            failpoint
                .stage
                .strip_prefix(prefix)
                .and_then(|rest| rest.parse::<usize>().ok())
                == Some(n)
        }
    };
    if matches {
        act(failpoint.action);
    }
}

fn act(action: Action) {
    use furnace_sys::fd::forksafe::poll;
    use furnace_sys::process::forksafe::exit;
    match action {
        Action::Exit => exit(97),
        Action::Kill => {
            let _ = furnace_sys::signal::forksafe::raise(furnace_sys::Signal::KILL);
            exit(98)
        }
        Action::Pause => loop {
            let _ = poll(&mut [], None);
        },
        Action::Delay => {
            let _ = poll(&mut [], Some(std::time::Duration::from_secs(1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stage_and_action() {
        let fp = Failpoint::parse("step-7:pause").unwrap();
        assert_eq!((fp.stage.as_str(), fp.action), ("step-7", Action::Pause));
        assert_eq!(
            Failpoint::parse("pre-clone:exit").unwrap().action,
            Action::Exit
        );
        assert!(Failpoint::parse("pre-clone:explode").is_none());
        assert!(Failpoint::parse("nothing").is_none());
    }

    #[test]
    fn unarmed_and_other_stages_do_nothing() {
        Failpoint::hit(None, "pre-clone");
        let fp = Failpoint::parse("step-3:exit").unwrap();
        Failpoint::hit(Some(&fp), "pre-clone");
        Failpoint::hit_step(Some(&fp), 2);
        Failpoint::hit_step(Some(&fp), 30);
    }
}
