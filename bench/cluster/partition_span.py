#!/usr/bin/python3
"""partition_span.py - how many real carts would span cluster partitions
under each choice of partition key (docs/CLUSTER.md, "Partitions").

Reads order-history CSVs (default: the UCI Online Retail year, one file per
day) and groups the lines of each invoice into a cart (cancellations,
InvoiceNo C..., are left out). A cart's region is its customer's country
(how atpd's replays map it: docs/PERFORMANCE.md). For each key it prints
the share of carts whose lines fall in more than one partition:

  region            partition = region (here: country)      -> never spans
  region x sku/K    partition = (region, hash(SKU) mod K)    -> K = 2, 4, 8, 16

Usage: partition_span.py [CSV ...]
"""

import csv
import glob
import sys
import zlib


def carts(paths):
    cur, lines, country = None, [], None
    for path in paths:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            for row in csv.DictReader(f):
                inv = row["InvoiceNo"]
                if inv.startswith("C"):
                    continue
                if inv != cur:
                    if lines:
                        yield country, lines
                    cur, lines, country = inv, [], row["Country"]
                lines.append(row["StockCode"])
    if lines:
        yield country, lines


def bucket(sku, k):
    return zlib.crc32(sku.encode()) % k


def main(argv):
    paths = argv[1:] or sorted(glob.glob("/work/shared/data/online-retail/*.csv"))
    if not paths:
        print("partition_span.py: no CSV files", file=sys.stderr)
        return 2
    ks = (2, 4, 8, 16)
    n = multi = 0
    span_rk = {k: 0 for k in ks}
    countries = set()
    for country, skus in carts(paths):
        n += 1
        countries.add(country)
        if len(set(skus)) > 1:
            multi += 1
        for k in ks:
            if len({bucket(s, k) for s in skus}) > 1:
                span_rk[k] += 1
    print(f"{n} carts ({multi} with more than one SKU), {len(countries)} regions (countries)")
    print(f"{'partition key':<20} {'carts spanning':>15} {'share':>8}")
    print(f"{'region':<20} {0:>15} {0.0:>7.1f}%")
    for k in ks:
        print(f"{'region x sku/' + str(k):<20} {span_rk[k]:>15} {100.0 * span_rk[k] / n:>7.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
