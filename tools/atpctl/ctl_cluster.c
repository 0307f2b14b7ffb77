/*
 * ctl_cluster.c - the rows of `atpctl cluster` (ctl_cluster.h).
 */
#include "ctl_cluster.h"

#include <inttypes.h>
#include <string.h>

/* ctl_str: a string field, or "-" when missing. */
static const char *ctl_str(const codec_val *m, const char *key, char *buf,
                           size_t cap)
{
    codec_str s;
    if (m == NULL || !codec_val_str(codec_val_get(m, key), &s) || s.len == 0)
        return "-";
    snprintf(buf, cap, "%.*s", (int)s.len, s.ptr);
    return buf;
}

static uint64_t ctl_u64(const codec_val *m, const char *key)
{
    uint64_t v = 0;
    return m != NULL && codec_val_uint(codec_val_get(m, key), &v) ? v : 0;
}

void ctl_cluster_header(FILE *f)
{
    fprintf(f, "%-10s %-10s %-8s %-10s %8s %10s %10s %6s %-9s %s\n", "NODE",
            "PARTITION", "ROLE", "OWNER", "EPOCH", "STREAM_SEQ", "APPLIED",
            "LAG", "NATS", "URL");
}

int ctl_cluster_row(const char *url, const codec_val *status, const char *why,
                    FILE *f)
{
    const codec_val *c = status ? codec_val_get(status, "cluster") : NULL;
    if (c == NULL) {
        fprintf(f, "%-10s %-10s %-8s %-10s %8s %10s %10s %6s %-9s %s (%s)\n",
                "-", "-", "-", "-", "-", "-", "-", "-", "-", url,
                status == NULL ? why : "not in a cluster");
        return 0;
    }
    char node[80], part[80], role[16], owner[80];
    const codec_val *o = codec_val_get(c, "owner");
    bool connected = false;
    codec_val_bool(codec_val_get(c, "connected"), &connected);
    ctl_str(c, "role", role, sizeof role);
    fprintf(f,
            "%-10s %-10s %-8s %-10s %8" PRIu64 " %10" PRIu64 " %10" PRIu64
            " %6" PRIu64 " %-9s %s\n",
            ctl_str(c, "node", node, sizeof node),
            ctl_str(c, "partition", part, sizeof part), role,
            ctl_str(o, "node", owner, sizeof owner), ctl_u64(c, "epoch"),
            ctl_u64(c, "stream_seq"), ctl_u64(c, "applied_seq"),
            ctl_u64(c, "lag"), connected ? "up" : "down", url);
    return strcmp(role, "owner") == 0;
}

bool ctl_cluster_map(const codec_val *status, FILE *f)
{
    const codec_val *c = status ? codec_val_get(status, "cluster") : NULL;
    const codec_val *m = c ? codec_val_get(c, "partitions") : NULL;
    if (codec_val_len(m) == 0)
        return false;
    fprintf(f, "\n%-10s %-10s %8s %-30s %s\n", "PARTITION", "OWNER", "EPOCH",
            "QUERY", "REGIONS");
    for (uint32_t i = 0; i < codec_val_len(m); i++) {
        const codec_val *p = codec_val_at(m, i);
        const codec_val *o = codec_val_get(p, "owner");
        const codec_val *rs = codec_val_get(p, "regions");
        char name[80], owner[80], query[300];
        fprintf(f, "%-10s %-10s %8" PRIu64 " %-30s ",
                ctl_str(p, "partition", name, sizeof name),
                ctl_str(o, "node", owner, sizeof owner), ctl_u64(p, "epoch"),
                ctl_str(o, "query", query, sizeof query));
        for (uint32_t j = 0; j < codec_val_len(rs); j++) {
            codec_str r = {"", 0};
            codec_val_str(codec_val_at(rs, j), &r);
            fprintf(f, "%s%.*s", j ? "," : "", (int)r.len, r.ptr);
        }
        fputc('\n', f);
    }
    return true;
}
