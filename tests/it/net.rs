//! Networking: the host's network by default (with its `resolv.conf`, read-only), or an
//! isolated one with only `lo`; `resolv.conf` symlinked out of the root; network namespaces
//! that go with their containers.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use furnace_core::Container;
use furnace_tests::hostside::{relative_to_outside, symlink_over, Outside};
use furnace_tests::proc::namespaces_referenced;
use furnace_tests::*;

/// The interface names `ip address list` printed.
fn interfaces(ip_output: &str) -> Vec<(String, String)> {
    ip_output
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| {
            let mut parts = l.splitn(3, ": ");
            let _index = parts.next()?;
            let name = parts.next()?.split('@').next()?.to_owned();
            let flags = parts.next().unwrap_or("").to_owned();
            Some((name, flags))
        })
        .collect()
}

/// G03: an isolated network has only `lo`, up and answering.
#[test]
fn isolated_network_has_only_lo_and_it_is_up() {
    let scratch = Scratch::new();
    let c = start_isolated(&scratch.root());
    let out = sh_ok(&c, "ip address list");
    let ifaces = interfaces(&out);
    assert_eq!(ifaces.len(), 1, "only lo:\n{out}");
    assert_eq!(ifaces[0].0, "lo");
    assert!(ifaces[0].1.contains("UP"), "lo is up: {out}");
    assert!(out.contains("127.0.0.1"), "{out}");
    assert_ne!(ns_of(c.init_pid(), "net"), ns_of(std::process::id(), "net"));
    // lo works: something listens and answers on it.
    sh_ok(&c, "ping -c 1 -W 5 127.0.0.1 >/dev/null");
}

/// G03: the shared network shows the host's interfaces.
#[test]
fn shared_network_shows_more_than_lo() {
    let scratch = Scratch::new();
    let host_interfaces = || {
        let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
            .expect("list the host's interfaces")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let c = start(&scratch.root());
    let before = host_interfaces();
    let out = sh_ok(&c, "ip address list");
    let after = host_interfaces();
    let mut inside: Vec<String> = interfaces(&out).into_iter().map(|(n, _)| n).collect();
    inside.sort();
    assert!(inside.len() > 1, "more than lo:\n{out}");
    // (Compared with the host's list before and after: something else on the machine may
    // add or remove an interface meanwhile.)
    assert!(
        inside == before || inside == after,
        "the host's interfaces {before:?}, inside {inside:?}"
    );
    assert_eq!(ns_of(c.init_pid(), "net"), ns_of(std::process::id(), "net"));
}

/// With the host's network, its `resolv.conf` is bound in read-only.
#[test]
fn shared_network_binds_the_hosts_resolv_conf_read_only() {
    let scratch = Scratch::new();
    let host = std::fs::read("/etc/resolv.conf").expect("the host has /etc/resolv.conf");
    let c = start(&scratch.root());
    let out = c
        .command("cat")
        .arg("/etc/resolv.conf")
        .output()
        .expect("cat");
    assert_eq!(out.stdout, host, "the host's resolv.conf inside");
    let (status, _, _) = sh(&c, "echo 'nameserver 192.0.2.99' >> /etc/resolv.conf");
    assert!(!status.success(), "it cannot be written");
    let (status, _, _) = sh(&c, "rm -f /etc/resolv.conf");
    assert!(!status.success(), "nor removed");
    drop(c);
    assert_eq!(std::fs::read("/etc/resolv.conf").expect("read"), host);
    assert!(
        scratch.upper_entries().is_empty(),
        "the image's file untouched"
    );
}

/// With an isolated network, the image's `resolv.conf` is left as it is.
#[test]
fn isolated_network_keeps_the_images_resolv_conf() {
    let scratch = Scratch::new();
    let image_file = std::fs::read(image().join("etc/resolv.conf")).expect("read");
    let c = start_isolated(&scratch.root());
    let out = c
        .command("cat")
        .arg("/etc/resolv.conf")
        .output()
        .expect("cat");
    assert_eq!(out.stdout, image_file);
    let info = sh_ok(&c, "cat /proc/self/mountinfo");
    assert!(
        !furnace_sys::mountinfo::parse(&info)
            .iter()
            .any(|m| m.mount_point == Path::new("/etc/resolv.conf")),
        "nothing mounted on it:\n{info}"
    );
}

/// A08: a `resolv.conf` symlinked out of the root is left alone (nothing is bound, nothing
/// outside touched); one that stays inside is followed.
#[test]
fn resolv_conf_symlinked_out_of_the_root_is_left_alone() {
    let scratch = Scratch::exclusive();
    let outside = Outside::new("outside-resolv");
    let host_resolv = std::fs::read("/etc/resolv.conf").ok();
    let etc = scratch.host_path("/etc");
    let link = etc.join("resolv.conf");
    let leaks = LeakCheck::snapshot();
    // A bind of the host's resolv.conf (host network) that followed these links on the
    // host would create outside/resolv.conf.
    for target in [
        outside.path().join("resolv.conf"),
        relative_to_outside(&etc, &outside).join("resolv.conf"),
    ] {
        symlink_over(&link, &target);
        let c = start(&scratch.root());
        assert!(
            !mounts_of(c.init_pid())
                .iter()
                .any(|m| m.mount_point.to_string_lossy().starts_with("/etc/resolv")),
            "nothing is bound for a resolv.conf that leads out of the root"
        );
        assert_eq!(
            sh_ok(&c, "readlink /etc/resolv.conf"),
            format!("{}\n", target.display()),
            "the image's symlink is left as it is"
        );
        drop(c);
        assert_eq!(std::fs::read_link(&link).expect("readlink"), target);
        outside.assert_untouched(&target.display().to_string());
        assert_eq!(std::fs::read("/etc/resolv.conf").ok(), host_resolv);
        leaks.assert_clean();
    }
    // A link that stays inside is followed: the bind lands on its target.
    let host_resolv = host_resolv.expect(
        "premise: the host has /etc/resolv.conf (a container with the host's network binds it)",
    );
    {
        std::fs::write(etc.join("resolv.real"), "the image's own\n").expect("write");
        symlink_over(&link, "resolv.real");
        let c = start(&scratch.root());
        let points: Vec<String> = mounts_of(c.init_pid())
            .into_iter()
            .map(|m| m.mount_point.to_string_lossy().into_owned())
            .filter(|p| p.starts_with("/etc/resolv"))
            .collect();
        assert_eq!(points, ["/etc/resolv.real"]);
        let out = run(&c, "cat", &["/etc/resolv.conf"]);
        assert_eq!(out.stdout.as_bytes(), host_resolv, "the host's resolv.conf");
        drop(c);
        assert_eq!(
            std::fs::read_to_string(etc.join("resolv.real")).expect("read"),
            "the image's own\n"
        );
        leaks.assert_clean();
    }
}

/// The caller's own binds of `/etc/resolv.conf`, or of a whole `/etc`, are attached over the
/// host's resolv.conf, not under it; a bind of a host directory on `/etc` gets nothing written
/// into it; and a root whose `/etc/resolv.conf` links into `/run` (systemd-resolved's stub)
/// gets the host's file at the link's target, on the container's own `/run`.
#[test]
fn resolv_conf_yields_to_the_callers_binds_and_follows_a_link_into_run() {
    let scratch = Scratch::new();
    let own = TempDir::new("own-resolv");
    let own_file = own.path().join("resolv.conf");
    std::fs::write(&own_file, "nameserver 192.0.2.1\n").expect("write");
    let c = Container::builder(scratch.root())
        .bind(&own_file, "/etc/resolv.conf")
        .start()
        .expect("start");
    assert_eq!(sh_ok(&c, "cat /etc/resolv.conf"), "nameserver 192.0.2.1\n");
    sh_ok(&c, "echo '# added inside' >> /etc/resolv.conf");
    drop(c);
    assert!(
        std::fs::read_to_string(&own_file)
            .expect("read")
            .contains("# added inside"),
        "the caller's writable bind is the one inside"
    );

    let etc = TempDir::new("own-etc");
    let c = Container::builder(scratch.root())
        .bind(etc.path(), "/etc")
        .start()
        .expect("start");
    assert_eq!(sh_ok(&c, "ls -A /etc"), "", "the caller's empty /etc");
    drop(c);
    assert_eq!(
        std::fs::read_dir(etc.path()).expect("read_dir").count(),
        0,
        "nothing was created in the caller's directory"
    );

    let host_resolv = std::fs::read("/etc/resolv.conf").expect(
        "premise: the host has /etc/resolv.conf (a container with the host's network binds it)",
    );
    let link = scratch.host_path("/etc/resolv.conf");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("../run/systemd/resolve/stub-resolv.conf", &link).expect("symlink");
    let c = start(&scratch.root());
    let out = run(&c, "cat", &["/etc/resolv.conf"]);
    assert_eq!(out.stdout.as_bytes(), host_resolv, "the host's resolv.conf");
    drop(c);
    assert_eq!(
        std::fs::read_link(&link).expect("readlink"),
        Path::new("../run/systemd/resolve/stub-resolv.conf"),
        "the root's link is left as it was"
    );
    assert!(
        !scratch.host_path("/run/systemd").exists(),
        "nothing was created in the root's own /run"
    );
}

/// How long network namespaces may take to go (they are torn down asynchronously).
const NET_GRACE: Duration = Duration::from_secs(10);

/// I05: 100 isolated-network containers back to back (each runs one command); afterwards no
/// network namespace is referenced anywhere that was not before.
#[test]
fn a_hundred_isolated_network_containers_leave_no_network_namespace() {
    // Exclusive: the machine's namespaces.
    let scratch = Scratch::exclusive();
    let before = namespaces_referenced("net");
    let host_net = ns_of(std::process::id(), "net").expect("our network namespace");
    let mut theirs = BTreeSet::new();
    for i in 0..100 {
        let c = Container::builder(scratch.root())
            .isolate_network(true)
            .start()
            .unwrap_or_else(|e| panic!("start #{i}: {e}"));
        let net = ns_of(c.init_pid(), "net").expect("PID 1's network namespace");
        assert_ne!(net, host_net, "#{i} has a network namespace of its own");
        let status = c.command("true").status().expect("run true");
        assert!(status.success(), "#{i}: true: {status}");
        theirs.insert(net);
        drop(c);
    }
    let left = settle(
        NET_GRACE,
        || {
            namespaces_referenced("net")
                .difference(&before)
                .cloned()
                .collect::<Vec<_>>()
        },
        Vec::is_empty,
    );
    assert!(
        left.is_ok(),
        "network namespaces still referenced {NET_GRACE:?} after 100 containers: {:?} \
         (the containers had {} distinct ones; {} before)",
        left.unwrap_or_else(|v| v),
        theirs.len(),
        before.len()
    );
    let now = namespaces_referenced("net").len();
    assert!(
        now <= before.len(),
        "{now} network namespaces now, {} before",
        before.len()
    );
}
