/*
 * feed_sign.c - encoding and signing a source message (see feed_sign.h).
 */
#include "feed_sign.h"

#include "crypto/crypto.h"

const void *feed_sign_encode(codec_writer *w, const codec_src_msg *m,
                             const uint8_t *key, size_t key_len, size_t *len)
{
    codec_src_msg sm = *m;
    sm.mac = key_len > 0 ? key : NULL; /* only says "a MAC follows" */
    codec_writer_reset(w);
    codec_src_encode(w, &sm);
    if (key_len > 0) {
        size_t n;
        const void *body = codec_writer_data(w, &n);
        uint8_t mac[CRYPTO_SHA256_LEN];
        crypto_hmac_sha256(key, key_len, body, n, mac);
        codec_w_bin8(w, mac, sizeof mac); /* 0xc4 0x20 mac */
    }
    const void *buf = codec_writer_data(w, len);
    return codec_writer_failed(w) ? NULL : buf;
}
