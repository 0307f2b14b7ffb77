/* file.c - see file.h. */
#include "common/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

char *file_read_all(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        errno = ENOMEM;
        return NULL;
    }
    /* One byte more than allowed tells "too long" from "exactly max". */
    size_t got = fread(buf, 1, max + 1, f);
    int err = ferror(f) ? errno : got > max ? EFBIG : 0;
    fclose(f);
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
