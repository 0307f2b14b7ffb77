/*
 * ui.c - which dashboard file a path names (ui.h). The files themselves
 * are the generated table http_ui_assets.
 */
#include "http/ui.h"

#include <string.h>

const http_ui_asset *http_ui_find(const char *path)
{
    if (strcmp(path, "/ui") == 0 || strcmp(path, "/ui/") == 0)
        path = "/ui/index.html";
    for (const http_ui_asset *a = http_ui_assets; a->path != NULL; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}
