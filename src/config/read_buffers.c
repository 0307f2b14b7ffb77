/*
 * read_buffers.c - the buffers section: buffer rules (sku, region, channel
 * scope; units, percent, low_stock), with the exact percentage parser they
 * need. Scopes are kept as names for validate.c. Main thread at start.
 */
#include "config/config_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <yaml.h>

/* A leading '-' parses (so that "-1" is reported as out of range, which is
 * what it is); trailing zeros beyond two decimals are harmless ("2.500").
 * No float on the way: 0.29 must be exactly 29 bp. */
enum config_percent_result config_parse_percent_bp(const char *s, size_t len,
                                                   int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    int64_t whole = 0;
    size_t digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (whole <= 1000) /* beyond that it is out of range anyway */
            whole = whole * 10 + (s[i] - '0');
    }
    if (digits == 0)
        return CONFIG_PERCENT_SYNTAX;
    int64_t frac = 0;
    bool extra_decimals = false;
    if (i < len && s[i] == '.') {
        i++;
        size_t fdigits = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, fdigits++) {
            if (fdigits < 2)
                frac = frac * 10 + (s[i] - '0');
            else if (s[i] != '0')
                extra_decimals = true;
        }
        if (fdigits == 0)
            return CONFIG_PERCENT_SYNTAX;
        if (fdigits == 1)
            frac *= 10;
    }
    if (i != len)
        return CONFIG_PERCENT_SYNTAX;
    if (extra_decimals)
        return CONFIG_PERCENT_DECIMALS;
    int64_t bp = whole * 100 + frac;
    if ((neg && bp != 0) || bp > 10000)
        return CONFIG_PERCENT_RANGE;
    *out = bp;
    return CONFIG_PERCENT_OK;
}

static const char *const config_buffer_keys[] = {
    "sku", "region", "channel", "units", "percent", "low_stock", "backorder"};

void config__parse_buffers(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "buffers", "buffer rules");
    n = config__seq_limit(w, seq, n, CONFIG__MAX_BUFFERS, "buffers");
    if (n == 0)
        return;
    b->c.buffers = calloc(n, sizeof *b->c.buffers);
    b->buffers = calloc(n, sizeof *b->buffers);
    if (b->c.buffers == NULL || b->buffers == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n && !b->oom; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i);
        yaml_node_t *v[7];
        if (!config__map_fields(w, item, "buffers entry", config_buffer_keys, 7,
                                v))
            continue;
        size_t k = b->c.n_buffers++;
        config_buffer_rule *r = &b->c.buffers[k];
        config__buffer_src *src = &b->buffers[k];
        src->mark = config__mark_of(item);
        r->line = src->mark.line;
        r->region = UINT32_MAX;
        r->channel = UINT32_MAX;
        if (v[0])
            r->sku =
                config__get_id(w, v[0], "buffer rule sku", ATP_SKU_MAX_LEN);
        if (v[1]) {
            src->region =
                config__get_id(w, v[1], "buffer rule region", ATP_ID_MAX_LEN);
            src->region_mark = config__mark_of(v[1]);
        }
        if (v[2]) {
            src->channel =
                config__get_id(w, v[2], "buffer rule channel", ATP_ID_MAX_LEN);
            src->channel_mark = config__mark_of(v[2]);
        }
        if (v[3])
            config__get_int(w, v[3], "buffer rule units", 0, ATP_QTY_MAX,
                            &r->units);
        if (v[4]) {
            static const char expected[] =
                "a percentage 0..100 with at most 2 decimals, like 2.5";
            size_t len;
            const char *s =
                config__scalar(w, v[4], "buffer rule percent", expected, &len);
            char shown[48];
            enum config_percent_result pr =
                s ? config_parse_percent_bp(s, len, &r->percent_bp)
                  : CONFIG_PERCENT_OK; /* not a scalar: reported */
            if (pr == CONFIG_PERCENT_SYNTAX)
                config__error(b, config__mark_of(v[4]),
                              "buffer rule percent: expected %s, got %s",
                              expected,
                              config__node_show(v[4], shown, sizeof shown));
            else if (pr == CONFIG_PERCENT_DECIMALS)
                config__error(b, config__mark_of(v[4]),
                              "buffer rule percent: %s has more than 2 "
                              "decimals; expected %s",
                              config__node_show(v[4], shown, sizeof shown),
                              expected);
            else if (pr == CONFIG_PERCENT_RANGE)
                config__error(b, config__mark_of(v[4]),
                              "buffer rule percent: %s is out of range; "
                              "expected %s",
                              config__node_show(v[4], shown, sizeof shown),
                              expected);
        }
        if (v[5])
            config__get_int(w, v[5], "buffer rule low_stock", 0, ATP_QTY_MAX,
                            &r->low_stock);
        if (v[6])
            config__get_int(w, v[6], "buffer rule backorder", 0, ATP_QTY_MAX,
                            &r->backorder);
        if (v[3] == NULL && v[4] == NULL && v[5] == NULL && v[6] == NULL)
            config__error(b, src->mark,
                          "buffer rule sets none of units, percent, low_stock, "
                          "backorder; expected at least one (units: 0 for no "
                          "buffer)");
    }
}
