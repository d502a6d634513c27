//! The interactive shell of [`Container::shell_command`] and
//! [`Container::shell_command_norc`]: bash or `/bin/sh`, reading the root's start-up files
//! (handed over through a pipe, nothing written in the root), with a prompt that says it is
//! the container.

use crate::command::Command;
use crate::container::Container;

impl Container {
    /// [`shell_command`](Container::shell_command) without the root's start-up files:
    /// `bash --norc -i`, or `/bin/sh -i` with `ENV` removed, with the same `PS1` and
    /// `FURNACE_CONTAINER=1`.
    pub fn shell_command_norc(&self) -> Command<'_> {
        shell(self, false)
    }
}

/// The prompt of [`Container::shell_command`]: `[furnace HOST DIR]# `.
const SHELL_PROMPT: &str = r"[furnace \h \w]\$ ";

/// bash, reading the start-up files: an outer `bash -c` hands the furnace rc file (`$1`) to
/// the interactive bash it becomes through a pipe (`--rcfile <(…)`, nothing written in the
/// root). bash unsets `PS1` in a non-interactive shell, so the outer one takes it from its
/// initial environment and passes it on as `__FURNACE_PS1`.
const BASH_OUTER: &str = r#"while IFS= read -r -d '' __furnace_var; do
  case $__furnace_var in PS1=*) export __FURNACE_PS1="${__furnace_var#PS1=}" ;; esac
done 2>/dev/null </proc/$$/environ
unset __furnace_var
exec -a bash "$BASH" --rcfile <(printf '%s\n' "$1") -i"#;

/// The rc file of bash: closes the pipe it came through (bash has read it whole), reads the
/// user's `~/.bashrc` (bash has read `/etc/bash.bashrc` already when built to), then sets the
/// prompt that says it is the container.
const BASH_RC: &str = r#"case ${BASH_SOURCE-} in /dev/fd/[0-9]*) eval "exec ${BASH_SOURCE#/dev/fd/}<&-" ;; esac
if [ -f ~/.bashrc ] && [ -r ~/.bashrc ]; then . ~/.bashrc; fi
if [ -n "${__FURNACE_PS1+set}" ]; then PS1=$__FURNACE_PS1; export PS1; unset __FURNACE_PS1; fi"#;

/// `/bin/sh`, reading its start-up file (`$ENV`): an outer `sh -c` hands the interactive `sh`
/// it becomes a furnace `ENV` file on fd 3 (a here-document: a pipe in dash and busybox),
/// which reads the user's `$ENV` and then sets the prompt. The prompt is the environment's
/// `PS1` (exported), not a default the outer shell gave itself.
const SH_OUTER: &str = r#"if [ -n "${ENV+set}" ]; then __FURNACE_ENV=$ENV; export __FURNACE_ENV; fi
case $(export -p) in *"export PS1="*) __FURNACE_PS1=$PS1; export __FURNACE_PS1 ;; esac
exec 3<<'__FURNACE_RC__'
exec 3<&-
if [ -n "${__FURNACE_ENV+set}" ]; then
  ENV=$__FURNACE_ENV; unset __FURNACE_ENV
  if [ -f "$ENV" ] && [ -r "$ENV" ]; then . "$ENV"; fi
else
  unset ENV
fi
if [ -n "${__FURNACE_PS1+set}" ]; then PS1=$__FURNACE_PS1; export PS1; unset __FURNACE_PS1; fi
__FURNACE_RC__
ENV=/dev/fd/3 exec /bin/sh -i"#;

/// The interactive shell of [`Container::shell_command`] (`rc`) and
/// [`Container::shell_command_norc`].
pub(crate) fn shell(container: &Container, rc: bool) -> Command<'_> {
    let bash = container.has_file_inside(c"bin/bash") || container.has_file_inside(c"usr/bin/bash");
    let mut command = match (bash, rc) {
        (true, true) => {
            let mut command = container.command("bash");
            command.args(["-c", BASH_OUTER, "bash", BASH_RC]);
            command
        }
        (true, false) => {
            let mut command = container.command("bash");
            command.args(["--norc", "-i"]);
            command
        }
        (false, true) => {
            let mut command = container.command("/bin/sh");
            command.args(["-c", SH_OUTER, "sh"]);
            command
        }
        (false, false) => {
            let mut command = container.command("/bin/sh");
            command.arg("-i").env_remove("ENV");
            command
        }
    };
    command
        .env("PS1", SHELL_PROMPT)
        .env("FURNACE_CONTAINER", "1");
    command
}
