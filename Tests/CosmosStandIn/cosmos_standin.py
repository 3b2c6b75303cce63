#!/usr/bin/env python3
"""A stand-in for the Azure Cosmos DB for NoSQL gateway REST API, for tests. Standard library only.

    python3 cosmos_standin.py [--port 0] [--key <base64 master key>] [--strict-gateway]
                              [--precreate [DB/]NAME=JSON]... [--log-requests FILE]
    python3 cosmos_standin.py --self-test      # checks Microsoft's documented signature vector, then exits

Binds 127.0.0.1, prints exactly one line "listening <port>" once ready, serves until killed. All data is in
memory, behind one lock. The default key is the public emulator key.

ROUTES (names in paths are percent-encoded by the client and decoded here)
  GET / -> the database account (one region, Session consistency), as the SDKs read it first
  POST /dbs {"id"} -> 201|409                       GET /dbs/{db} -> 200|404
  POST /dbs/{db}/colls -> 201|409|404|400, body (see CONTAINERS):
       {"id", "partitionKey": {"paths": ["/field"], "kind": "Hash", "version": 2},
        "indexingPolicy": {...}, "vectorEmbeddingPolicy": {"vectorEmbeddings": [...]}}
  GET /dbs/{db}/colls/{c} -> 200 the container as stored, or 404
  GET /dbs/{db}/colls/{c}/pkranges -> one range, id "0"
  POST /dbs/{db}/colls/{c}/docs      create (201|409), upsert with x-ms-documentdb-is-upsert: True (201 new|200),
                                     query, or transactional batch - chosen by headers
  GET|PUT|DELETE /dbs/{db}/colls/{c}/docs/{id}   read 200 | replace 200 (If-Match -> 412) | delete 204; else 404
  Any other verb on a known path -> 405, an unknown path -> 404 (both JSON, before auth).
  Test knobs, no auth: POST /_standin/throttle {"count":N,"retry_after_ms":5}, GET /_standin/stats,
                       POST /_standin/reset-stats, POST /_standin/reset (drops all data too),
                       POST /_standin/precreate {"database": "engram", "container": {...}} (as --precreate).
  --precreate [DB/]NAME=JSON (repeatable; DB defaults to "engram") creates database DB and container NAME
  from the JSON container body at start-up, checked like a create but without the version-2 rule (legacy
  containers exist), so a test can hand a client a container made with another dimension, partition key
  or indexing policy. --log-requests FILE appends one JSON line per API request: method, path, headers,
  body (first 4,000 characters), body_bytes, status.

AUTH: x-ms-date (RFC 1123, within 15 minutes of now, else 403), x-ms-version (see below) and
authorization = percent-encoded "type=master&ver=1.0&sig=<b64>", sig = base64(HMAC-SHA256(b64decode(key),
verb.lower()+"\\n"+resourceType.lower()+"\\n"+resourceLink+"\\n"+date.lower()+"\\n\\n")). resourceLink is
the path's names DECODED ("dbs/db/colls/c/docs/a b" for .../docs/a%20b), as the Azure SDKs sign it, and
"" for POST /dbs. A literal '+' in the header is refused (it must travel as %2B). Failure -> 401, with the
payload the server signed in the message, like Cosmos. x-ms-version must be one of API_VERSIONS
("2018-12-31", "2020-07-15"), else 400; stats count requests per version ("api_versions").

CONTAINERS: partitionKey must have one top-level path, kind Hash and "version": 2 (full-key hashing;
version 1, Cosmos' default when omitted, hashes only the first 101 bytes) -> else 400. The indexing policy
is stored as sent, with what Cosmos fills in: indexingMode "consistent", automatic true, includedPaths
[{"path": "/*"}] and excludedPaths [] when absent, and {"path": "/\"_etag\"/?"} appended to excludedPaths.
compositeIndexes: lists of 2+ {"path": "/field", "order": "ascending"|"descending"}. vectorEmbeddings:
{"path", "dataType": float32|float16|int8|uint8, "distanceFunction": cosine|dotproduct|euclidean,
"dimensions": 1..4096}; vectorIndexes: {"path", "type": flat|quantizedFlat|diskANN}, each path with a
vectorEmbeddings entry, flat at most 505 dimensions. Anything else -> 400.

ENFORCED: writes, reads and deletes need x-ms-documentdb-partitionkey: ["value"] (one JSON scalar; send
non-ASCII as \\uXXXX) -> 400; a body's partition key field must equal it -> 400; "id" must be a non-empty
string <= 255 chars without / \\ ? # -> 400; a document over 2 MB -> 413; NaN/Infinity in a body -> 400.
Stored documents get _rid, _self, _etag (new on every write), _attachments, _ts; client-sent ones are
replaced. Single-document responses carry an etag header. Every response carries x-ms-request-charge and
x-ms-activity-id. Charges: read 1.0, write or delete 5.71, query 2.31 + 0.1 per returned item, batch the sum
of the operations it evaluated. A throttled request -> 429 with x-ms-retry-after-ms, x-ms-substatus 3200.

QUERY: x-ms-documentdb-isquery: True and Content-Type: application/query+json (both, else 400), body
{"query": "...", "parameters": [{"name": "@x", "value": ...}]}. With the pk header it reads one partition.
Without it, x-ms-documentdb-query-enablecrosspartition: True is required (else 400) and it is a
cross-partition query; so is a query carrying x-ms-documentdb-partitionkeyrangeid: 0 (the one range).
--strict-gateway adds the real gateway's rule: a cross-partition query with TOP, ORDER BY, OFFSET or
COUNT and no range id -> 400 with x-ms-substatus 1004. Answer: 200 {"_rid","Documents","_count"}. Pages
hold x-ms-max-item-count items (default 100, as Cosmos; -1 means all); when more remain the response has
x-ms-continuation, to be sent back verbatim as x-ms-continuation. Grammar (keywords case-insensitive; values
only from @parameters, literals only null/true/false after "=", 0/1 in COUNT and integers n for counts;
anything else -> 400 "Syntax error, ..."):
  query      := SELECT [TOP n] projection FROM c [WHERE cond (AND cond)*] [ORDER BY order (, order)*]
                [OFFSET n LIMIT n]                                        n := @param | integer
  projection := * | VALUE COUNT(1) | item (, item)*
  item       := c AS <alias> | c.<field> [AS <alias>] | VectorDistance(c.<field>, @q) AS <alias>
  cond       := c.<field> = @p | c.<field> >= @p | c.<field> < @p | c.<field> = true|false|null
              | ARRAY_CONTAINS(@p, c.<field>) | IS_DEFINED(c.<field>) | NOT IS_NULL(c.<field>)
  order      := c.<field> [ASC|DESC] | VectorDistance(c.<field>, @q)          (most similar first)
Semantics as Cosmos: a missing field or a type mismatch fails a comparison; >= and < compare numbers with
numbers and strings with strings (code point order); NOT IS_NULL(c.f) is TRUE when c.f is missing (IS_NULL
of undefined is false), so pair it with IS_DEFINED. VectorDistance uses the path's distanceFunction: cosine
or dotproduct (higher = closer, ORDER BY puts the highest first) or euclidean (lower = closer).
INDEXES, as Cosmos: an ORDER BY of 2+ properties needs a compositeIndexes entry with the same paths in the
same order and directions all equal to the entry's or all reversed -> else 400 "The order by query does
not have a corresponding composite index that it can be served from."; one property needs none.
VectorDistance on a path without a vectorEmbeddings entry -> 400.

STAND-IN CHOICES: 400, 401, 403 and 429 cost 0; 404, 409 and 412 cost the operation's charge. A PUT whose
body id differs from the path id -> 400. Documents lacking a numeric vector of the query vector's length are
left out of any query using VectorDistance; a zero vector scores 0.0. ORDER BY ties break by id ascending
(the vector order too); without ORDER BY, items come in creation order. ORDER BY sorts undefined < null <
booleans < numbers < strings. OFFSET/LIMIT, then TOP, apply after ordering. An undefined @parameter -> 400.
Upsert or replace with If-Match on a missing document -> 412 (replace: 404 first); If-Match on create is
ignored. Stats: "requests" counts every request whose signature checked out, throttled ones included
("throttled" counts those); requests_by_kind and cross_partition_queries count only requests that were not
throttled, each query page once; a batch counts once as "batch".
BATCH: headers x-ms-cosmos-is-batch-request: True, x-ms-cosmos-batch-atomic: True (only atomic batches)
and the pk header; body at most 2 MB (2,097,152 bytes, else 413), a JSON array of 1..100
{"operationType": Create|Upsert|Replace|Delete|Read, "id", "resourceBody", "ifMatch"} (else 400).
Success -> 200 [{"statusCode","requestCharge","eTag","resourceBody"}] (Delete: statusCode and
requestCharge only). Failure -> HTTP 207 Multi-Status, as real Cosmos answers (the
SDKs then look for the failing entry): the failing op has its status, every other op 424, nothing written.
"""
import argparse
import sys
import os
import base64
import email.utils
import hashlib
import hmac
import json
import math
import re
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
READ_RU, WRITE_RU, QUERY_RU, QUERY_ITEM_RU = 1.0, 5.71, 2.31, 0.1
MAX_DOC_BYTES, MAX_BATCH_OPS, DEFAULT_PAGE, MAX_SKEW_S = 2 * 1024 * 1024, 100, 100, 15 * 60
MAX_BATCH_BYTES, MAX_FLAT_DIMS, MAX_VECTOR_DIMS = 2 * 1024 * 1024, 505, 4096
API_VERSIONS = ("2018-12-31", "2020-07-15")
VECTOR_TYPES, VECTOR_INDEXES = ("float32", "float16", "int8", "uint8"), ("flat", "quantizedFlat", "diskANN")
DISTANCES = ("cosine", "dotproduct", "euclidean")
ETAG_PATH = {"path": '/"_etag"/?'}
NO_COMPOSITE = ('Message: {"Errors":["The order by query does not have a corresponding composite index that it '
                'can be served from."]}')
KINDS = ("read", "create", "upsert", "replace", "delete", "query", "batch")
SYSTEM_PROPS = ("_rid", "_self", "_etag", "_attachments", "_ts")
GATEWAY_1004 = ("The provided cross partition query can not be directly served by the gateway. This is a first "
                "chance (internal) exception that all newer clients will know how to handle gracefully.")
ROUTES = {  # (path shape, verb) -> (kind, resource type, how many path segments form the signed link)
    ("", "GET"): ("account", "", 0),
    ("dbs", "POST"): ("create_db", "dbs", 0),
    ("dbs/*", "GET"): ("read_db", "dbs", 2),
    ("dbs/*/colls", "POST"): ("create_coll", "colls", 2),
    ("dbs/*/colls/*", "GET"): ("read_coll", "colls", 4),
    ("dbs/*/colls/*/pkranges", "GET"): ("pkranges", "pkranges", 4),
    ("dbs/*/colls/*/docs", "POST"): ("docs_post", "docs", 4),
    ("dbs/*/colls/*/docs/*", "GET"): ("read", "docs", 6),
    ("dbs/*/colls/*/docs/*", "PUT"): ("replace", "docs", 6),
    ("dbs/*/colls/*/docs/*", "DELETE"): ("delete", "docs", 6),
}


class CosmosError(Exception):
    def __init__(self, status, code, message, charge=0.0, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.charge, self.headers = status, code, message, charge, headers or {}


def bad(message):
    return CosmosError(400, "BadRequest", message)


def not_found(charge):
    return CosmosError(404, "NotFound", "Entity with the specified id does not exist in the system.", charge)


# ---- auth -------------------------------------------------------------------------------------------------
def signed_payload(verb, rtype, link, date):
    return f"{verb.lower()}\n{rtype.lower()}\n{link}\n{date.lower()}\n\n"


def signature(key_b64, verb, rtype, link, date):
    mac = hmac.new(base64.b64decode(key_b64), signed_payload(verb, rtype, link, date).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def authorization_header(key_b64, verb, rtype, link, date):
    """The authorization header value, with lowercase percent-escapes as Microsoft prints it."""
    token = urllib.parse.quote(f"type=master&ver=1.0&sig={signature(key_b64, verb, rtype, link, date)}", safe="")
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), token)


def check_auth(h, verb, rtype, link, key):
    raw, date = h.get("authorization", ""), h.get("x-ms-date", "")
    if not raw or not date:
        raise CosmosError(401, "Unauthorized", "Required headers authorization and x-ms-date must be present.")
    if "+" in raw or " " in raw:
        raise CosmosError(401, "Unauthorized", "The authorization header must be URL-encoded ('+' as %2B).")
    fields = dict(part.partition("=")[::2] for part in urllib.parse.unquote(raw).split("&"))
    if fields.get("type") != "master" or fields.get("ver") != "1.0" or not fields.get("sig"):
        raise CosmosError(401, "Unauthorized", "The authorization token must be type=master&ver=1.0&sig=...")
    try:
        when = email.utils.parsedate_to_datetime(date)
        assert when.tzinfo is not None
    except (TypeError, ValueError, AssertionError):
        raise CosmosError(401, "Unauthorized", f"The x-ms-date header {date!r} is not an RFC 1123 date.") from None
    if not hmac.compare_digest(fields["sig"], signature(key, verb, rtype, link, date)):
        raise CosmosError(401, "Unauthorized", "The input authorization token can't serve the request. The wrong "
                          "key is being used or the expected payload is not built as per the protocol. Server used "
                          f"the following payload to sign: {signed_payload(verb, rtype, link, date)!r}")
    if abs(when.timestamp() - time.time()) > MAX_SKEW_S:
        raise CosmosError(403, "Forbidden", "The authorization token is not valid at the current time.")
    if h.get("x-ms-version") not in API_VERSIONS:
        raise bad(f"Invalid API version {h.get('x-ms-version')!r}: x-ms-version must be one of "
                  f"{', '.join(API_VERSIONS)}.")


# ---- JSON values: types, equality, ordering ----------------------------------------------------------------
MISSING = object()
UNDEF, NULL, BOOL, NUM, STR, ARR, OBJ = range(7)


def jtype(v):
    if v is MISSING:
        return UNDEF
    if v is None:
        return NULL
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, (int, float)):
        return NUM
    return STR if isinstance(v, str) else ARR if isinstance(v, list) else OBJ


def same(a, b):
    t = jtype(a)
    if t != jtype(b) or t == UNDEF:
        return False
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) if t in (ARR, OBJ) else a == b


def order_key(v):
    t = jtype(v)
    return (t, v) if t in (BOOL, NUM, STR) else (t, json.dumps(v, sort_keys=True)) if t in (ARR, OBJ) else (t, 0)


def distance(a, b, function):
    """VectorDistance(a, b) by the policy's distance function; None unless a is a numeric vector like b."""
    if not isinstance(a, list) or len(a) != len(b) or any(jtype(x) != NUM for x in a):
        return None
    if function == "euclidean":
        return math.dist(a, b)
    dot = sum(x * y for x, y in zip(a, b))
    if function == "dotproduct":
        return dot
    norms = math.hypot(*a) * math.hypot(*b)
    return dot / norms if norms else 0.0


def load_json(body):
    def reject(name):
        raise ValueError(f"{name} is not JSON")
    try:
        return json.loads(body.decode("utf-8") or "null", parse_constant=reject)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad(f"The request body is not valid JSON: {e}") from None


def is_true(value):
    return str(value or "").strip().lower() == "true"


# ---- query parsing and execution -----------------------------------------------------------------------------
TOKEN = re.compile(r"\s*(@\w+|\w+|>=|[*(),.=<])")


class Parser:
    """Recursive descent over the tokens. seq("...") consumes a run of tokens: words match case-insensitively,
    and the capture names in CAPTURE ("@" a parameter, "c.field" a field, ...) are returned in order."""
    CAPTURE = {"@": r"@\w+", "n": r"@\w+|\d+", "field": r"\w+", "alias": r"[A-Za-z_]\w*", "op": r"=|>=|<",
               "bit": r"[01]", "lit": r"(?i:true|false|null)"}

    def __init__(self, text):
        text, self.toks, self.i, pos = text.rstrip(), [], 0, 0
        while pos < len(text):
            m = TOKEN.match(text, pos)
            if not m:
                raise bad(f"Syntax error, incorrect syntax near '{text[pos:].strip()[:10]}'.")
            self.toks.append(m.group(1))
            pos = m.end()

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else ""

    def fail(self):
        raise bad(f"Syntax error, incorrect syntax near '{self.peek() or 'the end of the query'}'.")

    def kw(self, word):  # consume an optional keyword
        if self.peek().upper() != word.upper():
            return False
        self.i += 1
        return True

    def seq(self, pattern):
        got = []
        for want in pattern.replace("c.field", "c . field").split():
            tok = self.peek()
            if want in self.CAPTURE and re.fullmatch(self.CAPTURE[want], tok):
                got.append(tok)
            elif want in self.CAPTURE or tok.upper() != want.upper():
                self.fail()
            self.i += 1
        return got

    def cond(self):
        if self.kw("ARRAY_CONTAINS"):
            p, f = self.seq("( @ , c.field )")
            return ("in", f, p)
        if self.kw("IS_DEFINED"):
            return ("defined", *self.seq("( c.field )"), None)
        if self.kw("NOT"):
            return ("notnull", *self.seq("IS_NULL ( c.field )"), None)
        f, op = self.seq("c.field op")
        if op == "=" and self.peek().lower() in ("true", "false", "null"):
            return ("lit", f, json.loads(self.seq("lit")[0].lower()))
        return (op, f, *self.seq("@"))

    def order(self):
        if self.kw("VectorDistance"):
            return ("vector", *self.seq("( c.field , @ )"))
        f, desc = self.seq("c.field")[0], self.kw("DESC")
        if not desc:
            self.kw("ASC")
        return ("field", f, desc)

    def item(self):
        if self.kw("VectorDistance"):
            return ("vector", *self.seq("( c.field , @ ) AS alias"))
        self.seq("c")
        if not self.kw("."):
            return ("doc", *self.seq("AS alias"))
        f = self.seq("field")[0]
        return ("field", f, self.seq("alias")[0] if self.kw("AS") else f)

    def query(self):
        q = {"top": None, "proj": ("star",), "where": [], "order": [], "offset": None, "limit": None}
        self.seq("SELECT")
        if self.kw("TOP"):
            q["top"] = self.seq("n")[0]
        if self.kw("VALUE"):
            self.seq("COUNT ( bit )")
            q["proj"] = ("count",)
        elif not self.kw("*"):
            items = [self.item()]
            while self.kw(","):
                items.append(self.item())
            q["proj"] = ("items", items)
        self.seq("FROM c")
        if self.kw("WHERE"):
            q["where"].append(self.cond())
            while self.kw("AND"):
                q["where"].append(self.cond())
        if self.kw("ORDER"):
            self.seq("BY")
            q["order"].append(self.order())
            while self.kw(","):
                q["order"].append(self.order())
        if self.kw("OFFSET"):
            q["offset"], q["limit"] = self.seq("n LIMIT n")
        if self.peek():
            self.fail()
        return q


def vector_uses(q):
    """The (field, @param) pairs of a parsed query's VectorDistance calls."""
    uses = [(f, p) for kind, f, p in q["order"] if kind == "vector"]
    return uses + [tuple(i[1:3]) for i in (q["proj"][1] if q["proj"][0] == "items" else []) if i[0] == "vector"]


def execute(q, parameters, docs, functions=None):
    """Run a parsed query over docs (stored documents, creation order); returns the result items. functions
    maps a field to its vector distance function (default cosine)."""
    if not isinstance(parameters, list) or not all(
            isinstance(p, dict) and isinstance(p.get("name"), str) and "value" in p for p in parameters):
        raise bad('"parameters" must be a list of {"name": "@x", "value": ...}.')
    params = {p["name"]: p["value"] for p in parameters}

    def val(name, kind=None):
        if name.isdigit():
            return int(name)
        if name not in params:
            raise bad(f"The parameter {name} is not defined.")
        v = params[name]
        if kind == "count" and (jtype(v) != NUM or v != int(v) or v < 0):
            raise bad(f"The parameter {name} must be a non-negative integer.")
        if kind == "vector" and (not isinstance(v, list) or not v or any(jtype(x) != NUM for x in v)):
            raise bad(f"The parameter {name} must be a non-empty array of numbers.")
        return int(v) if kind == "count" else v

    def holds(doc, cond):
        kind, f, arg = cond
        v = doc.get(f, MISSING)
        if kind in ("defined", "notnull"):
            return v is not MISSING if kind == "defined" else v is not None
        if kind == "lit":
            return same(v, arg)
        p = val(arg)
        if kind == "in":
            return isinstance(p, list) and any(same(x, v) for x in p)
        if kind == "=":
            return same(v, p)
        if jtype(v) != jtype(p) or jtype(v) not in (NUM, STR):
            return False
        return v >= p if kind == ">=" else v < p

    rows = [d for d in docs if all(holds(d, c) for c in q["where"])]
    function = (functions or {}).get
    scores = {}
    for f, p in vector_uses(q):
        qv, kept = val(p, "vector"), []
        for d in rows:
            s = distance(d.get(f), qv, function(f, "cosine"))
            if s is not None:
                scores[(f, p, id(d))] = s
                kept.append(d)
        rows = kept
    if q["order"] and q["proj"][0] != "count":
        rows.sort(key=lambda d: d["id"])
        for kind, f, arg in reversed(q["order"]):
            if kind == "vector":
                rows.sort(key=lambda d: scores[(f, arg, id(d))], reverse=function(f, "cosine") != "euclidean")
            else:
                rows.sort(key=lambda d: order_key(d.get(f, MISSING)), reverse=arg)
    if q["proj"][0] == "count":
        out = [len(rows)]
    elif q["proj"][0] == "star":
        out = rows
    else:
        def project(d, item):
            if item[0] == "doc":
                return {item[1]: d}
            if item[0] == "field":
                return {item[2]: d[item[1]]} if item[1] in d else {}
            return {item[3]: scores[(item[1], item[2], id(d))]}
        out = [{k: v for item in q["proj"][1] for k, v in project(d, item).items()} for d in rows]
    if q["offset"] is not None:
        start = val(q["offset"], "count")
        out = out[start:start + val(q["limit"], "count")]
    return out[:val(q["top"], "count")] if q["top"] else out


# ---- the store -------------------------------------------------------------------------------------------
class State:
    def __init__(self):
        self.lock, self.dbs, self.n, self.throttle, self.retry_ms = threading.Lock(), {}, 0, 0, 5
        self.reset_stats()

    def reset_stats(self):
        self.requests = self.throttled = self.cross = 0
        self.by_kind, self.versions = dict.fromkeys(KINDS, 0), dict.fromkeys(API_VERSIONS, 0)

    def stats(self):
        return {"requests": self.requests, "throttled": self.throttled, "cross_partition_queries": self.cross,
                "requests_by_kind": dict(self.by_kind), "api_versions": dict(self.versions)}

    def stamp(self):  # a fresh (rid, etag) pair
        self.n += 1
        return base64.b64encode(self.n.to_bytes(8, "big")).decode(), f'"{self.n:08x}-0000-0000-0000-{self.n:012x}"'


STATE = State()


def resource(body, what):
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
        raise bad(f"The input content is invalid because the required properties - 'id; ' - are missing ({what}).")
    if len(body["id"]) > 255 or any(ch in body["id"] for ch in "/\\?#"):
        raise bad("The id must be at most 255 characters and hold none of / \\ ? #.")
    rid, etag = STATE.stamp()
    return dict(body, _rid=rid, _etag=etag, _ts=int(time.time()), _self=f"{what}/{rid}/")


def conflict():
    return CosmosError(409, "Conflict", "Entity with the specified id already exists in the system.", WRITE_RU)


# ---- databases and containers --------------------------------------------------------------------------------
ACCOUNT = {"id": "standin", "_rid": "", "_self": "", "media": "//media/", "addresses": "//addresses/",
           "_dbs": "//dbs/", "writableLocations": [], "readableLocations": [], "enableMultipleWriteLocations": False,
           "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"},
           "systemReplicationPolicy": {"minReplicaSetSize": 1, "maxReplicasetSize": 1},
           "readPolicy": {"primaryReadCoefficient": 1, "secondaryReadCoefficient": 1}}


def new_db(body):
    db = resource(body, "dbs")
    if db["id"] in STATE.dbs:
        raise conflict()
    STATE.dbs[db["id"]] = {"props": db, "colls": {}}
    return STATE.dbs[db["id"]]


def is_path(value):
    return isinstance(value, str) and re.fullmatch(r"(/\w+)+", value) is not None


def vector_embeddings(props):
    """The container's vectorEmbeddings entries by path (400 if malformed)."""
    policy = props.get("vectorEmbeddingPolicy", {"vectorEmbeddings": []})
    entries = policy.get("vectorEmbeddings") if isinstance(policy, dict) else None

    def valid(e):
        dims = e.get("dimensions")
        return is_path(e.get("path")) and e.get("dataType", "float32") in VECTOR_TYPES \
            and e.get("distanceFunction", "cosine") in DISTANCES and jtype(dims) == NUM and dims == int(dims) \
            and 1 <= dims <= MAX_VECTOR_DIMS
    if not isinstance(entries, list) or not all(isinstance(e, dict) and valid(e) for e in entries):
        raise bad('vectorEmbeddingPolicy must be {"vectorEmbeddings": [{"path": "/field", "dataType": '
                  f'{"|".join(VECTOR_TYPES)}, "distanceFunction": {"|".join(DISTANCES)}, "dimensions": '
                  f'1..{MAX_VECTOR_DIMS}}}, ...]}}.')
    return {e["path"]: e for e in entries}


def indexing_policy(policy, vectors):
    """The indexing policy as Cosmos stores it: defaults filled in, the _etag path excluded (400 if malformed)."""
    if not isinstance(policy, dict):
        raise bad("indexingPolicy must be an object.")
    policy = {"indexingMode": "consistent", "automatic": True, "includedPaths": [{"path": "/*"}], "excludedPaths": [],
              **policy}
    for name in ("includedPaths", "excludedPaths"):
        if not isinstance(policy[name], list) or not all(isinstance(x, dict) and isinstance(x.get("path"), str)
                                                         for x in policy[name]):
            raise bad(f'indexingPolicy.{name} must be a list of {{"path": "..."}}.')
    if ETAG_PATH not in policy["excludedPaths"]:
        policy["excludedPaths"] = policy["excludedPaths"] + [ETAG_PATH]
    composites = policy.get("compositeIndexes", [])
    if not isinstance(composites, list) or not all(
            isinstance(c, list) and len(c) >= 2 and all(isinstance(e, dict) and is_path(e.get("path")) and
                                                        e.get("order", "ascending") in ("ascending", "descending")
                                                        for e in c) for c in composites):
        raise bad('indexingPolicy.compositeIndexes must be a list of lists of 2 or more {"path": "/field", '
                  '"order": "ascending"|"descending"}.')
    indexes = policy.get("vectorIndexes", [])
    if not isinstance(indexes, list) or not all(isinstance(v, dict) and v.get("type") in VECTOR_INDEXES
                                                for v in indexes):
        raise bad(f'indexingPolicy.vectorIndexes must be a list of {{"path", "type": {"|".join(VECTOR_INDEXES)}}}.')
    for v in indexes:
        if v.get("path") not in vectors:
            raise bad(f"The vector index path {v.get('path')!r} has no entry in the vectorEmbeddingPolicy.")
        if v["type"] == "flat" and vectors[v["path"]]["dimensions"] > MAX_FLAT_DIMS:
            raise bad(f"A flat vector index holds at most {MAX_FLAT_DIMS} dimensions; {v['path']} has "
                      f"{vectors[v['path']]['dimensions']} (use quantizedFlat or diskANN).")
    return policy


def new_container(db, body, legacy=False):
    """Creates a container from its create body and returns its stored properties. legacy: one made by some
    other client (--precreate): no version-2 rule, and it replaces a container of the same id."""
    props = resource(body, f"dbs/{db['props']['_rid']}/colls")
    pkdef = props.get("partitionKey")
    paths = pkdef.get("paths") if isinstance(pkdef, dict) else None
    if not isinstance(paths, list) or len(paths) != 1 or not re.fullmatch(r"/\w+", str(paths[0])) \
            or pkdef.get("kind", "Hash") != "Hash":
        raise bad('partitionKey must be {"paths": ["/field"], "kind": "Hash", "version": 2} with one top-level path.')
    if not legacy and pkdef.get("version") != 2:
        raise bad('partitionKey must have "version": 2: version 1, the default, hashes only the first 101 bytes of '
                  'a partition key value.')
    vectors = vector_embeddings(props)
    props["indexingPolicy"] = indexing_policy(props.get("indexingPolicy", {}), vectors)
    if props["id"] in db["colls"] and not legacy:
        raise conflict()
    db["colls"][props["id"]] = {"props": props, "pk": paths[0][1:], "docs": {}, "vectors": vectors,
                                "_rid": props["_rid"], "_self": props["_self"]}
    return props


def precreate(db_id, body):
    """Puts a container that another client made into database db_id (created when missing)."""
    with STATE.lock:
        return new_container(STATE.dbs.get(db_id) or new_db({"id": db_id}), body, legacy=True)


def check_indexes(coll, q):
    """Cosmos' index rules for a query: a vector embedding for every VectorDistance path, and a composite index
    for an ORDER BY of 2+ properties (same paths and order; directions all as indexed or all reversed)."""
    for f, _ in vector_uses(q):
        if f"/{f}" not in coll["vectors"]:
            raise bad(f"VectorDistance on /{f}: the container's vectorEmbeddingPolicy has no entry for that path.")
    order = [(f"/{f}", desc) for kind, f, desc in q["order"] if kind == "field"]
    if len(order) < 2:
        return
    for index in coll["props"]["indexingPolicy"].get("compositeIndexes", []):
        entries = [(e["path"], e.get("order", "ascending") == "descending") for e in index]
        if [p for p, _ in entries] == [p for p, _ in order] \
                and len({d == want for (_, d), (_, want) in zip(entries, order)}) == 1:
            return
    raise bad(NO_COMPOSITE)


# ---- documents -----------------------------------------------------------------------------------------------
def doc_key(pk, doc_id):
    if not isinstance(doc_id, str):
        raise bad("The operation needs a string id.")
    return json.dumps(pk), doc_id


def write(coll, docs, mode, pk, doc, if_match=None, path_id=None):
    """Create, upsert or replace one document in docs; returns (status, stored document)."""
    stored = resource({k: v for k, v in doc.items() if k not in SYSTEM_PROPS} if isinstance(doc, dict) else doc,
                      "docs")
    if not same(doc.get(coll["pk"], MISSING), pk):
        raise bad("PartitionKey extracted from document doesn't match the one specified in the header.")
    if len(json.dumps(doc).encode()) > MAX_DOC_BYTES:
        raise CosmosError(413, "RequestEntityTooLarge", "Request size is too large.")
    if path_id is not None and doc["id"] != path_id:
        raise bad("The id in the body differs from the id in the path.")
    key = doc_key(pk, doc["id"])
    old = docs.get(key)
    if mode == "create" and old is not None:
        raise conflict()
    if mode == "replace" and old is None:
        raise not_found(WRITE_RU)
    check_etag(old, if_match)
    if old is not None:
        stored["_rid"] = old["_rid"]
    stored.update(_self=f"{coll['_self']}docs/{stored['_rid']}/", _attachments="attachments/")
    docs[key] = stored
    return (201 if old is None else 200), stored


def check_etag(old, if_match):
    if if_match is not None and (old is None or old["_etag"] != if_match):
        raise CosmosError(412, "PreconditionFailed",
                          "Operation cannot be performed because one of the specified precondition is not met.", WRITE_RU)


def read(docs, pk, doc_id):
    doc = docs.get(doc_key(pk, doc_id))
    if doc is None:
        raise not_found(READ_RU)
    return doc


def remove(docs, pk, doc_id, if_match=None):
    key = doc_key(pk, doc_id)
    if key not in docs:
        raise not_found(WRITE_RU)
    check_etag(docs[key], if_match)
    del docs[key]


def batch(coll, pk, ops):
    if not isinstance(ops, list) or not 1 <= len(ops) <= MAX_BATCH_OPS:
        raise bad(f"A batch must be a JSON array of 1 to {MAX_BATCH_OPS} operations.")
    docs, results, total = dict(coll["docs"]), [], 0.0
    for i, op in enumerate(ops):
        try:
            kind = str(op.get("operationType", "")).lower() if isinstance(op, dict) else ""
            if kind in ("create", "upsert", "replace"):
                target = doc_key(pk, op.get("id"))[1] if kind == "replace" else None
                status, body = write(coll, docs, kind, pk, op.get("resourceBody"), op.get("ifMatch"), target)
                cost = WRITE_RU
            elif kind == "delete":
                remove(docs, pk, op.get("id"), op.get("ifMatch"))
                status, body, cost = 204, None, WRITE_RU
            elif kind == "read":
                status, body, cost = 200, read(docs, pk, op.get("id")), READ_RU
            else:
                raise bad(f"Operation {i}: unsupported operationType.")
        except CosmosError as e:
            failed = [{"statusCode": 424, "requestCharge": 0.0} for _ in ops]
            failed[i] = {"statusCode": e.status, "requestCharge": e.charge}
            return 207, failed, total + e.charge
        total += cost
        results.append({"statusCode": status, "requestCharge": cost,
                        **({"eTag": body["_etag"], "resourceBody": body} if body else {})})
    coll["docs"] = docs
    return 200, results, total


def pk_header(h):
    raw = h.get("x-ms-documentdb-partitionkey")
    if raw is None:
        return None
    try:
        raw = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list) or len(value) != 1 or jtype(value[0]) not in (NULL, BOOL, NUM, STR):
        raise bad('x-ms-documentdb-partitionkey must be a JSON array holding one value, e.g. ["p1"].')
    return value


def query(coll, h, body, pk, strict):
    if h.get("content-type", "").split(";")[0].strip().lower() != "application/query+json" \
            or not is_true(h.get("x-ms-documentdb-isquery")):
        raise bad("A query needs x-ms-documentdb-isquery: True and Content-Type: application/query+json.")
    spec = load_json(body)
    if not isinstance(spec, dict) or not isinstance(spec.get("query"), str):
        raise bad('The query body must be {"query": "...", "parameters": [...]}.')
    q, range_id, cross = Parser(spec["query"]).query(), h.get("x-ms-documentdb-partitionkeyrangeid"), True
    check_indexes(coll, q)
    if pk is not None:
        docs, cross = [d for (k, _), d in coll["docs"].items() if k == json.dumps(pk[0])], False
    elif range_id is not None:
        if range_id != "0":
            raise bad(f"Partition key range {range_id!r} does not exist; the only range is \"0\".")
        docs = list(coll["docs"].values())
    elif not is_true(h.get("x-ms-documentdb-query-enablecrosspartition")):
        raise bad("Cross partition query is required but disabled. Please set x-ms-documentdb-query-"
                  "enablecrosspartition to true, specify x-ms-documentdb-partitionkey, or revise your query.")
    elif strict and (q["top"] or q["order"] or q["offset"] or q["proj"][0] == "count"):
        raise CosmosError(400, "BadRequest", GATEWAY_1004, headers={"x-ms-substatus": "1004"})
    else:
        docs = list(coll["docs"].values())
    items = execute(q, spec.get("parameters", []), docs,
                    {path[1:]: e.get("distanceFunction", "cosine") for path, e in coll["vectors"].items()})
    try:
        size = int(h.get("x-ms-max-item-count", DEFAULT_PAGE))
        start = json.loads(h["x-ms-continuation"])["standin_offset"] if h.get("x-ms-continuation") else 0
        assert isinstance(start, int) and start >= 0
    except (ValueError, KeyError, TypeError, AssertionError):
        raise bad("Invalid x-ms-max-item-count or x-ms-continuation.") from None
    size = size if size > 0 else max(len(items), 1)
    page, headers = items[start:start + size], {}
    if start + size < len(items):
        headers["x-ms-continuation"] = json.dumps({"standin_offset": start + size})
    headers["x-ms-item-count"] = str(len(page))
    STATE.cross += cross
    return 200, {"_rid": coll["_rid"], "Documents": page, "_count": len(page)}, headers, \
        QUERY_RU + QUERY_ITEM_RU * len(page)


def dispatch(kind, names, h, body, strict):
    if kind == "account":
        return 200, ACCOUNT, {}, 0.0
    if kind == "create_db":
        return 201, new_db(load_json(body))["props"], {}, WRITE_RU
    db = STATE.dbs.get(names[0])
    if db is None:
        raise not_found(READ_RU)
    if kind == "read_db":
        return 200, db["props"], {}, READ_RU
    if kind == "create_coll":
        return 201, new_container(db, load_json(body)), {}, WRITE_RU
    coll = db["colls"].get(names[1])
    if coll is None:
        raise not_found(READ_RU)
    if kind == "read_coll":
        return 200, coll["props"], {}, READ_RU
    if kind == "pkranges":
        ranges = [{"id": "0", "minInclusive": "", "maxExclusive": "FF", "parents": []}]
        return 200, {"_rid": coll["_rid"], "PartitionKeyRanges": ranges, "_count": 1}, {}, READ_RU
    pk = pk_header(h)
    if kind == "query":
        return query(coll, h, body, pk, strict)
    if pk is None:
        raise bad("PartitionKey value must be supplied for this operation.")
    if kind == "batch":
        if not is_true(h.get("x-ms-cosmos-batch-atomic")):
            raise bad("The stand-in serves only atomic batches (x-ms-cosmos-batch-atomic: True).")
        if len(body) > MAX_BATCH_BYTES:
            raise CosmosError(413, "RequestEntityTooLarge", f"Request size is too large: a batch body holds at most "
                              f"{MAX_BATCH_BYTES} bytes, this one {len(body)}.")
        status, results, charge = batch(coll, pk[0], load_json(body))
        return status, results, {}, charge
    if kind in ("create", "upsert", "replace"):
        status, doc = write(coll, coll["docs"], kind, pk[0], load_json(body),
                            None if kind == "create" else h.get("If-Match"), names[2] if kind == "replace" else None)
        return status, doc, {"etag": doc["_etag"]}, WRITE_RU
    if kind == "read":
        doc = read(coll["docs"], pk[0], names[2])
        return 200, doc, {"etag": doc["_etag"]}, READ_RU
    remove(coll["docs"], pk[0], names[2], h.get("If-Match"))
    return 204, None, {}, WRITE_RU


def handle(verb, path, h, body, key, strict):
    segs = [urllib.parse.unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
    shape = "/".join(s if i % 2 == 0 else "*" for i, s in enumerate(segs))
    if (shape, verb) not in ROUTES:
        if any(s == shape for s, _ in ROUTES):
            raise CosmosError(405, "MethodNotAllowed", f"{verb} is not served on this path by the stand-in.")
        raise CosmosError(404, "NotFound", f"The stand-in serves no resource at {path}.")
    kind, rtype, link_len = ROUTES[(shape, verb)]
    check_auth(h, verb, rtype, "/".join(segs[:link_len]), key)
    with STATE.lock:
        STATE.requests += 1
        STATE.versions[h["x-ms-version"]] += 1
        if STATE.throttle > 0:
            STATE.throttle -= 1
            STATE.throttled += 1
            raise CosmosError(429, "TooManyRequests", "Request rate is large. More Request Units may be needed, so "
                              "no changes were made. Please retry this request later.",
                              headers={"x-ms-retry-after-ms": str(STATE.retry_ms), "x-ms-substatus": "3200"})
        if kind == "docs_post":
            kind = ("batch" if is_true(h.get("x-ms-cosmos-is-batch-request")) else
                    "query" if is_true(h.get("x-ms-documentdb-isquery")) or "query+json" in h.get("content-type", "")
                    else "upsert" if is_true(h.get("x-ms-documentdb-is-upsert")) else "create")
        if kind in STATE.by_kind:
            STATE.by_kind[kind] += 1
        return dispatch(kind, segs[1::2], h, body, strict)


def knob(verb, path, body):
    with STATE.lock:
        if (verb, path) == ("GET", "/_standin/stats"):
            return 200, STATE.stats(), {}, 0.0
        if (verb, path) in (("POST", "/_standin/reset-stats"), ("POST", "/_standin/reset")):
            if path.endswith("/reset"):
                STATE.dbs, STATE.throttle = {}, 0
            STATE.reset_stats()
            return 200, STATE.stats(), {}, 0.0
        if (verb, path) == ("POST", "/_standin/throttle"):
            spec = load_json(body)
            count = spec.get("count") if isinstance(spec, dict) else None
            retry = spec.get("retry_after_ms", 5) if isinstance(spec, dict) else None
            if jtype(count) != NUM or count < 0 or jtype(retry) != NUM or retry < 0:
                raise bad('The throttle body is {"count": N, "retry_after_ms": ms}.')
            STATE.throttle, STATE.retry_ms = int(count), int(retry)
            return 200, {"throttle": STATE.throttle, "retry_after_ms": STATE.retry_ms}, {}, 0.0
    if (verb, path) == ("POST", "/_standin/precreate"):
        spec = load_json(body)
        if not isinstance(spec, dict) or not isinstance(spec.get("database", "engram"), str):
            raise bad('The precreate body is {"database": "engram", "container": {...}}.')
        return 200, precreate(spec.get("database", "engram"), spec.get("container")), {}, 0.0
    raise CosmosError(404, "NotFound", f"No stand-in knob {verb} {path}.")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients expect

    def log_message(self, *args):
        pass

    def serve(self):
        verb = self.command
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path.startswith("/_standin/"):
                status, out, headers, charge = knob(verb, path, body)
            else:
                status, out, headers, charge = handle(verb, path, self.headers, body, self.server.key,
                                                      self.server.strict)
        except CosmosError as e:
            status, out, headers, charge = e.status, {"code": e.code, "message": e.message}, e.headers, e.charge
        except Exception as e:  # a stand-in bug: say so rather than drop the connection
            status, out, headers, charge = 500, {"code": "InternalServerError", "message": f"stand-in: {e!r}"}, {}, 0.0
        if self.server.log and not path.startswith("/_standin/"):
            line = json.dumps({"method": verb, "path": self.path, "headers": dict(self.headers.items()),
                               "body": body[:4000].decode("utf-8", "replace"), "body_bytes": len(body),
                               "status": status})
            with STATE.lock:
                self.server.log.write(line + "\n")
        data = b"" if status == 204 else json.dumps(out).encode()
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-charge", str(round(charge, 2)))
        self.send_header("x-ms-activity-id", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = serve


def self_test():
    key = "dsZQi3KtZmCv1ljt3VNWNm7sQUF1y5rJfC6kv5JiwvW0EndXdDku/dkKBp8/ufDToSxLzR4y+O/0H/t4bQtVNw=="
    got = authorization_header(key, "GET", "dbs", "dbs/ToDoList", "Thu, 27 Apr 2017 00:51:12 GMT")
    assert got == "type%3dmaster%26ver%3d1.0%26sig%3dc09PEVJrgp2uQRkr934kFbTqhByc7TVr3OHyqlu%2bc%2bc%3d", got
    docs = [{"id": "b", "v": [1, 0]}, {"id": "a", "v": [1, 0]}, {"id": "c", "v": [0, 1]}, {"id": "d"}]
    q = Parser("select top @k c as doc, VectorDistance(c.v, @q) as score from c order by VectorDistance(c.v, @q)")
    out = execute(q.query(), [{"name": "@k", "value": 2}, {"name": "@q", "value": [2, 0]}], docs)
    assert [(r["doc"]["id"], r["score"]) for r in out] == [("a", 1.0), ("b", 1.0)], out
    index = [{"path": "/a", "order": "descending"}, {"path": "/b"}]
    coll = {"vectors": {}, "props": {"indexingPolicy": indexing_policy({"compositeIndexes": [index]}, {})}}
    for order, served in (("c.a DESC, c.b", True), ("c.a, c.b DESC", True), ("c.a, c.b", False),
                          ("c.b, c.a DESC", False), ("c.b DESC", True)):
        try:
            check_indexes(coll, Parser(f"SELECT * FROM c ORDER BY {order}").query())
            assert served, order
        except CosmosError:
            assert not served, order


def main():
    ap = argparse.ArgumentParser(description="Azure Cosmos DB for NoSQL REST stand-in for tests.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default=EMULATOR_KEY, help="base64 master key (default: the emulator key)")
    ap.add_argument("--strict-gateway", action="store_true",
                    help="refuse cross-partition TOP/ORDER BY/OFFSET/COUNT queries with 400/1004, as the gateway does")
    ap.add_argument("--precreate", action="append", default=[], metavar="[DB/]NAME=JSON",
                    help="create container NAME in database DB (default engram) from a JSON container body at "
                         "start-up, without the version-2 rule (repeatable)")
    ap.add_argument("--log-requests", metavar="FILE", help="append one JSON line per API request to FILE")
    ap.add_argument("--self-test", action="store_true", help="check the documented signature vector and exit")
    ap.add_argument("--exit-on-stdin-eof", action="store_true",
                    help="exit when stdin closes (the test process that started it has ended)")
    args = ap.parse_args()
    if args.self_test:
        self_test()
        print("self-test ok")
        return
    base64.b64decode(args.key, validate=True)
    for spec in args.precreate:
        name, _, text = spec.partition("=")
        db_id, _, coll_id = name.rpartition("/")
        try:
            body = json.loads(text)
            precreate(db_id or "engram", {**body, "id": coll_id} if isinstance(body, dict) else body)
        except (ValueError, CosmosError) as e:
            ap.error(f"--precreate {name}: {e}")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.key, server.strict = args.key, args.strict_gateway
    server.log = open(args.log_requests, "a", buffering=1) if args.log_requests else None
    print(f"listening {server.server_address[1]}", flush=True)
    if args.exit_on_stdin_eof:
        def watch_stdin():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)
        threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
