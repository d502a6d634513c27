//! `furnace completions SHELL` and the hidden `furnace man`: shell completion scripts
//! (`clap_complete`) and manual pages (`clap_mangen`), generated from the clap definitions the
//! command line itself is parsed with, so that they cannot drift from it.

use std::io::{self, Write};

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::Failure;

/// `furnace completions SHELL`: the script on stdout.
pub fn completions(args: &CompletionsArgs) -> u8 {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "furnace", &mut out);
    print(&out)
}

/// `furnace man [COMMAND]`: the page of furnace, or of `furnace COMMAND`, on stdout; `furnace
/// man --dir DIR`: every page written into DIR (`furnace.1`, `furnace-run.1`, …), their paths
/// on stdout.
pub fn man(args: &ManArgs) -> u8 {
    // Every sub-command's options (deferred until built: `cli::Deferred`); clap's own `help`
    // sub-command gets no page.
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    if let Some(dir) = &args.dir {
        return match write_pages(command, dir) {
            Ok(paths) => {
                let list: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
                print(list.as_bytes())
            }
            Err(e) => Failure::furnace(format_args!(
                "man --dir {}: cannot write the pages: {e}",
                dir.display()
            ))
            .report(),
        };
    }
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let page = match &args.command {
        None => command,
        Some(name) => match command.find_subcommand(name) {
            Some(sub) if !sub.is_hide_set() => sub.clone(),
            _ => {
                return Failure::furnace(format_args!(
                    "man {name:?}: no such command (run, shell, start, exec, list, stop, \
                     completions)"
                ))
                .report()
            }
        },
    };
    let mut out = Vec::new();
    match clap_mangen::Man::new(page).render(&mut out) {
        Ok(()) => print(&out),
        Err(e) => Failure::furnace(format_args!("man: {e}")).report(),
    }
}

/// Writes every page into `dir` (made when missing) and returns their paths.
fn write_pages(
    command: clap::Command,
    dir: &std::path::Path,
) -> io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut pages = vec![command.clone()];
    pages.extend(
        command
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned(),
    );
    pages
        .into_iter()
        .map(|page| clap_mangen::Man::new(page).generate_to(dir))
        .collect()
}

/// Writes `bytes` to stdout; a closed stdout (`| head`) is no failure of furnace's.
fn print(bytes: &[u8]) -> u8 {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => Failure::furnace(format_args!("write to stdout: {e}")).report(),
    }
}
