/*
 * test_admin.c - unit tests of src/config/admin.c, the validation of a
 * run-time admin change: the administered part of a configuration written
 * as a document (config_admin_text) with one change applied reads back
 * with config_load_string to the same configuration plus that change; a
 * change with an invalid value is refused by the file's own checks with
 * the file's message; a remove of a scope without a rule and a move of an
 * unknown location have their codes; ids that need quoting round-trip;
 * a location set changes only the values it has; a region set's
 * horizon is judged by the file's parser; a removed location leaves the
 * file's configuration with its authority pairs when laid over it;
 * config_admin_overlay lays a state over a configuration by id (rules,
 * regions, types and pickup settings, locations added at run time,
 * sources' authority) and says what it leaves out; a location add and an
 * authority set are validated like the file; spare places are named by
 * config_location_claim until none is left.
 * Labels: unit, admin (issue 16).
 */
#include "config_test.h"

static const char test_file[] =
    "service: {data_dir: /tmp/a}\n"
    "regions: [{id: us, inbound_horizon: 2d}, {id: eu}]\n"
    "channels: [web, app]\n"
    "locations: [{id: dc-us, region: us, type: dc}, {id: s1, region: eu, "
    "type: store, pickup: true, pickup_buffer: 2}]\n"
    "sources: [{id: wms, authority: [{locations: [dc-us, s1], buckets: "
    "[on_hand]}]}]\n"
    "buffers:\n"
    "  - {units: 1}\n"
    "  - {sku: A, region: us, channel: web, units: 2, percent: 12.5, "
    "low_stock: 3}\n"
    "  - {channel: app, percent: 0.25}\n";

static void test_load(const char *text, config *c)
{
    config_diags d = {0};
    atp_err err = config_load_string(text, strlen(text), c, &d);
    if (err != ATP_OK)
        config_test_print(&d);
    config_diags_fini(&d);
    assert_int_equal(err, ATP_OK);
}

/* test_edit: c's text with e, read back (ATP_OK) or its error and the
 * first message. */
static atp_err test_edit(const config *c, const config_edit *e, config *out,
                         char *msg, size_t n)
{
    char *text;
    size_t len;
    atp_err err = config_admin_text(c, e, &text, &len);
    if (err != ATP_OK)
        return err;
    assert_int_equal(strlen(text), len);
    config_diags d = {0};
    err = config_load_string(text, len, out, &d);
    if (msg != NULL)
        snprintf(msg, n, "%s", d.n ? d.items[0].message : "");
    config_diags_fini(&d);
    free(text);
    return err;
}

static const config_buffer_rule *test_rule(const config *c, const char *sku,
                                           const char *region,
                                           const char *channel)
{
    for (size_t i = 0; i < c->n_buffers; i++)
        if (config_admin_rule_matches(c, &c->buffers[i], sku, region, channel))
            return &c->buffers[i];
    return NULL;
}

static void test_round_trip(void **state)
{
    (void)state;
    config c, back;
    test_load(test_file, &c);
    assert_int_equal(test_edit(&c, NULL, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.n_regions, 2);
    assert_int_equal(back.regions[0].inbound_horizon_ms, 2 * 86400000LL);
    assert_int_equal(back.n_channels, 3);
    assert_int_equal(back.n_locations, 2);
    assert_string_equal(back.locations[1].type, "store");
    assert_int_equal(back.locations[1].region, 1);
    /* store pickup keys go round too (an export keeps them) */
    assert_false(back.locations[0].pickup);
    assert_true(back.locations[1].pickup);
    assert_int_equal(back.locations[1].pickup_buffer, 2);
    assert_int_equal(back.n_buffers, 3);
    const config_buffer_rule *r = test_rule(&back, "A", "us", "web");
    assert_non_null(r);
    assert_int_equal(r->units, 2);
    assert_int_equal(r->percent_bp, 1250);
    assert_int_equal(r->low_stock, 3);
    assert_int_equal(test_rule(&back, NULL, NULL, "app")->percent_bp, 25);
    /* each source's id and authority (nothing else of it) */
    assert_int_equal(back.n_sources, 1);
    assert_string_equal(back.sources[0].id, "wms");
    assert_int_equal(back.sources[0].n_authority, 2);
    assert_int_equal(back.sources[0].authority[1].location, 1);
    assert_int_equal(back.sources[0].authority[1].bucket, ATP_BUCKET_ON_HAND);
    config_fini(&back);
    config_fini(&c);
}

static void test_set_and_remove(void **state)
{
    (void)state;
    config c, back;
    test_load(test_file, &c);
    /* replace a scope's rule: in its place, with only the values given */
    config_edit e = {.kind = CONFIG_EDIT_BUFFER_SET,
                     .sku = "A",
                     .region = "us",
                     .channel = "web",
                     .has_units = true,
                     .units = 9};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.n_buffers, 3);
    assert_true(
        config_admin_rule_matches(&back, &back.buffers[1], "A", "us", "web"));
    assert_int_equal(back.buffers[1].units, 9);
    assert_int_equal(back.buffers[1].percent_bp, 0);
    config_fini(&back);
    /* a new scope comes last */
    e = (config_edit){.kind = CONFIG_EDIT_BUFFER_SET,
                      .region = "eu",
                      .has_percent = true,
                      .percent_bp = 10000};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.n_buffers, 4);
    assert_int_equal(test_rule(&back, NULL, "eu", NULL)->percent_bp, 10000);
    config_fini(&back);
    /* remove */
    e = (config_edit){.kind = CONFIG_EDIT_BUFFER_REMOVE};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.n_buffers, 2);
    assert_null(test_rule(&back, NULL, NULL, NULL));
    config_fini(&back);
    e = (config_edit){.kind = CONFIG_EDIT_BUFFER_REMOVE, .sku = "A"};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_E_NOT_FOUND);
    config_fini(&c);
}

static void test_invalid_values(void **state)
{
    (void)state;
    config c, back;
    char msg[1024];
    test_load(test_file, &c);
    struct {
        config_edit e;
        const char *want;
    } bad[] = {
        {{.kind = CONFIG_EDIT_BUFFER_SET,
          .has_percent = true,
          .percent_bp = 10001},
         "out of range"},
        {{.kind = CONFIG_EDIT_BUFFER_SET,
          .has_percent = true,
          .percent_bp = -150},
         "out of range"},
        {{.kind = CONFIG_EDIT_BUFFER_SET, .has_units = true, .units = -1},
         "units"},
        {{.kind = CONFIG_EDIT_BUFFER_SET, .sku = "A"}, "sets none of units"},
        {{.kind = CONFIG_EDIT_BUFFER_SET, .region = "mars", .has_units = true},
         "unknown region 'mars'"},
        {{.kind = CONFIG_EDIT_BUFFER_SET, .channel = "tv", .has_units = true},
         "unknown channel 'tv'"},
        {{.kind = CONFIG_EDIT_LOCATION_MOVE,
          .location = "s1",
          .region = "mars"},
         "unknown region"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        assert_int_equal(test_edit(&c, &bad[i].e, &back, msg, sizeof msg),
                         ATP_E_CONFIG);
        if (strstr(msg, bad[i].want) == NULL)
            fail_msg("change %zu: message '%s' lacks '%s'", i, msg,
                     bad[i].want);
    }
    config_edit e = {.kind = CONFIG_EDIT_LOCATION_MOVE,
                     .location = "nowhere",
                     .region = "eu"};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_E_UNKNOWN_LOCATION);
    config_fini(&c);
}

static void test_move_and_quoting(void **state)
{
    (void)state;
    config c, back;
    test_load("regions: [{id: \"a\\\"b\"}, {id: \"x: y\"}]\n"
              "locations: [{id: \"l#1\", region: \"a\\\"b\"}]\n"
              "buffers: [{sku: \"it's\\\\\", units: 1}]\n",
              &c);
    config_edit e = {
        .kind = CONFIG_EDIT_LOCATION_MOVE, .location = "l#1", .region = "x: y"};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_string_equal(back.regions[back.locations[0].region].id, "x: y");
    assert_string_equal(back.buffers[0].sku, "it's\\");
    assert_string_equal(back.regions[0].id, "a\"b");
    config_fini(&back);
    config_fini(&c);
}

/* A location set changes the values it has and keeps the others; a type
 * the file's checks refuse is refused with the file's message. */
static void test_location_set(void **state)
{
    (void)state;
    config c, back;
    char msg[1024];
    test_load(test_file, &c);
    config_edit e = {.kind = CONFIG_EDIT_LOCATION_SET,
                     .location = "s1",
                     .type = "kiosk",
                     .has_pickup = true,
                     .pickup = false};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_string_equal(back.locations[1].type, "kiosk");
    assert_false(back.locations[1].pickup);
    assert_int_equal(back.locations[1].pickup_buffer, 2); /* kept */
    assert_int_equal(back.locations[1].region, 1);
    assert_string_equal(back.locations[0].type, "dc"); /* the other: as is */
    config_fini(&back);
    e = (config_edit){.kind = CONFIG_EDIT_LOCATION_SET,
                      .location = "dc-us",
                      .has_pickup = true,
                      .pickup = true,
                      .has_pickup_buffer = true,
                      .pickup_buffer = 4};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_string_equal(back.locations[0].type, "dc");
    assert_true(back.locations[0].pickup);
    assert_int_equal(back.locations[0].pickup_buffer, 4);
    config_fini(&back);
    const char *bad_types[][2] = {{"", "is empty"},
                                  {"a\tb", "type"},
                                  {"0123456789012345678901234567890123456789"
                                   "01234567890123456789012345",
                                   "1..64 printable bytes"}};
    for (size_t i = 0; i < 3; i++) {
        e = (config_edit){.kind = CONFIG_EDIT_LOCATION_SET,
                          .location = "s1",
                          .type = bad_types[i][0]};
        msg[0] = '\0';
        assert_int_equal(test_edit(&c, &e, &back, msg, sizeof msg),
                         ATP_E_CONFIG);
        if (strstr(msg, bad_types[i][1]) == NULL)
            fail_msg("type %zu: message '%s' lacks '%s'", i, msg,
                     bad_types[i][1]);
    }
    e = (config_edit){.kind = CONFIG_EDIT_LOCATION_SET,
                      .location = "nowhere",
                      .has_pickup = true};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_E_UNKNOWN_LOCATION);
    config_fini(&c);
}

/* A region set writes the horizon as the client gave it: the file's
 * parser reads or refuses it. */
static void test_region_set(void **state)
{
    (void)state;
    config c, back;
    char msg[1024];
    test_load(test_file, &c);
    config_edit e = {
        .kind = CONFIG_EDIT_REGION_SET, .region = "eu", .horizon = "36h"};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.regions[1].inbound_horizon_ms, 36 * 3600000LL);
    assert_int_equal(back.regions[0].inbound_horizon_ms, 2 * 86400000LL);
    config_fini(&back);
    e.region = "us";
    e.horizon = "0";
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.regions[0].inbound_horizon_ms, 0);
    config_fini(&back);
    const char *bad[][2] = {{"9y", "expected a duration"},
                            {"400d", "out of range"},
                            {"-5ms", "inbound_horizon"}};
    for (size_t i = 0; i < 3; i++) {
        e.horizon = bad[i][0];
        msg[0] = '\0';
        assert_int_equal(test_edit(&c, &e, &back, msg, sizeof msg),
                         ATP_E_CONFIG);
        if (strstr(msg, bad[i][1]) == NULL)
            fail_msg("horizon %zu: message '%s' lacks '%s'", i, msg, bad[i][1]);
    }
    e = (config_edit){
        .kind = CONFIG_EDIT_REGION_SET, .region = "mars", .horizon = "1d"};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_E_UNKNOWN_REGION);
    config_fini(&c);
}

static void test_left_out(void *ctx, const char *what)
{
    (void)what;
    (*(int *)ctx)++;
}

/* A location remove leaves it out of the document; laid over the file,
 * such a state removes the location and its authority pairs there. */
static void test_location_remove(void **state)
{
    (void)state;
    config c, back;
    test_load(test_file, &c);
    config_edit e = {.kind = CONFIG_EDIT_LOCATION_REMOVE, .location = "dc-us"};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.n_locations, 1);
    assert_string_equal(back.locations[0].id, "s1");
    assert_true(config_location_find(&back, "dc-us", 5) < 0);
    e.location = "nowhere";
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_E_UNKNOWN_LOCATION);
    /* the overlay: dc-us (index 0) goes, s1 moves down to index 0 */
    assert_int_equal(c.sources[0].n_authority, 2);
    int left = 0;
    assert_int_equal(config_admin_overlay(&c, &back, test_left_out, &left),
                     ATP_OK);
    assert_int_equal(left, 1);
    assert_int_equal(c.n_locations, 1);
    assert_int_equal(config_location_find(&c, "s1", 2), 0);
    assert_true(config_location_find(&c, "dc-us", 5) < 0);
    assert_int_equal(c.sources[0].n_authority, 1);
    assert_int_equal(c.sources[0].authority[0].location, 0);
    config_fini(&back);
    config_fini(&c);
}

static void test_overlay(void **state)
{
    (void)state;
    config file, adm;
    test_load(test_file, &file);
    test_load("regions: [{id: us}, {id: eu, inbound_horizon: 3h}, {id: mars}]\n"
              "channels: [web]\n"
              "locations: [{id: dc-us, region: eu, type: depot, pickup: "
              "true, pickup_buffer: 3}, {id: gone, region: us},"
              " {id: s1, region: mars}]\n"
              "buffers: [{units: 5}, {region: mars, units: 1},"
              " {sku: B, channel: web, percent: 3}]\n",
              &adm);
    int left = 0;
    assert_int_equal(config_admin_overlay(&file, &adm, test_left_out, &left),
                     ATP_OK);
    assert_int_equal(left, 0);
    /* mars, which the state lists after the file's regions, was added at
     * run time: the file's configuration takes it, its rule and s1 too */
    assert_int_equal(file.n_regions, 3);
    assert_int_equal(config_region_find(&file, "mars", 4), 2);
    /* 'gone', which the state lists and the file does not, was added at
     * run time: the file's configuration takes it, last */
    assert_int_equal(file.n_locations, 3);
    assert_int_equal(config_location_find(&file, "gone", 4), 2);
    assert_int_equal(file.locations[2].region, 0);
    /* the state has no sources (stored before they were administered):
     * the file's authority stays */
    assert_int_equal(file.sources[0].n_authority, 2);
    assert_int_equal(file.n_buffers, 3);
    assert_int_equal(test_rule(&file, NULL, NULL, NULL)->units, 5);
    assert_int_equal(test_rule(&file, NULL, "mars", NULL)->units, 1);
    assert_int_equal(test_rule(&file, "B", NULL, "web")->percent_bp, 300);
    assert_int_equal(file.locations[0].region, 1); /* dc-us in eu */
    assert_int_equal(file.locations[1].region, 2); /* s1 in mars */
    /* the state's horizons (us: none, eu: 3h) */
    assert_int_equal(file.regions[0].inbound_horizon_ms, 0);
    assert_int_equal(file.regions[1].inbound_horizon_ms, 3 * 3600000LL);
    /* dc-us and s1 take the state's type and pickup settings */
    assert_string_equal(file.locations[0].type, "depot");
    assert_true(file.locations[0].pickup);
    assert_int_equal(file.locations[0].pickup_buffer, 3);
    assert_false(file.locations[1].pickup);
    assert_int_equal(file.locations[1].pickup_buffer, 0);
    config_fini(&adm);
    config_fini(&file);
}

static void test_location_add(void **state)
{
    (void)state;
    config c, back;
    char msg[1024];
    test_load(test_file, &c);
    config_edit e = {.kind = CONFIG_EDIT_LOCATION_ADD,
                     .location = "s2",
                     .region = "us",
                     .type = "store",
                     .has_pickup = true,
                     .pickup = true,
                     .has_pickup_buffer = true,
                     .pickup_buffer = 4};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.n_locations, 3);
    int k = config_location_find(&back, "s2", 2);
    assert_int_equal(k, 2);
    assert_int_equal(back.locations[k].region, 0);
    assert_string_equal(back.locations[k].type, "store");
    assert_true(back.locations[k].pickup);
    assert_int_equal(back.locations[k].pickup_buffer, 4);
    config_fini(&back);
    /* an id c has: conflict; an unknown region or a bad type: the file's
     * messages */
    e.location = "s1";
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_E_CONFLICT);
    e.location = "s2";
    e.region = "mars";
    assert_int_equal(test_edit(&c, &e, &back, msg, sizeof msg), ATP_E_CONFIG);
    assert_non_null(strstr(msg, "unknown region"));
    e.region = "us";
    e.type = "";
    assert_int_equal(test_edit(&c, &e, &back, msg, sizeof msg), ATP_E_CONFIG);
    config_fini(&c);
}

static void test_authority_set(void **state)
{
    (void)state;
    config c, back, two;
    char msg[1024];
    test_load(test_file, &c);
    config_edit e = {.kind = CONFIG_EDIT_AUTHORITY_SET,
                     .source = "wms",
                     .location = "s1",
                     .buckets = (1u << ATP_BUCKET_ON_HAND) |
                                (1u << ATP_BUCKET_HELD) |
                                (1u << ATP_AUTH_INBOUND)};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    /* dc-us on_hand; s1 on_hand, held, inbound */
    assert_int_equal(back.sources[0].n_authority, 4);
    assert_int_equal(back.sources[0].authority[3].location, 1);
    assert_int_equal(back.sources[0].authority[3].bucket, ATP_AUTH_INBOUND);
    config_fini(&back);
    /* none: s1 leaves the source's authority */
    e.buckets = 0;
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.sources[0].n_authority, 1);
    assert_int_equal(back.sources[0].authority[0].location, 0);
    config_fini(&back);
    e.source = "erp";
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_E_UNKNOWN_SOURCE);
    e.source = "wms";
    e.location = "nowhere";
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_E_UNKNOWN_LOCATION);
    /* a pair another source owns: the file's message */
    test_load("regions: [{id: us}]\nlocations: [{id: a, region: us}]\n"
              "sources: [{id: s, authority: [{locations: [a], buckets: "
              "[held]}]}, {id: t}]\n",
              &two);
    e = (config_edit){.kind = CONFIG_EDIT_AUTHORITY_SET,
                      .source = "t",
                      .location = "a",
                      .buckets = 1u << ATP_BUCKET_HELD};
    assert_int_equal(test_edit(&two, &e, &back, msg, sizeof msg), ATP_E_CONFIG);
    assert_non_null(strstr(msg, "held"));
    config_fini(&two);
    config_fini(&c);
}

static void test_spares_and_claim(void **state)
{
    (void)state;
    config c, back;
    test_load(test_file, &c);
    assert_int_equal(config_location_spares(&c, 2), ATP_OK);
    assert_int_equal(c.n_locations, 4);
    assert_int_equal(config_location_named(&c), 2);
    /* spare places are in no document and found by no lookup */
    assert_int_equal(test_edit(&c, NULL, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.n_locations, 2);
    config_fini(&back);
    uint32_t k;
    assert_int_equal(config_location_claim(&c, "s1", &k), ATP_OK);
    assert_int_equal(k, 1); /* its own place */
    assert_int_equal(config_location_claim(&c, "new-1", &k), ATP_OK);
    assert_int_equal(k, 2);
    assert_int_equal(config_location_find(&c, "new-1", 5), 2);
    assert_int_equal(config_location_find(&c, "s1", 2), 1);
    assert_int_equal(config_location_claim(&c, "new-2", &k), ATP_OK);
    assert_int_equal(k, 3);
    assert_int_equal(config_location_claim(&c, "new-3", &k), ATP_E_BAD_STATE);
    assert_true(config_location_find(&c, "new-3", 5) < 0);
    assert_int_equal(config_location_named(&c), 4);
    config_fini(&c);
}

static void test_channel_add(void **state)
{
    (void)state;
    config c, back, run;
    char msg[1024];
    test_load(test_file, &c);
    config_edit e = {.kind = CONFIG_EDIT_CHANNEL_ADD, .channel = "kiosk"};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.n_channels, 4); /* default, web, app, kiosk */
    assert_int_equal(config_channel_find(&back, "kiosk", 5), 3);
    config_fini(&back);
    e.channel = "web";
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_E_CONFLICT);
    e.channel = "a b\x01";
    assert_int_equal(test_edit(&c, &e, &back, msg, sizeof msg), ATP_E_CONFIG);
    /* the running configuration's spare places, named in order */
    test_load(test_file, &run);
    assert_int_equal(config_channel_spares(&run, 2), ATP_OK);
    assert_int_equal(run.n_channels, 5);
    assert_int_equal(config_channels_live(&run), 3);
    uint32_t k;
    assert_int_equal(config_channel_claim(&run, "kiosk", &k), ATP_OK);
    assert_int_equal(k, 3);
    assert_int_equal(config_channels_live(&run), 4);
    /* out of service until the admin puts it in (the change stored) */
    assert_true(config_channel_find(&run, "kiosk", 5) < 0);
    assert_int_equal(config_channel_place(&run, "kiosk", 5), 3);
    config_channel_out_set(&run, 3, false);
    assert_int_equal(config_channel_find(&run, "kiosk", 5), 3);
    assert_true(config_channel_in_service(&run, 3));
    /* removed: out again, its place kept */
    config_channel_out_set(&run, 3, true);
    assert_true(config_channel_find(&run, "kiosk", 5) < 0);
    char chl[64];
    config_channel_list(&run, chl, sizeof chl);
    assert_string_equal(chl, "default, web, app");
    config_channel_out_set(&run, 3, false);
    assert_int_equal(config_channel_claim(&run, "web", &k), ATP_OK);
    assert_int_equal(k, 1); /* its own */
    assert_int_equal(config_channel_claim(&run, "pos", &k), ATP_OK);
    config_channel_out_set(&run, k, false); /* in force */
    assert_int_equal(config_channel_claim(&run, "tv", &k), ATP_E_BAD_STATE);
    assert_true(config_channel_find(&run, "tv", 2) < 0);
    /* its document lists the named channels only; with them the state's
     * channels go back into a file's configuration (a restart) */
    assert_int_equal(test_edit(&run, NULL, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.n_channels, 5);
    int left = 0;
    assert_int_equal(config_admin_overlay(&c, &back, test_left_out, &left),
                     ATP_OK);
    assert_int_equal(c.n_channels, 5);
    assert_int_equal(config_channel_find(&c, "pos", 3), 4);
    config_fini(&back);
    config_fini(&run);
    config_fini(&c);
}

static void test_region_add(void **state)
{
    (void)state;
    config c, back, run;
    char msg[1024];
    test_load(test_file, &c);
    config_edit e = {
        .kind = CONFIG_EDIT_REGION_ADD, .region = "apac", .horizon = "36h"};
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_OK);
    assert_int_equal(back.n_regions, 3);
    assert_int_equal(config_region_find(&back, "apac", 4), 2);
    assert_int_equal(back.regions[2].inbound_horizon_ms, 36 * 3600000LL);
    config_fini(&back);
    e.region = "eu";
    assert_int_equal(test_edit(&c, &e, &back, NULL, 0), ATP_E_CONFLICT);
    e.region = "apac";
    e.horizon = "9y";
    assert_int_equal(test_edit(&c, &e, &back, msg, sizeof msg), ATP_E_CONFIG);
    assert_non_null(strstr(msg, "inbound_horizon"));
    /* the running configuration's spare places, named in order */
    test_load(test_file, &run);
    assert_int_equal(config_region_spares(&run, 1), ATP_OK);
    assert_int_equal(run.n_regions, 3);
    assert_int_equal(config_regions_live(&run), 2);
    uint32_t k;
    assert_int_equal(config_region_claim(&run, "apac", 7, &k), ATP_OK);
    assert_int_equal(k, 2);
    assert_int_equal(run.regions[2].inbound_horizon_ms, 7);
    assert_int_equal(config_regions_live(&run), 3);
    assert_true(config_region_find(&run, "apac", 4) < 0); /* not in force */
    config_region_out_set(&run, 2, false);
    assert_int_equal(config_region_find(&run, "apac", 4), 2);
    assert_int_equal(config_region_claim(&run, "latam", 0, &k),
                     ATP_E_BAD_STATE);
    char list[64];
    config_region_list(&run, list, sizeof list);
    assert_string_equal(list, "us, eu, apac");
    config_region_out_set(&run, 0, true); /* us removed */
    config_region_list(&run, list, sizeof list);
    assert_string_equal(list, "eu, apac");
    assert_true(config_region_find(&run, "us", 2) < 0);
    assert_int_equal(config_region_place(&run, "us", 2), 0);
    config_fini(&run);
    config_fini(&c);
}

static void test_overlay_authority(void **state)
{
    (void)state;
    config file, adm;
    test_load(test_file, &file);
    /* the state moved s1's on_hand from wms to nothing, gave wms dc-us's
     * held too, and lists a location added at run time with authority */
    test_load("regions: [{id: us}, {id: eu}]\n"
              "locations: [{id: s1, region: eu}, {id: dc-us, region: us},"
              " {id: s9, region: eu}]\n"
              "sources: [{id: wms, authority: [{locations: [dc-us], "
              "buckets: [on_hand, held]}, {locations: [s9]}]}]\n",
              &adm);
    int left = 0;
    assert_int_equal(config_admin_overlay(&file, &adm, test_left_out, &left),
                     ATP_OK);
    assert_int_equal(left, 0);
    assert_int_equal(file.n_locations, 3);
    int s9 = config_location_find(&file, "s9", 2);
    assert_int_equal(s9, 2);
    const config_source *w = &file.sources[0];
    assert_int_equal(w->n_authority, 5); /* dc-us x2, s9 x3 */
    assert_int_equal(w->authority[0].location, 0);
    assert_int_equal(w->authority[1].bucket, ATP_BUCKET_HELD);
    assert_int_equal(w->authority[2].location, (uint32_t)s9);
    config_fini(&adm);
    config_fini(&file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_set_and_remove),
        cmocka_unit_test(test_invalid_values),
        cmocka_unit_test(test_move_and_quoting),
        cmocka_unit_test(test_location_set),
        cmocka_unit_test(test_region_set),
        cmocka_unit_test(test_location_remove),
        cmocka_unit_test(test_overlay),
        cmocka_unit_test(test_location_add),
        cmocka_unit_test(test_authority_set),
        cmocka_unit_test(test_spares_and_claim),
        cmocka_unit_test(test_overlay_authority),
        cmocka_unit_test(test_channel_add),
        cmocka_unit_test(test_region_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
