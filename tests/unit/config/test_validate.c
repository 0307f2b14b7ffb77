/*
 * test_validate.c - configurations that must be refused, and what the user
 * is told: every problem in one pass, each at the line (and column) of the
 * node that causes it, saying what is wrong and what is expected.
 *
 * The bad_*.yaml files in tests/data/config hold one family of problems
 * each; the line numbers asserted here are the lines of those files.
 */
#include "config_test.h"

/* load_bad loads a data file that must be refused as invalid. */
static void load_bad(const char *name, config_diags *d)
{
    config c;
    atp_err rc = config_load_file(config_test_data(name), &c, d);
    if (rc != ATP_E_CONFIG) {
        config_test_print(d);
        fail_msg("%s: expected ATP_E_CONFIG, got %d", name, rc);
    }
    assert_null(c.regions);
}

static void load_bad_str(const char *text, size_t len, config_diags *d)
{
    config c;
    atp_err rc = config_load_string(text, len, &c, d);
    if (rc != ATP_E_CONFIG) {
        config_test_print(d);
        fail_msg("expected ATP_E_CONFIG, got %d", rc);
    }
}

static void test_syntax_error(void **state)
{
    (void)state;
    config_diags d;
    load_bad("bad_syntax.yaml", &d);
    /* libyaml notices at "sources:" that the list opened on line 4 never
     * closed; both lines are in the message. */
    expect_diag_count(&d, 1);
    expect_diag(&d, 5, 8, "YAML syntax error", "',' or ']'", "line 4");
    config_diags_fini(&d);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char doc[] = "regions:\n  - id: a\n  - id: \xff\n";
    config_diags d;
    load_bad_str(doc, sizeof doc - 1, &d);
    expect_diag_count(&d, 1);
    expect_diag(&d, 3, 0, "YAML syntax error", "UTF-8");
    config_diags_fini(&d);
}

static void test_second_document(void **state)
{
    (void)state;
    static const char doc[] = "regions: [{id: a}]\n---\nregions: [{id: b}]\n";
    config_diags d;
    load_bad_str(doc, sizeof doc - 1, &d);
    expect_diag_count(&d, 1);
    expect_diag(&d, 3, 1, "second YAML document");
    config_diags_fini(&d);
}

static void test_keys_and_types(void **state)
{
    (void)state;
    config_diags d;
    load_bad("bad_keys.yaml", &d);
    expect_diag(&d, 4, 3, "duplicate key 'query_listen'", "first at line 3");
    expect_diag(&d, 5, 3, "unknown key 'listen_port' in service",
                "allowed: query_listen, ingest_listen", "log_level");
    expect_diag(&d, 6, 19, "query_contexts", "expected an integer 1..4096",
                "got a sequence");
    expect_diag(&d, 9, 5, "unknown key 'timezone'",
                "allowed: id, inbound_horizon");
    expect_diag(&d, 10, 12, "locations", "expected a sequence",
                "got a mapping");
    expect_diag(&d, 11, 11, "channels", "expected a sequence", "got 'web'");
    expect_diag(&d, 14, 17, "authority entry", "expected a mapping",
                "got 'DC-NJ'");
    expect_diag(&d, 17, 14, "percent", "got a mapping");
    expect_diag(&d, 18, 1, "unknown key 'extras' in the top level",
                "service, regions, locations, channels, sources, buffers");
    expect_diag_count(&d, 9);
    config_diags_fini(&d);
}

/* An unknown key lists every allowed key (service has 20: the list once
 * stopped after 256 bytes), and a likely typo gets "did you mean". */
static void test_unknown_key_hint(void **state)
{
    (void)state;
    static const char doc[] = "service:\n"
                              "  snapshot_intervall: 1s\n"
                              "  colour: blue\n"
                              "regions: [{id: a}]\n"
                              "reservations: {max_line: 5}\n";
    config_diags d;
    load_bad_str(doc, sizeof doc - 1, &d);
    expect_diag_count(&d, 3);
    expect_diag(&d, 2, 3, "unknown key 'snapshot_intervall' in service",
                "did you mean 'snapshot_interval'?", "allowed: query_listen, ",
                "resync_hold_messages, scheduling");
    expect_diag(&d, 3, 3,
                "unknown key 'colour' in service; allowed: ", ", scheduling");
    assert_null(strstr(d.items[1].message, "did you mean"));
    expect_diag(&d, 5, 16, "unknown key 'max_line' in reservations",
                "did you mean 'max_lines'?", "log_apply_delay");
    config_diags_fini(&d);
}

/* A section's key written at the top level (a new user's data_dir) names
 * the section it belongs in. */
static void test_section_key_at_top(void **state)
{
    (void)state;
    static const char doc[] = "data_dir: /tmp/x\n"
                              "regions: [{id: a}]\n"
                              "max_ttl: 1h\n";
    config_diags d;
    load_bad_str(doc, sizeof doc - 1, &d);
    expect_diag_count(&d, 2);
    expect_diag(&d, 1, 1, "unknown key 'data_dir' in the top level",
                "did you mean 'service.data_dir' (inside 'service:')?");
    expect_diag(
        &d, 3, 1, "unknown key 'max_ttl' in the top level",
        "did you mean 'reservations.max_ttl' (inside 'reservations:')?");
    config_diags_fini(&d);
}

static void test_null_values(void **state)
{
    (void)state;
    static const char doc[] = "service:\n"
                              "  data_dir:\n"
                              "regions:\n"
                              "  - id: ~\n"
                              "locations:\n"
                              "  - {id: L1, region: null}\n";
    config_diags d;
    load_bad_str(doc, sizeof doc - 1, &d);
    expect_diag(&d, 2, 12, "service.data_dir", "expected a directory path",
                "got null");
    expect_diag(&d, 4, 9, "region id", "got null");
    expect_diag(&d, 6, 22, "location 'L1': region", "got null");
    expect_diag_count(&d, 3);
    config_diags_fini(&d);
}

/* service.query_idle_timeout: under 1 s (but not 0) and over 1 d;
 * service.tls_handshake_timeout under 1 s. */
static void test_query_idle_timeout_bounds(void **state)
{
    (void)state;
    static const char doc[] = "service:\n"
                              "  query_idle_timeout: 500ms\n";
    config_diags d = {0};
    load_bad_str(doc, sizeof doc - 1, &d);
    expect_diag(&d, 2, 23, "service.query_idle_timeout",
                "expected 0 (never) or 1s..1d", "got 500 ms");
    expect_diag_count(&d, 1);
    config_diags_fini(&d);
    static const char doc2[] = "service:\n"
                               "  query_idle_timeout: 2d\n";
    config_diags d2 = {0};
    load_bad_str(doc2, sizeof doc2 - 1, &d2);
    expect_diag(&d2, 2, 23, "service.query_idle_timeout", "out of range",
                "0ms..1d");
    expect_diag_count(&d2, 1);
    config_diags_fini(&d2);
    static const char doc3[] = "service:\n"
                               "  tls_handshake_timeout: 200ms\n";
    config_diags d3 = {0};
    load_bad_str(doc3, sizeof doc3 - 1, &d3);
    expect_diag(&d3, 2, 26, "service.tls_handshake_timeout",
                "expected 0 (never) or 1s..1h", "got 200 ms");
    expect_diag_count(&d3, 1);
    config_diags_fini(&d3);
}

static void test_ranges(void **state)
{
    (void)state;
    config_diags d;
    load_bad("bad_ranges.yaml", &d);
    expect_diag(&d, 3, 17, "service.query_listen",
                "'localhost:7450' is not a URL", "tcp://");
    expect_diag(&d, 4, 18, "service.ingest_listen", "is empty");
    expect_diag(&d, 5, 13, "service.data_dir", "is empty");
    expect_diag(&d, 6, 26, "ingest_recv_max_bytes", "'100' is out of range",
                "1024..1073741824");
    expect_diag(&d, 7, 23, "ingest_recv_buffer", "'0' is out of range",
                "1..8192");
    expect_diag(&d, 8, 25, "query_recv_max_bytes", "out of range");
    expect_diag(&d, 9, 19, "query_contexts", "'5000' is out of range",
                "1..4096");
    expect_diag(&d, 10, 27, "max_events_per_message", "1..1000000");
    expect_diag(&d, 11, 19, "max_cart_lines", "'10001'", "1..10000");
    expect_diag(&d, 12, 19, "reorder_window", "'2m' is out of range",
                "0ms..1m");
    expect_diag(&d, 13, 25, "reorder_max_messages", "expected an integer",
                "got '1e3'");
    expect_diag(&d, 14, 14, "log_level", "debug, info, warn, error",
                "got 'verbose'");
    expect_diag(&d, 17, 22, "region 'us-east': inbound_horizon",
                "'400d' is out of range", "0ms..366d");
    expect_diag(&d, 19, 22, "region 'eu': inbound_horizon",
                "expected a duration", "got 'soon'");
    expect_diag(&d, 22, 24, "source 'wms': heartbeat_timeout", "'5ms'",
                "10ms..1d");
    expect_diag(&d, 24, 24, "source 'erp': heartbeat_timeout", "'2d'",
                "10ms..1d");
    expect_diag_count(&d, 16);
    config_diags_fini(&d);
}

static void test_same_listen_url(void **state)
{
    (void)state;
    static const char doc[] = "service:\n"
                              "  query_listen: tcp://127.0.0.1:9000\n"
                              "  ingest_listen: tcp://127.0.0.1:9000\n";
    config_diags d;
    load_bad_str(doc, sizeof doc - 1, &d);
    expect_diag_count(&d, 1);
    expect_diag(&d, 3, 18, "ingest_listen and service.query_listen",
                "two different endpoints");
    config_diags_fini(&d);
}

/* Port 0 is not one endpoint: each socket gets a free port of its own. */
static void test_same_listen_url_port0(void **state)
{
    (void)state;
    static const char doc[] = "service:\n"
                              "  query_listen: tcp://127.0.0.1:0\n"
                              "  ingest_listen: tcp://127.0.0.1:0\n";
    config c;
    config_diags d = {0};
    atp_err rc = config_load_string(doc, sizeof doc - 1, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    config_fini(&c);
    config_diags_fini(&d);
}

/* A value of control characters, each shown as 4 bytes (\xHH), longer
 * shown than the message's room although its input fits: shortened with
 * "...", within the buffer (ASan: no write past it). */
static void test_control_chars_shown(void **state)
{
    (void)state;
    static const char doc[] =
        "regions:\n"
        "  - id: \"a\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01"
        "\\x01\\x01\\x01\\x01\\x01\"\n";
    config_diags d = {0};
    load_bad_str(doc, sizeof doc - 1, &d);
    expect_diag(&d, 2, 9, "region id", "'a\\x01\\x01", "...'",
                "control character");
    config_diags_fini(&d);
}

static void test_ids(void **state)
{
    (void)state;
    config_diags d;
    load_bad("bad_ids.yaml", &d);
    expect_diag(&d, 4, 9, "region id", "'' is empty", "1..64 printable");
    expect_diag(&d, 5, 9, "duplicate region 'us-east'", "first at line 3");
    expect_diag(&d, 6, 9, "region id", "control character");
    expect_diag(&d, 8, 9, "location id", "is too long", "1..64");
    /* Line 10 holds a 64-byte id: valid, nothing reported there. */
    assert_null(config_test_find(&d, 10, 0, (const char *const[]){"", NULL}));
    /* Flow sequence: several ids on one line, so the column says which. */
    expect_diag(&d, 12, 26, "duplicate channel 'web'",
                "first at line 12, column 12");
    expect_diag(&d, 12, 31, "duplicate channel 'default'",
                "first at line 12, column 17");
    expect_diag(&d, 15, 9, "duplicate source 'wms'", "first at line 14");
    expect_diag(&d, 17, 11, "buffer rule sku", "is too long");
    /* A C1 control character (U+009B, bytes c2 9b) is shown as \xHH per
     * byte, not sent to the terminal. */
    expect_diag(&d, 18, 11, "buffer rule sku", "'csi\\xc2\\x9bx'",
                "control character");
    expect_diag_count(&d, 9);
    config_diags_fini(&d);
}

static void test_id_length_bounds(void **state)
{
    (void)state;
    char id64[65], id65[66], doc[1024];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    memset(id65, 'b', 65);
    id65[65] = '\0';
    config c;
    config_diags d;
    snprintf(doc, sizeof doc,
             "regions: [{id: %s}]\nchannels: [%s]\nsources: [{id: %s}]\n"
             "buffers: [{sku: %s, units: 1}]\n",
             id64, id64, id64, id64);
    atp_err rc = config_test_load_str(doc, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_string_equal(c.buffers[0].sku, id64);
    config_fini(&c);
    config_diags_fini(&d);

    snprintf(doc, sizeof doc,
             "regions: [{id: %s}]\nchannels: [%s]\nsources: [{id: %s}]\n"
             "buffers: [{sku: %s, units: 1}]\n",
             id65, id65, id65, id65);
    load_bad_str(doc, strlen(doc), &d);
    expect_diag(&d, 1, 0, "region id", "too long");
    expect_diag(&d, 2, 0, "channel", "too long");
    expect_diag(&d, 3, 0, "source id", "too long");
    expect_diag(&d, 4, 0, "sku", "too long");
    expect_diag_count(&d, 4);
    config_diags_fini(&d);
}

static void test_locations(void **state)
{
    (void)state;
    config_diags d;
    load_bad("bad_locations.yaml", &d);
    expect_diag(&d, 8, 24, "location 'ST-1'", "unknown region 'mars'",
                "expected one of: us-east, us-west");
    /* Same id in two regions: both lines and both regions. */
    expect_diag(&d, 9, 10, "location 'DC-NJ'", "region 'us-east' (line 6)",
                "region 'us-west' (line 9)", "exactly one region");
    expect_diag(&d, 10, 10, "duplicate location 'DC-CA'", "first at line 7");
    expect_diag(&d, 11, 5, "location 'ST-2'", "missing required key 'region'");
    expect_diag(&d, 12, 5, "locations entry 7", "missing required key 'id'");
    expect_diag_count(&d, 5);
    config_diags_fini(&d);
}

static void test_authority(void **state)
{
    (void)state;
    config_diags d;
    load_bad("bad_authority.yaml", &d);
    expect_diag(&d, 16, 21, "source 'erp'", "unknown location 'DC-XX'");
    /* erp's held of ST-1 is fine (wms claims only on_hand and allocated);
     * its allocated is not. */
    expect_diag(&d, 17, 21, "location 'ST-1' allocated",
                "source 'wms' (line 12)", "source 'erp' (line 17)");
    expect_diag(&d, 18, 36, "source 'erp'", "unknown bucket 'in_transit'",
                "on_hand, allocated, held or inbound");
    expect_diag(&d, 19, 21, "location 'DC-PA' held", "source 'wms' (line 11)",
                "source 'erp' (line 19)");
    expect_diag(&d, 21, 20, "source 'erp'", "empty");
    expect_diag(&d, 22, 9, "source 'erp'", "without 'locations'");
    /* One message for the three buckets, not three messages. */
    expect_diag(&d, 26, 13, "location 'DC-NJ' on_hand, allocated, held",
                "source 'wms' (line 11)", "source '3pl' (line 26)");
    expect_diag_count(&d, 7);
    config_diags_fini(&d);
}

static void test_buffers(void **state)
{
    (void)state;
    config_diags d;
    load_bad("bad_buffers.yaml", &d);
    expect_diag(&d, 8, 14, "unknown region 'us-west'",
                "expected one of: us-east");
    expect_diag(&d, 9, 15, "unknown channel 'tv'",
                "expected one of: default, web");
    expect_diag(&d, 10, 30, "units", "'-1' is negative");
    expect_diag(&d, 11, 46, "percent", "'100.01' is out of range", "0..100");
    expect_diag(&d, 12, 24, "percent", "'-2' is out of range");
    expect_diag(&d, 13, 41, "percent", "'2.125' has more than 2 decimals");
    expect_diag(&d, 14, 5, "none of units, percent, low_stock");
    expect_diag(&d, 15, 5, "duplicate buffer rule for the global default",
                "first at line 7");
    expect_diag(&d, 17, 5, "duplicate buffer rule for sku 'A1', channel 'web'",
                "first at line 16");
    /* Lines 18 and 19 (percent 100 and 0.5, channel default) are valid. */
    expect_diag_count(&d, 9);
    config_diags_fini(&d);
}

/* A percent that is not a number, a buffers entry that is not a rule, an
 * empty buffers list: each said where it is, nothing else refused. */
static void test_buffer_percent_syntax(void **state)
{
    (void)state;
    config c;
    config_diags d = {0};
    atp_err err = config_test_load_str("regions: [{id: us}]\n"
                                       "buffers:\n"
                                       "  - {sku: A, percent: abc}\n"
                                       "  - {sku: B, percent: '5.'}\n"
                                       "  - {sku: C, percent: 5x}\n"
                                       "  - 7\n"
                                       "  - {sku: D, percent: '2.50'}\n",
                                       &c, &d);
    assert_int_equal(err, ATP_E_CONFIG);
    expect_diag(&d, 3, 23, "buffer rule percent: expected", "got 'abc'");
    expect_diag(&d, 4, 23, "buffer rule percent: expected", "got '5.'");
    expect_diag(&d, 5, 23, "buffer rule percent: expected", "got '5x'");
    expect_diag(&d, 6, 5, "buffers entry");
    expect_diag_count(&d, 4); /* 2.50 is 2.5 % */
    config_diags_fini(&d);

    d = (config_diags){0};
    err = config_test_load_str("regions: [{id: us}]\nbuffers: []\n", &c, &d);
    config_test_print(&d);
    assert_int_equal(err, ATP_OK);
    assert_int_equal(c.n_buffers, 0);
    config_fini(&c);
    config_diags_fini(&d);
}

/* test_one_diag: yaml is refused with exactly one diagnostic, at line:column,
 * containing text. */
static void test_one_diag(const char *yaml, int line, int column,
                          const char *text)
{
    config c;
    config_diags d = {0};
    assert_int_equal(config_test_load_str(yaml, &c, &d), ATP_E_CONFIG);
    expect_diag(&d, line, column, text);
    expect_diag_count(&d, 1);
    config_diags_fini(&d);
}

/* Shapes a hand-edited file gets wrong, each said at its place. */
static void test_shapes(void **state)
{
    (void)state;
    test_one_diag("- a\n- b\n", 1, 1,
                  "the top level: expected a mapping, got a sequence");
    test_one_diag("{[a]: 1}\n", 1, 2,
                  "the top level: a key must be a plain word, got a sequence");
    test_one_diag(
        "a: b: c\n", 1, 5,
        "YAML syntax error: mapping values are not allowed in this context");
    /* A second document is read too (files concatenated by mistake). */
    test_one_diag("regions: [{id: us}]\n---\n[\n", 4, 1,
                  "YAML syntax error: did not find expected node content");
    test_one_diag("regions: [{inbound_horizon: 1h}]\n", 1, 11,
                  "regions entry 1: missing required key 'id'");
    test_one_diag(
        "regions: [{id: us}]\nlocations: [{id: l1, region: us}]\nsources:\n"
        "  - {authority: [{locations: [l1], buckets: [on_hand]}]}\n",
        4, 5, "sources entry 1: missing required key 'id'");
    test_one_diag(
        "regions: [{id: us}]\nlocations: [{id: l1, region: us}]\nsources:\n"
        "  - {id: s, authority: [{locations: [l1], buckets: []}]}\n",
        4, 52, "source 's': authority buckets: empty; list at least one of");
    /* Integers: a lone sign is no number; 2^63 is out of range, not wrapped. */
    config c;
    config_diags d = {0};
    assert_int_equal(
        config_test_load_str("regions: [{id: us}]\nbuffers: [{units: '-'}, "
                             "{sku: B, units: 9223372036854775808}]\n",
                             &c, &d),
        ATP_E_CONFIG);
    expect_diag(&d, 2, 19, "buffer rule units: expected an integer", "got '-'");
    expect_diag(&d, 2, 41, "'9223372036854775808' is out of range");
    expect_diag_count(&d, 2);
    config_diags_fini(&d);
    /* The third of three equal ids names the first, as the second does. */
    d = (config_diags){0};
    assert_int_equal(
        config_test_load_str("regions: [{id: a}, {id: a}, {id: a}]\n", &c, &d),
        ATP_E_CONFIG);
    expect_diag(&d, 1, 25, "duplicate region 'a' (first at line 1, column 16)");
    expect_diag(&d, 1, 34, "duplicate region 'a' (first at line 1, column 16)");
    expect_diag_count(&d, 2);
    config_diags_fini(&d);
    d = (config_diags){0};
    assert_int_equal(config_test_load_str(
                         "regions: [{id: us}]\nlocations: [{id: l, region: us},"
                         " {id: l, region: us}, {id: l, region: us}]\n",
                         &c, &d),
                     ATP_E_CONFIG);
    expect_diag(&d, 2, 39,
                "duplicate location 'l' (first at line 2, column 18)");
    expect_diag(&d, 2, 60,
                "duplicate location 'l' (first at line 2, column 18)");
    expect_diag_count(&d, 2);
    config_diags_fini(&d);
    d = (config_diags){0};
    assert_int_equal(
        config_test_load_str(
            "regions: [{id: us}]\nlocations: [{id: l1, region: us}]\nsources:\n"
            "  - {id: s1, authority: [{locations: [l1], buckets: [on_hand]}]}\n"
            "  - {id: s2, authority: [{locations: [l1], buckets: [on_hand]}]}\n"
            "  - {id: s3, authority: [{locations: [l1], buckets: "
            "[on_hand]}]}\n",
            &c, &d),
        ATP_E_CONFIG);
    expect_diag(&d, 5, 39,
                "claimed by source 's1' (line 4) and by source 's2' (line 5)");
    expect_diag(&d, 6, 39,
                "claimed by source 's1' (line 4) and by source 's3' (line 6)");
    expect_diag_count(&d, 2);
    config_diags_fini(&d);
    /* Too many ids to list in the message: the first ones, then the count. */
    char yaml[1024] = "regions: [";
    for (int i = 0; i < 10; i++)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml),
                 "%s{id: region-with-a-long-name-%d}", i ? ", " : "", i);
    strcat(yaml, "]\nlocations: [{id: l1, region: nowhere}]\n");
    d = (config_diags){0};
    assert_int_equal(config_test_load_str(yaml, &c, &d), ATP_E_CONFIG);
    expect_diag(&d, 2, 0, "unknown region 'nowhere'",
                "region-with-a-long-name-0, region-with-a-long-name-1, ",
                "... (10 in all)");
    expect_diag_count(&d, 1);
    config_diags_fini(&d);
    /* An empty regions list is the default region, as no list is. */
    d = (config_diags){0};
    assert_int_equal(config_test_load_str("regions: []\n", &c, &d), ATP_OK);
    assert_int_equal(c.n_regions, 1);
    assert_string_equal(c.regions[0].id, "default");
    config_fini(&c);
    config_diags_fini(&d);
}

/* One pass finds everything, and the list reads top to bottom. */
static void test_many_problems_sorted(void **state)
{
    (void)state;
    config_diags d;
    load_bad("bad_many.yaml", &d);
    static const int lines[] = {3,  4,  7,  10, 10, 11, 12,
                                15, 17, 20, 23, 24, 26};
    expect_diag_count(&d, sizeof lines / sizeof lines[0]);
    for (size_t i = 0; i < d.n; i++)
        assert_int_equal(d.items[i].line, lines[i]);
    expect_diag(&d, 10, 10, "location 'DC-NJ'", "region 'us-east' (line 9)",
                "region 'eu' (line 10)");
    expect_diag(&d, 10, 25, "unknown region 'eu'");
    expect_diag(&d, 20, 21, "location 'DC-NJ' held", "source 'wms' (line 17)",
                "source 'erp' (line 20)");
    config_diags_fini(&d);
}

/* appendf grows a document for the limit tests. */
static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        *cap = *cap * 2 + (size_t)n;
        *buf = realloc(*buf, *cap);
        assert_non_null(*buf);
    }
}

static void test_limits(void **state)
{
    (void)state;
    size_t cap = 1 << 16, len = 0;
    char *doc = malloc(cap);
    assert_non_null(doc);
    doc[0] = '\0';
    /* Line 1 "regions:", then one region per line. */
    appendf(&doc, &len, &cap, "regions:\n");
    for (int i = 0; i < CONFIG_MAX_REGIONS + 1; i++)
        appendf(&doc, &len, &cap, "  - id: r%d\n", i);
    /* 255 channels plus the built-in default make 256: the limit. */
    appendf(&doc, &len, &cap, "channels:\n");
    int channels_line = 2 + CONFIG_MAX_REGIONS + 1;
    for (int i = 0; i < CONFIG_MAX_CHANNELS; i++)
        appendf(&doc, &len, &cap, "  - c%d\n", i);
    appendf(&doc, &len, &cap, "sources:\n");
    int sources_line = channels_line + 1 + CONFIG_MAX_CHANNELS;
    for (int i = 0; i < CONFIG_MAX_SOURCES + 1; i++)
        appendf(&doc, &len, &cap, "  - id: s%d\n", i);

    config_diags d;
    load_bad_str(doc, len, &d);
    /* Each is reported at the first entry too many. */
    expect_diag(&d, 2 + CONFIG_MAX_REGIONS, 5, "regions: 1025 entries",
                "at most 1024");
    expect_diag(&d, channels_line + CONFIG_MAX_CHANNELS, 5,
                "channels: more than 256, counting the built-in 'default'");
    expect_diag(&d, sources_line + 1 + CONFIG_MAX_SOURCES, 5,
                "sources: 257 entries", "at most 256");
    expect_diag_count(&d, 3);
    config_diags_fini(&d);

    /* Exactly at the limits: accepted. */
    len = 0;
    appendf(&doc, &len, &cap, "regions:\n");
    for (int i = 0; i < CONFIG_MAX_REGIONS; i++)
        appendf(&doc, &len, &cap, "  - id: r%d\n", i);
    /* Naming "default" does not count twice. */
    appendf(&doc, &len, &cap, "channels:\n  - default\n");
    for (int i = 0; i < CONFIG_MAX_CHANNELS - 1; i++)
        appendf(&doc, &len, &cap, "  - c%d\n", i);
    appendf(&doc, &len, &cap, "sources:\n");
    for (int i = 0; i < CONFIG_MAX_SOURCES; i++)
        appendf(&doc, &len, &cap, "  - id: s%d\n", i);
    config c;
    atp_err rc = config_load_string(doc, len, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_int_equal(c.n_regions, CONFIG_MAX_REGIONS);
    assert_int_equal(c.n_channels, CONFIG_MAX_CHANNELS);
    assert_int_equal(c.n_sources, CONFIG_MAX_SOURCES);
    config_fini(&c);
    config_diags_fini(&d);
    free(doc);
}

/* A generated file gone wrong: the list is capped, and says how many more
 * problems there were. */
static void test_many_diags_capped(void **state)
{
    (void)state;
    size_t cap = 1 << 16, len = 0;
    char *doc = malloc(cap);
    assert_non_null(doc);
    appendf(&doc, &len, &cap, "locations:\n");
    for (int i = 0; i < 1500; i++)
        appendf(&doc, &len, &cap, "  - {id: L%d, region: nowhere}\n", i);
    config_diags d;
    load_bad_str(doc, len, &d);
    assert_int_equal(d.n, 1001);
    expect_diag(&d, 2, 0, "location 'L0'", "unknown region 'nowhere'");
    assert_int_equal(d.items[1000].line, 0);
    assert_non_null(strstr(d.items[1000].message, "500 more problems"));
    config_diags_fini(&d);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_second_document),
        cmocka_unit_test(test_keys_and_types),
        cmocka_unit_test(test_unknown_key_hint),
        cmocka_unit_test(test_section_key_at_top),
        cmocka_unit_test(test_null_values),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_same_listen_url),
        cmocka_unit_test(test_same_listen_url_port0),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_control_chars_shown),
        cmocka_unit_test(test_id_length_bounds),
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_authority),
        cmocka_unit_test(test_buffers),
        cmocka_unit_test(test_buffer_percent_syntax),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_many_problems_sorted),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_many_diags_capped),
        cmocka_unit_test(test_query_idle_timeout_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
