/*
 * test_config.c - reading configurations that are valid: defaults, every
 * key, file order, authority expansion, durations, percentages, lookups,
 * the configurations the product ships, and unreadable files.
 */
#include "config_test.h"

#include <errno.h>

/* The example of the product brief, verbatim. */
static const char brief_example[] =
    "service:\n"
    "  query_listen: tcp://127.0.0.1:7450\n"
    "  ingest_listen: tcp://127.0.0.1:7451\n"
    "  data_dir: ./atpd-data\n"
    "  ingest_recv_max_bytes: 4194304\n"
    "  ingest_recv_buffer: 8192\n"
    "  query_recv_max_bytes: 1048576\n"
    "  query_contexts: 64\n"
    "  max_events_per_message: 100000\n"
    "  max_cart_lines: 10000\n"
    "  reorder_window: 100ms\n"
    "  reorder_max_messages: 256\n"
    "  log_level: info\n"
    "regions:\n"
    "  - id: us-east\n"
    "    inbound_horizon: 0s          # duration; optional\n"
    "locations:\n"
    "  - {id: DC-NJ, region: us-east, type: dc}\n"
    "  - {id: DC-PA, region: us-east, type: dc}\n"
    "channels: [web, app]\n"
    "sources:\n"
    "  - id: wms-east\n"
    "    heartbeat_timeout: 5s\n"
    "    authority:\n"
    "      - locations: [DC-NJ, DC-PA]\n"
    "        buckets: [on_hand, allocated, held]   # default: all three\n"
    "buffers:\n"
    "  - {sku: A1, region: us-east, channel: web, units: 5, percent: 10}\n"
    "  - {region: us-east, percent: 2.5}\n"
    "  - {units: 1}                   # no scope = global default\n";

static void assert_service_defaults(const config_service *s)
{
    assert_string_equal(s->query_listen, ATP_DEFAULT_QUERY_URL);
    assert_string_equal(s->ingest_listen, ATP_DEFAULT_INGEST_URL);
    assert_string_equal(s->data_dir, "./atpd-data");
    assert_int_equal(s->ingest_recv_max_bytes, 4 * 1024 * 1024);
    assert_int_equal(s->ingest_recv_buffer, 8192);
    assert_int_equal(s->query_recv_max_bytes, 1024 * 1024);
    assert_int_equal(s->query_contexts, 64);
    assert_int_equal(s->query_idle_timeout_ms, 300000);
    assert_int_equal(s->tls_handshake_timeout_ms, 10000);
    assert_int_equal(s->stop_drain_ms, 0);
    assert_false(s->sched_batch); /* the policy atpd was started with */
    assert_int_equal(s->max_events_per_message, 100000);
    assert_int_equal(s->max_cart_lines, ATP_CART_MAX_LINES);
    assert_int_equal(s->reorder_window_ms, 100);
    assert_int_equal(s->reorder_max_messages, 256);
    assert_string_equal(s->log_level, "info");
}

/* service.query_idle_timeout and service.tls_handshake_timeout: 0 is
 * "never", a duration otherwise; service.stop_drain 0 .. 5m. */
static void test_query_idle_timeout(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "service: {query_idle_timeout: 0, tls_handshake_timeout: 0,\n"
        "          stop_drain: 0}\n",
        "service: {query_idle_timeout: 90s, tls_handshake_timeout: 3s,\n"
        "          stop_drain: 5s}\n",
        "service: {query_idle_timeout: 1d, tls_handshake_timeout: 1h,\n"
        "          stop_drain: 5m}\n"};
    static const int64_t want[] = {0, 90000, 86400000};
    static const int64_t want_tls[] = {0, 3000, 3600000};
    static const int64_t want_drain[] = {0, 5000, 300000};
    for (size_t i = 0; i < 3; i++) {
        config c;
        config_diags d = {0};
        atp_err rc = config_test_load_str(docs[i], &c, &d);
        if (rc != ATP_OK)
            config_test_print(&d);
        assert_int_equal(rc, ATP_OK);
        assert_int_equal(c.service.query_idle_timeout_ms, want[i]);
        assert_int_equal(c.service.tls_handshake_timeout_ms, want_tls[i]);
        assert_int_equal(c.service.stop_drain_ms, want_drain[i]);
        config_fini(&c);
        config_diags_fini(&d);
    }
}

static void test_defaults(void **state)
{
    (void)state;
    config c;
    assert_int_equal(config_defaults(&c), ATP_OK);
    assert_service_defaults(&c.service);
    assert_int_equal(c.n_regions, 1);
    assert_string_equal(c.regions[0].id, "default");
    assert_int_equal(c.regions[0].inbound_horizon_ms, 0);
    assert_int_equal(c.n_channels, 1);
    assert_string_equal(c.channels[0], ATP_DEFAULT_CHANNEL);
    assert_int_equal(c.n_locations, 0);
    assert_int_equal(c.n_sources, 0);
    assert_int_equal(c.n_buffers, 0);
    config_fini(&c);
    /* fini leaves an empty config: a second fini is harmless. */
    assert_null(c.regions);
    config_fini(&c);
}

/* The default data directory: relative only for a binary inside its build
 * tree (this test runs from there), absolute everywhere else. */
static void test_default_data_dir(void **state)
{
    (void)state;
    assert_string_equal(config_default_data_dir(), "./atpd-data");
    assert_string_equal(
        config_default_data_dir_for("/b/build/atpd", "/b/build"),
        "./atpd-data");
    assert_string_equal(
        config_default_data_dir_for("/b/build/t/x", "/b/build/"),
        "./atpd-data");
    /* Installed, a sibling directory with the same prefix, unknown. */
    assert_string_equal(
        config_default_data_dir_for("/usr/bin/atpd", "/b/build"),
        "/var/lib/atpd");
    assert_string_equal(
        config_default_data_dir_for("/b/build2/atpd", "/b/build"),
        "/var/lib/atpd");
    assert_string_equal(config_default_data_dir_for(NULL, "/b/build"),
                        "/var/lib/atpd");
}

/* Every section is optional: an empty file, or one with only comments, is
 * the defaults. */
static void test_empty_documents_are_defaults(void **state)
{
    (void)state;
    const char *docs[] = {"", "# nothing configured yet\n", "---\n",
                          "regions:\nlocations:\n"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        config c;
        config_diags d;
        atp_err rc = config_test_load_str(docs[i], &c, &d);
        if (rc != ATP_OK)
            config_test_print(&d);
        assert_int_equal(rc, ATP_OK);
        assert_int_equal(d.n, 0);
        assert_service_defaults(&c.service);
        assert_int_equal(c.n_regions, 1);
        assert_string_equal(c.regions[0].id, "default");
        assert_int_equal(c.n_channels, 1);
        assert_string_equal(c.channels[0], "default");
        config_fini(&c);
        config_diags_fini(&d);
    }
}

static void test_brief_example(void **state)
{
    (void)state;
    config c;
    config_diags d;
    atp_err rc = config_test_load_str(brief_example, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_int_equal(d.n, 0);
    assert_service_defaults(&c.service);

    assert_int_equal(c.n_regions, 1);
    assert_string_equal(c.regions[0].id, "us-east");
    assert_int_equal(c.n_locations, 2);
    assert_string_equal(c.locations[0].id, "DC-NJ");
    assert_string_equal(c.locations[0].type, "dc");
    assert_int_equal(c.locations[0].region, 0);
    assert_int_equal(c.n_channels, 3);
    assert_string_equal(c.channels[0], "default");
    assert_string_equal(c.channels[1], "web");
    assert_string_equal(c.channels[2], "app");

    assert_int_equal(c.n_sources, 1);
    assert_string_equal(c.sources[0].id, "wms-east");
    assert_int_equal(c.sources[0].heartbeat_timeout_ms, 5000);
    assert_int_equal(c.sources[0].n_authority, 6);

    assert_int_equal(c.n_buffers, 3);
    const config_buffer_rule *r = &c.buffers[0];
    assert_string_equal(r->sku, "A1");
    assert_int_equal(r->region, 0);
    assert_int_equal(r->channel, 1);
    assert_int_equal(r->units, 5);
    assert_int_equal(r->percent_bp, 1000);
    assert_int_equal(r->line, 28);
    r = &c.buffers[1];
    assert_null(r->sku);
    assert_int_equal(r->region, 0);
    assert_int_equal(r->channel, UINT32_MAX);
    assert_int_equal(r->units, 0);
    assert_int_equal(r->percent_bp, 250);
    r = &c.buffers[2];
    assert_null(r->sku);
    assert_int_equal(r->region, UINT32_MAX);
    assert_int_equal(r->channel, UINT32_MAX);
    assert_int_equal(r->units, 1);
    assert_int_equal(r->percent_bp, 0);
    assert_int_equal(r->line, 30);
    config_fini(&c);
    config_diags_fini(&d);
}

static void test_service_overrides(void **state)
{
    (void)state;
    static const char doc[] = "service:\n"
                              "  query_listen: ipc:///tmp/atpd-q.ipc\n"
                              "  ingest_listen: tcp://0.0.0.0:9000\n"
                              "  data_dir: /var/lib/atpd\n"
                              "  ingest_recv_max_bytes: 1024\n"
                              "  ingest_recv_buffer: 1\n"
                              "  query_recv_max_bytes: 1073741824\n"
                              "  query_contexts: \"4096\"\n"
                              "  max_events_per_message: 1000000\n"
                              "  max_cart_lines: 1\n"
                              "  reorder_window: 0\n"
                              "  reorder_max_messages: 65536\n"
                              "  log_level: debug\n";
    config c;
    config_diags d;
    atp_err rc = config_test_load_str(doc, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    const config_service *s = &c.service;
    assert_string_equal(s->query_listen, "ipc:///tmp/atpd-q.ipc");
    assert_string_equal(s->ingest_listen, "tcp://0.0.0.0:9000");
    assert_string_equal(s->data_dir, "/var/lib/atpd");
    assert_int_equal(s->ingest_recv_max_bytes, 1024);
    assert_int_equal(s->ingest_recv_buffer, 1);
    assert_int_equal(s->query_recv_max_bytes, 1073741824);
    assert_int_equal(s->query_contexts, 4096); /* quoted numbers are fine */
    assert_int_equal(s->max_events_per_message, 1000000);
    assert_int_equal(s->max_cart_lines, 1);
    assert_int_equal(s->reorder_window_ms, 0);
    assert_int_equal(s->reorder_max_messages, 65536);
    assert_string_equal(s->log_level, "debug");
    config_fini(&c);
    config_diags_fini(&d);
}

/* Sections keep file order; "default" stays channels[0] even when listed. */
static void test_file_order(void **state)
{
    (void)state;
    static const char doc[] = "regions: [{id: zz}, {id: aa}, {id: mm}]\n"
                              "locations:\n"
                              "  - {id: L3, region: mm}\n"
                              "  - {id: L1, region: zz}\n"
                              "  - {id: L2, region: aa}\n"
                              "channels: [web, default, app]\n"
                              "sources: [{id: s2}, {id: s1}]\n";
    config c;
    config_diags d;
    assert_int_equal(config_test_load_str(doc, &c, &d), ATP_OK);
    assert_int_equal(c.n_regions, 3);
    assert_string_equal(c.regions[0].id, "zz");
    assert_string_equal(c.regions[1].id, "aa");
    assert_string_equal(c.regions[2].id, "mm");
    assert_int_equal(c.n_locations, 3);
    assert_string_equal(c.locations[0].id, "L3");
    assert_int_equal(c.locations[0].region, 2);
    assert_int_equal(c.locations[1].region, 0);
    assert_int_equal(c.locations[2].region, 1);
    assert_string_equal(c.locations[2].type, ""); /* type is optional */
    assert_int_equal(c.n_channels, 3);
    assert_string_equal(c.channels[0], "default");
    assert_string_equal(c.channels[1], "web");
    assert_string_equal(c.channels[2], "app");
    assert_int_equal(c.n_sources, 2);
    assert_string_equal(c.sources[0].id, "s2");
    assert_int_equal(c.sources[0].heartbeat_timeout_ms, 5000);
    assert_int_equal(c.sources[0].n_authority, 0);
    config_fini(&c);
    config_diags_fini(&d);
}

/* Authority entries expand to (location, bucket) pairs sorted by location
 * index then bucket, whatever order the file lists them in, without the
 * duplicates a source may list for itself. */
static void test_authority_expanded_sorted(void **state)
{
    (void)state;
    static const char doc[] = "locations:\n"
                              "  - {id: A, region: default}\n"
                              "  - {id: B, region: default}\n"
                              "  - {id: C, region: default}\n"
                              "sources:\n"
                              "  - id: s\n"
                              "    heartbeat_timeout: 1m\n"
                              "    authority:\n"
                              "      - locations: [C, A]\n"
                              "        buckets: [held, on_hand]\n"
                              "      - locations: [A]\n"
                              "        buckets: [on_hand, allocated]\n"
                              "      - locations: [C]\n"
                              "        buckets: [held]\n"
                              "  - id: t\n"
                              "    authority:\n"
                              "      - locations: [B]\n";
    config c;
    config_diags d;
    atp_err rc = config_test_load_str(doc, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    const config_source *s = &c.sources[0];
    assert_int_equal(s->heartbeat_timeout_ms, 60000);
    static const config_authority want[] = {
        {0, ATP_BUCKET_ON_HAND}, {0, ATP_BUCKET_ALLOCATED},
        {0, ATP_BUCKET_HELD},    {2, ATP_BUCKET_ON_HAND},
        {2, ATP_BUCKET_HELD},
    };
    assert_int_equal(s->n_authority, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(s->authority[i].location, want[i].location);
        assert_int_equal(s->authority[i].bucket, want[i].bucket);
    }
    /* buckets left out = all three. */
    const config_source *t = &c.sources[1];
    assert_int_equal(t->n_authority, 3);
    for (unsigned b = 0; b < 3; b++) {
        assert_int_equal(t->authority[b].location, 1);
        assert_int_equal(t->authority[b].bucket, b);
    }
    config_fini(&c);
    config_diags_fini(&d);
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {
        {"250ms", 250},
        {"5s", 5000},
        {"15m", 900000},
        {"2h", 7200000},
        {"1d", 86400000},
        {"42", 42},
        {"0", 0},
        {"0s", 0},
        {"007s", 7000},
        {"9223372036854775807", INT64_MAX},
        {"106751991167d", 106751991167LL * 86400000},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t v = -1;
        if (!config_parse_duration_ms(good[i].s, &v))
            fail_msg("'%s' rejected", good[i].s);
        assert_int_equal(v, good[i].ms);
    }
    static const char *const bad[] = {
        "",
        "s",
        "ms",
        "5x",
        "-5s",
        "+5s",
        "5 s",
        " 5s",
        "5s ",
        "1.5s",
        "5S",
        "5sec",
        "5ms5",
        "9223372036854775808",
        "106751991168d",
        "99999999999999999999ms",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 12345;
        if (config_parse_duration_ms(bad[i], &v))
            fail_msg("'%s' accepted as %lld", bad[i], (long long)v);
        assert_int_equal(v, 12345); /* untouched on failure */
    }
    assert_false(config_parse_duration_ms(NULL, &(int64_t){0}));
}

/* Durations as written in a file, every unit, on every duration key. */
static void test_durations_in_file(void **state)
{
    (void)state;
    static const char doc[] = "service: {reorder_window: 250}\n"
                              "regions:\n"
                              "  - {id: a, inbound_horizon: 36h}\n"
                              "  - {id: b, inbound_horizon: 366d}\n"
                              "  - {id: c}\n"
                              "sources:\n"
                              "  - {id: s, heartbeat_timeout: 10ms}\n"
                              "  - {id: t, heartbeat_timeout: 1d}\n";
    config c;
    config_diags d;
    atp_err rc = config_test_load_str(doc, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_int_equal(c.service.reorder_window_ms, 250);
    assert_int_equal(c.regions[0].inbound_horizon_ms, 36LL * 3600 * 1000);
    assert_int_equal(c.regions[1].inbound_horizon_ms, 366LL * 86400000);
    assert_int_equal(c.regions[2].inbound_horizon_ms, 0);
    assert_int_equal(c.sources[0].heartbeat_timeout_ms, 10);
    assert_int_equal(c.sources[1].heartbeat_timeout_ms, 86400000);
    config_fini(&c);
    config_diags_fini(&d);
}

/* percent -> basis points, exactly (no float: 0.29 % is 29 bp, not 28). */
static void test_percent(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t bp;
    } cases[] = {
        {"10", 1000},    {"2.5", 250},      {"0.01", 1},      {"100", 10000},
        {"0", 0},        {"12.50", 1250},   {"2.500", 250},   {"0.29", 29},
        {"99.99", 9999}, {"100.00", 10000}, {"\"7.5\"", 750},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char doc[128];
        snprintf(doc, sizeof doc, "buffers:\n  - {percent: %s}\n",
                 cases[i].text);
        config c;
        config_diags d;
        atp_err rc = config_test_load_str(doc, &c, &d);
        if (rc != ATP_OK) {
            config_test_print(&d);
            fail_msg("percent %s rejected", cases[i].text);
        }
        assert_int_equal(c.buffers[0].percent_bp, cases[i].bp);
        assert_int_equal(c.buffers[0].units, 0);
        config_fini(&c);
        config_diags_fini(&d);
    }
}

static void test_lookups(void **state)
{
    (void)state;
    config c;
    config_diags d;
    assert_int_equal(config_test_load_str(brief_example, &c, &d), ATP_OK);
    assert_int_equal(config_region_find(&c, "us-east", 7), 0);
    assert_int_equal(config_region_find(&c, "default", 7), -1);
    /* len counts, not the NUL: a prefix or a longer buffer is not a match. */
    assert_int_equal(config_region_find(&c, "us-east-2", 7), 0);
    assert_int_equal(config_region_find(&c, "us-east", 2), -1);
    assert_int_equal(config_region_find(&c, "us-east\0x", 9), -1);
    assert_int_equal(config_location_find(&c, "DC-PA", 5), 1);
    assert_int_equal(config_location_find(&c, "DC-P", 4), -1);
    assert_int_equal(config_channel_find(&c, "default", 7), 0);
    assert_int_equal(config_channel_find(&c, "app", 3), 2);
    assert_int_equal(config_channel_find(&c, "", 0), -1);
    assert_int_equal(config_source_find(&c, "wms-east", 8), 0);
    assert_int_equal(config_source_find(&c, "wms", 3), -1);
    config_fini(&c);
    config_diags_fini(&d);
}

/* locations_doc writes a configuration of n locations L0..L(n-1), listed
 * in reverse order when reverse is set (a reload that reorders them). */
static char *locations_doc(size_t n, bool reverse)
{
    size_t cap = 64 + n * 48, o = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    o += (size_t)snprintf(buf + o, cap - o, "regions: [{id: r}]\nlocations:\n");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, cap - o, "  - {id: L%zu, region: r}\n",
                              reverse ? n - 1 - i : i);
    return buf;
}

/* Every configuration a loader returns has maps of its own: a reloaded
 * one that orders the locations otherwise answers with its indexes while
 * the running one keeps answering with its own, and freeing either leaves
 * the other whole. */
static void test_lookups_per_config(void **state)
{
    (void)state;
    enum { N = 3000 };
    char *a_doc = locations_doc(N, false), *b_doc = locations_doc(N, true);
    config a, b, def;
    config_diags d;
    assert_int_equal(config_test_load_str(a_doc, &a, &d), ATP_OK);
    config_diags_fini(&d);
    assert_int_equal(config_test_load_str(b_doc, &b, &d), ATP_OK);
    config_diags_fini(&d);
    char id[16];
    for (size_t i = 0; i < N; i++) {
        int len = snprintf(id, sizeof id, "L%zu", i);
        assert_int_equal(config_location_find(&a, id, (size_t)len), (int)i);
        assert_int_equal(config_location_find(&b, id, (size_t)len),
                         N - 1 - (int)i);
    }
    assert_int_equal(config_location_find(&a, "L3000", 5), -1);
    config_fini(&b);
    assert_int_equal(config_location_find(&a, "L2999", 5), N - 1);
    assert_int_equal(config_region_find(&a, "r", 1), 0);
    config_fini(&a);
    /* The defaults are indexed too. */
    assert_int_equal(config_defaults(&def), ATP_OK);
    assert_int_equal(config_region_find(&def, "default", 7), 0);
    assert_int_equal(config_channel_find(&def, ATP_DEFAULT_CHANNEL,
                                         strlen(ATP_DEFAULT_CHANNEL)),
                     0);
    assert_int_equal(config_location_find(&def, "L0", 2), -1);
    assert_int_equal(config_source_find(&def, "x", 1), -1);
    config_fini(&def);
    free(a_doc);
    free(b_doc);
}

static void test_file_not_readable(void **state)
{
    (void)state;
    config c;
    config_diags d;
    memset(&c, 0xab, sizeof c); /* *out must be emptied on error */
    const char *path = "/nonexistent-atpd-dir/atpd.yaml";
    assert_int_equal(config_load_file(path, &c, &d), ATP_E_IO);
    assert_null(c.regions);
    assert_int_equal(c.n_regions, 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.items[0].line, 0);
    assert_non_null(strstr(d.items[0].message, path));
    assert_non_null(strstr(d.items[0].message, strerror(ENOENT)));
    config_diags_fini(&d);

    /* A directory opens, then fails to read. */
    const char *dir = config_test_path("tests/data/config");
    assert_int_equal(config_load_file(dir, &c, &d), ATP_E_IO);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.items[0].message, strerror(EISDIR)));
    config_diags_fini(&d);

    /* diags may be NULL. */
    assert_int_equal(config_load_file(path, &c, NULL), ATP_E_IO);
}

static void test_errors_leave_out_empty(void **state)
{
    (void)state;
    config c;
    config_diags d;
    memset(&c, 0xab, sizeof c);
    assert_int_equal(
        config_test_load_str("regions: [{id: a}, {id: a}]\n", &c, &d),
        ATP_E_CONFIG);
    assert_null(c.regions);
    assert_null(c.service.query_listen);
    assert_int_equal(c.n_regions, 0);
    config_fini(&c); /* harmless on the emptied struct */
    config_diags_fini(&d);
    assert_null(d.items);
    /* diags may be NULL: still refused. */
    assert_int_equal(
        config_test_load_str("regions: [{id: a}, {id: a}]\n", &c, NULL),
        ATP_E_CONFIG);
}

/* The configurations the product ships must load, and demo.yaml must be
 * the demo the README promises. */
static void test_shipped_minimal(void **state)
{
    (void)state;
    config c;
    config_diags d;
    atp_err rc =
        config_load_file(config_test_path("config/minimal.yaml"), &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_int_equal(c.n_regions, 1);
    assert_int_equal(c.n_locations, 2);
    assert_int_equal(c.n_sources, 1);
    assert_int_equal(c.sources[0].n_authority, 2 * ATP_BUCKET_COUNT);
    config_fini(&c);
    config_diags_fini(&d);
}

static void test_shipped_demo(void **state)
{
    (void)state;
    config c;
    config_diags d;
    atp_err rc = config_load_file(config_test_path("config/demo.yaml"), &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_true(c.n_regions >= 3);
    assert_true(c.n_locations >= 12);
    static const char *const channels[] = {"web", "app", "marketplace-x",
                                           "b2b-edi"};
    for (size_t i = 0; i < 4; i++)
        assert_true(config_channel_find(&c, channels[i], strlen(channels[i])) >
                    0);
    assert_int_equal(c.n_sources, 4);
    assert_true(config_source_find(&c, "wms-east", 8) >= 0);
    assert_true(config_source_find(&c, "3pl-acme", 8) >= 0);
    assert_true(config_source_find(&c, "erp", 3) >= 0);
    /* The README's simulator example plays my-feed, which make run does
     * not: its own source, so the demo's feeds never see duplicates. */
    int mine = config_source_find(&c, "my-feed", 7);
    assert_true(mine >= 0);
    assert_true(c.sources[mine].n_authority > 0);
    /* Every kind of site, and every region has somewhere to sell from. */
    static const char *const types[] = {"dc", "store", "3pl", "dropship"};
    for (size_t t = 0; t < 4; t++) {
        size_t n = 0;
        for (size_t i = 0; i < c.n_locations; i++)
            n += strcmp(c.locations[i].type, types[t]) == 0;
        if (n == 0)
            fail_msg("demo has no location of type %s", types[t]);
    }
    for (size_t r = 0; r < c.n_regions; r++) {
        size_t n = 0;
        for (size_t i = 0; i < c.n_locations; i++)
            n += c.locations[i].region == r;
        assert_true(n > 0);
    }
    /* Every location's on_hand is fed by some source (validation already
     * proved nobody shares one). */
    for (size_t i = 0; i < c.n_locations; i++) {
        bool fed = false;
        for (size_t s = 0; s < c.n_sources && !fed; s++)
            for (size_t k = 0; k < c.sources[s].n_authority; k++)
                fed |= c.sources[s].authority[k].location == i &&
                       c.sources[s].authority[k].bucket == ATP_BUCKET_ON_HAND;
        if (!fed)
            fail_msg("no source reports on_hand of %s", c.locations[i].id);
    }
    assert_true(c.n_buffers >= 4);
    config_fini(&c);
    config_diags_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_default_data_dir),
        cmocka_unit_test(test_empty_documents_are_defaults),
        cmocka_unit_test(test_brief_example),
        cmocka_unit_test(test_service_overrides),
        cmocka_unit_test(test_file_order),
        cmocka_unit_test(test_authority_expanded_sorted),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_durations_in_file),
        cmocka_unit_test(test_percent),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_lookups_per_config),
        cmocka_unit_test(test_file_not_readable),
        cmocka_unit_test(test_errors_leave_out_empty),
        cmocka_unit_test(test_shipped_minimal),
        cmocka_unit_test(test_shipped_demo),
        cmocka_unit_test(test_query_idle_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
