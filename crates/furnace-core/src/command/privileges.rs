//! What a command may gain or keep of privilege beyond the profile's defaults:
//! `no_new_privs`, and exact capability sets (an OCI runtime's `exec`).

use std::io;

use furnace_sys::cred::AllCapabilitySets;

use super::Command;

impl Command<'_> {
    /// Sets `no_new_privs` for the process, as the hardened profile always does: `execve`
    /// grants no privilege (setuid and setgid bits, file capabilities) it did not have.
    ///
    /// ```no_run
    /// use furnace_core::Container;
    /// let container = Container::start("/srv/rootfs")?;
    /// // A build as an unprivileged user that no setuid program can take back to root.
    /// let status = container.command("make").uid(1000).gid(1000).no_new_privileges(true).status()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn no_new_privileges(&mut self, on: bool) -> &mut Self {
        self.entry.no_new_privs = on;
        self
    }

    /// Runs the process with exactly these capability sets — bounding, effective, permitted,
    /// inheritable and ambient — whatever its uid (a process that is not root keeps its
    /// permitted set across the change of uid), as an OCI `process.capabilities` gives them.
    /// Privileged profile only: in the hardened one the spawn fails with `InvalidInput`
    /// (change its set with [`cap_add`](Command::cap_add) and [`cap_drop`](Command::cap_drop)).
    ///
    /// ```no_run
    /// use furnace_core::Container;
    /// use furnace_sys::cred::{AllCapabilitySets, CapabilitySet};
    /// let container = Container::start("/srv/rootfs")?;
    /// // A server as uid 1000 that may bind low ports, and nothing else.
    /// let bind = CapabilitySet::NET_BIND_SERVICE;
    /// let sets = AllCapabilitySets {
    ///     bounding: bind,
    ///     effective: bind,
    ///     permitted: bind,
    ///     inheritable: bind,
    ///     ambient: bind,
    /// };
    /// container.command("/srv/httpd").uid(1000).gid(1000).capability_sets(sets).spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capability_sets(&mut self, sets: AllCapabilitySets) -> &mut Self {
        self.entry.capability_sets = Some(sets);
        self
    }

    /// Refuses exact capability sets in the hardened profile.
    pub(super) fn check_capability_sets(&self) -> io::Result<()> {
        if self.entry.hardened && self.entry.capability_sets.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "capability_sets needs the privileged profile: change the hardened profile's \
                 set with cap_add and cap_drop",
            ));
        }
        Ok(())
    }
}
