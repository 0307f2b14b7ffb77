/*
 * import_state.c - atp-import's state directory (see import_state.h).
 */
#include "import_state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/codec.h"
#include "common/file.h"

/* A state is every position the source ever set: 4 GiB is far above any
 * real one and keeps a corrupt length from exhausting memory. */
#define IMPORT_STATE_MAX ((size_t)4 << 30)

static char *import_join(const char *dir, const char *source, const char *ext)
{
    size_t n = strlen(dir) + strlen(source) + strlen(ext) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s%s", dir, source, ext);
    return p;
}

/* import_state_load applies the state file's bytes to s (session and
 * last_seq too, unless keep_numbers). */
static int import_state_load(import_state *s, bool keep_numbers, char *why,
                             size_t why_len)
{
    codec_arena *a = codec_arena_alloc();
    codec_src_msg m;
    atp_err e =
        a ? codec_src_decode(a, s->read_buf, s->read_len, UINT32_MAX, &m, NULL)
          : ATP_E_NOMEM;
    int rc = 0;
    if (e != ATP_OK || m.kind != ATP_MSG_SNAPSHOT || !m.last ||
        !codec_str_eq(m.source, s->source) || m.session == 0) {
        snprintf(why, why_len,
                 "%s is not an atp-import state of source %s (%s): move it "
                 "away to start a new publisher session",
                 s->path, s->source,
                 e != ATP_OK ? atp_err_name(e) : "another message");
        rc = -1;
    } else if (feed_state_apply(s->st, m.events, m.n_events) != ATP_OK) {
        snprintf(why, why_len, "out of memory reading %s", s->path);
        rc = -1;
    } else if (!keep_numbers) {
        s->session = m.session;
        s->last_seq = m.seq;
    }
    codec_arena_free(a);
    return rc;
}

static int import_state_read(import_state *s, char *why, size_t why_len)
{
    s->read_buf = file_read_all(s->path, IMPORT_STATE_MAX, &s->read_len);
    if (s->read_buf == NULL) {
        if (errno == ENOENT)
            return 0; /* a first run */
        snprintf(why, why_len, "cannot read %s: %s", s->path, strerror(errno));
        return -1;
    }
    return import_state_load(s, false, why, why_len);
}

int import_state_revert(import_state *s, char *why, size_t why_len)
{
    feed_state *st;
    if (feed_state_alloc(s->on_hand_locs, s->n_on_hand, &st) != ATP_OK) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    feed_state_free(s->st);
    s->st = st;
    return s->read_buf != NULL ? import_state_load(s, true, why, why_len) : 0;
}

int import_state_open(const char *dir, const char *source,
                      const char *const *on_hand_locs, size_t n_on_hand,
                      import_state *s, char *why, size_t why_len)
{
    memset(s, 0, sizeof *s);
    s->lock_fd = -1;
    s->on_hand_locs = on_hand_locs;
    s->n_on_hand = n_on_hand;
    char *lock = import_join(dir, source, ".lock");
    s->path = import_join(dir, source, ".state");
    s->source = strdup(source);
    if (lock == NULL || s->path == NULL || s->source == NULL ||
        feed_state_alloc(on_hand_locs, n_on_hand, &s->st) != ATP_OK) {
        free(lock);
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(why, why_len, "cannot create %s: %s", dir, strerror(errno));
        free(lock);
        return -1;
    }
    s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        snprintf(why, why_len, "cannot open %s: %s", lock, strerror(errno));
        free(lock);
        return -1;
    }
    free(lock);
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return 1;
        snprintf(why, why_len, "cannot lock the state: %s", strerror(errno));
        return -1;
    }
    return import_state_read(s, why, why_len);
}

/* import_fsync_dir makes the rename durable. */
static int import_fsync_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int import_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int import_state_save(const import_state *s, char *why, size_t why_len)
{
    codec_event *evs;
    size_t n;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (w == NULL || feed_state_events(s->st, &evs, &n) != ATP_OK ||
        n > UINT32_MAX) {
        codec_writer_free(w);
        snprintf(why, why_len, "out of memory writing the state");
        return -1;
    }
    codec_src_msg m = {
        .kind = ATP_MSG_SNAPSHOT,
        .source = {s->source, (uint32_t)strlen(s->source)},
        .seq = s->last_seq,
        .ts_ms = 0,
        .n_events = (uint32_t)n,
        .events = evs,
        .last = true,
        .session = s->session,
    };
    codec_src_encode(w, &m);
    size_t len;
    const void *buf = codec_writer_data(w, &len);
    size_t pl = strlen(s->path);
    char *tmp = malloc(pl + 5);
    if (tmp != NULL)
        memcpy(tmp, s->path, pl), memcpy(tmp + pl, ".tmp", 5);
    int fd = tmp && !codec_writer_failed(w)
                 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                 : -1;
    int rc = -1;
    bool closed = false;
    if (fd >= 0 && import_write_all(fd, buf, len) == 0 && fsync(fd) == 0 &&
        (closed = true, close(fd) == 0)) {
        if (rename(tmp, s->path) == 0 && import_fsync_dir(s->path) == 0)
            rc = 0;
    }
    if (rc != 0)
        snprintf(why, why_len, "cannot write %s: %s", s->path,
                 tmp ? strerror(errno) : "out of memory");
    if (fd >= 0 && !closed)
        close(fd);
    if (rc != 0 && tmp != NULL)
        unlink(tmp);
    free(tmp);
    codec_writer_free(w);
    return rc;
}

void import_state_close(import_state *s)
{
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    feed_state_free(s->st);
    free(s->path);
    free(s->source);
    free(s->read_buf);
    memset(s, 0, sizeof *s);
    s->lock_fd = -1;
}
