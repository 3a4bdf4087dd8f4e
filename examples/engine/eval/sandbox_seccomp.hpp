// The seccomp-BPF filter of the code sandbox (eval/sandbox.hpp): what a sandboxed program may
// not do even where namespaces are unavailable. Installed in the child after
// PR_SET_NO_NEW_PRIVS, right before execve, so it binds the interpreter and everything it runs.
//
//   architecture other than the one compiled for (and the x32 ABI)   → kill the process
//   socket / socketpair with a family other than AF_UNIX              → kill (network attempt)
//   io_uring_setup (its requests bypass this filter)                  → kill
//   mount, umount2, mount_setattr, move_mount, open_tree, fsopen, fsmount, fsconfig, pivot_root,
//   chroot, unshare, setns, ptrace, process_vm_readv/writev, bpf, perf_event_open, userfaultfd,
//   keyctl, add_key, request_key, kexec_load, kexec_file_load, init_module, finit_module,
//   delete_module, reboot, swapon, swapoff, acct, quotactl                → kill (escape attempt)
//   clone with any CLONE_NEW* namespace flag                          → kill
//   clone3 (its flags are in memory the filter cannot read)           → fails with ENOSYS, so
//                                                                       libc falls back to clone
//   everything else                                                   → allowed
// A kill is SIGSYS to the whole process (SECCOMP_RET_KILL_PROCESS, Linux ≥ 4.14), which the
// sandbox reports as an escape attempt. Only x86-64 and AArch64 are supported; elsewhere
// `supported()` is false and the sandbox says it ran without the filter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>

namespace lowrank::eval::sandbox_detail {

#if defined(__x86_64__)
inline constexpr std::uint32_t seccomp_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
inline constexpr std::uint32_t seccomp_arch = AUDIT_ARCH_AARCH64;
#else
inline constexpr std::uint32_t seccomp_arch = 0;
#endif

inline constexpr bool seccomp_supported() { return seccomp_arch != 0; }

/// The BPF program (built in the parent: the child only passes the pointer to prctl).
inline std::vector<sock_filter> seccomp_program() {
    std::vector<sock_filter> p;
    auto stmt = [&](std::uint16_t code, std::uint32_t k) { p.push_back(BPF_STMT(code, k)); };
    auto jump = [&](std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
        p.push_back(BPF_JUMP(code, k, jt, jf));
    };
    constexpr std::uint32_t kill = SECCOMP_RET_KILL_PROCESS, allow = SECCOMP_RET_ALLOW;
    const auto nr_off = static_cast<std::uint32_t>(offsetof(seccomp_data, nr));
    const auto arch_off = static_cast<std::uint32_t>(offsetof(seccomp_data, arch));
    const auto arg0_off = static_cast<std::uint32_t>(offsetof(seccomp_data, args));  // low 32 bits (little-endian)

    stmt(BPF_LD | BPF_W | BPF_ABS, arch_off);
    jump(BPF_JMP | BPF_JEQ | BPF_K, seccomp_arch, 1, 0);
    stmt(BPF_RET | BPF_K, kill);
    stmt(BPF_LD | BPF_W | BPF_ABS, nr_off);
#if defined(__x86_64__)
    jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);  // x32 ABI numbers
    stmt(BPF_RET | BPF_K, kill);
#endif
    // socket(domain, …) / socketpair(domain, …): AF_UNIX only
    for (long nr : {long(SYS_socket), long(SYS_socketpair)}) {
        jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, 4);
        stmt(BPF_LD | BPF_W | BPF_ABS, arg0_off);
        jump(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1);
        stmt(BPF_RET | BPF_K, allow);
        stmt(BPF_RET | BPF_K, kill);
    }
    // clone(flags, …): no new namespaces (x86-64 and AArch64 both pass flags first)
    constexpr std::uint32_t ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                       CLONE_NEWNET | CLONE_NEWCGROUP;
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(SYS_clone), 0, 4);
    stmt(BPF_LD | BPF_W | BPF_ABS, arg0_off);
    jump(BPF_JMP | BPF_JSET | BPF_K, ns_flags, 0, 1);
    stmt(BPF_RET | BPF_K, kill);
    stmt(BPF_RET | BPF_K, allow);
#ifdef SYS_clone3
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(SYS_clone3), 0, 1);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 38 /* ENOSYS */);
#endif
    const long forbidden[] = {
#ifdef SYS_io_uring_setup
        SYS_io_uring_setup,
#endif
        SYS_mount, SYS_umount2, SYS_pivot_root, SYS_chroot, SYS_unshare, SYS_setns, SYS_ptrace,
        SYS_process_vm_readv, SYS_process_vm_writev, SYS_bpf, SYS_perf_event_open, SYS_keyctl, SYS_add_key,
        SYS_request_key, SYS_kexec_load, SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_reboot,
        SYS_swapon, SYS_swapoff, SYS_acct, SYS_quotactl,
#ifdef SYS_kexec_file_load
        SYS_kexec_file_load,
#endif
#ifdef SYS_userfaultfd
        SYS_userfaultfd,
#endif
#ifdef SYS_mount_setattr
        SYS_mount_setattr,
#endif
#ifdef SYS_move_mount
        SYS_move_mount, SYS_open_tree, SYS_fsopen, SYS_fsmount, SYS_fsconfig,
#endif
    };
    for (long nr : forbidden) {
        jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, 1);
        stmt(BPF_RET | BPF_K, kill);
    }
    stmt(BPF_RET | BPF_K, allow);
    return p;
}

}  // namespace lowrank::eval::sandbox_detail
