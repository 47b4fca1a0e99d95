#ifndef CLINUX_H
#define CLINUX_H
// Linux process calls the sandbox needs that Swift's Glibc module hides (they are GNU extensions, declared
// only under _GNU_SOURCE, which a module cannot turn on after the fact): declared here as glibc exports them,
// with shims for the variadic prctl.
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

long syscall(long number, ...);
int pipe2(int pipefd[2], int flags);
int memfd_create(const char *name, unsigned int flags);
int prctl(int option, ...);

/// PR_SET_PDEATHSIG (1): the signal this process gets when its parent dies.
static inline int CLinux_setParentDeathSignal(int signal) { return prctl(1, (unsigned long)signal, 0UL, 0UL, 0UL); }

// Credential changes as raw system calls: they change the calling thread only. glibc's wrappers signal every
// thread of the process to change with it (setxid broadcast), which crashes libdispatch's manager thread in a
// Swift process; the launch stub changes its own thread and then execs, which makes that thread the process.
static inline long CLinux_setgroupsEmpty(void) { return syscall(SYS_setgroups, 0L, (void *)0); }
static inline long CLinux_setresgid(gid_t r, gid_t e, gid_t s) { return syscall(SYS_setresgid, (long)r, (long)e, (long)s); }
static inline long CLinux_setresuid(uid_t r, uid_t e, uid_t s) { return syscall(SYS_setresuid, (long)r, (long)e, (long)s); }
static inline long CLinux_setuid(uid_t u) { return syscall(SYS_setuid, (long)u); }
#endif
