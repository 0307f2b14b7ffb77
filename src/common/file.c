/* file.c - see file.h. */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

char *file_read_all(const char *path, size_t max, size_t *len)
{
    /* O_NONBLOCK: a FIFO (/dev/stdin, say) must not block the open; it is
     * refused below with every other file that is not regular. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    int err = fstat(fd, &st) != 0          ? errno
              : S_ISDIR(st.st_mode)        ? EISDIR
              : !S_ISREG(st.st_mode)       ? EINVAL
              : (uint64_t)st.st_size > max ? EFBIG
                                           : 0;
    char *buf = err == 0 ? malloc(max + 1) : NULL;
    if (err == 0 && buf == NULL)
        err = ENOMEM;
    size_t got = 0;
    /* Until end of file: it may have grown since fstat (then EFBIG). */
    while (err == 0) {
        ssize_t n = read(fd, buf + got, max + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            err = errno;
        else if (n == 0)
            break;
        else if ((got += (size_t)n) > max)
            err = EFBIG;
    }
    close(fd);
    if (err != 0) {
        free(buf);
        errno = err;
        return NULL;
    }
    buf[got] = '\0';
    if (len != NULL)
        *len = got;
    return buf;
}
