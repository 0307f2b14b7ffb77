/*
 * fuzz_util.c - checks the fuzz targets share (fuzz.h): what atpd sends
 * must hold for any input (docs/PROTOCOL.md, "Encoding").
 */
#include <sanitizer/common_interface_defs.h>
#include <stdbool.h>

#include "common/log.h"
#include "config/config.h"
#include "fuzz.h"

void fuzz_broken(const char *file, int line, const char *what)
{
    char msg[300];
    snprintf(msg, sizeof msg, "fuzz property broken at %s:%d: %s", file, line,
             what);
    fprintf(stderr, "%s\n", msg);
    __sanitizer_report_error_summary(msg);
    abort();
}

void fuzz_logs_all(void)
{
    log_set_level(LOG_DEBUG);
}

static const char fuzz_config_yaml[] =
    "service:\n"
    "  max_cart_lines: 5\n"
    "regions: [{id: us-east}, {id: eu}]\n"
    "locations:\n"
    "  - {id: dc-1, region: us-east}\n"
    "  - {id: dc-eu, region: eu}\n"
    "channels: [web, app]\n"
    "sources:\n"
    "  - id: wms\n"
    "    authority: [{locations: [dc-1]}]\n"
    "  - id: erp\n"
    "    authority: [{locations: [dc-eu]}]\n"
    "buffers:\n"
    "  - {channel: web, units: 2}\n"
    "reservations:\n"
    "  max_lines: 3\n"
    /* Short holds: what a long run reserves expires and is forgotten
     * within seconds, so memory stays bounded. */
    "  default_ttl: 2s\n"
    "  max_ttl: 5s\n"
    "  committed_ttl: 5s\n"
    "  retention: 1s\n";

void fuzz_config_load(config *cfg)
{
    fuzz_check(config_load_string(fuzz_config_yaml, sizeof fuzz_config_yaml - 1,
                                  cfg, NULL) == ATP_OK,
               "setup: the targets' configuration");
}

bool fuzz_utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (len == 0 || len > n - i || (len == 2 && c < 0xc2) ||
            (len == 4 && c > 0xf4))
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        /* overlong three and four byte forms, surrogates, above U+10FFFF */
        if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0) ||
            (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
            return false;
        i += len;
    }
    return true;
}

void fuzz_check_sent(const codec_val *v, bool exact_ints)
{
    codec_str s;
    int64_t i;
    switch (codec_val_type(v)) {
    case CODEC_STR:
        fuzz_check(codec_val_str(v, &s) &&
                       fuzz_utf8_ok((const unsigned char *)s.ptr, s.len),
                   "a string atpd sends is not valid UTF-8");
        break;
    case CODEC_INT:
        fuzz_check(!exact_ints ||
                       (codec_val_int(v, &i) && i <= FUZZ_JSON_INT_MAX &&
                        i >= -FUZZ_JSON_INT_MAX),
                   "an integer atpd sends does not fit a double exactly");
        break;
    case CODEC_UINT_BIG:
        fuzz_check(!exact_ints,
                   "an integer atpd sends does not fit a double exactly");
        break;
    case CODEC_ARRAY:
        for (uint32_t k = 0; k < codec_val_len(v); k++)
            fuzz_check_sent(codec_val_at(v, k), exact_ints);
        break;
    case CODEC_MAP:
        for (uint32_t k = 0; k < codec_val_len(v); k++) {
            fuzz_check(codec_val_type(codec_val_map_key(v, k)) == CODEC_STR,
                       "a map key atpd sends is not a string");
            fuzz_check_sent(codec_val_map_key(v, k), exact_ints);
            fuzz_check_sent(codec_val_map_value(v, k), exact_ints);
        }
        break;
    default:
        break;
    }
}
