/*
 * group.c - a group message's payload (docs/CLUSTER.md, "Fencing"), its
 * writer (the owner's publisher) and its reader (a standby's follower)
 * side by side: for each record, the key length (2 bytes LE), the value
 * length (4 bytes LE; 0xffffffff: the reservation was deleted), the key,
 * the value.
 */
#include <string.h>

#include "cluster/cluster_int.h"
#include "common/log.h"

size_t cluster__group_put(char *buf, const engine_record_op *op)
{
    uint32_t vlen = op->val != NULL ? (uint32_t)op->val_len : 0xffffffffu;
    buf[0] = (char)(op->key_len & 0xff);
    buf[1] = (char)(op->key_len >> 8);
    for (int i = 0; i < 4; i++)
        buf[2 + i] = (char)(vlen >> (8 * i));
    memcpy(buf + 6, op->key, op->key_len);
    if (op->val != NULL)
        memcpy(buf + 6 + op->key_len, op->val, op->val_len);
    return 6 + op->key_len + (op->val != NULL ? op->val_len : 0);
}

bool cluster__group_apply(cluster_copy *cp, const char *data, size_t len)
{
    /* Checked whole first: a malformed message changes nothing. */
    for (size_t at = 0; at < len;) {
        if (len - at < 6)
            return false;
        const unsigned char *h = (const unsigned char *)data + at;
        size_t klen = (size_t)h[0] | (size_t)h[1] << 8;
        uint32_t vlen = (uint32_t)h[2] | (uint32_t)h[3] << 8 |
                        (uint32_t)h[4] << 16 | (uint32_t)h[5] << 24;
        size_t body = klen + (vlen == 0xffffffffu ? 0 : vlen);
        if (klen == 0 || vlen == 0 || body > len - at - 6)
            return false;
        at += 6 + body;
    }
    for (size_t at = 0; at < len;) {
        const unsigned char *h = (const unsigned char *)data + at;
        size_t klen = (size_t)h[0] | (size_t)h[1] << 8;
        uint32_t vlen = (uint32_t)h[2] | (uint32_t)h[3] << 8 |
                        (uint32_t)h[4] << 16 | (uint32_t)h[5] << 24;
        const char *key = data + at + 6;
        if (vlen == 0xffffffffu) {
            cluster__copy_del(cp, key, klen);
            at += 6 + klen;
        } else {
            if (cluster__copy_put(cp, key, klen, key + klen, vlen) != ATP_OK)
                log_error("cluster",
                          "out of memory: the warm copy misses a record");
            at += 6 + klen + vlen;
        }
    }
    return true;
}
