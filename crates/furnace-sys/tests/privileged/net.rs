//! Network interfaces: bringing `lo` up in a new network namespace.

use std::fs;

use furnace_sys::mount::{self, MountFlags, UnmountFlags};
use furnace_sys::{net, Namespaces};

use crate::harness::{in_child, mkdir};

#[test]
fn loopback_up_in_a_new_network_namespace() {
    in_child("loopback", |scratch| {
        furnace_sys::unshare(Namespaces::NET).unwrap();
        // sysfs shows the network namespace of whoever mounts it: mount a fresh one.
        let sys = scratch.join("sys");
        mkdir(&sys);
        mount::mount(Some("sysfs"), &sys, "sysfs", MountFlags::empty(), None).unwrap();
        let lo_flags = || {
            let text = fs::read_to_string(sys.join("class/net/lo/flags")).unwrap();
            u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).unwrap()
        };
        let before = lo_flags();
        assert_eq!(
            before & libc::IFF_UP as u32,
            0,
            "lo of a new net ns starts down: {before:#x}"
        );
        assert_ne!(before & libc::IFF_LOOPBACK as u32, 0);

        net::forksafe::loopback_up().unwrap();
        let after = lo_flags();
        assert_ne!(after & libc::IFF_UP as u32, 0, "lo is not up: {after:#x}");
        // Idempotent, and the same through the path-friendly tier.
        net::loopback_up().unwrap();
        mount::umount2(&sys, UnmountFlags::empty()).unwrap();
    });
}
