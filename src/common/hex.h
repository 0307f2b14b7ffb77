/* hex.h - one hexadecimal digit's value, for the few readers of hex text
 * (crypto's keys, the tls janitor's /proc/net/tcp, the HTTP router's
 * percent-decoding). */
#ifndef ATP_HEX_H
#define ATP_HEX_H

/* hex_value: 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for anything else. */
static inline int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
