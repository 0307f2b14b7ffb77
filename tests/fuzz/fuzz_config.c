/*
 * fuzz_config.c - libFuzzer target for the configuration loader:
 * config_load_string, which config_load_file (atpd's start, its reload,
 * atpctl check) runs on the file's text: libyaml, then every section's
 * reader and the cross-checks. An operator's typo must give diagnostics,
 * never a crash.
 *
 * Checks: a refused document has at least one diagnostic, every diagnostic
 * is valid UTF-8 (atpd logs it, atpctl prints it), and a loaded one frees
 * cleanly. A document may name files (key_file, tls:) that the loader opens
 * read-only; nothing is written. Single-threaded.
 */
#include <string.h>

#include "config/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fuzz_logs_all();
        ready = true;
    }
    char *text = malloc(size ? size : 1);
    fuzz_check(text != NULL, "out of memory");
    memcpy(text, data, size);
    config cfg;
    config_diags diags = {0};
    atp_err err = config_load_string(text, size, &cfg, &diags);
    fuzz_check(err == ATP_OK || diags.n > 0,
               "a refused configuration without a reason");
    for (size_t i = 0; i < diags.n; i++) {
        const char *m = diags.items[i].message;
        size_t n = strnlen(m, sizeof diags.items[i].message);
        fuzz_check(n > 0 && n < sizeof diags.items[i].message &&
                       fuzz_utf8_ok((const unsigned char *)m, n),
                   "a diagnostic is empty, unterminated or not valid UTF-8");
    }
    if (err == ATP_OK)
        config_fini(&cfg);
    config_diags_fini(&diags);
    free(text);
    return 0;
}
