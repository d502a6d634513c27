//! Errors of the path-friendly tier: the call, its arguments, the path at fault, the errno.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use furnace_sys::mount::{self, MountFlags, Propagation};
use furnace_sys::Errno;

use crate::harness::{in_child, mkdir};

#[test]
fn errors_name_the_call_its_arguments_and_the_errno() {
    in_child("errors", |scratch| {
        let target = scratch.join("target");
        mkdir(&target);

        let err = mount::mount(
            Some("none"),
            &target,
            "furnace-nofs",
            MountFlags::empty(),
            None,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("mount ") && msg.contains("ENODEV"), "{msg}");
        assert_eq!(
            msg,
            format!(
                "mount none on {} (type furnace-nofs): ENODEV (No such device)",
                target.display()
            )
        );
        assert_eq!((err.call(), err.errno()), ("mount", Errno::NODEV));
        assert_eq!(err.path(), Some(target.as_path()));
        let io: std::io::Error = err.clone().into();
        assert_eq!(io.to_string(), msg);
        let inner = io
            .get_ref()
            .and_then(|e| e.downcast_ref::<furnace_sys::Error>());
        assert_eq!(inner, Some(&err));

        let err = mount::mount(
            None::<&Path>,
            &target,
            "furnace-nofs",
            MountFlags::RDONLY | MountFlags::NOSUID,
            Some("size=1m"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "mount furnace-nofs on {} (type furnace-nofs, ro,nosuid, size=1m): ENODEV (No such device)",
                target.display()
            )
        );

        // A path that is not UTF-8 prints readably, and is kept as is.
        let odd = scratch.join(OsStr::from_bytes(b"odd\xffdir"));
        mkdir(&odd);
        let err = mount::mount(
            Some("none"),
            &odd,
            "furnace-nofs",
            MountFlags::empty(),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("/odd\\xffdir (type furnace-nofs): ENODEV"),
            "{err}"
        );
        assert_eq!(err.path(), Some(odd.as_path()));

        // A bind names the path at fault: a missing source, or a missing target.
        let missing = scratch.join("missing");
        let err = mount::bind(&missing, &target).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "stat {} (source of bind on {}): ENOENT (No such file or directory)",
                missing.display(),
                target.display()
            )
        );
        assert_eq!(err.path(), Some(missing.as_path()));
        let err = mount::bind_recursive(&missing, &target).unwrap_err();
        assert!(err.to_string().starts_with("stat "), "{err}");
        assert_eq!(err.path(), Some(missing.as_path()));
        let err = mount::bind(&target, &missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "mount bind {} on {}: ENOENT (No such file or directory)",
                target.display(),
                missing.display()
            )
        );
        assert_eq!(err.path(), Some(missing.as_path()));
        let err = mount::bind_recursive(&target, &missing).unwrap_err();
        assert!(err.to_string().starts_with("mount rbind "), "{err}");
        assert_eq!(err.path(), Some(missing.as_path()));

        let err = mount::set_propagation(&target, Propagation::Shared, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "mount make-shared {}: EINVAL (Invalid argument)",
                target.display()
            )
        );
        let err = mount::set_propagation(&missing, Propagation::Slave, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "mount make-rslave {}: ENOENT (No such file or directory)",
                missing.display()
            )
        );

        let err = mount::remount(&target, MountFlags::RDONLY).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "mount remount {} (ro): EINVAL (Invalid argument)",
                target.display()
            )
        );

        // pivot_root wants a mount point as the new root.
        let err = mount::pivot_root(&target, &target).unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        assert_eq!(
            err.to_string(),
            format!(
                "pivot_root {} (old root at {}): EINVAL (Invalid argument)",
                target.display(),
                target.display()
            )
        );
    });
}
