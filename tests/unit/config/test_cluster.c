/*
 * test_cluster.c - the cluster: section (docs/CLUSTER.md, docs/CONFIG.md):
 * its defaults, every key read, and each mistake reported at its line:
 * no NATS URL, no node, a name that cannot be a NATS subject token, a
 * lease or replicas out of range, an unknown key. Without the section,
 * atpd is one node (enabled false).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "config/config.h"
#include "config_test.h"

static void test_cluster_absent(void **state)
{
    (void)state;
    config c;
    config_diags d = {0};
    assert_int_equal(config_test_load_str("regions: [{id: main}]\n", &c, &d),
                     ATP_OK);
    assert_false(c.cluster.enabled);
    config_fini(&c);
    config_diags_fini(&d);
}

static void test_cluster_read(void **state)
{
    (void)state;
    static const char doc[] =
        "cluster:\n"
        "  nats: [nats://127.0.0.1:4222, nats://127.0.0.1:4223]\n"
        "  node: n-1\n";
    config c;
    config_diags d = {0};
    atp_err rc = config_test_load_str(doc, &c, &d);
    config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_true(c.cluster.enabled);
    assert_int_equal(c.cluster.n_nats, 2);
    assert_string_equal(c.cluster.nats[1], "nats://127.0.0.1:4223");
    assert_string_equal(c.cluster.node, "n-1");
    assert_string_equal(c.cluster.name, "atpd"); /* defaults */
    assert_string_equal(c.cluster.partition, "p0");
    assert_int_equal(c.cluster.replicas, 3);
    assert_int_equal(c.cluster.lease_ms, 3000);
    assert_null(c.cluster.advertise_query);
    config_fini(&c);
    config_diags_fini(&d);

    static const char full[] = "cluster:\n"
                               "  nats: [nats://127.0.0.1:4222]\n"
                               "  name: shop_A\n"
                               "  node: n2\n"
                               "  partition: eu\n"
                               "  replicas: 5\n"
                               "  lease: 10s\n"
                               "  advertise_query: tcp://127.0.0.1:7460\n"
                               "  advertise_http: http://127.0.0.1:7081\n";
    rc = config_test_load_str(full, &c, &d);
    config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_string_equal(c.cluster.name, "shop_A");
    assert_string_equal(c.cluster.partition, "eu");
    assert_int_equal(c.cluster.replicas, 5);
    assert_int_equal(c.cluster.lease_ms, 10000);
    assert_string_equal(c.cluster.advertise_query, "tcp://127.0.0.1:7460");
    assert_string_equal(c.cluster.advertise_http, "http://127.0.0.1:7081");
    config_fini(&c);
    config_diags_fini(&d);
}

/* cluster.partitions: the map read, each region's partition (a region
 * no partition names is the first's), this node's, the reload key. */
static void test_cluster_partitions(void **state)
{
    (void)state;
    static const char doc[] = "regions: [{id: east}, {id: west}, {id: eu}, "
                              "{id: spare}]\n"
                              "cluster:\n"
                              "  nats: [nats://127.0.0.1:4222]\n"
                              "  node: n1\n"
                              "  partition: p2\n"
                              "  partitions:\n"
                              "    - {name: p1, regions: [east, west]}\n"
                              "    - {name: p2, regions: [eu]}\n";
    config c;
    config_diags d = {0};
    atp_err rc = config_test_load_str(doc, &c, &d);
    config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    const config_cluster *k = &c.cluster;
    assert_int_equal(k->n_partitions, 2);
    assert_string_equal(k->partitions[1].name, "p2");
    assert_int_equal(config_partition_of(k, "west", 4), 0);
    assert_int_equal(config_partition_of(k, "eu", 2), 1);
    assert_int_equal(config_partition_of(k, "spare", 5), 0); /* the first */
    assert_true(config_partition_here(k, "eu", 2));
    assert_false(config_partition_here(k, "east", 4));
    assert_false(config_partition_here(k, "spare", 5));
    assert_string_equal(k->partitions_key, "p1=east,west;p2=eu");
    config_fini(&c);
    config_diags_fini(&d);
}

static void test_cluster_errors(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        int line;
        const char *needle;
    } cases[] = {
        {"cluster:\n  node: n1\n", 2, "cluster.nats: missing"},
        {"cluster:\n  nats: []\n  node: n1\n", 2, "cluster.nats: empty"},
        {"cluster:\n  nats: [http://127.0.0.1:4222]\n  node: n1\n", 2,
         "not a nats:// URL"},
        {"cluster:\n  nats: [nats://127.0.0.1:4222]\n", 2,
         "cluster.node: missing"},
        {"cluster:\n  nats: [nats://127.0.0.1:4222]\n  node: a.b\n", 3,
         "cluster.node: 'a.b' is not"},
        {"cluster:\n  nats: [nats://127.0.0.1:4222]\n  node: n1\n"
         "  partition: 'p*'\n",
         4, "cluster.partition"},
        {"cluster:\n  nats: [nats://127.0.0.1:4222]\n  node: n1\n"
         "  lease: 100ms\n",
         4, "cluster.lease"},
        {"cluster:\n  nats: [nats://127.0.0.1:4222]\n  node: n1\n"
         "  replicas: 7\n",
         4, "cluster.replicas"},
        {"cluster:\n  nats: [nats://127.0.0.1:4222]\n  node: n1\n"
         "  leases: 3s\n",
         4, "leases"},
        {"regions: [{id: east}]\ncluster:\n  nats: [nats://127.0.0.1:4222]\n"
         "  node: n1\n  partition: p1\n  partitions:\n"
         "    - {name: p1, regions: [east, mars]}\n",
         7, "unknown region 'mars'"},
        {"regions: [{id: east}]\ncluster:\n  nats: [nats://127.0.0.1:4222]\n"
         "  node: n1\n  partition: p1\n  partitions:\n"
         "    - {name: p1, regions: [east]}\n    - {name: p2, regions: "
         "[east]}\n",
         8, "in two partitions"},
        {"regions: [{id: east}]\ncluster:\n  nats: [nats://127.0.0.1:4222]\n"
         "  node: n1\n  partition: p9\n  partitions:\n"
         "    - {name: p1, regions: [east]}\n",
         7, "is not one of cluster.partitions"},
        {"regions: [{id: east}]\ncluster:\n  nats: [nats://127.0.0.1:4222]\n"
         "  node: n1\n  partitions: []\n",
         5, "cluster.partitions: empty"},
        {"regions: [{id: east}]\ncluster:\n  nats: [nats://127.0.0.1:4222]\n"
         "  node: n1\n  partition: p1\n  partitions:\n"
         "    - {name: p1, regions: [east]}\n",
         7, "cluster.partitions: one partition"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config c;
        config_diags d = {0};
        atp_err rc = config_test_load_str(cases[i].doc, &c, &d);
        if (rc == ATP_OK)
            fail_msg("case %zu loaded", i);
        expect_diag(&d, cases[i].line, 0, cases[i].needle);
        config_diags_fini(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_absent),
        cmocka_unit_test(test_cluster_read),
        cmocka_unit_test(test_cluster_partitions),
        cmocka_unit_test(test_cluster_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
