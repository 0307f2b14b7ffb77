/*
 * x12.h - atp-import's reader of EDI X12 interchanges: separators from the
 * ISA segment, the envelope checked strictly (nesting, counts, control
 * numbers), and the 846 and 856 transaction sets turned into records
 * (docs/IMPORT.md, "X12: what is read").
 *
 * Pure: no I/O. The records' strings are copied into the batch's pool, so
 * the file's buffer may go once import_x12 returns. Main thread of
 * atp-import, the unit tests, the fuzz target.
 */
#ifndef ATP_IMPORT_X12_H
#define ATP_IMPORT_X12_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "import_rec.h"

#define X12_MAX_SKU_QUALS 16
#define X12_MAX_QTY_MAP 16

typedef struct x12_opts {
    /* LIN product-id qualifiers, by priority (docs: --sku-qualifier). */
    char sku_quals[X12_MAX_SKU_QUALS][4];
    size_t n_sku_quals;
    /* 846 QTY01 qualifier -> bucket (docs: --qty). */
    struct {
        char qual[4];
        uint8_t bucket;
    } qty_map[X12_MAX_QTY_MAP];
    size_t n_qty_map;
    /* 856: ETA = DTM*011 + transit_ms when no DTM*017 (transit_set). */
    int64_t transit_ms;
    bool transit_set;
    /* 856: the shipments arrived: lot receive events (docs: --received). */
    bool received;
} x12_opts;

/* x12_opts_default: --sku-qualifier SK,VP,BP,IN,UP,EN and --qty 17=on_hand. */
void x12_opts_default(x12_opts *o);

/* x12_parse_quals parses "SK,BP" into o's SKU qualifiers; false when a
 * qualifier is empty, longer than 3 characters, or there are too many. */
bool x12_parse_quals(const char *s, x12_opts *o);

/* x12_parse_qty_map parses "17=on_hand,QH=held" into o's QTY mapping. */
bool x12_parse_qty_map(const char *s, x12_opts *o);

/* import_x12 reads buf[0..len) as X12 interchanges into b: records of every
 * 846 and 856 set, problems with their positions. A problem with the
 * separators or the envelope stops the reading (nothing after it can be
 * trusted); problems in a set's content are all collected. The caller
 * rejects the file when b->n_diags > 0. */
void import_x12(const char *buf, size_t len, const x12_opts *o,
                import_batch *b);

/* ---- inside the reader (x12.c, x12_846.c, x12_856.c) ------------------- */

typedef struct x12_seg {
    uint32_t line;     /* line of its first byte */
    uint32_t index;    /* 1-based, in the file */
    uint32_t first_el; /* into the element table; element 0 is the id */
    uint32_t n_el;     /* elements, the id included */
} x12_seg;

typedef struct x12_doc {
    const char *buf;
    x12_seg *segs;
    size_t n_segs;
    uint32_t *el_off, *el_len;
    size_t n_el, cap_el, cap_segs;
    char sep, comp, term;
} x12_doc;

/* x12_el returns element i of s (0: the id) and its length; "" (len 0)
 * when the segment has fewer. */
const char *x12_el(const x12_doc *d, const x12_seg *s, uint32_t i, size_t *len);
/* x12_is: s's id is id. */
bool x12_is(const x12_doc *d, const x12_seg *s, const char *id);
/* x12_el_eq: element i of s is exactly v. */
bool x12_el_eq(const x12_doc *d, const x12_seg *s, uint32_t i, const char *v);
/* x12_pos: s's position, element el. */
import_pos x12_pos(const x12_seg *s, uint32_t el);
/* x12_id copies s's id into out[4]. */
void x12_id(const x12_doc *d, const x12_seg *s, char out[4]);
/* x12_sku picks the SKU of a LIN segment by o's qualifiers: element index
 * of the id, or 0 with a problem recorded. */
uint32_t x12_sku(const x12_doc *d, const x12_seg *lin, const x12_opts *o,
                 import_batch *b);
/* x12_copy copies element i into the pool (NULL on no memory). */
const char *x12_copy(const x12_doc *d, const x12_seg *s, uint32_t i,
                     import_batch *b);

/* The sets' readers: segments [first, end) hold ST ... SE. */
void x12_read_846(const x12_doc *d, size_t first, size_t end, const x12_opts *o,
                  import_batch *b);
void x12_read_856(const x12_doc *d, size_t first, size_t end, const x12_opts *o,
                  import_batch *b);

#endif
