"""Console edits applied on top of a YAML registry: each override replaces the named keys of the entry with its id,
or (``added``) appends a whole new entry. Pure data in, data out; used for both sources and institutions."""

from __future__ import annotations

from typing import Any


def apply_overrides(entries: list[Any], overrides: list[dict[str, Any]]) -> list[Any]:
    """``entries`` (registry dicts, in file order) with ``overrides`` (``{"id", "fields", "added"}``) applied.

    An override of an id the file does not hold (the operator removed it from the YAML) is dropped unless the entry
    was added from the console; an added entry whose id the file now also declares is merged into the file's entry.
    """
    by_id = {str(o["id"]): o for o in overrides}
    out: list[Any] = []
    seen: set[str] = set()
    for entry in entries:
        if isinstance(entry, dict) and str(entry.get("id")) in by_id:
            eid = str(entry.get("id"))
            seen.add(eid)
            out.append({**entry, **by_id[eid]["fields"], "id": entry["id"]})
        else:
            out.append(entry)
    for o in overrides:
        if o.get("added") and str(o["id"]) not in seen:
            out.append({**o["fields"], "id": str(o["id"])})
    return out
