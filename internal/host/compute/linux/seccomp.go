package linux

// The default seccomp profile: an allowlist in the spirit of the one container runtimes ship. Anything not
// listed fails with EPERM. What is left out is what lets a process reach past its namespaces or cgroup:
// loading kernel modules or BPF programs, mounting (but see mountguard.go), making namespaces, rebooting, setting the clock,
// kexec, the kernel keyring, perf events, swap, accounting, raw I/O ports. Most of these also need a
// capability the machine does not have; seccomp is the second fence.

const (
	cloneNewNS     = 0x00020000
	cloneNewCgroup = 0x02000000
	cloneNewUTS    = 0x04000000
	cloneNewIPC    = 0x08000000
	cloneNewUser   = 0x10000000
	cloneNewPID    = 0x20000000
	cloneNewNet    = 0x40000000
	cloneNewNSAll  = cloneNewNS | cloneNewCgroup | cloneNewUTS | cloneNewIPC | cloneNewUser | cloneNewPID | cloneNewNet
)

const errnoEPERM, errnoENOSYS = 1, 38

// allowedSyscalls are allowed unconditionally. Names the host's libseccomp does not know are skipped by
// the runtime, so the list may name syscalls of newer kernels and of the 32-bit ABIs.
var allowedSyscalls = [][]string{
	// files and directories
	{"access", "faccessat", "faccessat2", "open", "openat", "openat2", "creat", "close", "close_range",
		"read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev", "pwritev2",
		"lseek", "_llseek", "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64",
		"newfstatat", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "truncate", "truncate64",
		"ftruncate", "ftruncate64", "fallocate", "fadvise64", "fadvise64_64", "arm_fadvise64_64", "readahead",
		"fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "rename", "renameat", "renameat2",
		"link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat",
		"mkdir", "mkdirat", "rmdir", "mknod", "mknodat", "getdents", "getdents64", "getcwd", "chdir",
		"fchdir", "chroot", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "chown32", "fchown",
		"fchown32", "fchownat", "lchown", "lchown32", "umask", "utime", "utimes", "utimensat",
		"utimensat_time64", "futimesat", "flock", "fcntl", "fcntl64", "dup", "dup2", "dup3", "pipe",
		"pipe2", "ioctl", "sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range",
		"memfd_create", "memfd_secret", "name_to_handle_at", "getxattr", "lgetxattr", "fgetxattr", "setxattr",
		"lsetxattr", "fsetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
		"fremovexattr", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
		"fanotify_mark", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"},
	// polling, events and asynchronous I/O
	{"select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64",
		"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old",
		"epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create",
		"timerfd_settime", "timerfd_settime64", "timerfd_gettime", "timerfd_gettime64", "io_setup",
		"io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
		"io_uring_setup", "io_uring_enter", "io_uring_register"},
	// memory
	{"brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "pkey_mprotect", "pkey_alloc", "pkey_free",
		"madvise", "mincore", "mlock", "mlock2", "mlockall", "munlock", "munlockall", "msync",
		"remap_file_pages", "membarrier", "process_madvise", "process_mrelease", "set_mempolicy_home_node",
		"map_shadow_stack"},
	// processes, threads and scheduling
	{"fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid",
		"getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "set_tid_address",
		"set_robust_list", "get_robust_list", "futex", "futex_time64", "futex_waitv", "futex_wake",
		"futex_wait", "futex_requeue", "sched_yield", "sched_getaffinity", "sched_setaffinity",
		"sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_getattr",
		"sched_setattr", "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
		"sched_rr_get_interval_time64", "getpriority", "setpriority", "ioprio_get", "ioprio_set",
		"prctl", "arch_prctl", "set_thread_area", "get_thread_area", "rseq", "getrlimit", "ugetrlimit",
		"setrlimit", "prlimit64", "getrusage", "times", "capget", "capset", "seccomp", "restart_syscall",
		"pidfd_open", "pidfd_getfd", "pidfd_send_signal", "ptrace", "process_vm_readv", "process_vm_writev",
		"kcmp", "modify_ldt", "uname", "olduname", "sysinfo", "getrandom"},
	// signals
	{"kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
		"rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo",
		"rt_tgsigqueueinfo", "sigaction", "sigaltstack", "signal", "sigpending", "sigprocmask",
		"sigreturn", "sigsuspend", "pause", "alarm", "getitimer", "setitimer"},
	// time
	{"time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
		"clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "timer_create", "timer_delete",
		"timer_settime", "timer_settime64", "timer_gettime", "timer_gettime64", "timer_getoverrun"},
	// users and groups: setuid programs (sudo, sshd) need all of these
	{"getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32",
		"getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32", "setuid",
		"setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid", "setregid32", "setresuid",
		"setresuid32", "setresgid", "setresgid32", "setgroups", "setgroups32", "setfsuid", "setfsuid32",
		"setfsgid", "setfsgid32"},
	// sockets
	{"socket", "socketpair", "socketcall", "bind", "connect", "listen", "accept", "accept4",
		"getsockname", "getpeername", "getsockopt", "setsockopt", "send", "sendto", "sendmsg", "sendmmsg",
		"recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64", "shutdown"},
	// System V and POSIX IPC, inside the machine's IPC namespace
	{"ipc", "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semtimedop_time64",
		"semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
		"mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64", "mq_notify", "mq_getsetattr"},
}

// seccompProfile builds the OCI seccomp section. mount and umount2 are handed to the mount guard, which
// listens at listenerPath (mountguard.go).
func seccompProfile(listenerPath string) *ociSeccomp {
	var names []string
	for _, group := range allowedSyscalls {
		names = append(names, group...)
	}
	eperm, enosys := uint(errnoEPERM), uint(errnoENOSYS)
	return &ociSeccomp{
		DefaultAction:   "SCMP_ACT_ERRNO",
		DefaultErrnoRet: &eperm,
		Architectures:   []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"},
		ListenerPath:    listenerPath,
		Syscalls: []ociSyscall{
			{Names: names, Action: "SCMP_ACT_ALLOW"},
			{Names: []string{"mount", "umount2", "umount"}, Action: "SCMP_ACT_NOTIFY"},
			// clone may make threads and processes, not namespaces. On x86 the flags are the first argument.
			{Names: []string{"clone"}, Action: "SCMP_ACT_ALLOW",
				Args: []ociSeccompArg{{Index: 0, Value: cloneNewNSAll, ValueTwo: 0, Op: "SCMP_CMP_MASKED_EQ"}}},
			// clone3 passes its flags in memory, where seccomp cannot look; ENOSYS makes libc fall back to clone.
			{Names: []string{"clone3"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: &enosys},
			// personality only for the harmless personas (Linux, 32-bit addressing, no randomization for
			// debugging) and for querying.
			{Names: []string{"personality"}, Action: "SCMP_ACT_ALLOW", Args: []ociSeccompArg{{Index: 0, Value: 0x0, Op: "SCMP_CMP_EQ"}}},
			{Names: []string{"personality"}, Action: "SCMP_ACT_ALLOW", Args: []ociSeccompArg{{Index: 0, Value: 0x0008, Op: "SCMP_CMP_EQ"}}},
			{Names: []string{"personality"}, Action: "SCMP_ACT_ALLOW", Args: []ociSeccompArg{{Index: 0, Value: 0x20000, Op: "SCMP_CMP_EQ"}}},
			{Names: []string{"personality"}, Action: "SCMP_ACT_ALLOW", Args: []ociSeccompArg{{Index: 0, Value: 0x20008, Op: "SCMP_CMP_EQ"}}},
			{Names: []string{"personality"}, Action: "SCMP_ACT_ALLOW", Args: []ociSeccompArg{{Index: 0, Value: 0xffffffff, Op: "SCMP_CMP_EQ"}}},
		},
	}
}
