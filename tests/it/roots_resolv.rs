//! Roots left as they were found, continued: the container's `resolv.conf` in each
//! [`ResolvConf`] mode. The fixtures are [`crate::roots`]'s.

use std::fs;

use furnace_core::{Container, ResolvConf, Warning};
use furnace_tests::hostside::{relative_to_outside, symlink_over, Outside};
use furnace_tests::*;

use crate::roots::{assert_as_found, listing, sh_in, BareRoot};

/// The host's `/etc/resolv.conf`, which a container sharing the network should see.
fn host_resolv() -> String {
    fs::read_to_string("/etc/resolv.conf").expect("premise: the host has /etc/resolv.conf")
}

/// Issue 14: `Auto` gives roots whose `resolv.conf` links into `/run` (systemd-resolved's
/// relative stub link, resolvconf's absolute one, one through `/var/run -> ../run`) the
/// host's nameservers, on the container's own `/run`: nothing is written into the root's `/run`,
/// the links are left as they were, and there is no warning.
#[test]
fn auto_gives_a_root_linked_into_run_the_hosts_nameservers() {
    let scratch = Scratch::new();
    let link = scratch.host_path("/etc/resolv.conf");
    symlink_over(&scratch.host_path("/var/run"), "../run");
    let nameservers: Vec<String> = host_resolv()
        .lines()
        .filter(|l| l.starts_with("nameserver"))
        .map(str::to_owned)
        .collect();
    assert!(
        !nameservers.is_empty(),
        "premise: the host's resolv.conf names a nameserver"
    );
    let run_before = listing(&scratch.host_path("/run"));
    for target in [
        "../run/systemd/resolve/stub-resolv.conf",
        "/run/resolvconf/resolv.conf",
        "/var/run/NetworkManager/resolv.conf",
    ] {
        symlink_over(&link, target);
        let before = listing(&scratch.host_path("/etc"));
        let c = Container::builder(scratch.root()).start().expect("start");
        assert_eq!(c.warnings(), Vec::<Warning>::new(), "{target}");
        let inside = sh_in(&c, "cat /etc/resolv.conf");
        assert_eq!(inside, host_resolv(), "{target}");
        assert!(
            nameservers.iter().all(|n| inside.lines().any(|l| l == n)),
            "{inside}"
        );
        drop(c);
        assert_as_found(&scratch.host_path("/etc"), &before);
        assert_as_found(&scratch.host_path("/run"), &run_before);
    }
}

/// Issue 14: when `Auto` cannot (the link leads into a directory the root lacks), the container
/// starts without it and says why in one line; `Bind` then covers the link itself with the
/// host's file, and `Copy` with a writable copy whose writes go nowhere; `Off` leaves the
/// root's file; `Bind` of a root without `/etc` is refused before anything is made.
#[test]
fn resolv_conf_modes_say_why_or_cover_the_link() {
    let scratch = Scratch::exclusive();
    let outside = Outside::new("resolv-outside");
    let link = scratch.host_path("/etc/resolv.conf");
    let target = relative_to_outside(&scratch.host_path("/etc"), &outside).join("resolv.conf");
    symlink_over(&link, &target);
    let before = listing(&scratch.root());
    let leaks = LeakCheck::snapshot();
    let c = Container::builder(scratch.root()).start().expect("start");
    let warnings: Vec<String> = c.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("no resolv.conf of the host inside: /etc/resolv.conf leads to"));
    assert!(
        warnings[0].contains("which does not exist in the root"),
        "{warnings:?}"
    );
    assert!(!warnings[0].contains('\n'));
    drop(c);
    for mode in [ResolvConf::Bind, ResolvConf::Copy] {
        let c = Container::builder(scratch.root())
            .resolv_conf(mode)
            .start()
            .expect("start");
        assert_eq!(sh_in(&c, "cat /etc/resolv.conf"), host_resolv(), "{mode}");
        let (status, _, _) = sh(&c, "echo '# inside' >> /etc/resolv.conf");
        assert_eq!(
            status.success(),
            mode == ResolvConf::Copy,
            "only the copy is writable"
        );
        drop(c);
    }
    let c = Container::builder(scratch.root())
        .resolv_conf(ResolvConf::Bind)
        .isolate_network(true)
        .start()
        .expect("start isolated");
    assert_eq!(
        sh_in(&c, "cat /etc/resolv.conf"),
        host_resolv(),
        "Bind with a network of its own"
    );
    drop(c);
    let c = Container::builder(scratch.root())
        .resolv_conf(ResolvConf::Off)
        .start()
        .expect("off");
    let inside = sh_in(
        &c,
        "readlink /etc/resolv.conf; grep -c ' /etc/resolv' /proc/self/mountinfo || true",
    );
    assert_eq!(
        inside,
        format!("{}\n0\n", target.display()),
        "the root's link, as it is"
    );
    drop(c);
    outside.assert_untouched("resolv.conf modes");
    assert_eq!(
        fs::read_to_string("/etc/resolv.conf").expect("host"),
        host_resolv()
    );
    let bare = BareRoot::new(None);
    let err = Container::builder(bare.root())
        .resolv_conf(ResolvConf::Bind)
        .start();
    let message = err.expect_err("no /etc").to_string();
    assert!(
        message.starts_with("resolv.conf (bind): /etc/resolv.conf leads to /etc"),
        "{message}"
    );
    assert_as_found(&scratch.root(), &before);
    leaks.assert_clean();
}

/// Issue 14: a file bound onto a symlink — one leading out of the root, or dangling — covers
/// the link itself: the file is seen there, nothing outside is touched, and the link is left
/// as it was (it used to be replaced by an empty file).
#[test]
fn a_file_bound_onto_a_symlink_covers_the_link() {
    let scratch = Scratch::new();
    let outside = Outside::new("covered-outside");
    let src = crate::roots::source("covered-src");
    let link = scratch.host_path("/etc/covered");
    for target in [outside.path().join("victim"), "missing".into()] {
        symlink_over(&link, &target);
        let before = listing(&scratch.host_path("/etc"));
        let c = Container::builder(scratch.root())
            .bind_ro(src.join("data.txt"), "/etc/covered")
            .start()
            .expect("start");
        let inside = sh_in(&c, "cat /etc/covered; test -L /etc/covered || echo no-link");
        assert_eq!(inside, "bound\nno-link\n", "{target:?}");
        drop(c);
        assert_as_found(&scratch.host_path("/etc"), &before);
        outside.assert_untouched("a file bound onto a link");
    }
}
