/*
 * probe: a small static helper that the security and load tests copy into a container's root
 * as /probe (SECURITY.md §6). Each subcommand does one thing and prints one short, parseable
 * answer on stdout: "ok ..." when the call succeeded, "err NAME" (the errno's name) when it
 * failed. Usage errors exit 2; otherwise the exit status is 0 whatever the answer, so that the
 * test, not the probe, judges.
 *
 *   probe fds                 every open fd but the one used to list them: "N TARGET" lines
 *   probe status              the Cap*, NoNewPrivs and Seccomp lines of /proc/self/status
 *   probe cwd                 getcwd(): "ok PATH" or "err NAME"
 *   probe open-ro PATH        open(O_RDONLY), read up to 4 KiB: "ok N" (bytes read) or "err"
 *   probe open-wo PATH        open(O_WRONLY) only, never writes: "ok" or "err NAME"
 *   probe mknod-blk PATH MAJ MIN   mknod a block device (mode 0600)
 *   probe read-dev PATH N     open and read N bytes of a device: "ok N" or "err NAME"
 *   probe mount-proc DIR      mount a fresh procfs on DIR
 *   probe mount-bind SRC DST  bind-mount SRC on DST
 *   probe mount-cgroup DIR    mount a cgroup v1 hierarchy (name=furnace-probe) on DIR
 *   probe remount-rw DIR      remount DIR read-write (MS_REMOUNT|MS_BIND)
 *   probe umount DIR          umount2(DIR, 0)
 *   probe userns-mount-proc DIR   unshare a user, mount and pid namespace (full capabilities
 *                             there, no exec in between), then mount a fresh procfs on DIR
 *                             from a child in the new pid namespace: the runc "no_pivot" case
 *   probe handle-escape FILE  name_to_handle_at(FILE), then open_by_handle_at of inode 2 of
 *                             its filesystem (the "shocker" attack)
 *   probe ptrace PID          PTRACE_ATTACH to PID (detaches again when it worked)
 *   probe create PATH         open(O_WRONLY|O_CREAT|O_EXCL), mode 0644 (to see EROFS)
 *   probe tiocsti FD STR      ioctl(FD, TIOCSTI) for each byte of STR
 *   probe tiocsti-highbits FD STR   the same with bit 32 of the request set (CVE-2019-10063)
 *   probe orphans N           N times: fork a child that forks a grandchild and exits at once,
 *                             so the grandchild (which exits a moment later) is orphaned
 *   probe forkbomb BUDGET     a fork bomb bounded by BUDGET processes in all: every process
 *                             keeps forking, children too, retrying while fork fails, until
 *                             its share of the budget is used, then sleeps; meanwhile the
 *                             first process probes with short-lived forks every millisecond
 *                             and reports "eagain after K probes" once fork fails (or "never
 *                             fenced" after ~5 s), then exits
 *   probe kill PID SIG        kill(PID, SIG) (SIG 0 asks whether PID is visible at all)
 *   probe shm-create KEY BYTES    a SysV shared-memory segment (IPC_CREAT|IPC_EXCL, 0600),
 *                             every page written once, detached again but not removed:
 *                             "ok SHMID" (KEY in C notation: decimal or 0x...)
 *   probe shm-get KEY         shmget(KEY, 0, 0): "ok SHMID" or "err NAME"
 *   probe mq-create NAME      a POSIX message queue (O_CREAT|O_EXCL, 0600), closed again
 *   probe mq-open NAME        mq_open(NAME, O_RDONLY)
 *   probe ptmx-exhaust BOUND  opens /dev/ptmx (and keeps it open) until that fails or BOUND
 *                             ptys are open; when the process runs out of fds a child with
 *                             a fresh table carries on. Answers "ok N" (bound reached) or
 *                             "err NAME after N", then holds every pty until stdin reaches
 *                             EOF
 *   probe knob NAME           one harmless attempt at a kernel-global knob (SECURITY.md F05),
 *                             with arguments that, past the permission check, would fail
 *                             (or change nothing outside the container): init_module,
 *                             finit_module, kexec_load, reboot-cad-off, swapon,
 *                             clock_settime, iopl, acct, bpf-socket-filter, bpf-kprobe,
 *                             perf-cpu-wide
 *   probe sethostname NAME    sethostname(NAME)
 *   probe user-key DESC       keyctl(KEYCTL_SEARCH) of the user keyring for a "user" key
 *                             described DESC (linked into the probe's own thread keyring,
 *                             which ends with it, so that it is possessed), then KEYCTL_READ
 *                             of it: "ok PAYLOAD", or "search err NAME" / "read err NAME"
 *   probe add-user-key DESC PAYLOAD   add_key("user", DESC, PAYLOAD) to the user keyring
 *                             (run on the host by the test that plants a key): "ok ID"
 *   probe unlink-user-key ID  KEYCTL_INVALIDATE of key ID (when permitted), then KEYCTL_UNLINK
 *                             of it from the user keyring: "ok" when either worked
 *   probe syscall NAME...     for each NAME, in a child of its own (so that no attempt
 *                             changes the next): one harmless call that the default seccomp
 *                             profile refuses or allows, answered on a line of its own as
 *                             "NAME ok ..." or "NAME err E" ("NAME err killed-by-N" when the
 *                             child died of signal N). Allowed: uname, getpid, fork-wait (fork,
 *                             the child exits 7, waitpid sees 7), tmp-write (create, write,
 *                             read back and unlink a file in /tmp). Refused: keyctl (the
 *                             session keyring's id), add-key (a "user" key in a new thread
 *                             keyring), request-key (an absent key), bpf
 *                             (BPF_OBJ_GET_INFO_BY_FD of fd -1), perf-event-open (a task clock
 *                             of itself, user space only), userfaultfd (UFFD_USER_MODE_ONLY),
 *                             io-uring (a one-entry ring), name-to-handle (of /dev: a tmpfs),
 *                             process-vm-readv (of its own memory), unshare-user,
 *                             unshare-mount, clone-newuser and clone-newns (raw clone with
 *                             SIGCHLD; the child exits at once), clone3 (no flags; the child
 *                             exits at once), setns-uts (its own uts namespace), mount-tmpfs
 *                             (on /mnt), fsopen (tmpfs), tiocsti-own-tty,
 *                             tiocsti-own-tty-highbits and tioclinux-own-tty (on a pty of the
 *                             container's own devpts that the child, after setsid, made its
 *                             controlling terminal: TIOCSTI of one byte, the same with bit 32
 *                             of the request set, TIOCLINUX subcode 6), personality=VALUE
 *                             (personality(VALUE), C notation; "ok PREVIOUS" in hex)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/kexec.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/userfaultfd.h>
#include <mqueue.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/acct.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/swap.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int answer(int ok, int err)
{
    if (ok)
        printf("ok\n");
    else
        printf("err %s\n", strerrorname_np(err) ? strerrorname_np(err) : "?");
    return 0;
}

static int cmd_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return answer(0, errno);
    int own = dirfd(dir);
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == own)
            continue;
        char link[64], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0)
            n = 0;
        target[n] = 0;
        printf("%d %s\n", fd, target);
    }
    closedir(dir);
    return 0;
}

static int cmd_status(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return answer(0, errno);
    char line[512];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) ||
            !strncmp(line, "Seccomp:", 8))
            fputs(line, stdout);
    fclose(f);
    return 0;
}

static int cmd_cwd(void)
{
    char buf[4096];
    if (!getcwd(buf, sizeof buf))
        return answer(0, errno);
    printf("ok %s\n", buf);
    return 0;
}

static int cmd_read(const char *path, long want)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return answer(0, errno);
    static char buf[65536];
    if (want > (long)sizeof buf)
        want = sizeof buf;
    ssize_t n = read(fd, buf, want);
    int err = errno;
    close(fd);
    if (n < 0)
        return answer(0, err);
    printf("ok %zd\n", n);
    return 0;
}

static int cmd_open_wo(const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    int err = errno;
    if (fd >= 0)
        close(fd);
    return answer(fd >= 0, err);
}

static int cmd_handle_escape(const char *file)
{
    struct {
        struct file_handle fh;
        unsigned char bytes[MAX_HANDLE_SZ];
    } h;
    int mount_id;
    h.fh.handle_bytes = MAX_HANDLE_SZ;
    if (name_to_handle_at(AT_FDCWD, file, &h.fh, &mount_id, 0) < 0) {
        printf("name_to_handle_at ");
        return answer(0, errno);
    }
    int mfd = open(file, O_RDONLY | O_CLOEXEC);
    if (mfd < 0) {
        printf("open ");
        return answer(0, errno);
    }
    /* An ext4/overlay/tmpfs handle starts with the inode number (32 bits) and generation:
     * point it at inode 2, the root directory of the filesystem. */
    if (h.fh.handle_bytes >= 4) {
        unsigned int two = 2;
        memcpy(h.fh.f_handle, &two, sizeof two);
    }
    int fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_CLOEXEC);
    int err = errno;
    close(mfd);
    if (fd >= 0)
        close(fd);
    printf("open_by_handle_at ");
    return answer(fd >= 0, err);
}

static int cmd_ptrace(pid_t pid)
{
    if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0)
        return answer(0, errno);
    int status;
    waitpid(pid, &status, __WALL);
    ptrace(PTRACE_DETACH, pid, 0, 0);
    return answer(1, 0);
}

static int cmd_tiocsti(int fd, const char *s, int highbits)
{
    unsigned long request = TIOCSTI;
    if (highbits)
        request |= 1UL << 32;
    for (; *s; s++)
        if (syscall(SYS_ioctl, fd, request, s) < 0)
            return answer(0, errno);
    return answer(1, 0);
}

static int cmd_orphans(long n)
{
    long made = 0;
    for (long i = 0; i < n; i++) {
        pid_t child = fork();
        if (child < 0)
            break;
        if (child == 0) {
            pid_t grandchild = fork();
            if (grandchild == 0) {
                usleep(1000);
                _exit(0);
            }
            _exit(0);
        }
        waitpid(child, NULL, 0);
        made++;
    }
    printf("ok %ld\n", made);
    return 0;
}

static void sleep_forever(void)
{
    for (;;)
        pause();
}

/* One node of the bomb: keeps forking (children do the same) until this subtree's budget
 * is used up, retrying every 2 ms while fork fails, so that a fence stays full; never
 * returns. */
static void bomb(long budget)
{
    /* budget: how many processes this node's subtree may hold, itself included. */
    while (budget > 1) {
        long child_budget = (budget - 1) / 2;
        if (child_budget < 1)
            child_budget = 1;
        pid_t pid = fork();
        if (pid == 0) {
            budget = child_budget;
            continue;
        }
        if (pid < 0) {
            usleep(2000);
            continue;
        }
        budget -= child_budget;
    }
    sleep_forever();
}

static int cmd_forkbomb(long budget)
{
    pid_t root = fork();
    if (root < 0)
        return answer(0, errno);
    if (root == 0) {
        /* The bomb keeps nothing of the caller's: the test reads our stdout to EOF. */
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        close(null);
        bomb(budget - 1);
    }
    /* Probe the fence: fork (and reap) one short-lived child every millisecond until fork
     * fails, for at most ~5 s. */
    for (long attempt = 0; attempt < 5000; attempt++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0) {
            int err = errno;
            printf("%s after %ld probes\n", err == EAGAIN ? "eagain" : strerrorname_np(err),
                   attempt);
            return 0;
        }
        waitpid(pid, NULL, 0);
        usleep(1000);
    }
    printf("never fenced\n");
    return 0;
}

static int cmd_userns_mount_proc(const char *dir)
{
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) < 0) {
        printf("unshare ");
        return answer(0, errno);
    }
    pid_t pid = fork();
    if (pid < 0) {
        printf("fork ");
        return answer(0, errno);
    }
    if (pid == 0) {
        int rc = mount("proc", dir, "proc", 0, NULL);
        int err = errno;
        if (rc == 0)
            umount2(dir, MNT_DETACH);
        printf("mount ");
        answer(rc == 0, err);
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    return 0;
}

static int syscall_answer(int rc)
{
    return answer(rc == 0, errno);
}

/* The id of the session keyring: it differs from the caller's when the command has its own. */
static int cmd_session_keyring(void)
{
    long id = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* KEY_SPEC_SESSION_KEYRING */, 0);
    if (id < 0)
        return answer(0, errno);
    printf("ok %ld\n", id);
    return 0;
}

static int cmd_shm_create(key_t key, size_t bytes)
{
    int id = shmget(key, bytes, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        return answer(0, errno);
    char *mem = shmat(id, NULL, 0);
    if (mem == (void *)-1) {
        printf("shmat ");
        return answer(0, errno);
    }
    /* Touch every page, so that the segment really takes memory (Shmem in /proc/meminfo). */
    memset(mem, 0x5a, bytes);
    shmdt(mem);
    printf("ok %d\n", id);
    return 0;
}

static int cmd_shm_get(key_t key)
{
    int id = shmget(key, 0, 0);
    if (id < 0)
        return answer(0, errno);
    printf("ok %d\n", id);
    return 0;
}

static int cmd_mq(const char *name, int create)
{
    mqd_t q = create ? mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, NULL)
                     : mq_open(name, O_RDONLY | O_CLOEXEC);
    int err = errno;
    if (q != (mqd_t)-1)
        mq_close(q);
    return answer(q != (mqd_t)-1, err);
}

static void wait_for_eof(void)
{
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
}

static int cmd_ptmx_exhaust(long bound)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    long opened = 0;
    int err = 0;
    while (opened < bound) {
        int fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) {
            opened++;
            continue;
        }
        err = errno;
        if (err != EMFILE)
            break;
        /* Out of fds, not of ptys: we keep ours, a child with a fresh table carries on. */
        fflush(stdout);
        pid_t child = fork();
        if (child < 0) {
            err = errno;
            break;
        }
        if (child > 0) {
            wait_for_eof();
            waitpid(child, NULL, 0);
            _exit(0);
        }
        close_range(3, ~0U, 0);
        err = 0;
    }
    if (opened >= bound)
        printf("ok %ld\n", opened);
    else
        printf("err %s after %ld\n", strerrorname_np(err) ? strerrorname_np(err) : "?", opened);
    fflush(stdout);
    wait_for_eof();
    return 0;
}

static int cmd_knob(const char *knob)
{
    long rc;
    if (!strcmp(knob, "init_module")) {
        /* Past CAP_SYS_MODULE: ENOEXEC (not an ELF image). */
        static char image[4];
        rc = syscall(SYS_init_module, image, sizeof image, "");
    } else if (!strcmp(knob, "finit_module")) {
        /* Past CAP_SYS_MODULE: EINVAL or ENOEXEC (/dev/null is no module). */
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        rc = syscall(SYS_finit_module, fd, "", 0);
    } else if (!strcmp(knob, "kexec_load")) {
        /* Past CAP_SYS_BOOT: EINVAL (more than KEXEC_SEGMENT_MAX segments). */
        rc = syscall(SYS_kexec_load, 0UL, 17UL, NULL, (unsigned long)KEXEC_ARCH_DEFAULT);
    } else if (!strcmp(knob, "reboot-cad-off")) {
        /* Past CAP_SYS_BOOT, in a pid namespace of its own: EINVAL (only restart, power off
         * and halt mean something there); in the host's, it would only disable Ctrl-Alt-Del. */
        rc = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                     LINUX_REBOOT_CMD_CAD_OFF, NULL);
    } else if (!strcmp(knob, "swapon")) {
        /* Past CAP_SYS_ADMIN: ENOENT. */
        rc = swapon("/furnace-probe-no-such-swap-file", 0);
    } else if (!strcmp(knob, "clock_settime")) {
        /* Past CAP_SYS_TIME: the clock set to what it just read (a step of microseconds). */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        rc = clock_settime(CLOCK_REALTIME, &now);
    } else if (!strcmp(knob, "iopl")) {
#ifdef SYS_iopl
        /* Past CAP_SYS_RAWIO: port I/O for this process only, which never uses it. */
        rc = syscall(SYS_iopl, 3);
#else
        rc = -1;
        errno = ENOSYS;
#endif
    } else if (!strcmp(knob, "acct")) {
        /* Past CAP_SYS_PACCT: accounting switched off (it is off) for this pid namespace. */
        rc = acct(NULL);
    } else if (!strcmp(knob, "bpf-socket-filter") || !strcmp(knob, "bpf-kprobe")) {
        /* r0 = 0; exit. Loaded, it would be closed again at once, attached to nothing. */
        struct bpf_insn insns[2] = {
            {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
            {.code = BPF_JMP | BPF_EXIT},
        };
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.prog_type = !strcmp(knob, "bpf-kprobe") ? BPF_PROG_TYPE_KPROBE
                                                     : BPF_PROG_TYPE_SOCKET_FILTER;
        attr.insn_cnt = 2;
        attr.insns = (unsigned long)insns;
        attr.license = (unsigned long)"GPL";
        rc = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    } else if (!strcmp(knob, "perf-cpu-wide")) {
        /* A software counter of every process on CPU 0, kernel included. Opened, it would be
         * closed again at once. */
        struct perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.type = PERF_TYPE_SOFTWARE;
        attr.size = sizeof attr;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        attr.disabled = 1;
        rc = syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
    } else {
        fprintf(stderr, "probe knob: unknown knob %s\n", knob);
        return 2;
    }
    int err = errno;
    if (rc > 0)
        close(rc); /* a bpf program or perf event fd: let go of it at once */
    return answer(rc >= 0, err);
}

static int cmd_user_key(const char *desc)
{
    /* KEYCTL_SEARCH (10) of KEY_SPEC_USER_KEYRING (-4), linking what it finds into
     * KEY_SPEC_THREAD_KEYRING (-1): found through a special keyring the key is possessed, and
     * the link keeps it so for the read (the command's own session keyring does not hold the
     * user keyring). The thread keyring, and the link, end with the probe. */
    long id = syscall(SYS_keyctl, 10, -4, "user", desc, -1);
    if (id < 0) {
        printf("search ");
        return answer(0, errno);
    }
    char payload[4096];
    long n = syscall(SYS_keyctl, 11 /* KEYCTL_READ */, id, payload, sizeof payload - 1);
    if (n < 0) {
        printf("read ");
        return answer(0, errno);
    }
    if (n > (long)sizeof payload - 1)
        n = sizeof payload - 1;
    payload[n] = 0;
    printf("ok %s\n", payload);
    return 0;
}

static int cmd_add_user_key(const char *desc, const char *payload)
{
    long id = syscall(SYS_add_key, "user", desc, payload, strlen(payload), -4);
    if (id < 0)
        return answer(0, errno);
    printf("ok %ld\n", id);
    return 0;
}

static int cmd_unlink_user_key(long id)
{
    /* KEYCTL_INVALIDATE (21) needs search permission, which only a possessor has; unlinking
     * (9) from KEY_SPEC_USER_KEYRING (-4) needs only write permission on that keyring, and
     * drops the key's last link. */
    long invalidated = syscall(SYS_keyctl, 21, id);
    long unlinked = syscall(SYS_keyctl, 9, id, -4);
    return answer(invalidated == 0 || unlinked == 0, errno);
}

/* The arguments of clone3(2) as of CLONE_ARGS_SIZE_VER0 (64 bytes). */
struct probe_clone_args {
    unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* A raw clone (or clone3) whose child exits at once; the parent reaps it. */
static long clone_and_reap(unsigned long flags, int use_clone3)
{
    long pid;
    if (use_clone3) {
        struct probe_clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = flags;
        args.exit_signal = SIGCHLD;
        pid = syscall(SYS_clone3, &args, sizeof args);
    } else {
        pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    }
    if (pid == 0)
        _exit(0);
    if (pid > 0) {
        int status;
        waitpid(pid, &status, 0);
        return 0;
    }
    return -1;
}

/* A pty of the container's own devpts, made the controlling terminal of this process (which
 * must lead a new session first): the slave's fd, or -1 with errno set. */
static int own_controlling_tty(void)
{
    if (setsid() < 0)
        return -1;
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
        return -1;
    char *name = ptsname(master);
    if (!name)
        return -1;
    return open(name, O_RDWR | O_CLOEXEC); /* no O_NOCTTY: it becomes the controlling tty */
}

/* One attempt of `probe syscall`, in a child of its own; returns the call's result (< 0 with
 * errno set on failure) and may print an extra word after "ok" through *extra. */
static long one_syscall(const char *name, char *extra, size_t extra_size)
{
    if (!strcmp(name, "uname")) {
        struct utsname u;
        long rc = uname(&u);
        if (rc == 0)
            snprintf(extra, extra_size, "%s", u.sysname);
        return rc;
    }
    if (!strcmp(name, "getpid")) {
        long pid = syscall(SYS_getpid);
        if (pid > 0)
            snprintf(extra, extra_size, "%ld", pid);
        return pid > 0 ? 0 : -1;
    }
    if (!strcmp(name, "fork-wait")) {
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0)
            _exit(7);
        int status;
        if (waitpid(pid, &status, 0) < 0)
            return -1;
        snprintf(extra, extra_size, "%d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
    if (!strcmp(name, "tmp-write")) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/furnace-probe-%d", (int)getpid());
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        char back[8] = {0};
        long rc = write(fd, "written", 7) == 7 && pread(fd, back, 7, 0) == 7 ? 0 : -1;
        int err = errno;
        close(fd);
        unlink(path);
        errno = err;
        if (rc == 0)
            snprintf(extra, extra_size, "%s", back);
        return rc;
    }
    if (!strcmp(name, "keyctl"))
        /* KEYCTL_GET_KEYRING_ID (0) of KEY_SPEC_SESSION_KEYRING (-3), not created. */
        return syscall(SYS_keyctl, 0, -3, 0) < 0 ? -1 : 0;
    if (!strcmp(name, "add-key"))
        /* Into KEY_SPEC_THREAD_KEYRING (-1): a keyring of this thread, gone when it exits. */
        return syscall(SYS_add_key, "user", "furnace-probe", "x", 1, -1) < 0 ? -1 : 0;
    if (!strcmp(name, "request-key"))
        return syscall(SYS_request_key, "user", "furnace-probe-absent", NULL, 0) < 0 ? -1 : 0;
    if (!strcmp(name, "bpf")) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.info.bpf_fd = (unsigned int)-1;
        return syscall(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof attr) < 0 ? -1 : 0;
    }
    if (!strcmp(name, "perf-event-open")) {
        struct perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.type = PERF_TYPE_SOFTWARE;
        attr.size = sizeof attr;
        attr.config = PERF_COUNT_SW_TASK_CLOCK;
        attr.disabled = 1;
        attr.exclude_kernel = 1;
        attr.exclude_hv = 1;
        long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd >= 0)
            close(fd);
        return fd < 0 ? -1 : 0;
    }
    if (!strcmp(name, "userfaultfd")) {
        long fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
        if (fd >= 0)
            close(fd);
        return fd < 0 ? -1 : 0;
    }
    if (!strcmp(name, "io-uring")) {
        struct io_uring_params params;
        memset(&params, 0, sizeof params);
        long fd = syscall(SYS_io_uring_setup, 1, &params);
        if (fd >= 0)
            close(fd);
        return fd < 0 ? -1 : 0;
    }
    if (!strcmp(name, "name-to-handle")) {
        struct {
            struct file_handle fh;
            unsigned char bytes[MAX_HANDLE_SZ];
        } h;
        int mount_id;
        h.fh.handle_bytes = MAX_HANDLE_SZ;
        return name_to_handle_at(AT_FDCWD, "/dev", &h.fh, &mount_id, 0);
    }
    if (!strcmp(name, "process-vm-readv")) {
        static long source = 42;
        long copy = 0;
        struct iovec local = {&copy, sizeof copy}, remote = {&source, sizeof source};
        long n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        return n == (long)sizeof copy && copy == 42 ? 0 : -1;
    }
    if (!strcmp(name, "unshare-user"))
        return unshare(CLONE_NEWUSER);
    if (!strcmp(name, "unshare-mount"))
        return unshare(CLONE_NEWNS);
    if (!strcmp(name, "clone-newuser"))
        return clone_and_reap(CLONE_NEWUSER, 0);
    if (!strcmp(name, "clone-newns"))
        return clone_and_reap(CLONE_NEWNS, 0);
    if (!strcmp(name, "clone3"))
        return clone_and_reap(0, 1);
    if (!strcmp(name, "setns-uts")) {
        int fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        return setns(fd, CLONE_NEWUTS);
    }
    if (!strcmp(name, "mount-tmpfs"))
        return mount("furnace-probe", "/mnt", "tmpfs", 0, "size=64k");
    if (!strcmp(name, "fsopen")) {
        long fd = syscall(SYS_fsopen, "tmpfs", 1 /* FSOPEN_CLOEXEC */);
        if (fd >= 0)
            close(fd);
        return fd < 0 ? -1 : 0;
    }
    if (!strcmp(name, "tiocsti-own-tty") || !strcmp(name, "tiocsti-own-tty-highbits")) {
        int tty = own_controlling_tty();
        if (tty < 0) {
            snprintf(extra, extra_size, "(no tty)");
            return -1;
        }
        unsigned long request = TIOCSTI;
        if (strstr(name, "highbits"))
            request |= 1UL << 32;
        return syscall(SYS_ioctl, tty, request, "x");
    }
    if (!strcmp(name, "tioclinux-own-tty")) {
        int tty = own_controlling_tty();
        if (tty < 0) {
            snprintf(extra, extra_size, "(no tty)");
            return -1;
        }
        char subcode = 6; /* TIOCL_GETSHIFTSTATE: reads only */
        return syscall(SYS_ioctl, tty, TIOCLINUX, &subcode);
    }
    if (!strncmp(name, "personality=", 12)) {
        long previous = syscall(SYS_personality, strtoul(name + 12, NULL, 0));
        if (previous >= 0)
            snprintf(extra, extra_size, "%#lx", previous);
        return previous < 0 ? -1 : 0;
    }
    errno = 0;
    return -2;
}

static int cmd_syscall(int n, char **names)
{
    for (int i = 0; i < n; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            return answer(0, errno);
        if (pid == 0) {
            char extra[256] = "";
            errno = 0;
            long rc = one_syscall(names[i], extra, sizeof extra);
            int err = errno;
            if (rc == -2) {
                fprintf(stderr, "probe syscall: unknown call %s\n", names[i]);
                _exit(2);
            }
            printf("%s ", names[i]);
            if (rc >= 0 && extra[0])
                printf("ok %s\n", extra);
            else if (rc >= 0)
                printf("ok\n");
            else
                answer(0, err);
            fflush(stdout);
            _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0)
            return answer(0, errno);
        if (WIFSIGNALED(status))
            printf("%s err killed-by-%d\n", names[i], WTERMSIG(status));
        else if (WEXITSTATUS(status) != 0)
            return WEXITSTATUS(status);
    }
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        goto usage;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "fds"))
        return cmd_fds();
    if (!strcmp(cmd, "status"))
        return cmd_status();
    if (!strcmp(cmd, "cwd"))
        return cmd_cwd();
    if (!strcmp(cmd, "session-keyring"))
        return cmd_session_keyring();
    if (!strcmp(cmd, "open-ro") && argc == 3)
        return cmd_read(argv[2], 4096);
    if (!strcmp(cmd, "open-wo") && argc == 3)
        return cmd_open_wo(argv[2]);
    if (!strcmp(cmd, "mknod-blk") && argc == 5)
        return syscall_answer(mknod(argv[2], S_IFBLK | 0600,
                                    makedev(atoi(argv[3]), atoi(argv[4]))));
    if (!strcmp(cmd, "read-dev") && argc == 4)
        return cmd_read(argv[2], atol(argv[3]));
    if (!strcmp(cmd, "mount-proc") && argc == 3)
        return syscall_answer(mount("proc", argv[2], "proc", 0, NULL));
    if (!strcmp(cmd, "mount-bind") && argc == 4)
        return syscall_answer(mount(argv[2], argv[3], NULL, MS_BIND, NULL));
    if (!strcmp(cmd, "mount-cgroup") && argc == 3)
        return syscall_answer(mount("cgroup", argv[2], "cgroup", 0, "none,name=furnace-probe"));
    if (!strcmp(cmd, "remount-rw") && argc == 3)
        return syscall_answer(mount(NULL, argv[2], NULL, MS_REMOUNT | MS_BIND, NULL));
    if (!strcmp(cmd, "userns-mount-proc") && argc == 3)
        return cmd_userns_mount_proc(argv[2]);
    if (!strcmp(cmd, "umount") && argc == 3)
        return syscall_answer(umount2(argv[2], 0));
    if (!strcmp(cmd, "handle-escape") && argc == 3)
        return cmd_handle_escape(argv[2]);
    if (!strcmp(cmd, "ptrace") && argc == 3)
        return cmd_ptrace(atoi(argv[2]));
    if (!strcmp(cmd, "create") && argc == 3) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        int err = errno;
        if (fd >= 0)
            close(fd);
        return answer(fd >= 0, err);
    }
    if (!strcmp(cmd, "tiocsti") && argc == 4)
        return cmd_tiocsti(atoi(argv[2]), argv[3], 0);
    if (!strcmp(cmd, "tiocsti-highbits") && argc == 4)
        return cmd_tiocsti(atoi(argv[2]), argv[3], 1);
    if (!strcmp(cmd, "orphans") && argc == 3)
        return cmd_orphans(atol(argv[2]));
    if (!strcmp(cmd, "forkbomb") && argc == 3)
        return cmd_forkbomb(atol(argv[2]));
    if (!strcmp(cmd, "kill") && argc == 4)
        return syscall_answer(kill(atoi(argv[2]), atoi(argv[3])));
    if (!strcmp(cmd, "shm-create") && argc == 4)
        return cmd_shm_create((key_t)strtol(argv[2], NULL, 0), strtoul(argv[3], NULL, 0));
    if (!strcmp(cmd, "shm-get") && argc == 3)
        return cmd_shm_get((key_t)strtol(argv[2], NULL, 0));
    if (!strcmp(cmd, "mq-create") && argc == 3)
        return cmd_mq(argv[2], 1);
    if (!strcmp(cmd, "mq-open") && argc == 3)
        return cmd_mq(argv[2], 0);
    if (!strcmp(cmd, "ptmx-exhaust") && argc == 3)
        return cmd_ptmx_exhaust(atol(argv[2]));
    if (!strcmp(cmd, "knob") && argc == 3)
        return cmd_knob(argv[2]);
    if (!strcmp(cmd, "sethostname") && argc == 3)
        return syscall_answer(sethostname(argv[2], strlen(argv[2])));
    if (!strcmp(cmd, "user-key") && argc == 3)
        return cmd_user_key(argv[2]);
    if (!strcmp(cmd, "add-user-key") && argc == 4)
        return cmd_add_user_key(argv[2], argv[3]);
    if (!strcmp(cmd, "unlink-user-key") && argc == 3)
        return cmd_unlink_user_key(atol(argv[2]));
    if (!strcmp(cmd, "syscall") && argc >= 3)
        return cmd_syscall(argc - 2, argv + 2);
usage:
    fprintf(stderr, "usage: probe fds|status|cwd|open-ro P|open-wo P|mknod-blk P MAJ MIN|"
                    "read-dev P N|mount-proc D|mount-bind S D|mount-cgroup D|remount-rw D|umount D|"
                    "userns-mount-proc D|"
                    "create P|handle-escape F|ptrace PID|tiocsti[-highbits] FD STR|orphans N|"
                    "forkbomb BUDGET|kill PID SIG|shm-create KEY BYTES|shm-get KEY|"
                    "mq-create NAME|mq-open NAME|ptmx-exhaust BOUND|knob NAME|"
                    "sethostname NAME|user-key DESC|add-user-key DESC PAYLOAD|"
                    "unlink-user-key ID|syscall NAME...\n");
    return 2;
}
