/*
 * ctl_admin.h - `atpctl admin list|set-buffer|remove-buffer|move-location|
 * history|export` (docs/PROTOCOL.md, "Admin"): the request from the
 * command words, the reply as text. Single-threaded.
 */
#ifndef ATP_CTL_ADMIN_H
#define ATP_CTL_ADMIN_H

#include <stdbool.h>
#include <stdio.h>

#include "codec/codec.h"
#include "ctl_args.h"

/* ctl_admin_build writes the request of a->words ("admin", SUB, ...) to
 * w. Returns 0, or -1 for a usage error (*usage: the usage should be
 * printed; false: the reason was said on stderr already). */
int ctl_admin_build(const ctl_args *a, codec_writer *w, bool *usage);

/* ctl_admin_render prints an admin reply: the state as tables, the
 * history one change a few lines, export's document as it is, a change's
 * version. */
void ctl_admin_render(const codec_val *reply, FILE *f);

#endif
