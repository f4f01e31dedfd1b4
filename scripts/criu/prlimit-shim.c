/*
 * prlimit-shim.so is preloaded into CRIU by the /usr/local/sbin/criu wrapper that scripts/deps.sh installs.
 *
 * CRIU reads each task's resource limits with prlimit(pid, resource, NULL, &old). For a task of another uid
 * the kernel then wants CAP_SYS_RESOURCE, which root lacks on hosts whose capability bounding set drops it
 * (the development and CI machines do), so every machine running a process of a non-root user failed to
 * hibernate. Reading limits needs no privilege in /proc/<pid>/limits, so when the kernel refuses a read,
 * the answer is taken from there. Writes, and every other failure, are left as they were. CRIU makes the
 * call through syscall(2), so that is interposed too, as prlimit and prlimit64 are.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>

/* struct rlimit and struct rlimit64 are the same on x86_64; sys/resource.h is not included so that these
 * definitions of prlimit and prlimit64 need not match its prototypes' enum. */
struct rlimit {
	unsigned long rlim_cur, rlim_max;
};
typedef unsigned long rlim_t;
#define RLIM_INFINITY (~0UL)

/* The rows of /proc/<pid>/limits, in the order of the RLIMIT_ numbers. */
static const char *const rows[] = {
	"Max cpu time", "Max file size", "Max data size", "Max stack size", "Max core file size",
	"Max resident set", "Max processes", "Max open files", "Max locked memory", "Max address space",
	"Max file locks", "Max pending signals", "Max msgqueue size", "Max nice priority",
	"Max realtime priority", "Max realtime timeout",
};

static int parse_limit(const char *s, rlim_t *v)
{
	unsigned long long n;
	if (strncmp(s, "unlimited", 9) == 0) {
		*v = RLIM_INFINITY;
		return 0;
	}
	if (sscanf(s, "%llu", &n) != 1)
		return -1;
	*v = (rlim_t)n;
	return 0;
}

static int limits_from_proc(pid_t pid, int resource, struct rlimit *old)
{
	char path[64], line[256];
	FILE *f;
	int found = -1;

	if (resource < 0 || resource >= (int)(sizeof(rows) / sizeof(rows[0])))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(rows[resource]);
		char soft[32], hard[32];
		if (strncmp(line, rows[resource], n) != 0 || line[n] != ' ')
			continue;
		/* The columns start at fixed offsets: name (26), soft (21), hard (21), units. */
		if (strlen(line) < 47 || sscanf(line + 26, "%31s %31s", soft, hard) != 2)
			break;
		if (parse_limit(soft, &old->rlim_cur) == 0 && parse_limit(hard, &old->rlim_max) == 0)
			found = 0;
		break;
	}
	fclose(f);
	return found;
}

typedef int (*prlimit_fn)(pid_t, int, const struct rlimit *, struct rlimit *);

static int shim(const char *name, pid_t pid, int resource, const struct rlimit *new_limit, struct rlimit *old)
{
	prlimit_fn real = (prlimit_fn)dlsym(RTLD_NEXT, name);
	int saved, r;

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	r = real(pid, resource, new_limit, old);
	if (r == 0 || errno != EPERM || new_limit != NULL || old == NULL || pid == 0)
		return r;
	saved = errno;
	if (limits_from_proc(pid, resource, old) == 0)
		return 0;
	errno = saved;
	return r;
}

int prlimit(pid_t pid, int resource, const struct rlimit *new_limit, struct rlimit *old)
{
	return shim("prlimit", pid, resource, new_limit, old);
}

int prlimit64(pid_t pid, int resource, const struct rlimit *new_limit, struct rlimit *old)
{
	return shim("prlimit64", pid, resource, new_limit, old);
}

typedef long (*syscall_fn)(long, ...);

long syscall(long number, ...)
{
	syscall_fn real = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	long a[6], r;
	va_list ap;
	int i, saved;

	va_start(ap, number);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	r = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (number != SYS_prlimit64 || r == 0 || errno != EPERM || a[0] == 0 || a[2] != 0 || a[3] == 0)
		return r;
	saved = errno;
	if (limits_from_proc((pid_t)a[0], (int)a[1], (struct rlimit *)a[3]) == 0)
		return 0;
	errno = saved;
	return r;
}
