/*
 * child.h - for unit tests of what must stop the process (ATP_ASSERT):
 * test_run_child runs fn in a forked child whose stderr goes to a pipe,
 * with SIGABRT at its default action, and returns the child's wait status
 * with what it wrote in out[0..cap) (NUL-terminated). A child whose fn
 * returns exits 0. Header-only: include it in one test file.
 */
#ifndef ATP_TEST_CHILD_H
#define ATP_TEST_CHILD_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int test_run_child(void (*fn)(void), char *out, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        signal(SIGABRT, SIG_DFL);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

#endif
