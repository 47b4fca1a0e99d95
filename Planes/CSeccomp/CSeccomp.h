#ifndef CSECCOMP_H
#define CSECCOMP_H
// libseccomp (Debian libseccomp-dev 2.5.4). Its action and comparison helpers are macros and its rule
// functions are variadic, which Swift cannot call: the shims below give each use a plain C function.
#include <seccomp.h>
#include <stdint.h>

static inline uint32_t CSeccomp_actAllow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t CSeccomp_actKillProcess(void) { return SCMP_ACT_KILL_PROCESS; }
static inline uint32_t CSeccomp_actErrno(uint16_t code) { return SCMP_ACT_ERRNO(code); }

/// A rule on the system call alone, whatever its arguments.
static inline int CSeccomp_ruleAdd(scmp_filter_ctx ctx, uint32_t action, int syscall) {
    return seccomp_rule_add(ctx, action, syscall, 0);
}

/// A rule that matches when (argument `arg` & mask) == value.
static inline int CSeccomp_ruleAddMasked(scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int arg,
                                         uint64_t mask, uint64_t value) {
    return seccomp_rule_add(ctx, action, syscall, 1, SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, mask, value));
}
#endif
