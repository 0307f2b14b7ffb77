/*
 * daemon_int.h - what the daemon module's files share (args.c, reload.c).
 * Not for other modules.
 */
#ifndef ATP_DAEMON_INT_H
#define ATP_DAEMON_INT_H

#include "daemon/daemon.h"

/* daemon__config_read loads the configuration (the file, or the defaults)
 * and applies the command line's overrides. Returns 0, or 1 with the
 * problems said on stderr (to_log false: start-up) or in the log (a
 * reload). */
int daemon__config_read(const daemon_args *a, config *cfg, bool to_log);

/* daemon__runtime_configure applies the service.log_* keys and
 * service.stall_timeout (start and reload). */
void daemon__runtime_configure(const config *cfg);

#endif
