/*
 * ui.h - the dashboard's static files (src/http/ui/), compiled into atpd
 * by src/http/ui/embed.cmake: served at /ui by mhd.c, no file read at run
 * time.
 */
#ifndef ATP_HTTP_UI_H
#define ATP_HTTP_UI_H

#include <stddef.h>

typedef struct http_ui_asset {
    const char *path; /* "/ui/index.html" */
    const char *type; /* Content-Type */
    const unsigned char *bytes;
    size_t len;
} http_ui_asset;

/* The generated table, ended by an entry with path NULL. */
extern const http_ui_asset http_ui_assets[];

/* The Content-Security-Policy every dashboard file is sent with: only
 * atpd's own scripts, styles and API (fetch, EventSource); no inline
 * code, no other origin, no framing. */
#define HTTP_UI_CSP                                                            \
    "default-src 'none'; script-src 'self'; style-src 'self'; "                \
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action "        \
    "'none'; frame-ancestors 'none'"

/* http_ui_find returns the file served at path ("/ui" and "/ui/" are
 * index.html), or NULL when path is none of them. */
const http_ui_asset *http_ui_find(const char *path);

#endif
