#!/usr/bin/env python3
"""Engram adapter protocol v1 over the original Python project, PyPI `alma-memory`.

Runs Engram's conformance suite against alma's own storage classes, to show how the
original behaves (docs/alma.md):

    engram conform --external "$(scripts/alma.sh 0.4.0) adapters/alma_adapter.py --storage sqlite"

  --storage sqlite   alma.storage.sqlite_local.SQLiteStorage (SQLite + FAISS IndexFlatIP)
  --storage files    alma.storage.file_based.FileBasedStorage (one JSON array per kind)
  --dir DIR          where the stores live (default: a temporary directory of its own,
                     removed at exit); each `reset` starts a new store in a new folder
  --dimension N      embedding dimension given to SQLiteStorage (default 384, alma's own)

It adapts to the installed version by looking for the methods alma has (0.4.0 and 0.11.0
tested) and calls only alma's public storage API, with two documented exceptions:
`introspect` reads the FAISS index objects (`_indices[type].ntotal`), and `stats` counts
the vectors alma stores for live records in its own files (SQLite `embeddings` table joined
with the kind's table; the file store's JSON arrays), which get_stats does not report.

Faithfulness rules. alma's answers are passed on as they are: no re-sorting, no filtering,
no validation alma does not do itself. An operation alma has no way to express answers
`not_supported` saying why; an exception raised inside alma answers `internal` naming it.
The only input this adapter rejects (`invalid_input`) is what cannot be converted to alma's
Python types at all: a timestamp that is no Python `datetime`.
"""
import argparse
import atexit
import dataclasses
import glob
import importlib.metadata
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import traceback
from datetime import datetime, timedelta, timezone

# Listing queries used by `get` ask for every record of a scope (alma has no get-by-id).
EVERYTHING = 1 << 62


class NotSupported(Exception):
    """alma has no way to express the operation (answered as `not_supported`)."""


class Divergence(Exception):
    """alma's answer cannot be put in the protocol's shape (answered as `internal`)."""


class Unconvertible(Exception):
    """A value that no alma (Python) type can hold (answered as `invalid_input`)."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


# --- timestamps: RFC 3339 <-> aware datetime -------------------------------------------
RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def to_datetime(text, field):
    """RFC 3339 text to an aware UTC datetime, alma's timestamp type."""
    m = RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        raise Unconvertible(field, f"{field}: {text!r} is not an RFC 3339 timestamp")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "0").ljust(6, "0")[:6]),
                      tzinfo=timezone.utc)
        if zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            dt -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    except (ValueError, OverflowError) as e:
        raise Unconvertible(field, f"{field}: {text!r} cannot be a Python datetime ({e})") from None
    return dt


def to_rfc3339(dt):
    """A datetime from alma to RFC 3339 with six fraction digits and Z (naive = UTC)."""
    if not isinstance(dt, datetime):
        return dt  # not a datetime: passed on, Engram's decoder will say so
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc)
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
            f".{dt.microsecond:06d}Z")


# --- the five kinds, and alma's method for each operation on them ---------------------
class Kind:
    """alma's names for one kind: its dataclass, its index/table name and its storage methods."""

    def __init__(self, cls, plural, getter, saver, batch=None, deleter=None, for_agents=None, filters=()):
        self.cls, self.plural = cls, plural
        self.getter, self.saver, self.batch, self.deleter, self.for_agents = getter, saver, batch, deleter, for_agents
        self.filters = set(filters)  # the query filters alma's getter has, in Engram's names
        self.times = [f.name for f in dataclasses.fields(cls) if f.type in (datetime, "datetime")]


KINDS = {}  # filled by load_kinds(), once stdout belongs to the protocol


def load_kinds():
    """Imports alma (after main() has moved stdout aside: alma may print at import)."""
    from alma.types import AntiPattern, DomainKnowledge, Heuristic, Outcome, UserPreference
    KINDS.update({
        "heuristic": Kind(Heuristic, "heuristics", "get_heuristics", "save_heuristic", "save_heuristics",
                          "delete_heuristic", "get_heuristics_for_agents", ["min_confidence"]),
        "outcome": Kind(Outcome, "outcomes", "get_outcomes", "save_outcome", "save_outcomes",
                        "delete_outcome", "get_outcomes_for_agents", ["task_type", "success_only"]),
        "domain_knowledge": Kind(DomainKnowledge, "domain_knowledge", "get_domain_knowledge",
                                 "save_domain_knowledge", "save_domain_knowledge_batch", "delete_domain_knowledge",
                                 "get_domain_knowledge_for_agents", ["domain"]),
        "anti_pattern": Kind(AntiPattern, "anti_patterns", "get_anti_patterns", "save_anti_pattern",
                             None, "delete_anti_pattern", "get_anti_patterns_for_agents"),
        "user_preference": Kind(UserPreference, "preferences", "get_user_preferences",
                                "save_user_preference"),
    })


VECTOR_KINDS = ["heuristic", "outcome", "domain_knowledge", "anti_pattern"]


def to_alma(kind, record):
    """A protocol record to alma's dataclass. Fields are copied as they are (alma validates
    nothing, so neither does this); timestamps become datetimes; a missing required field
    becomes None, as a careless caller of alma could pass."""
    k = KINDS[kind]
    args = {}
    for f in dataclasses.fields(k.cls):
        if f.name in record:
            value = record[f.name]
            args[f.name] = to_datetime(value, f.name) if f.name in k.times and value is not None else value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            args[f.name] = None
    return k.cls(**args)


def from_alma(kind, obj):
    """alma's dataclass to a protocol record, every field as alma returned it."""
    k = KINDS[kind]
    out = {}
    for f in dataclasses.fields(k.cls):
        value = getattr(obj, f.name)
        if f.name == "embedding" and value is None:
            continue  # no vector (alma's SQLite never returns one)
        out[f.name] = to_rfc3339(value) if f.name in k.times else value
    return out


class Adapter:
    def __init__(self, storage, root, dimension):
        self.kind_of_storage, self.root, self.dimension = storage, root, dimension
        self.version = importlib.metadata.version("alma-memory")
        self.store, self.store_dir, self.generation = None, None, 0

    # --- lifecycle ----------------------------------------------------------------------
    def open_store(self):
        """A new, empty alma store in a folder of its own (the previous one is removed)."""
        if self.store_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)
        self.generation += 1
        self.store_dir = os.path.join(self.root, f"store-{self.generation}")
        if self.kind_of_storage == "sqlite":
            from alma.storage.sqlite_local import SQLiteStorage
            self.store = SQLiteStorage(db_path=os.path.join(self.store_dir, "alma.db"), embedding_dim=self.dimension)
        else:
            from alma.storage.file_based import FileBasedStorage
            self.store = FileBasedStorage(storage_dir=self.store_dir)

    def alma(self, name):
        """alma's public method `name`, or not_supported when this version lacks it."""
        if self.store is None:
            self.open_store()
        method = getattr(self.store, name, None)
        if method is None:
            raise NotSupported(f"alma-memory {self.version} ({self.kind_of_storage}) has no {name}()")
        return method

    def hello(self, args):
        return {"name": f"alma-memory-{self.kind_of_storage}", "version": self.version,
                "embedding_dim": self.dimension,
                # Only the SQLite store has a vector index whose size can be read.
                "capabilities": ["introspection"] if self.kind_of_storage == "sqlite" else []}

    def reset(self, args):
        self.open_store()

    def shutdown(self, args):
        return None

    # --- writes ---------------------------------------------------------------------------
    def save(self, args):
        kind = args["kind"]
        return self.alma(KINDS[kind].saver)(to_alma(kind, args["record"]))

    def save_batch(self, args):
        kind, k = args["kind"], KINDS[args["kind"]]
        records = [to_alma(kind, r) for r in args["records"]]
        if k.batch and hasattr(self.store, k.batch):
            return self.alma(k.batch)(records)  # alma's batch save (0.11: executemany on SQLite)
        # No batch method for this kind/version (MED-003): one save per record, the loop
        # alma's own StorageBackend uses as its default batch, with no atomicity.
        save = self.alma(k.saver)
        return [save(r) for r in records]

    # --- reads ------------------------------------------------------------------------------
    def list_scope(self, kind, scope):
        """Every record alma returns for a scope, in alma's order (used by `get`)."""
        k = KINDS[kind]
        if kind == "user_preference":
            return self.alma(k.getter)(user_id=scope)
        extra = {"min_confidence": float("-inf")} if kind == "heuristic" else {}
        return self.alma(k.getter)(project_id=scope, top_k=EVERYTHING, **extra)

    def get(self, args):
        # alma has no get-by-id: list the scope with alma's getter and pick the id.
        kind = args["kind"]
        found = [r for r in self.list_scope(kind, args["scope"]) if r.id == args["id"]]
        if len(found) > 1:
            raise Divergence(f"alma returned {len(found)} records with id {args['id']!r} in one scope "
                             "(its store keeps duplicates: re-saves append)")
        return from_alma(kind, found[0]) if found else None

    def query(self, args):
        kind = args["kind"]
        if kind == "user_preference":
            raise NotSupported("alma reads preferences only with get_user_preferences(user_id, category)")
        k = KINDS[kind]
        call = {"project_id": args["project_id"], "top_k": args["top_k"]}
        for name in ("min_confidence", "task_type", "domain", "success_only"):
            if name in args:
                if name not in k.filters:
                    raise NotSupported(f"alma's {k.getter}() has no {name} parameter")
                call[name] = args[name]
        if args.get("embedding") is not None:
            call["embedding"] = args["embedding"]
        agents = args.get("agents")
        if agents is None:
            results = self.alma(k.getter)(**call)
        elif len(agents) == 1:
            results = self.alma(k.getter)(agent=agents[0], **call)  # alma's single-agent filter
        else:
            # Zero or several agents: only get_*_for_agents (after 0.4.0) takes a set. Its top_k
            # is per agent: it may return up to top_k x len(agents) (passed on as is).
            if not hasattr(self.store, k.for_agents):
                raise NotSupported(f"alma-memory {self.version} filters by one agent only "
                                   f"(no {k.for_agents}()); asked for {len(agents)}")
            results = self.alma(k.for_agents)(agents=list(agents), **call)
        return [{"record": from_alma(kind, r), "score": self.score(r)} for r in results]

    def score(self, obj):
        """The similarity alma exposes: 0.11's SQLite puts FAISS's score in
        metadata["_faiss_similarity"] (left there too, as alma returns it); others expose none."""
        meta = obj.metadata if isinstance(obj.metadata, dict) else {}
        value = meta.get("_faiss_similarity")
        return float(value) if isinstance(value, (int, float)) else None

    def query_preferences(self, args):
        prefs = self.alma("get_user_preferences")(user_id=args["user_id"], category=args.get("category"))
        return [from_alma("user_preference", p) for p in prefs]

    # --- updates (alma keys heuristics and knowledge by id alone: project_id is not passed) -
    def update_heuristic(self, args):
        # Passed on as it is, an embedding too: alma's SQLite update_heuristic() writes each
        # patch key as an SQL column and heuristics has none for embeddings, so alma itself
        # fails there ('no such column: embedding'); that failure is its real behaviour.
        patch = dict(args["patch"])
        if patch.get("last_validated") is not None:
            patch["last_validated"] = to_datetime(patch["last_validated"], "last_validated")
        return self.alma("update_heuristic")(args["id"], patch)

    def increment_heuristic_occurrence(self, args):
        return self.alma("increment_heuristic_occurrence")(args["id"], args["success"])

    def update_heuristic_confidence(self, args):
        return self.alma("update_heuristic_confidence")(args["id"], args["confidence"])

    def update_knowledge_confidence(self, args):
        return self.alma("update_knowledge_confidence")(args["id"], args["confidence"])

    # --- deletes ------------------------------------------------------------------------------
    def delete(self, args):
        k = KINDS[args["kind"]]
        if k.deleter is None:
            raise NotSupported("alma has no delete for user preferences (no delete_user_preference())")
        return self.alma(k.deleter)(args["id"])  # by id alone: alma has no scope on deletes

    def delete_outcomes_older_than(self, args):
        cut = to_datetime(args["older_than"], "older_than")
        return self.alma("delete_outcomes_older_than")(args["project_id"], cut, args.get("agent"))

    def delete_low_confidence_heuristics(self, args):
        return self.alma("delete_low_confidence_heuristics")(args["project_id"], args["below"], args.get("agent"))

    def stats(self, args):
        """Record counts from alma's get_stats; `vectors` counted from what alma stores, since
        get_stats has no per-kind, per-project vector count (its SQLite `embeddings_count`
        covers every kind and project)."""
        project, agent = args["project_id"], args.get("agent")
        s = self.alma("get_stats")(project, agent)
        out = {kind: s.get(f"{KINDS[kind].plural}_count", 0) for kind in VECTOR_KINDS}
        out["vectors"] = {kind: self.stored_vectors(kind, project, agent) for kind in VECTOR_KINDS}
        return out

    def stored_vectors(self, kind, project, agent):
        """Vectors alma stores for the live records of one kind, project (and agent), read from
        alma's own storage with the same project/agent test as its get_stats.
        SQLite (0.4.0 and 0.11.0): rows of its `embeddings` table (memory_type = the plural
        table name, as _add_to_index writes it) whose memory_id is a row of that kind's table
        in the project. The join leaves out the embedding rows alma keeps for deleted records
        (0.4.0's single deletes, both versions' prunes); `introspect` still reports FAISS.
        Files: records of that kind's JSON array in the project that carry an `embedding`."""
        plural = KINDS[kind].plural
        if self.kind_of_storage == "sqlite":
            import sqlite3
            sql = (f"SELECT COUNT(*) FROM embeddings e JOIN {plural} r ON r.id = e.memory_id "
                   "WHERE e.memory_type = ? AND r.project_id = ?")
            params = [plural, project]
            if agent:  # get_stats: `if agent:`
                sql += " AND r.agent = ?"
                params.append(agent)
            conn = sqlite3.connect(f"file:{self.store.db_path}?mode=ro", uri=True)
            try:
                return conn.execute(sql, params).fetchone()[0]
            finally:
                conn.close()
        try:
            with open(self.store._files[plural], "r") as f:
                data = json.load(f)
        except (ValueError, FileNotFoundError):
            data = []  # as alma's _read_json
        return sum(1 for r in data if r.get("project_id") == project
                   and (agent is None or r.get("agent") == agent)  # get_stats: `agent is None`
                   and r.get("embedding") is not None)

    def introspect(self, args):
        """Vectors the FAISS index objects really hold: SQLiteStorage._indices[type] is a
        faiss.IndexFlatIP (its `ntotal`) in 0.4.0 and 0.11.0, or a list of numpy rows when FAISS
        is missing. 0.11 rebuilds a type's index lazily at its next search after a delete
        (`_index_dirty`); the count is the index as it stands, and the flags are reported too."""
        if self.kind_of_storage != "sqlite":
            raise NotSupported("alma's file storage has no vector index")
        held = {}
        for kind in VECTOR_KINDS:
            index = self.store._indices[KINDS[kind].plural]
            held[kind] = int(index.ntotal) if hasattr(index, "ntotal") else len(index)
        out = {"vectors_held": held}
        dirty = getattr(self.store, "_index_dirty", None)
        if dirty is not None:
            out["index_dirty"] = {kind: bool(dirty.get(KINDS[kind].plural, False)) for kind in VECTOR_KINDS}
        return out


OPS = {"hello", "reset", "save", "save_batch", "get", "query", "query_preferences", "update_heuristic",
       "increment_heuristic_occurrence", "update_heuristic_confidence", "update_knowledge_confidence",
       "delete", "delete_outcomes_older_than", "delete_low_confidence_heuristics", "stats", "introspect",
       "shutdown"}


def answer(rid, op, adapter, args):
    try:
        if op not in OPS:
            raise NotSupported(f"unknown op {op}")
        return {"id": rid, "ok": True, "result": getattr(adapter, op)(args)}
    except NotSupported as e:
        return {"id": rid, "ok": False, "error": {"code": "not_supported", "message": str(e)}}
    except Unconvertible as e:
        return {"id": rid, "ok": False, "error": {"code": "invalid_input", "field": e.field, "message": str(e)}}
    except Divergence as e:
        return {"id": rid, "ok": False, "error": {"code": "internal", "message": str(e)}}
    except Exception as e:
        frames = traceback.extract_tb(e.__traceback__)
        where = frames[-1]  # the innermost frame, e.g. faiss's add()
        place = f"{os.path.basename(where.filename)}:{where.lineno} in {where.name}"
        if all(os.path.abspath(f.filename) == os.path.abspath(__file__) for f in frames):
            # Raised by this adapter, not by alma: a request it cannot read (an unknown kind, a missing argument).
            return {"id": rid, "ok": False, "error": {"code": "invalid_input",
                                                      "message": f"the adapter cannot read this request: {type(e).__name__} ({place}): {e}"[:900]}}
        # Raised inside alma (or alma's libraries): its real behaviour.
        return {"id": rid, "ok": False, "error": {"code": "internal",
                                                  "message": f"alma raised {type(e).__name__} ({place}): {e}"[:900]}}


def remove_orphans():
    """Removes the temporary folders of earlier adapters that were killed (Engram ends an
    adapter that times out with SIGKILL, so its atexit never runs): those whose pid is gone."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "alma-adapter-*-*")):
        m = re.match(r"alma-adapter-(\d+)-", os.path.basename(path))
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass  # alive, or not ours to signal


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", choices=("sqlite", "files"), default="sqlite")
    parser.add_argument("--dir", help="folder for the stores (default: a temporary folder, removed at exit)")
    parser.add_argument("--dimension", type=int, default=384)
    opts = parser.parse_args()

    # The protocol owns stdout; anything alma prints goes to stderr (Engram's log).
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="alma %(levelname)s %(name)s: %(message)s")
    # 0.4.0 warns at import that the optional Azure SDK is missing: not a backend used here.
    logging.getLogger("alma.storage.azure_cosmos").setLevel(logging.ERROR)
    load_kinds()

    if opts.dir:
        root = opts.dir
        os.makedirs(root, exist_ok=True)
    else:
        remove_orphans()
        root = tempfile.mkdtemp(prefix=f"alma-adapter-{os.getpid()}-")
        atexit.register(shutil.rmtree, root, True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so that atexit cleans up
    adapter = Adapter(opts.storage, root, opts.dimension)

    for line in sys.stdin:
        try:
            request = json.loads(line)  # Python's json reads NaN/Infinity tokens as floats
            rid, op, args = request["id"], request["op"], request.get("args") or {}
        except (ValueError, KeyError, TypeError) as e:
            m = re.search(r'"id"\s*:\s*(\d+)', line)
            response = {"id": int(m.group(1)) if m else None, "ok": False,
                        "error": {"code": "invalid_input", "message": f"request is not valid JSON: {e}"}}
            op = None
        else:
            response = answer(rid, op, adapter, args)
        try:
            text = json.dumps(response, allow_nan=False)
        except (ValueError, TypeError) as e:  # alma returned a value JSON cannot carry (NaN, ...)
            text = json.dumps({"id": response["id"], "ok": False, "error": {
                "code": "internal", "message": f"alma returned a value JSON cannot carry: {e}"}})
        protocol.write(text + "\n")
        protocol.flush()
        if op == "shutdown":
            break


if __name__ == "__main__":
    main()
