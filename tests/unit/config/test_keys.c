/*
 * test_keys.c - the keys added after the first configuration: service
 * feed_listen, feed_interval, snapshot_interval, control_listen,
 * resync_retry, resync_timeout, resync_hold_messages, snapshot_timeout,
 * snapshot_max_events; the `reservations`
 * section; per-source `resync`; buffer rule `low_stock`; the authority
 * bucket `inbound`; region inbound_horizon. Defaults, every key set,
 * bounds, bad values with their line and column, and what the shipped
 * demo uses of them. Single-threaded.
 */
#include "config_test.h"

#include <sys/stat.h>
#include <unistd.h>

static void assert_new_service_defaults(const config_service *s)
{
    assert_string_equal(s->feed_listen, ATP_DEFAULT_FEED_URL);
    assert_int_equal(s->feed_interval_ms, 50);
    assert_int_equal(s->snapshot_interval_ms, 1000);
    assert_string_equal(s->control_listen, ATP_DEFAULT_CONTROL_URL);
    assert_int_equal(s->resync_retry_ms, 2000);
    assert_int_equal(s->resync_timeout_ms, 30000);
    assert_int_equal(s->resync_hold_messages, 65536);
    assert_int_equal(s->snapshot_timeout_ms, 30000);
    assert_int_equal(s->snapshot_max_events, 50000000);
}

static void assert_reservations_defaults(const config_reservations *r)
{
    assert_int_equal(r->default_ttl_ms, 15 * 60 * 1000);
    assert_int_equal(r->min_ttl_ms, 1000);
    assert_int_equal(r->max_ttl_ms, 24 * 3600 * 1000);
    assert_int_equal(r->committed_ttl_ms, 7LL * 24 * 3600 * 1000);
    assert_int_equal(r->retention_ms, 24 * 3600 * 1000);
    assert_int_equal(r->max_lines, 1000);
    assert_true(r->sync);
    assert_int_equal(r->max_map_bytes, (size_t)64 << 30);
    assert_int_equal(r->log_bytes, (size_t)64 << 20);
    assert_int_equal(r->log_apply_delay_ms, 0);
}

static void test_defaults(void **state)
{
    (void)state;
    config c;
    assert_int_equal(config_defaults(&c), ATP_OK);
    assert_new_service_defaults(&c.service);
    assert_reservations_defaults(&c.reservations);
    config_fini(&c);

    /* The same from a file that names none of the new keys. */
    config_diags d;
    static const char doc[] = "regions: [{id: r}]\n"
                              "locations: [{id: L, region: r}]\n"
                              "sources: [{id: s, authority: [{locations: "
                              "[L]}]}]\n"
                              "buffers: [{units: 3}]\n"
                              "reservations:\n";
    atp_err rc = config_test_load_str(doc, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_new_service_defaults(&c.service);
    assert_reservations_defaults(&c.reservations);
    assert_int_equal(c.regions[0].inbound_horizon_ms, 0);
    assert_true(c.sources[0].resync);
    /* The default buckets are the three stock buckets, never inbound. */
    assert_int_equal(c.sources[0].n_authority, 3);
    for (size_t k = 0; k < c.sources[0].n_authority; k++)
        assert_int_not_equal(c.sources[0].authority[k].bucket,
                             ATP_AUTH_INBOUND);
    assert_int_equal(c.buffers[0].low_stock, 0);
    config_fini(&c);
    config_diags_fini(&d);
}

static const char every_new_key[] =
    "service:\n"
    "  feed_listen: ipc:///tmp/atpd-feed.ipc\n"
    "  feed_interval: 250ms\n"
    "  snapshot_interval: 5s\n"
    "  control_listen: tcp://127.0.0.1:9453\n"
    "  resync_retry: 500ms\n"
    "  resync_timeout: 2m\n"
    "  resync_hold_messages: 1000\n"
    "  scheduling: batch\n"
    "  snapshot_timeout: 90s\n"
    "  snapshot_max_events: 2000000\n"
    "regions:\n"
    "  - {id: us-east, inbound_horizon: 2d}\n"
    "locations:\n"
    "  - {id: DC-NJ, region: us-east}\n"
    "  - {id: DC-PA, region: us-east}\n"
    "sources:\n"
    "  - id: wms\n"
    "    resync: false\n"
    "    authority:\n"
    "      - locations: [DC-NJ, DC-PA]\n"
    "  - id: erp\n"
    "    resync: true\n"
    "    authority:\n"
    "      - locations: [DC-PA, DC-NJ]\n"
    "        buckets: [inbound]\n"
    "buffers:\n"
    "  - {units: 1, low_stock: 10}\n"
    "  - {sku: A1, low_stock: 1000000000000000}\n"
    "reservations:\n"
    "  default_ttl: 10m\n"
    "  min_ttl: 30s\n"
    "  max_ttl: 2h\n"
    "  committed_ttl: 3d\n"
    "  retention: 0\n"
    "  max_lines: 50\n"
    "  durability: nosync\n"
    "  max_map_bytes: 1073741824\n";

static void test_every_new_key(void **state)
{
    (void)state;
    config c;
    config_diags d;
    atp_err rc = config_test_load_str(every_new_key, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_int_equal(d.n, 0);
    const config_service *s = &c.service;
    assert_string_equal(s->feed_listen, "ipc:///tmp/atpd-feed.ipc");
    assert_int_equal(s->feed_interval_ms, 250);
    assert_int_equal(s->snapshot_interval_ms, 5000);
    assert_string_equal(s->control_listen, "tcp://127.0.0.1:9453");
    assert_int_equal(s->resync_retry_ms, 500);
    assert_int_equal(s->resync_timeout_ms, 120000);
    assert_int_equal(s->resync_hold_messages, 1000);
    assert_true(s->sched_batch);
    assert_int_equal(s->snapshot_timeout_ms, 90000);
    assert_int_equal(s->snapshot_max_events, 2000000);
    /* Untouched keys keep their defaults. */
    assert_string_equal(s->query_listen, ATP_DEFAULT_QUERY_URL);

    assert_int_equal(c.regions[0].inbound_horizon_ms, 2 * 86400000LL);
    assert_false(c.sources[0].resync);
    assert_true(c.sources[1].resync);
    /* erp: inbound at both DCs, sorted by location index. */
    assert_int_equal(c.sources[1].n_authority, 2);
    assert_int_equal(c.sources[1].authority[0].location, 0);
    assert_int_equal(c.sources[1].authority[0].bucket, ATP_AUTH_INBOUND);
    assert_int_equal(c.sources[1].authority[1].location, 1);
    assert_int_equal(c.sources[1].authority[1].bucket, ATP_AUTH_INBOUND);
    /* wms keeps the three stock buckets of both: no conflict with erp's
     * inbound. */
    assert_int_equal(c.sources[0].n_authority, 6);

    assert_int_equal(c.buffers[0].units, 1);
    assert_int_equal(c.buffers[0].low_stock, 10);
    assert_int_equal(c.buffers[1].units, 0);
    assert_int_equal(c.buffers[1].percent_bp, 0);
    assert_int_equal(c.buffers[1].low_stock, ATP_QTY_MAX);

    const config_reservations *r = &c.reservations;
    assert_int_equal(r->default_ttl_ms, 600000);
    assert_int_equal(r->min_ttl_ms, 30000);
    assert_int_equal(r->max_ttl_ms, 7200000);
    assert_int_equal(r->committed_ttl_ms, 3 * 86400000LL);
    assert_int_equal(r->retention_ms, 0);
    assert_int_equal(r->max_lines, 50);
    assert_false(r->sync);
    assert_int_equal(r->max_map_bytes, (size_t)1 << 30);
    config_fini(&c);
    config_diags_fini(&d);
}

/* The documented bounds are accepted, both ends. */
static void test_bounds_accepted(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "service: {feed_interval: 1ms, snapshot_interval: 10ms, "
        "resync_retry: 10ms, resync_timeout: 10ms, resync_hold_messages: 1, "
        "snapshot_timeout: 10ms, snapshot_max_events: 1}\n",
        "service: {feed_interval: 1m, snapshot_interval: 1h, "
        "resync_retry: 10m, resync_timeout: 1h, "
        "resync_hold_messages: 1000000, snapshot_timeout: 1h, "
        "snapshot_max_events: 50000000}\n",
        "reservations: {min_ttl: 1s, default_ttl: 1s, max_ttl: 1s, "
        "committed_ttl: 1s, retention: 0ms, max_lines: 1, durability: sync, "
        "max_map_bytes: 1048576, log_bytes: 0, log_apply_delay: 0ms}\n",
        "reservations: {log_bytes: 1048576}\n",
        "reservations: {min_ttl: 366d, default_ttl: 366d, max_ttl: 366d, "
        "committed_ttl: 366d, retention: 366d, max_lines: 10000, "
        "max_map_bytes: 2305843009213693951, log_bytes: 1073741824, "
        "log_apply_delay: 1m}\n",
        "buffers: [{low_stock: 0}]\n",
        "regions: [{id: r, inbound_horizon: 366d}]\n",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        config c;
        config_diags d;
        atp_err rc = config_test_load_str(docs[i], &c, &d);
        if (rc != ATP_OK) {
            print_error("document %zu:\n", i);
            config_test_print(&d);
        }
        assert_int_equal(rc, ATP_OK);
        config_fini(&c);
        config_diags_fini(&d);
    }
}

/* Every bad value of tests/data/config/bad_new_keys.yaml, at its line and
 * column, and nothing else. */
static void test_bad_values(void **state)
{
    (void)state;
    config c;
    config_diags d;
    atp_err rc =
        config_load_file(config_test_data("bad_new_keys.yaml"), &c, &d);
    assert_int_equal(rc, ATP_E_CONFIG);
    expect_diag(&d, 4, 16, "service.feed_listen", "'nowhere' is not a URL");
    expect_diag(&d, 5, 18, "service.feed_interval", "out of range", "1ms..1m");
    expect_diag(&d, 6, 22, "service.snapshot_interval", "'5ms'", "10ms..1h");
    expect_diag(&d, 7, 19, "service.control_listen", "is empty");
    expect_diag(&d, 8, 17, "service.resync_retry", "'11m'", "10ms..10m");
    expect_diag(&d, 9, 19, "service.resync_timeout", "'2h'", "10ms..1h");
    expect_diag(&d, 10, 25, "service.resync_hold_messages", "'0'",
                "1..1000000");
    expect_diag(&d, 12, 36, "region 'us-east': inbound_horizon", "'367d'",
                "0ms..366d");
    expect_diag(&d, 17, 13, "source 'erp': resync",
                "expected true or false, got 'yes'");
    expect_diag(&d, 20, 28, "source 'erp'", "unknown bucket 'in_transit'",
                "on_hand, allocated, held or inbound");
    expect_diag(&d, 22, 27, "buffer rule low_stock", "'-1' is negative");
    expect_diag(&d, 23, 34, "buffer rule low_stock", "got 'ten'");
    /* min_ttl 2h > max_ttl 1h (and default_ttl 15m below min): one
     * problem, at the section. */
    expect_diag(&d, 25, 3, "reservations", "min_ttl <= default_ttl <= max_ttl",
                "7200000 ms", "3600000 ms");
    expect_diag(&d, 27, 18, "reservations.committed_ttl", "'500ms'",
                "1s..366d");
    expect_diag(&d, 28, 14, "reservations.retention", "got 'forever'");
    expect_diag(&d, 29, 14, "reservations.max_lines", "'0'", "1..10000");
    expect_diag(&d, 30, 15, "reservations.durability",
                "expected sync or nosync, got 'fsync'");
    expect_diag(&d, 31, 18, "reservations.max_map_bytes", "'1000'",
                "1048576..");
    expect_diag_count(&d, 18);
    config_diags_fini(&d);
}

/* The reservation log keys: 1..1048575 bytes is neither off nor a usable
 * log; the delay is a duration with an upper bound. */
static void test_bad_log_keys(void **state)
{
    (void)state;
    config c;
    config_diags d;
    static const char doc[] = "reservations:\n"
                              "  log_bytes: 4096\n"
                              "  log_apply_delay: 2m\n";
    assert_int_equal(config_test_load_str(doc, &c, &d), ATP_E_CONFIG);
    expect_diag(&d, 2, 14, "reservations.log_bytes", "0 (no log)", "4096");
    expect_diag(&d, 3, 20, "reservations.log_apply_delay", "'2m'", "0ms..1m");
    expect_diag_count(&d, 2);
    config_diags_fini(&d);
    static const char neg[] = "reservations: {log_bytes: -1}\n";
    assert_int_equal(config_test_load_str(neg, &c, &d), ATP_E_CONFIG);
    expect_diag(&d, 1, 27, "reservations.log_bytes", "'-1' is negative");
    expect_diag_count(&d, 1);
    config_diags_fini(&d);
}

/* The source snapshot limits: a duration and a count, both bounded. */
static void test_bad_snapshot_limits(void **state)
{
    (void)state;
    config c;
    config_diags d;
    static const char doc[] = "service:\n"
                              "  snapshot_timeout: 5ms\n"
                              "  snapshot_max_events: 50000001\n";
    assert_int_equal(config_test_load_str(doc, &c, &d), ATP_E_CONFIG);
    expect_diag(&d, 2, 21, "service.snapshot_timeout", "'5ms'", "10ms..1h");
    expect_diag(&d, 3, 24, "service.snapshot_max_events", "'50000001'",
                "1..50000000");
    expect_diag_count(&d, 2);
    config_diags_fini(&d);
}

/* Words and booleans are exact: no YAML 1.1 spellings, no capitals. */
static void test_words_exact(void **state)
{
    (void)state;
    static const config_test_refusal cases[] = {
        {"reservations:\n  durability: SYNC\n", 2, 15,
         "expected sync or nosync, got 'SYNC'"},
        {"reservations:\n  durability: [sync]\n", 2, 15,
         "reservations.durability"},
        {"reservations:\n  durability: true\n", 2, 15, "got 'true'"},
        {"service:\n  scheduling: Batch\n", 2, 15,
         "service.scheduling: expected batch or normal, got 'Batch'"},
        {"service:\n  scheduling: fifo\n", 2, 15, "got 'fifo'"},
        {"sources:\n  - id: s\n    resync: True\n", 3, 13,
         "expected true or false, got 'True'"},
        {"sources:\n  - id: s\n    resync: 1\n", 3, 13,
         "expected true or false, got '1'"},
        {"sources:\n  - id: s\n    resync: off\n", 3, 13,
         "expected true or false, got 'off'"},
    };
    expect_refusals(cases, sizeof cases / sizeof cases[0]);
}

/* The TTL order counts defaults: max_ttl alone below the 15m default_ttl
 * is an error, at the section's first key; so is min_ttl above it. */
static void test_ttl_order_with_defaults(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        int line;
        const char *needle;
    } cases[] = {
        {"# a comment line\nreservations:\n  max_ttl: 10m\n", 3,
         "1000 ms <= 900000 ms <= 600000 ms"},
        {"reservations:\n  retention: 1h\n  min_ttl: 1h\n", 2,
         "3600000 ms <= 900000 ms <= 86400000 ms"},
        {"reservations: {default_ttl: 2d}\n", 1, "<= 172800000 ms <="},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config c;
        config_diags d;
        assert_int_equal(config_test_load_str(cases[i].doc, &c, &d),
                         ATP_E_CONFIG);
        expect_diag(&d, cases[i].line, 0, "reservations: expected min_ttl",
                    cases[i].needle);
        expect_diag_count(&d, 1);
        config_diags_fini(&d);
    }
    /* Raising max_ttl with default_ttl is fine. */
    config c;
    config_diags d;
    atp_err rc = config_test_load_str(
        "reservations: {default_ttl: 2d, max_ttl: 3d}\n", &c, &d);
    assert_int_equal(rc, ATP_OK);
    assert_int_equal(c.reservations.default_ttl_ms, 2 * 86400000LL);
    config_fini(&c);
    config_diags_fini(&d);
}

/* inbound is a bucket like the others for claims: two sources claiming a
 * location's inbound conflict; unknown keys of the new section are named
 * with the allowed ones. */
static void test_inbound_conflict_and_unknown_key(void **state)
{
    (void)state;
    config c;
    config_diags d;
    static const char doc[] = "regions: [{id: r}]\n"
                              "locations: [{id: L, region: r}]\n"
                              "sources:\n"
                              "  - id: a\n"
                              "    authority: [{locations: [L], buckets: "
                              "[inbound]}]\n"
                              "  - id: b\n"
                              "    authority: [{locations: [L], buckets: "
                              "[on_hand, inbound]}]\n"
                              "reservations:\n"
                              "  ttl: 15m\n";
    assert_int_equal(config_test_load_str(doc, &c, &d), ATP_E_CONFIG);
    expect_diag(&d, 7, 30, "location 'L' inbound", "source 'a' (line 5)",
                "source 'b' (line 7)");
    expect_diag(&d, 9, 3, "unknown key 'ttl' in reservations",
                "default_ttl, min_ttl, max_ttl, committed_ttl, retention, "
                "max_lines, durability, max_map_bytes, log_bytes, "
                "log_apply_delay");
    expect_diag_count(&d, 2);
    config_diags_fini(&d);
}

/* The demo exercises the new keys: lots matter somewhere, a rule has a
 * low-stock threshold, the reservations section is explicit. */
static void test_shipped_demo_new_keys(void **state)
{
    (void)state;
    config c;
    config_diags d;
    atp_err rc = config_load_file(config_test_path("config/demo.yaml"), &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    int erp = config_source_find(&c, "erp", 3);
    assert_true(erp >= 0);
    /* erp reports inbound lots, and somewhere they count: the location's
     * region has a horizon. */
    size_t inbound = 0, counted = 0;
    for (size_t k = 0; k < c.sources[erp].n_authority; k++) {
        const config_authority *a = &c.sources[erp].authority[k];
        if (a->bucket != ATP_AUTH_INBOUND)
            continue;
        inbound++;
        uint32_t r = c.locations[a->location].region;
        counted += c.regions[r].inbound_horizon_ms > 0;
    }
    assert_true(inbound > 0);
    assert_true(counted > 0);
    bool low = false;
    for (size_t b = 0; b < c.n_buffers; b++)
        low |= c.buffers[b].low_stock > 0;
    assert_true(low);
    assert_true(c.reservations.sync);
    config_fini(&c);
    config_diags_fini(&d);
}

/* Issue 14: sources[].max_seq_jump and key_file (mode, length, trailing
 * newline), and ingest_listen beyond loopback without keys. */
static void write_key_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_source_keys(void **state)
{
    (void)state;
    char dir[] = "/tmp/atp-config-keys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char good[256], loose[256], shortk[256], crlf[256], doc[2048];
    snprintf(good, sizeof good, "%s/good.key", dir);
    snprintf(loose, sizeof loose, "%s/loose.key", dir);
    snprintf(shortk, sizeof shortk, "%s/short.key", dir);
    snprintf(crlf, sizeof crlf, "%s/crlf.key", dir);
    write_key_file(good, "0123456789abcdef0123456789abcdef\n", 0600);
    write_key_file(loose, "0123456789abcdef0123456789abcdef\n", 0640);
    write_key_file(shortk, "0123456789abcde\n", 0600);
    write_key_file(crlf, "0123456789abcdef\r\n", 0400);
    const char *fmt =
        "service: {ingest_listen: '%s'}\n"
        "locations: [{id: L1, region: default}, {id: L2, region: default}]\n"
        "sources:\n"
        "  - {id: a, key_file: %s, max_seq_jump: 5, authority: [{locations: "
        "[L1]}]}\n"
        "  - {id: b, key_file: %s, authority: [{locations: [L2]}]}\n"
        "%s";
    config c;
    config_diags d;
    /* good keys: the bytes without one trailing newline (or CR LF) */
    snprintf(doc, sizeof doc, fmt, "tcp://0.0.0.0:7451", good, crlf, "");
    atp_err rc = config_test_load_str(doc, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_int_equal(c.sources[0].key_len, 32);
    assert_memory_equal(c.sources[0].key, "0123456789abcdef0123456789abcdef",
                        32);
    assert_int_equal(c.sources[1].key_len, 16);
    assert_int_equal(c.sources[0].max_seq_jump, 5);
    assert_int_equal(c.sources[1].max_seq_jump, 1000000);
    config_fini(&c);
    config_diags_fini(&d);
    /* a key others may read, one too short */
    snprintf(doc, sizeof doc, fmt, "tcp://127.0.0.1:7451", loose, shortk, "");
    assert_int_equal(config_test_load_str(doc, &c, &d), ATP_E_CONFIG);
    expect_diag(&d, 4, 0, "source 'a'", "key_file", "mode 0640", "chmod 600");
    expect_diag(&d, 5, 0, "source 'b'", "key_file", "16..1024 bytes", "not 15");
    config_diags_fini(&d);
    /* beyond loopback, a source without a key: refused unless allowed */
    const char *fmt2 = "service: {ingest_listen: '%s'}\n"
                       "locations: [{id: L1, region: default}]\n"
                       "sources: [{id: a, authority: [{locations: [L1]}]}]\n%s";
    snprintf(doc, sizeof doc, fmt2, "tcp://0.0.0.0:7451", "");
    assert_int_equal(config_test_load_str(doc, &c, &d), ATP_E_CONFIG);
    expect_diag(&d, 1, 0, "service.ingest_listen", "not a loopback address",
                "source a has no key_file", "auth.allow_insecure");
    config_diags_fini(&d);
    snprintf(doc, sizeof doc, fmt2, "tcp://0.0.0.0:7451",
             "auth: {allow_insecure: true}\n");
    assert_int_equal(config_test_load_str(doc, &c, &d), ATP_OK);
    config_fini(&c);
    config_diags_fini(&d);
    snprintf(doc, sizeof doc, fmt2, "tcp://[::1]:7451", "");
    assert_int_equal(config_test_load_str(doc, &c, &d), ATP_OK);
    config_fini(&c);
    config_diags_fini(&d);
    /* max_seq_jump 0 is out of range */
    snprintf(doc, sizeof doc,
             "locations: [{id: L1, region: default}]\n"
             "sources: [{id: a, max_seq_jump: 0, authority: [{locations: "
             "[L1]}]}]\n");
    assert_int_equal(config_test_load_str(doc, &c, &d), ATP_E_CONFIG);
    expect_diag(&d, 2, 0, "max_seq_jump");
    config_diags_fini(&d);
    unlink(good);
    unlink(loose);
    unlink(shortk);
    unlink(crlf);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_new_key),
        cmocka_unit_test(test_bounds_accepted),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_bad_log_keys),
        cmocka_unit_test(test_bad_snapshot_limits),
        cmocka_unit_test(test_words_exact),
        cmocka_unit_test(test_ttl_order_with_defaults),
        cmocka_unit_test(test_inbound_conflict_and_unknown_key),
        cmocka_unit_test(test_shipped_demo_new_keys),
        cmocka_unit_test(test_source_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
