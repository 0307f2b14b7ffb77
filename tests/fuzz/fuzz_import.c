/*
 * fuzz_import.c - libFuzzer target for atp-import's readers of untrusted
 * files: X12 interchanges (import_x12) and CSV (import_csv), then the
 * check against a configuration (import_resolve). Single-threaded.
 *
 * The first byte chooses the reader and its options; the rest is the
 * file. Asserts what docs/IMPORT.md promises: a file with problems gives
 * no events; a file without gives events that atpd's own decoder accepts
 * (every SKU, location and lot id valid, quantities within +-10^15, lot
 * quantities >= 0, arrivals within 0..2^53-1 ms), one per record at most.
 */
#include <string.h>

#include "config/config.h"
#include "csv_import.h"
#include "fuzz.h"
#include "import_resolve.h"
#include "x12.h"

static config fuzz_cfg;
static bool fuzz_ready;

static void fuzz_check_events(const codec_event *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const codec_event *e = &evs[i];
        fuzz_check(codec_str_is_id(e->sku, ATP_SKU_MAX_LEN), "event SKU");
        fuzz_check(config_location_find(&fuzz_cfg, e->location.ptr,
                                        e->location.len) >= 0,
                   "event location");
        fuzz_check(e->value >= -ATP_QTY_MAX && e->value <= ATP_QTY_MAX,
                   "event quantity");
        if (e->kind != ATP_EV_SET) {
            fuzz_check(codec_str_is_id(e->ref, CODEC_REF_MAX_LEN), "lot id");
            fuzz_check(e->kind != ATP_EV_LOT_ADD || e->value >= 0,
                       "lot quantity");
            /* atpd's bounds of a lot's arrival (source_msg.c) */
            fuzz_check(e->kind != ATP_EV_LOT_ADD ||
                           (e->eta_ms >= 0 && e->eta_ms <= ATP_WIRE_INT_MAX),
                       "lot eta_ms");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_ready) {
        fuzz_config_load(&fuzz_cfg);
        fuzz_ready = true;
    }
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    import_batch b;
    import_batch_init(&b);
    if (mode & 1) {
        csv_opts o;
        csv_opts_default(&o);
        char why[160];
        if (mode & 2)
            fuzz_check(csv_parse_columns("sku=1,location=2,qty=3,lot=4,eta=5",
                                         &o, why, sizeof why),
                       "csv columns");
        o.header = (mode & 4) == 0;
        o.delimiter = (mode & 8) ? ';' : ',';
        import_csv(buf, len, &o, &b);
    } else {
        x12_opts o;
        x12_opts_default(&o);
        o.transit_set = (mode & 2) != 0;
        o.transit_ms = 86400000;
        o.received = (mode & 4) != 0;
        import_x12(buf, len, &o, &b);
    }
    import_locmap map = {0};
    const char *text = "E1 dc-1\nW1 dc-eu\n";
    char why[160];
    fuzz_check(import_locmap_parse(text, strlen(text), &map, why, sizeof why),
               "location map");
    import_target t = {&fuzz_cfg, 0, (mode & 16) ? "dc-1" : NULL, &map};
    codec_event *evs = NULL;
    size_t n = 0;
    import_counts c;
    bool had_problems = b.n_diags > 0;
    bool ok = import_resolve(&b, &t, &evs, &n, &c);
    fuzz_check(!ok || !had_problems, "events from a file with problems");
    fuzz_check(ok || evs == NULL, "events without success");
    fuzz_check(!ok || b.n_diags == 0, "success with problems");
    fuzz_check(n <= b.n, "more events than records");
    fuzz_check(c.sets + c.lots + c.lot_cancels + c.lot_receives == n, "counts");
    if (ok)
        fuzz_check_events(evs, n);
    free(evs);
    import_locmap_fini(&map);
    import_batch_fini(&b);
    return 0;
}
