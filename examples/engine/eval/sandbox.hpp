// A process sandbox for running untrusted code (model-written programs) outside the evaluator's
// own process: `run(argv, input, limits)` executes argv[0] in a child process and returns how it
// ended. The evaluator never runs the code itself; it only reads the child's pipes.
//
// What the child gets, in this order (each step's outcome is reported in `outcome::isolation`):
//   namespaces   clone() with new PID, network, mount, IPC and UTS namespaces when permitted
//                (root, or CAP_SYS_ADMIN). The child is PID 1 of its namespace, a minimal init
//                that forks the program, waits for it, reports its end and exits, upon which
//                the kernel kills everything the program started; the network namespace holds
//                only a loopback interface that is down. Not permitted (e.g. a container's
//                seccomp profile): a plain fork, said so in `isolation`.
//   filesystem   with the mount namespace: every mount read-only (mount_setattr, recursive),
//                except a fresh, empty working directory (created here, removed afterwards).
//   process      its own process group; all fds closed except stdin (a pipe: `input`), stdout,
//                stderr (pipes) and fd 3 (a pipe for a result report, see `report`).
//   limits       RLIMIT_CPU (soft; hard = soft + 1 s, then SIGKILL), RLIMIT_AS, RLIMIT_FSIZE,
//                RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_CORE = 0; as root the scheduling priority
//                `nice` (0), so that a `nice -n 19` evaluator does not starve the program into a
//                wall-clock timeout.
//   identity     when started as root: an unprivileged uid/gid of its own (sandbox_uid; no
//                supplementary groups), so RLIMIT_NPROC counts only its processes and files
//                outside the working directory are not writable even without a mount namespace.
//                Not root: the caller's uid (RLIMIT_NPROC then counts all the caller's
//                processes; the limit is raised by the number the caller already runs).
//   seccomp      PR_SET_NO_NEW_PRIVS and the filter of sandbox_seccomp.hpp (no non-Unix
//                sockets, no mount/namespace/ptrace/module calls: SIGSYS).
//   environment  only PATH, HOME = TMPDIR = the working directory, LANG, PYTHONHASHSEED=0.
// The parent enforces a wall-clock limit and an output limit: past either it kills the child's
// process group (and, as root, every process of the sandbox uid) with SIGKILL. stdout/stderr
// are captured up to `kept_output` bytes each.
//
// The evaluator ignores SIGPIPE from the first call on (writing to a child that stopped reading).
// Failure modes: a setup problem in the parent throws a lowrank error — sandbox_error (pipes,
// fork), io_error naming the working directory (mkdtemp, chown), invalid_argument (argv); a setup step that fails in the child before exec is reported as
// `outcome::setup_error` (never as a result of the code).
#pragma once

#include "eval/sandbox_seccomp.hpp"
#include "lowrank/core/errors.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/mount.h>  // not <sys/mount.h>: it pulls in termios macros (NCC, ...) that clash with LAPACK headers
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lowrank::eval::sandbox {

/// The sandbox itself could not be set up or started (a pipe, fork or the child's setup failed);
/// the message names the step and the OS error. Not an outcome of the program run in it.
struct sandbox_error : lowrank::error {
    using lowrank::error::error;
};

struct limits {
    double wall_seconds = 60;             ///< wall clock, then SIGKILL of everything
    double cpu_seconds = 10;              ///< RLIMIT_CPU per process
    std::size_t memory_bytes = 1u << 30;  ///< RLIMIT_AS (address space) per process
    std::size_t file_bytes = 16u << 20;   ///< RLIMIT_FSIZE: largest file it may write
    std::size_t processes = 32;           ///< RLIMIT_NPROC (its own processes and threads)
    std::size_t open_files = 64;          ///< RLIMIT_NOFILE
    std::size_t output_bytes = 1u << 20;  ///< stdout + stderr; more and it is killed
    std::size_t kept_output = 8192;       ///< bytes of each stream kept in the outcome
    int nice = 0;                         ///< scheduling priority of the program (as root; else inherited)
};

/// What isolation the child actually ran under.
struct isolation {
    bool namespaces = false;         ///< PID, network, mount, IPC, UTS namespaces
    bool readonly_filesystem = false;///< everything read-only except the working directory
    bool own_uid = false;            ///< ran as the unprivileged sandbox uid
    bool seccomp = false;            ///< the seccomp filter was installed
    std::string notes;               ///< why a step was not applied
};

struct outcome {
    bool exited = false;             ///< exited normally (exit_code valid)
    int exit_code = -1;
    int signal = 0;                  ///< the signal that ended it (0 if exited)
    bool timed_out = false;          ///< killed by the wall-clock limit
    bool output_capped = false;      ///< killed for writing more than output_bytes
    double wall_seconds = 0, cpu_seconds = 0;
    std::size_t output_total = 0;    ///< bytes written to stdout + stderr
    std::string out, err;            ///< the first kept_output bytes of each
    std::string report;              ///< what the child wrote to fd 3 (its own result channel)
    std::string setup_error;         ///< a sandbox step failed in the child (nothing ran)
    isolation iso;
};

/// The unprivileged uid (and gid) the sandbox uses when started as root: a fixed high range,
/// one per evaluator process so that RLIMIT_NPROC and the final kill see only its children.
inline uid_t sandbox_uid() { return static_cast<uid_t>(2000000000u + static_cast<unsigned>(::getpid()) % 1000000u); }

namespace detail {

inline std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

/// Child-side failure: writes "SETUP <step> errno <n>" to fd 3 and exits. Async-signal-safe
/// (no allocation, no stdio).
[[noreturn]] inline void child_fail(const char* step) {
    const int e = errno;
    char buf[128] = "\nSETUP ";
    std::size_t n = 7;
    for (const char* s = step; *s && n < 100; ++s) buf[n++] = *s;
    for (const char* s = " errno "; *s; ++s) buf[n++] = *s;
    char digits[12];
    int k = 0;
    for (int v = e < 0 ? 0 : e; k == 0 || v > 0; v /= 10) digits[k++] = static_cast<char>('0' + v % 10);
    while (k > 0) buf[n++] = digits[--k];
    buf[n++] = '\n';
    (void)!::write(3, buf, n);
    ::_exit(127);
}

/// Processes of the current real uid (for RLIMIT_NPROC when not root).
inline std::size_t processes_of_uid(uid_t uid) {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            struct stat st {};
            if (::stat((std::string("/proc/") + e->d_name).c_str(), &st) == 0 && st.st_uid == uid) ++n;
        }
        ::closedir(d);
    }
    return n;
}

struct pipe_pair {
    int r = -1, w = -1;
    pipe_pair() {
        int fd[2];
        if (::pipe2(fd, O_CLOEXEC) != 0) throw sandbox_error(errno_text("sandbox: pipe"));
        r = fd[0], w = fd[1];
    }
    ~pipe_pair() { close_r(), close_w(); }
    void close_r() { if (r >= 0) ::close(r), r = -1; }
    void close_w() { if (w >= 0) ::close(w), w = -1; }
};

/// Everything the child needs, prepared before clone() so that the child allocates nothing.
struct child_plan {
    std::vector<std::string> argv_s, env_s;
    std::vector<char*> argv, env;
    std::string workdir;
    limits lim;
    bool root = false, namespaces = false;
    uid_t uid = 0;
    std::size_t nproc = 0;
    std::vector<sock_filter> filter;
    sock_fprog prog{};
};

/// The child after clone(): async-signal-safe calls only (raw system calls), then execve.
[[noreturn]] inline void child_main(child_plan& p, int in_r, int out_w, int err_w, int rep_w) {
    ::setpgid(0, 0);
    for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // fds: 0 input, 1 stdout, 2 stderr, 3 report; everything else closed
    // (first above any target number, so that no source is overwritten before it is moved)
    int high[4] = {::fcntl(in_r, F_DUPFD, 100), ::fcntl(out_w, F_DUPFD, 100), ::fcntl(err_w, F_DUPFD, 100),
                   ::fcntl(rep_w, F_DUPFD, 100)};
    for (int i = 0; i < 4; ++i)
        if (high[i] < 0 || ::dup2(high[i], i) < 0) child_fail("dup2");
#ifdef SYS_close_range
    if (::syscall(SYS_close_range, 4u, ~0u, 0u) != 0)
#endif
        for (int fd = 4; fd < 65536; ++fd) ::close(fd);
    char iso[64] = "ISO";
    std::size_t n = 3;
    auto add = [&](const char* s) { while (*s && n + 1 < sizeof iso) iso[n++] = *s++; };
    if (p.namespaces) {
        add(" ns");
        // mounts: private, everything read-only except the working directory
        bool ro = ::syscall(SYS_mount, nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
                  ::syscall(SYS_mount, p.workdir.c_str(), p.workdir.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0;
#ifdef SYS_mount_setattr
        mount_attr set{MOUNT_ATTR_RDONLY, 0, 0, 0}, clr{0, MOUNT_ATTR_RDONLY, 0, 0};
        ro = ro && ::syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &set, sizeof set) == 0 &&
             ::syscall(SYS_mount_setattr, AT_FDCWD, p.workdir.c_str(), AT_RECURSIVE, &clr, sizeof clr) == 0;
#else
        ro = false;
#endif
        if (ro) add(" ro");
        // PID 1 of the namespace stays a minimal init: it waits for the program (a normal
        // process, so signals it sends itself and SIGXCPU work), reaps orphans, reports how the
        // program ended on fd 3 and exits, upon which the kernel kills whatever is left.
        const long k = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
        if (k < 0) child_fail("fork");
        if (k > 0) {
            ::close(0), ::close(1), ::close(2);  // the pipes belong to the program
            int st = 0;
            for (;;) {
                const pid_t w = ::waitpid(-1, &st, 0);
                if (w == static_cast<pid_t>(k)) break;
                if (w < 0 && errno != EINTR) ::_exit(126);
            }
            char line[40] = "\nCHILD ";
            std::size_t m = 7;
            const bool sig = WIFSIGNALED(st);
            for (const char* t = sig ? "signal " : "exit "; *t; ++t) line[m++] = *t;
            int v = sig ? WTERMSIG(st) : WEXITSTATUS(st), nd = 0;
            char d[12];
            do d[nd++] = static_cast<char>('0' + v % 10), v /= 10; while (v > 0);
            while (nd > 0) line[m++] = d[--nd];
            line[m++] = '\n';
            (void)!::write(3, line, m);
            ::_exit(sig ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
        }
    }
    if (::chdir(p.workdir.c_str()) != 0) child_fail("chdir");
    auto lim = [](int what, rlim_t soft, rlim_t hard) {
        rlimit r{soft, hard};
        if (::setrlimit(what, &r) != 0) child_fail("setrlimit");
    };
    const auto cpu = static_cast<rlim_t>(std::max(1.0, p.lim.cpu_seconds + 0.999));
    lim(RLIMIT_CPU, cpu, cpu + 1);
    lim(RLIMIT_AS, p.lim.memory_bytes, p.lim.memory_bytes);
    lim(RLIMIT_FSIZE, p.lim.file_bytes, p.lim.file_bytes);
    lim(RLIMIT_NOFILE, p.lim.open_files, p.lim.open_files);
    lim(RLIMIT_CORE, 0, 0);
    lim(RLIMIT_NPROC, p.nproc, p.nproc);
    if (p.root) ::setpriority(PRIO_PROCESS, 0, p.lim.nice);  // a niced evaluator must not starve its tests
    if (p.root) {  // raw system calls: glibc's wrappers would try to signal threads we do not have
        if (::syscall(SYS_setgroups, 0, nullptr) != 0) child_fail("setgroups");
        if (::syscall(SYS_setresgid, p.uid, p.uid, p.uid) != 0) child_fail("setresgid");
        if (::syscall(SYS_setresuid, p.uid, p.uid, p.uid) != 0) child_fail("setresuid");
        add(" uid");
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail("no_new_privs");
    if (!p.filter.empty()) {
        if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p.prog, 0, 0) != 0) child_fail("seccomp");
        add(" seccomp");
    }
    iso[n++] = '\n';
    (void)!::write(3, iso, n);
    ::execve(p.argv[0], p.argv.data(), p.env.data());
    child_fail("execve");
}

}  // namespace detail

/// Runs argv (argv[0]: an absolute path) with `input` on its stdin, under `lim`. See the file
/// comment. `tmp_root`: where the working directory is made (default: the system temp dir).
inline outcome run(const std::vector<std::string>& argv, const std::string& input, const limits& lim,
                   const std::string& tmp_root = {}) {
    namespace fs = std::filesystem;
    if (argv.empty() || argv[0].empty() || argv[0][0] != '/')
        throw lowrank::invalid_argument("sandbox: argv[0] must be an absolute path (got '" + (argv.empty() ? std::string() : argv[0]) + "')");
    detail::child_plan p;
    p.lim = lim;
    p.root = ::geteuid() == 0;
    p.uid = p.root ? sandbox_uid() : ::getuid();
    p.nproc = p.root ? lim.processes : lim.processes + detail::processes_of_uid(::getuid());
    // working directory: fresh, empty, owned by the sandbox uid
    std::string tmpl = (fs::path(tmp_root.empty() ? fs::temp_directory_path().string() : tmp_root) /
                        "lowrank-sandbox-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw io_error(tmpl, detail::errno_text("sandbox: mkdtemp"));
    p.workdir = tmpl;
    struct cleanup {
        std::string dir;
        ~cleanup() { std::error_code ec; fs::remove_all(dir, ec); }
    } rm{p.workdir};
    if (p.root && ::chown(p.workdir.c_str(), p.uid, p.uid) != 0)
        throw io_error(p.workdir, detail::errno_text("sandbox: chown"));
    p.argv_s = argv;
    p.env_s = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + p.workdir, "TMPDIR=" + p.workdir, "LANG=C.UTF-8",
               "PYTHONHASHSEED=0"};
    for (auto& s : p.argv_s) p.argv.push_back(s.data());
    p.argv.push_back(nullptr);
    for (auto& s : p.env_s) p.env.push_back(s.data());
    p.env.push_back(nullptr);
    outcome o;
    if constexpr (sandbox_detail::seccomp_supported()) {
        p.filter = sandbox_detail::seccomp_program();
        p.prog.len = static_cast<unsigned short>(p.filter.size());
        p.prog.filter = p.filter.data();
    } else {
        o.iso.notes += "seccomp: unsupported architecture; ";
    }
    std::signal(SIGPIPE, SIG_IGN);  // a child that closes its stdin must not end the evaluator
    detail::pipe_pair in, out, err, rep;
    const auto t0 = std::chrono::steady_clock::now();
    // clone with new namespaces (like fork otherwise: a copy of this process on its own stack)
    const long ns = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
    p.namespaces = true;
    long pid = ::syscall(SYS_clone, ns | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (pid < 0) {
        o.iso.notes += detail::errno_text("namespaces: clone") + " (ran without them); ";
        p.namespaces = false;
        pid = ::fork();
    }
    if (pid < 0) throw sandbox_error(detail::errno_text("sandbox: fork"));
    if (pid == 0) detail::child_main(p, in.r, out.w, err.w, rep.w);
    ::setpgid(static_cast<pid_t>(pid), static_cast<pid_t>(pid));  // also done by the child; either wins
    in.close_r(), out.close_w(), err.close_w(), rep.close_w();
    for (int fd : {in.w, out.r, err.r, rep.r}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::size_t written = 0;
    if (input.empty()) in.close_w();

    auto kill_all = [&] {
        ::kill(-static_cast<pid_t>(pid), SIGKILL);
        ::kill(static_cast<pid_t>(pid), SIGKILL);
        if (p.root) {  // every process of the sandbox uid, wherever it moved (setsid, ...)
            const pid_t k = ::fork();
            if (k == 0) {
                if (::syscall(SYS_setresuid, p.uid, p.uid, p.uid) == 0) ::kill(-1, SIGKILL);
                ::_exit(0);
            }
            if (k > 0) ::waitpid(k, nullptr, 0);
        }
    };
    auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    bool child_done = false, killed = false;
    int status = 0;
    rusage ru{};
    double done_at = 0;
    char buf[65536];
    for (;;) {
        std::vector<pollfd> fds;
        for (int fd : {out.r, err.r, rep.r})
            if (fd >= 0) fds.push_back({fd, POLLIN, 0});
        if (in.w >= 0) fds.push_back({in.w, POLLOUT, 0});
        if (!child_done) {  // exited? (not reaped yet: its process group id stays valid)
            siginfo_t si{};
            if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
                child_done = true;
                done_at = seconds();
                kill_all();  // whatever it left behind
                ::wait4(static_cast<pid_t>(pid), &status, 0, &ru);
            }
        }
        if (fds.empty() && child_done) break;
        if (child_done && seconds() - done_at > 2) break;  // a leftover holds a pipe: stop reading
        if (!killed && seconds() > lim.wall_seconds) {
            o.timed_out = killed = true;
            kill_all();
        }
        if (::poll(fds.data(), fds.size(), 20) < 0 && errno != EINTR) break;
        for (const auto& f : fds) {
            if (!f.revents) continue;
            if (f.fd == in.w) {
                if (f.revents & (POLLERR | POLLHUP)) { in.close_w(); continue; }
                const ssize_t k = ::write(in.w, input.data() + written, input.size() - written);
                if (k > 0) written += static_cast<std::size_t>(k);
                if (written == input.size() || (k < 0 && errno != EAGAIN)) in.close_w();
                continue;
            }
            const ssize_t k = ::read(f.fd, buf, sizeof buf);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                if (f.fd == out.r) out.close_r();
                else if (f.fd == err.r) err.close_r();
                else rep.close_r();
                continue;
            }
            if (k < 0) continue;
            const std::size_t m = static_cast<std::size_t>(k);
            if (f.fd == rep.r) {
                if (o.report.size() < 65536) o.report.append(buf, std::min(m, 65536 - o.report.size()));
                continue;
            }
            std::string& s = f.fd == out.r ? o.out : o.err;
            if (s.size() < lim.kept_output) s.append(buf, std::min(m, lim.kept_output - s.size()));
            o.output_total += m;
            if (!killed && o.output_total > lim.output_bytes) {
                o.output_capped = killed = true;
                kill_all();
            }
        }
    }
    if (!child_done) {  // gave up reading: make sure it is gone
        kill_all();
        ::wait4(static_cast<pid_t>(pid), &status, 0, &ru);
    }
    o.wall_seconds = seconds();
    o.cpu_seconds = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    if (WIFEXITED(status)) o.exited = true, o.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
    // the child's own lines on fd 3: "ISO ..." (what it applied) and "SETUP ..." (a failed step)
    std::string rest;
    for (std::size_t a = 0; a < o.report.size();) {
        std::size_t b = o.report.find('\n', a);
        if (b == std::string::npos) b = o.report.size();
        const std::string line = o.report.substr(a, b - a);
        if (line.rfind("ISO", 0) == 0 && rest.empty()) {
            o.iso.namespaces = line.find(" ns") != std::string::npos;
            o.iso.readonly_filesystem = line.find(" ro") != std::string::npos;
            o.iso.own_uid = line.find(" uid") != std::string::npos;
            o.iso.seccomp = line.find(" seccomp") != std::string::npos;
        } else if (line.rfind("SETUP ", 0) == 0 && rest.empty()) {
            o.setup_error = line.substr(6);
        } else if (line.rfind("CHILD ", 0) == 0 && b == o.report.size() - 1 + (o.report.back() != '\n')) {
            // the namespace's init: how the program ended (its last line)
            const int v = std::atoi(line.c_str() + line.rfind(' ') + 1);
            if (line.rfind("CHILD signal ", 0) == 0) o.exited = false, o.signal = v, o.exit_code = -1;
            else o.exited = true, o.signal = 0, o.exit_code = v;
        } else if (!line.empty() || !rest.empty()) {
            rest += line + (b < o.report.size() ? "\n" : "");
        }
        a = b + 1;
    }
    o.report = rest;
    if (p.namespaces && !o.iso.readonly_filesystem) o.iso.notes += "filesystem: mount_setattr failed (not read-only); ";
    if (!p.root) o.iso.notes += "not root: own uid not used; ";
    return o;
}

}  // namespace lowrank::eval::sandbox
