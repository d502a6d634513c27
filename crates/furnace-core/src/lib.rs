//! A sturdier `chroot`: a real PID 1 in fresh namespaces over a root directory, processes run
//! inside with the interface of `std::process`, and nothing left behind.
//!
//! ```no_run
//! use furnace_core::Container;
//! let container = Container::start("/srv/rootfs")?;
//! let ps = container.command("ps").arg("aux").output()?;
//! print!("{}", String::from_utf8_lossy(&ps.stdout)); // PID 1 and ps, nothing else
//! drop(container); // every process inside is killed, every mount gone
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Container::builder`] configures networking, bind mounts, tmpfs mounts, an overlay over the
//! root (throw-away writes: [`Overlay::Ephemeral`]), a read-only root, `resolv.conf` and the
//! hostname;
//! [`Container::command`] returns a [`Command`] that mirrors `std::process::Command` and
//! returns std's own `Child`, `Output` and `ExitStatus`. [`host`] has RAII guards for
//! building a root on the host (bind and overlay mounts).
//!
//! By default this is the *privileged* profile, like the original furnace: root inside the
//! container is root on the host (full capabilities, host loop devices). It protects against
//! accidents, not against hostile payloads. For code you do not trust, use
//! [`ContainerBuilder::hardened`] — see the project's `docs/SECURITY.md`.
//!
//! Without root, call [`rootless::enter`] first thing in `main`: the process enters a user
//! namespace of its own and everything above works the same, with root inside mapped to the
//! caller outside. The hardened profile without root is the combination for code you do not
//! trust: root inside is then no one outside.
#![warn(missing_docs)]

mod attach;
mod builder;
mod cgroups;
mod command;
mod container;
mod devices;
mod enter;
mod error;
mod failpoint;
mod hardening;
pub mod host;
mod hostfacts;
mod idmapped;
mod idrange;
mod init;
mod launch;
mod loops;
mod paths;
mod plan;
mod program;
mod registry;
mod resolv;
mod resources;
pub mod rootless;
mod roots;
pub mod seccomp;
mod shell;
mod traces;
mod users;
mod visibility;

pub use builder::{BindMount, ContainerBuilder, DEFAULT_START_TIMEOUT, HARDENED_CAPABILITIES};
pub use command::Command;
pub use container::{Container, STOP_TIMEOUT};
pub use devices::{DeviceAccess, DeviceKind, DeviceNode, DeviceRule};
pub use error::{Error, PathProblem, Result, SpawnStep};
/// Re-exported from `furnace-sys`, so that [`Error::Setup`]'s errno and [`Error::InitDied`]'s
/// exit can be matched without depending on it.
pub use furnace_sys::{Errno, ExitKind};
pub use idmapped::PrivateUsers;
pub use program::InitProgram;
pub use registry::{validate_name, ContainerInfo, Lifetime, Registry, MAX_NAME_LEN};
pub use resolv::ResolvConf;
pub use resources::{ResourceUsage, MIN_MEMORY};
pub use roots::{Overlay, TmpfsOptions, Warning};
pub use seccomp::{
    ArgCondition, ArgOp, Seccomp, SeccompAction, SeccompFilters, SeccompProfile, SyscallRule,
};
pub use users::User;
