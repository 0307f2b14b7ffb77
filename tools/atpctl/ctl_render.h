/*
 * ctl_render.h - atpctl's human output: one line for an ATP answer, aligned
 * tables for carts, regions and sources, `key: value` lines for status.
 *
 * Pure formatting of decoded replies; main thread of atpctl. Missing fields
 * print as "-" so that an older or newer atpd still renders.
 */
#ifndef ATP_CTL_RENDER_H
#define ATP_CTL_RENDER_H

#include <stdio.h>

#include "codec/codec.h"
#include "ctl_cart.h"

/* ctl_render_atp writes `SKU @ REGION (CHANNEL): ATP n  supply n ...` and a
 * newline for one ATP answer map. */
void ctl_render_atp(const codec_val *ans, FILE *f);

/* ctl_render_cart writes a cart reply; cart (may be NULL) maps reply lines
 * back to file lines. */
void ctl_render_cart(const codec_val *reply, const ctl_cart *cart, FILE *f);

void ctl_render_regions(const codec_val *reply, FILE *f);
void ctl_render_sources(const codec_val *reply, FILE *f);
void ctl_render_status(const codec_val *reply, FILE *f);

#endif
