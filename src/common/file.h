/*
 * file.h - reading a small file whole (certificates, keys: the TLS
 * configuration). Any thread.
 */
#ifndef ATP_FILE_H
#define ATP_FILE_H

#include <stddef.h>

/* file_read_all returns the contents of path followed by a NUL (malloc'ed,
 * the caller frees), and its length without the NUL in *len (if not
 * NULL). NULL with errno set when it cannot be read (ENOENT, EACCES,
 * EISDIR, ...), is not a regular file (EINVAL: a FIFO or a device, which
 * could block or never end), is longer than max bytes (EFBIG), or out of
 * memory (ENOMEM). */
char *file_read_all(const char *path, size_t max, size_t *len);

#endif
