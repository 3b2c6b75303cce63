#!/usr/bin/env python3
"""An independent oracle for the Cosmos DB stand-in: Microsoft's azure-cosmos SDK drives it through the
operations Engram uses, with the container policies Engram creates, and each answer is checked.

    python sdk_oracle.py --endpoint http://127.0.0.1:PORT [--key KEY]

Run by scripts/cosmos-sdk-oracle.sh, which makes the virtualenv and starts the stand-in with
--precreate 'legacy={...}' (read back here) and --log-requests. Prints "PASS name" or "FAIL name: why" per
check and exits 1 if any failed. The SDK talks plain http: for 127.0.0.1 it turns TLS verification off itself.
"""
import argparse
import json
import math
import sys
import time
import urllib.request

from azure.cosmos import CosmosClient, PartitionKey, exceptions
from azure.core import MatchConditions

EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
DB, DIM = "oracle", 384
# Engram's containers: partition key path, the first ORDER BY property, and whether the kind has vectors.
KINDS = {"heuristics": ("/project_id", "confidence", True), "domain_knowledge": ("/project_id", "confidence", True),
         "outcomes": ("/project_id", "ts_us", True), "anti_patterns": ("/project_id", "occurrence_count", True),
         "preferences": ("/user_id", "ts_us", False)}
PASSED, FAILED = [], []


def indexing_policy(first, vectors):
    policy = {"indexingMode": "consistent", "automatic": True, "includedPaths": [{"path": "/*"}],
              "excludedPaths": [{"path": "/embedding/*"}],
              "compositeIndexes": [[{"path": f"/{first}", "order": "descending"},
                                    {"path": "/record_id", "order": "ascending"}]]}
    if vectors:
        policy["vectorIndexes"] = [{"path": "/embedding", "type": "flat"}]
    return policy


def vector_policy(vectors):
    return {"vectorEmbeddings": [{"path": "/embedding", "dataType": "float32", "distanceFunction": "cosine",
                                  "dimensions": DIM}] if vectors else []}


def vector(seed):
    return [round(math.sin(seed * (i + 1)), 6) for i in range(DIM)]


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / (math.hypot(*a) * math.hypot(*b))


class Made(dict):
    """What earlier checks made, for later ones."""
    def __missing__(self, key):
        raise LookupError(f"an earlier check did not make {key!r}")


def check(name, fn):
    try:
        fn()
        PASSED.append(name)
        print(f"PASS {name}", flush=True)
    except Exception as e:  # any failure of a check, the SDK's included, is that check's FAIL
        FAILED.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500], flush=True)


def expect(condition, why):
    if not condition:
        raise AssertionError(why)


def raises(status, fn, kind=exceptions.CosmosHttpResponseError):
    """Runs fn, which must fail with the SDK's error kind and HTTP status; returns the error."""
    try:
        fn()
    except kind as e:
        expect(e.status_code == status, f"status {e.status_code}, expected {status}: {e.message[:200]}")
        return e
    raise AssertionError(f"no error, expected {status}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--key", default=EMULATOR_KEY)
    args = ap.parse_args()

    def knob(path, body=None):
        data = None if body is None else json.dumps(body).encode()
        with urllib.request.urlopen(urllib.request.Request(args.endpoint + path, data=data), timeout=10) as r:
            return json.load(r)

    s = Made()

    def connect():
        s["client"] = CosmosClient(args.endpoint, credential=args.key, connection_timeout=10)
        s["db"] = s["client"].create_database(DB)
        raises(409, lambda: s["client"].create_database(DB), exceptions.CosmosResourceExistsError)
    check("account read, database created, second create 409", connect)

    def containers():
        for name, (pk, first, vectors) in KINDS.items():
            s[name] = s["db"].create_container(name, PartitionKey(path=pk),
                                               indexing_policy=indexing_policy(first, vectors),
                                               vector_embedding_policy=vector_policy(vectors))
        s["unindexed"] = s["db"].create_container("unindexed", PartitionKey(path="/project_id"))
    check("containers created with Engram's policies (partition key version 2)", containers)

    def read_back():
        raises(409, lambda: s["db"].create_container("heuristics", PartitionKey(path="/project_id")),
               exceptions.CosmosResourceExistsError)
        props = s["heuristics"].read()
        expect(props["partitionKey"] == {"paths": ["/project_id"], "kind": "Hash", "version": 2},
               f"partitionKey {props['partitionKey']}")
        policy = props["indexingPolicy"]
        expect(policy["compositeIndexes"] == indexing_policy("confidence", True)["compositeIndexes"],
               f"compositeIndexes {policy.get('compositeIndexes')}")
        expect(policy["vectorIndexes"] == [{"path": "/embedding", "type": "flat"}], f"vectorIndexes {policy}")
        expect({"path": "/embedding/*"} in policy["excludedPaths"], f"excludedPaths {policy['excludedPaths']}")
        expect(props["vectorEmbeddingPolicy"] == vector_policy(True), f"vector policy {props['vectorEmbeddingPolicy']}")
    check("existing container: create 409, read back as created", read_back)

    def version_one():
        raises(400, lambda: s["db"].create_container("v1", PartitionKey(path="/project_id", version=1)))
    check("partition key version 1 refused (400)", version_one)

    def legacy():
        props = s["client"].get_database_client("engram").get_container_client("legacy").read()
        expect(props["partitionKey"] == {"paths": ["/project_id"], "kind": "Hash"}, f"partitionKey {props}")
        expect("compositeIndexes" not in props["indexingPolicy"], f"indexingPolicy {props['indexingPolicy']}")
    check("pre-created legacy container reads back as stored", legacy)

    heuristics = [{"id": f"h{i}", "record_id": f"r{i}", "project_id": "p1", "agent": "a",
                   "confidence": [0.9, 0.5, 0.9, 0.1, 0.5, 0.7][i], "embedding": vector(i + 1)} for i in range(6)]

    def upsert_read():
        for doc in heuristics + [dict(heuristics[0], id="other", project_id="p2")]:
            s["heuristics"].upsert_item(doc)
        got = s["heuristics"].read_item("h2", partition_key="p1")
        expect(got["confidence"] == 0.9 and got["_etag"], f"read {got}")
        raises(404, lambda: s["heuristics"].read_item("other", partition_key="p1"),
               exceptions.CosmosResourceNotFoundError)
    check("upsert and point read (partition-scoped)", upsert_read)

    def replace_etag():
        doc = s["heuristics"].read_item("h3", partition_key="p1")
        new = s["heuristics"].replace_item("h3", dict(doc, confidence=0.2), etag=doc["_etag"],
                                           match_condition=MatchConditions.IfNotModified)
        expect(new["_etag"] != doc["_etag"] and new["confidence"] == 0.2, f"replaced {new}")
        raises(412, lambda: s["heuristics"].replace_item("h3", dict(doc, confidence=0.3), etag=doc["_etag"],
                                                         match_condition=MatchConditions.IfNotModified),
               exceptions.CosmosAccessConditionFailedError)
        heuristics[3]["confidence"] = 0.2
    check("replace with If-Match, stale ETag 412", replace_etag)

    engram_sql = ("SELECT * FROM c WHERE c.project_id = @p AND c.confidence >= @mc ORDER BY c.confidence DESC, "
                  "c.record_id ASC OFFSET @o LIMIT @k")

    def ordered(direction_sql, container="heuristics"):
        params = [{"name": "@p", "value": "p1"}, {"name": "@mc", "value": 0.15}, {"name": "@o", "value": 0},
                  {"name": "@k", "value": 10}]
        return list(s[container].query_items(direction_sql, parameters=params, partition_key="p1"))

    def composite():
        want = [d["record_id"] for d in sorted(heuristics, key=lambda d: (-d["confidence"], d["record_id"]))
                if d["confidence"] >= 0.15]
        got = [d["record_id"] for d in ordered(engram_sql)]
        expect(got == want, f"order {got}, expected {want}")
        reverse = ordered(engram_sql.replace("DESC, c.record_id ASC", "ASC, c.record_id DESC"))
        expect([d["record_id"] for d in reverse] == want[::-1], "reversed directions not served")
    check("ORDER BY two properties served by the composite index (and reversed)", composite)

    def no_composite():
        e = raises(400, lambda: ordered(engram_sql, "unindexed"))
        expect("composite index" in e.message, e.message[:200])
        raises(400, lambda: ordered(engram_sql.replace("c.record_id ASC", "c.record_id DESC")))
    check("ORDER BY two properties without a matching composite index 400", no_composite)

    def preferences():
        for i in range(3):
            s["preferences"].upsert_item({"id": f"u{i}", "record_id": f"q{i}", "user_id": "u", "ts_us": [5, 9, 5][i]})
        got = list(s["preferences"].query_items("SELECT * FROM c WHERE c.user_id = @u ORDER BY c.ts_us DESC, "
                                                "c.record_id ASC", parameters=[{"name": "@u", "value": "u"}],
                                                partition_key="u"))
        expect([d["record_id"] for d in got] == ["q1", "q0", "q2"], f"order {[d['record_id'] for d in got]}")
    check("queryPreferences shape served (ts_us DESC, record_id ASC)", preferences)

    def pages_and_count():
        got = list(s["heuristics"].query_items("SELECT * FROM c WHERE c.project_id = @p", partition_key="p1",
                                               parameters=[{"name": "@p", "value": "p1"}], max_item_count=2))
        expect(len(got) == 6, f"{len(got)} items over pages of 2")
        count = list(s["heuristics"].query_items("SELECT VALUE COUNT(1) FROM c WHERE IS_DEFINED(c.embedding) AND "
                                                 "NOT IS_NULL(c.embedding)", partition_key="p1"))
        expect(count == [6], f"count {count}")
        every = list(s["heuristics"].query_items("SELECT * FROM c WHERE IS_DEFINED(c.embedding)",
                                                 enable_cross_partition_query=True))
        expect(len(every) == 7, f"{len(every)} across partitions")
    check("paged query, COUNT, cross-partition query", pages_and_count)

    def vector_query():
        v = vector(2.5)
        want = sorted(heuristics, key=lambda d: (-cosine(d["embedding"], v), d["id"]))[:3]
        got = list(s["heuristics"].query_items(
            "SELECT TOP 3 c.id, VectorDistance(c.embedding, @v) AS s FROM c ORDER BY VectorDistance(c.embedding, @v)",
            parameters=[{"name": "@v", "value": v}], partition_key="p1"))
        expect([d["id"] for d in got] == [d["id"] for d in want], f"ids {[d['id'] for d in got]}")
        expect(all(abs(g["s"] - cosine(w["embedding"], v)) < 1e-9 for g, w in zip(got, want)), f"scores {got}")
        raises(400, lambda: list(s["preferences"].query_items(
            "SELECT TOP 3 c.id, VectorDistance(c.embedding, @v) AS s FROM c ORDER BY VectorDistance(c.embedding, @v)",
            parameters=[{"name": "@v", "value": v}], partition_key="u")))
    check("vector query (TOP 3, VectorDistance); none on a path without a vector policy (400)", vector_query)

    def batch_ok():
        ops = [("upsert", (dict(heuristics[0], id="b1", record_id="rb1"),)),
               ("create", (dict(heuristics[0], id="b2"),)), ("read", ("h1",)), ("delete", ("b1",))]
        out = s["heuristics"].execute_item_batch(ops, partition_key="p1")
        expect([r["statusCode"] for r in out] == [201, 201, 200, 204], f"statuses {[r['statusCode'] for r in out]}")
    check("transactional batch succeeds", batch_ok)

    def batch_fails():
        for ops, status in (([("upsert", (dict(heuristics[0], id="b3"),)), ("create", (heuristics[1],)),
                              ("upsert", (dict(heuristics[0], id="b4"),))], 409),
                            ([("upsert", (dict(heuristics[0], id="b3"),)),
                              ("replace", ("h1", heuristics[1]), {"if_match_etag": '"stale"'})], 412),
                            ([("read", ("missing",)), ("upsert", (dict(heuristics[0], id="b3"),))], 404)):
            e = raises(status, lambda: s["heuristics"].execute_item_batch(ops, partition_key="p1"),
                       exceptions.CosmosBatchOperationError)
            codes = [r["statusCode"] for r in e.operation_responses]
            expect(codes == [status if i == e.error_index else 424 for i in range(len(ops))], f"statuses {codes}")
        raises(404, lambda: s["heuristics"].read_item("b3", partition_key="p1"), exceptions.CosmosResourceNotFoundError)
    check("failing batch: 207, failing op's status and 424s, nothing applied", batch_fails)

    def batch_too_big():
        big = "x" * 800_000
        ops = [("upsert", (dict(heuristics[0], id=f"big{i}", blob=big),)) for i in range(3)]
        raises(413, lambda: s["heuristics"].execute_item_batch(ops, partition_key="p1"))
        s["heuristics"].execute_item_batch(ops[:2], partition_key="p1")
    check("batch body over 2 MB 413, under it accepted", batch_too_big)

    def throttled():
        knob("/_standin/reset-stats", {})
        knob("/_standin/throttle", {"count": 2, "retry_after_ms": 250})  # without the header the SDK waits ~0.1 s
        start = time.monotonic()
        s["heuristics"].read_item("h1", partition_key="p1")
        waited = time.monotonic() - start
        stats = knob("/_standin/stats")
        expect(stats["throttled"] == 2 and waited >= 0.5, f"throttled {stats['throttled']}, waited {waited:.3f} s")
    check("429 retried after x-ms-retry-after-ms", throttled)

    def delete():
        s["heuristics"].delete_item("h5", partition_key="p1")
        raises(404, lambda: s["heuristics"].read_item("h5", partition_key="p1"), exceptions.CosmosResourceNotFoundError)
        raises(404, lambda: s["heuristics"].delete_item("h5", partition_key="p1"),
               exceptions.CosmosResourceNotFoundError)
    check("delete, then read and delete 404", delete)

    def version():
        versions = knob("/_standin/stats")["api_versions"]
        expect(versions["2020-07-15"] > 0 and versions["2018-12-31"] == 0, f"api_versions {versions}")
    check("the SDK sends x-ms-version 2020-07-15", version)

    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
