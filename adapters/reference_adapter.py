#!/usr/bin/env python3
"""Engram adapter protocol v1: a reference adapter, in-memory, standard library only.

Engram starts this program, writes one JSON request per line to its stdin and reads one
JSON response per line from its stdout (docs/adapter-protocol.md). Run the conformance
suite through it with:

    engram conform --external "python3 adapters/reference_adapter.py"

It keeps every record as the dict it received, so values round-trip exactly, and answers
queries by filtering first, then ranking. `--misbehave MODE` turns it into one of the bad
adapters of Engram's test bench (see MISBEHAVIOURS).
"""
import json
import math
import sys
import time

DIMENSION = 384
KINDS = ("heuristic", "outcome", "domain_knowledge", "anti_pattern", "user_preference")
VECTOR_KINDS = KINDS[:4]
MISBEHAVIOURS = ("crash-on-start", "garbage", "wrong-id", "hang", "exit-mid", "ghost", "extra", "round-timestamps",
                 "close-stdin", "stop-reading", "huge-line", "fork-and-exit", "no-validation", "partial-batch", "dirty-error", "bad-utf8")
# dirty-error: answers `get` with an error whose message holds terminal escapes and whose field is 5 MB.
# bad-utf8: answers `get` with bytes that are not UTF-8.
# no-validation: saves records and confidences without checking them (accepts a confidence of 7).
# partial-batch: writes a batch's records one by one, so those before a bad one stay written.
# close-stdin: after `reset`, closes its stdin and sleeps (Engram's next write meets a closed pipe).
# stop-reading: after `reset`, never reads again (a large request fills the pipe and blocks the writer).
# huge-line: answers `stats` with a 100 MB line (an extra "padding" key).
# fork-and-exit: forks a child that holds stdout/stderr and sleeps (its pid on stderr), and exits at
# the first `query`: the child keeps the pipe open after the adapter is gone.


class InvalidInput(Exception):
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def micros(ts):
    """RFC 3339 'YYYY-MM-DDTHH:MM:SS.ffffffZ' to microseconds since the epoch (for ordering)."""
    date, clock = ts.rstrip("Z").split("T")
    y, mo, d = (int(x) for x in date.split("-"))
    hms, _, frac = clock.partition(".")
    h, mi, s = (int(x) for x in hms.split(":"))
    # days from civil (proleptic Gregorian), as in Howard Hinnant's algorithm
    y -= mo <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return ((days * 86400 + h * 3600 + mi * 60 + s) * 1_000_000) + int((frac + "000000")[:6])


def scope_of(kind, record):
    return record["user_id"] if kind == "user_preference" else record["project_id"]


TEXT_FIELDS = {
    "heuristic": ("agent", "condition", "strategy"),
    "outcome": ("agent", "task_type", "task_description", "strategy_used", "error_message", "user_feedback"),
    "domain_knowledge": ("agent", "domain", "fact", "source"),
    "anti_pattern": ("agent", "pattern", "why_bad", "better_alternative"),
    "user_preference": ("category", "preference", "source"),
}
TIME_FIELDS = {
    "heuristic": ("last_validated", "created_at"), "outcome": ("timestamp",), "domain_knowledge": ("last_verified",),
    "anti_pattern": ("last_seen", "created_at"), "user_preference": ("timestamp",),
}
MAX_METADATA_DEPTH, MAX_METADATA_BYTES, MAX_AGENTS, MAX_TOP_K = 64, 1 << 20, 10_000, 10_000


def check_id(value, field="id"):
    if not isinstance(value, str) or not value or len(value.encode()) > 256 or "\0" in value:
        raise InvalidInput(field, f"{field} must be 1 to 256 UTF-8 bytes without NUL")


def check_text(value, field):
    if value is not None and (not isinstance(value, str) or "\0" in value):
        raise InvalidInput(field, f"{field} must be text without NUL")


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_confidence(value, field="confidence"):
    if not is_number(value) or not 0 <= value <= 1:
        raise InvalidInput(field, f"{field} must be a finite number in [0, 1]")


def check_count(value, field):
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise InvalidInput(field, f"{field} must be a non-negative integer")


def check_time(value, field):
    try:
        ok = isinstance(value, str) and 1 <= int(value[:4]) <= 9999 and value[4] == "-"
        micros(value)
    except (ValueError, IndexError):
        ok = False
    if not ok:
        raise InvalidInput(field, f"{field} must be RFC 3339 within 0001-01-01 and 9999-12-31")


def check_embedding(e):
    if (not isinstance(e, list) or len(e) != DIMENSION or not all(is_number(x) for x in e)
            or not any(x != 0 for x in e)):
        raise InvalidInput("embedding", f"embedding must have {DIMENSION} finite components, not all zero")


def check_metadata(m, field="metadata"):
    if not isinstance(m, dict):
        raise InvalidInput(field, "metadata must be a JSON object")
    # Content as the contract counts it: UTF-8 bytes of keys and strings, 8 per other value.
    stack, size = [(m, 1)], 0
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            if depth > MAX_METADATA_DEPTH:
                raise InvalidInput(field, f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
            if isinstance(v, dict):
                for k, x in v.items():
                    if "\0" in k:
                        raise InvalidInput(field, "metadata holds a NUL character")
                    size += len(k.encode())
                    stack.append((x, depth + 1))
            else:
                stack.extend((x, depth + 1) for x in v)
        elif isinstance(v, str):
            if "\0" in v:
                raise InvalidInput(field, "metadata holds a NUL character")
            size += len(v.encode())
        else:
            if isinstance(v, float) and not math.isfinite(v):
                raise InvalidInput(field, "metadata holds a non-finite number")
            size += 8
        if size > MAX_METADATA_BYTES:
            raise InvalidInput(field, f"metadata holds more than {MAX_METADATA_BYTES} bytes of keys and values")


def validate(kind, r):
    """The contract's rules for one record, in the order Engram checks them."""
    check_id(r.get("id"))
    check_id(r.get("user_id" if kind == "user_preference" else "project_id"), "user_id" if kind == "user_preference" else "project_id")
    for field in TEXT_FIELDS[kind]:
        check_text(r.get(field), field)
    if "confidence" in r:
        check_confidence(r["confidence"])
    for field in ("occurrence_count", "success_count", "duration_ms"):
        check_count(r.get(field), field)
    if kind == "heuristic" and r["success_count"] > r["occurrence_count"]:
        raise InvalidInput("success_count", "success_count exceeds occurrence_count")
    for field in TIME_FIELDS[kind]:
        check_time(r.get(field), field)
    if r.get("embedding") is not None:
        check_embedding(r["embedding"])
    check_metadata(r.get("metadata", {}))


def check_key(kind, scope, rid):
    check_id(rid)
    check_id(scope, "user_id" if kind == "user_preference" else "project_id")


def check_query(args):
    kind = args["kind"]
    if kind == "user_preference":
        raise InvalidInput("kind", "user preferences are queried with query_preferences")
    check_id(args.get("project_id"), "project_id")
    k = args.get("top_k")
    if not isinstance(k, int) or not 1 <= k <= MAX_TOP_K:
        raise InvalidInput("top_k", f"top_k must be in 1...{MAX_TOP_K}")
    if "agents" in args:
        if len(args["agents"]) > MAX_AGENTS:
            raise InvalidInput("agents", f"at most {MAX_AGENTS} agents")
        for a in args["agents"]:
            check_text(a, "agents")
    only = {"task_type": ("outcome",), "domain": ("domain_knowledge",), "min_confidence": ("heuristic", "domain_knowledge")}
    for field, kinds in only.items():
        if field in args:
            if kind not in kinds:
                raise InvalidInput(field, f"{field} does not filter {kind}")
            if field == "min_confidence":
                if not is_number(args[field]):
                    raise InvalidInput(field, "min_confidence must be finite")
            else:
                check_text(args[field], field)
    if args.get("success_only") and kind != "outcome":
        raise InvalidInput("success_only", "success_only filters outcomes only")
    if args.get("embedding") is not None:
        check_embedding(args["embedding"])


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb)


DEFAULT_ORDER = {
    "heuristic": lambda r: (-r["confidence"], r["id"]),
    "domain_knowledge": lambda r: (-r["confidence"], r["id"]),
    "outcome": lambda r: (-micros(r["timestamp"]), r["id"]),
    "anti_pattern": lambda r: (-r["occurrence_count"], r["id"]),
    "user_preference": lambda r: (-micros(r["timestamp"]), r["id"]),
}


class Store:
    def __init__(self, misbehave=None):
        self.records = {}  # (kind, scope, id) -> record dict
        self.deleted = {}  # only kept by the "ghost" misbehaviour
        self.misbehave = misbehave

    # --- operations -----------------------------------------------------------------
    def hello(self, args):
        return {"name": "python-reference", "version": "1.0", "embedding_dim": DIMENSION,
                "capabilities": ["introspection"]}

    def reset(self, args):
        self.records.clear()
        self.deleted.clear()

    def save(self, args):
        return self.save_batch({"kind": args["kind"], "records": [args["record"]]})[0]

    def save_batch(self, args):
        kind = args["kind"]
        if self.misbehave not in ("no-validation", "partial-batch"):
            for r in args["records"]:
                validate(kind, r)  # all or nothing: check everything first
        for r in args["records"]:
            if self.misbehave == "partial-batch":
                validate(kind, r)  # writes the records before the first bad one: not atomic
            self.records[(kind, scope_of(kind, r), r["id"])] = r
        return [r["id"] for r in args["records"]]

    def get(self, args):
        check_key(args["kind"], args["scope"], args["id"])
        r = self.records.get((args["kind"], args["scope"], args["id"]))
        if r is not None and self.misbehave == "round-timestamps":
            r = dict(r)
            for k in ("timestamp", "last_validated", "created_at", "last_verified", "last_seen"):
                if k in r:
                    r[k] = r[k][:23] + "000Z"  # milliseconds only
        return r

    def matches(self, kind, r, args):
        if r["project_id"] != args["project_id"]:
            return False
        if "agents" in args and r["agent"] not in args["agents"]:
            return False
        if "task_type" in args and r.get("task_type") != args["task_type"]:
            return False
        if "domain" in args and r.get("domain") != args["domain"]:
            return False
        if "min_confidence" in args and not r["confidence"] >= args["min_confidence"]:
            return False
        if args.get("success_only") and not r.get("success"):
            return False
        return True

    def query(self, args):
        check_query(args)
        kind, k, q = args["kind"], args["top_k"], args.get("embedding")
        pool = [r for (kk, _, _), r in self.records.items() if kk == kind and self.matches(kind, r, args)]
        if self.misbehave == "ghost":
            pool += [r for (kk, _, _), r in self.deleted.items() if kk == kind and self.matches(kind, r, args)]
        if self.misbehave == "extra":
            k += 1
        if q is None:
            return [{"record": r, "score": None} for r in sorted(pool, key=DEFAULT_ORDER[kind])[:k]]
        scored = [(cosine(q, r["embedding"]), r) for r in pool if r.get("embedding") is not None]
        scored.sort(key=lambda p: (-p[0], p[1]["id"]))
        return [{"record": r, "score": s} for s, r in scored[:k]]

    def query_preferences(self, args):
        check_id(args.get("user_id"), "user_id")
        check_text(args.get("category"), "category")
        prefs = [r for (kind, scope, _), r in self.records.items()
                 if kind == "user_preference" and scope == args["user_id"]
                 and ("category" not in args or r["category"] == args["category"])]
        return sorted(prefs, key=DEFAULT_ORDER["user_preference"])

    def _heuristic(self, args, kind="heuristic"):
        check_key(kind, args.get("project_id"), args.get("id"))
        return self.records.get((kind, args["project_id"], args["id"]))

    def update_heuristic(self, args):
        check_key("heuristic", args.get("project_id"), args.get("id"))
        patch = args["patch"]
        for field in ("condition", "strategy"):
            check_text(patch.get(field), field)
        if "confidence" in patch:
            check_confidence(patch["confidence"])
        for field in ("occurrence_count", "success_count"):
            check_count(patch.get(field), field)
        if "metadata" in patch:
            check_metadata(patch["metadata"])
        if "last_validated" in patch:
            check_time(patch["last_validated"], "last_validated")
        if patch.get("embedding") is not None:
            check_embedding(patch["embedding"])
        h = self._heuristic(args)
        if h is None:
            return False
        updated = dict(h, **args["patch"])
        validate("heuristic", updated)
        self.records[("heuristic", h["project_id"], h["id"])] = updated
        return True

    def increment_heuristic_occurrence(self, args):
        h = self._heuristic(args)
        if h is None:
            return False
        h["occurrence_count"] += 1
        if args["success"]:
            h["success_count"] += 1
        now = time.time()
        h["last_validated"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%06dZ" % int((now % 1) * 1e6)
        return True

    def update_heuristic_confidence(self, args):
        return self._set_confidence(args, "heuristic")

    def update_knowledge_confidence(self, args):
        return self._set_confidence(args, "domain_knowledge")

    def _set_confidence(self, args, kind):
        check_key(kind, args.get("project_id"), args.get("id"))
        if self.misbehave != "no-validation":
            check_confidence(args["confidence"])
        r = self._heuristic(args, kind)
        if r is None:
            return False
        r["confidence"] = args["confidence"]
        return True

    def delete(self, args):
        check_key(args["kind"], args["scope"], args["id"])
        key = (args["kind"], args["scope"], args["id"])
        r = self.records.pop(key, None)
        if r is not None and self.misbehave == "ghost":
            self.deleted[key] = r
        return r is not None

    def _delete_where(self, kind, pred):
        doomed = [key for key, r in self.records.items() if key[0] == kind and pred(r)]
        for key in doomed:
            del self.records[key]
        return len(doomed)

    def delete_outcomes_older_than(self, args):
        check_id(args.get("project_id"), "project_id")
        check_time(args.get("older_than"), "older_than")
        check_text(args.get("agent"), "agent")
        cut = micros(args["older_than"])
        return self._delete_where("outcome", lambda r: r["project_id"] == args["project_id"]
                                  and args.get("agent", r["agent"]) == r["agent"] and micros(r["timestamp"]) < cut)

    def delete_low_confidence_heuristics(self, args):
        check_id(args.get("project_id"), "project_id")
        if not is_number(args.get("below")):
            raise InvalidInput("below", "below must be finite")
        check_text(args.get("agent"), "agent")
        return self._delete_where("heuristic", lambda r: r["project_id"] == args["project_id"]
                                  and args.get("agent", r["agent"]) == r["agent"] and r["confidence"] < args["below"])

    def stats(self, args):
        check_id(args.get("project_id"), "project_id")
        check_text(args.get("agent"), "agent")
        out = {k: 0 for k in VECTOR_KINDS}
        out["vectors"] = {k: 0 for k in VECTOR_KINDS}
        for (kind, scope, _), r in self.records.items():
            if kind in VECTOR_KINDS and scope == args["project_id"] and args.get("agent", r["agent"]) == r["agent"]:
                out[kind] += 1
                out["vectors"][kind] += r.get("embedding") is not None
        return out

    def introspect(self, args):
        held = {k: 0 for k in VECTOR_KINDS}
        for (kind, _, _), r in self.records.items():
            if kind in VECTOR_KINDS and r.get("embedding") is not None:
                held[kind] += 1
        return {"vectors_held": held, "records_with_embedding": dict(held)}


def main():
    misbehave = None
    if len(sys.argv) == 3 and sys.argv[1] == "--misbehave" and sys.argv[2] in MISBEHAVIOURS:
        misbehave = sys.argv[2]
    if misbehave == "crash-on-start":
        print("reference adapter: crashing on start as asked", file=sys.stderr)
        sys.exit(3)
    store = Store(misbehave)
    if misbehave == "fork-and-exit":
        import os
        child = os.fork()
        if child == 0:
            time.sleep(120)
            os._exit(0)
        print(f"forked child {child}", file=sys.stderr, flush=True)
    for n, line in enumerate(sys.stdin):
        request = json.loads(line)
        rid, op = request["id"], request["op"]
        if misbehave in ("exit-mid", "fork-and-exit") and op == "query":
            sys.exit(4)  # in the middle of a scenario: after its saves, at its first query
        if misbehave == "hang" and op == "query":
            time.sleep(3600)
        try:
            handler = getattr(store, op, None) if op in OPS else None
            if handler is None:
                response = {"id": rid, "ok": False, "error": {"code": "not_supported", "message": f"unknown op {op}"}}
            else:
                response = {"id": rid, "ok": True, "result": handler(request.get("args", {}))}
        except InvalidInput as e:
            response = {"id": rid, "ok": False, "error": {"code": "invalid_input", "field": e.field, "message": str(e)}}
        except Exception as e:  # a bug in the adapter: report it, keep serving
            response = {"id": rid, "ok": False, "error": {"code": "internal", "message": repr(e)}}
        if misbehave == "wrong-id":
            response["id"] = rid + 1
        if misbehave == "dirty-error" and op == "get":
            response = {"id": rid, "ok": False, "error": {"code": "internal", "field": "f" * 5_000_000,
                                                           "message": "\x1b[31mred\x1b[0m\x00bell\x07"}}
        if misbehave == "bad-utf8" and op == "get":
            sys.stdout.buffer.write(b'{"id": %d, "ok": true, "result": "\xff\xfe"}\n' % rid)
            sys.stdout.flush()
            continue
        if misbehave == "huge-line" and op == "stats":
            response["padding"] = "x" * 100_000_000
        if misbehave == "garbage" and n >= 2:
            sys.stdout.write("this is not JSON\n")
        else:
            sys.stdout.write(json.dumps(response, allow_nan=False) + "\n")
        sys.stdout.flush()
        if op == "shutdown":
            return
        if op == "reset" and misbehave == "close-stdin":
            import os
            os.close(0)
            time.sleep(60)
            return
        if op == "reset" and misbehave == "stop-reading":
            time.sleep(3600)


OPS = {"hello", "reset", "save", "save_batch", "get", "query", "query_preferences", "update_heuristic",
       "increment_heuristic_occurrence", "update_heuristic_confidence", "update_knowledge_confidence",
       "delete", "delete_outcomes_older_than", "delete_low_confidence_heuristics", "stats", "introspect",
       "shutdown"}
Store.shutdown = lambda self, args: None

if __name__ == "__main__":
    main()
