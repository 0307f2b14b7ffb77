/*
 * bench_fsync.c - what one durable append of the reservation log costs on
 * this disk, by the ways issue 20 asks to compare (docs/PERFORMANCE.md,
 * "The fsync path"): pwrite + fdatasync on a preallocated, zero-filled
 * file (what src/store/reslog.c does), pwrite on a file opened O_DSYNC,
 * pwrite + fdatasync appending to a file that grows (no preallocation),
 * and pwrite + sync_file_range (not durable: it neither flushes the
 * disk's cache nor writes metadata; measured to show what durability
 * costs, not a candidate).
 *
 * usage: bench_fsync [--dir DIR] [--n N] [--bytes B] [--rounds R]
 *   DIR: where the test file goes (default .: run it in atpd's data
 *   directory's file system); N appends per method and round (default
 *   2000, at most 100000); B bytes per append (default 128, one
 *   single-line reservation record; try 4096 for a group); R rounds,
 *   methods interleaved (default 3). Bounded: each method stops after N
 *   appends or 20 s, whichever comes first. The file is removed at exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"

#define BENCH_FILE_BYTES (64u << 20)
#define BENCH_MAX_NS (INT64_C(20) * 1000000000)

typedef enum {
    M_FDATASYNC_PREALLOC,
    M_ODSYNC_PREALLOC,
    M_FDATASYNC_GROWING,
    M_SYNC_FILE_RANGE,
    M_COUNT
} bench_method;

static const char *const bench_method_name[M_COUNT] = {
    "pwrite + fdatasync, preallocated (today)",
    "pwrite, O_DSYNC, preallocated",
    "pwrite + fdatasync, file growing",
    "pwrite + sync_file_range (NOT durable)",
};

static int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* bench_prepare: the file as reslog.c makes it - blocks allocated and
 * written with zeros, so an append's fdatasync has no extent to convert. */
static int bench_prepare(const char *path, bool prealloc, int flags)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | flags, 0600);
    if (fd < 0)
        return -1;
    if (prealloc) {
        static char zero[1 << 16];
        for (uint32_t off = 0; off < BENCH_FILE_BYTES; off += sizeof zero)
            if (pwrite(fd, zero, sizeof zero, off) != (ssize_t)sizeof zero) {
                close(fd);
                return -1;
            }
        if (fsync(fd) != 0) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* bench_run: n appends of b bytes by method m; latencies (ns) into lat.
 * Returns how many were done (fewer when the time bound hit), -1 on error. */
static long bench_run(const char *path, bench_method m, long n, size_t b,
                      int64_t *lat)
{
    bool prealloc = m != M_FDATASYNC_GROWING;
    int fd = bench_prepare(path, prealloc, 0);
    if (fd < 0)
        return -1;
    if (m == M_ODSYNC_PREALLOC) {
        /* reopen with O_DSYNC after the zero fill (done without it) */
        close(fd);
        fd = open(path, O_RDWR | O_DSYNC);
        if (fd < 0)
            return -1;
    }
    char *rec = malloc(b);
    if (rec == NULL) {
        close(fd);
        return -1;
    }
    memset(rec, 0xa5, b);
    long done = 0;
    int64_t start = clock_mono_ns();
    for (long i = 0; i < n; i++) {
        off_t off = (off_t)((size_t)i * b % BENCH_FILE_BYTES);
        int64_t t0 = clock_mono_ns();
        if (pwrite(fd, rec, b, off) != (ssize_t)b)
            break;
        int rc = 0;
        if (m == M_FDATASYNC_PREALLOC || m == M_FDATASYNC_GROWING)
            rc = fdatasync(fd);
        else if (m == M_SYNC_FILE_RANGE)
            rc = sync_file_range(fd, off, (off_t)b,
                                 SYNC_FILE_RANGE_WAIT_BEFORE |
                                     SYNC_FILE_RANGE_WRITE |
                                     SYNC_FILE_RANGE_WAIT_AFTER);
        if (rc != 0)
            break;
        int64_t t1 = clock_mono_ns();
        lat[done++] = t1 - t0;
        if (t1 - start > BENCH_MAX_NS)
            break;
    }
    free(rec);
    close(fd);
    unlink(path);
    return done;
}

int main(int argc, char **argv)
{
    const char *dir = ".";
    long n = 2000, rounds = 3;
    size_t bytes = 128;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc)
            bytes = (size_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_fsync [--dir DIR] [--n N] "
                            "[--bytes B] [--rounds R]\n");
            return 2;
        }
    }
    if (n < 10 || n > 100000 || rounds < 1 || rounds > 20 || bytes == 0 ||
        bytes > (1u << 20)) {
        fprintf(stderr, "bench_fsync: --n 10..100000, --rounds 1..20, "
                        "--bytes 1..1048576\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_fsync.%ld.tmp", dir, (long)getpid());
    int64_t *lat = malloc((size_t)n * sizeof *lat);
    if (lat == NULL)
        return 1;
    printf("%zu bytes per append, %ld appends per method and round, in %s\n",
           bytes, n, dir);
    printf("%-42s %5s %9s %9s %9s %10s\n", "method", "round", "p50 us",
           "p99 us", "max us", "appends/s");
    for (long r = 1; r <= rounds; r++) {
        for (int m = 0; m < M_COUNT; m++) {
            long done = bench_run(path, (bench_method)m, n, bytes, lat);
            if (done <= 0) {
                fprintf(stderr, "bench_fsync: %s: %s\n", bench_method_name[m],
                        strerror(errno));
                free(lat);
                return 1;
            }
            int64_t sum = 0;
            for (long i = 0; i < done; i++)
                sum += lat[i];
            qsort(lat, (size_t)done, sizeof *lat, bench_cmp_i64);
            printf("%-42s %5ld %9.1f %9.1f %9.1f %10.0f\n",
                   bench_method_name[m], r, lat[done / 2] / 1e3,
                   lat[done * 99 / 100] / 1e3, lat[done - 1] / 1e3,
                   (double)done * 1e9 / (double)sum);
        }
    }
    free(lat);
    return 0;
}
