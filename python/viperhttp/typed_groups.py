"""A pydantic model standing for a group of parameters of one source (docs/internals/typed-api.md,
"Parameter models"): FastAPI's `Annotated[FilterParams, Query()]`, and the same with `Header()`,
`Cookie()` and `Form()`. Each field of the model is one parameter of that source; the handler
gets the validated model.

It plays a `typed._Source` in `TypedPlan.fill_validated` (same attributes), so errors are
reported per field with the source in front of `loc`, and the OpenAPI document lists each field
as a parameter, as FastAPI does.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

__all__ = ["ModelGroup"]

class ModelGroup:
    """`source` parameters gathered into `model` for the handler parameter `name`."""

    __slots__ = ("source", "name", "model", "validate", "keys", "forbid", "fast", "fast_entries",
                 "path_first", "fields")

    def __init__(self, source: str, name: str, model: Any, convert_underscores: bool = True) -> None:
        self.source = source
        self.name = name
        self.model = model
        self.validate = model.__pydantic_validator__.validate_python
        from .typed import _is_sequence  # late: typed imports this module; the one list test
        #: (name on the wire, key the model validates, many values): a header field `x_token`
        #: is the `x-token` header, as FastAPI converts it
        self.keys: List[Tuple[str, str, bool]] = []
        for field_name, info in model.model_fields.items():
            key = info.alias or field_name
            wire = key.replace("_", "-") if source == "header" and convert_underscores else key
            self.keys.append((wire.lower() if source == "header" else wire, key,
                              _is_sequence(info.annotation)))
        #: `model_config = {"extra": "forbid"}`: every other key the source holds is passed on,
        #: so pydantic reports it (FastAPI's behaviour; headers excepted, every request has some)
        self.forbid = model.model_config.get("extra") == "forbid" and source != "header"
        self.fast = None  # no native plan: the model's own validation runs
        self.fast_entries = None
        self.path_first = False
        self.fields = ()

    def gather(self, values: Any) -> Dict[str, Any]:
        """The model's input from the source's values (`request.query_params`, `.headers`,
        `.cookies` or the form)."""
        data: Dict[str, Any] = {}
        for wire, key, many in self.keys:
            if many:
                items = self._all(values, wire)
                if items:
                    data[key] = items
                continue
            value = values.get(wire)
            if value is not None:
                data[key] = value[-1] if isinstance(value, list) else value  # a form's last
        if self.forbid:
            known = {wire for wire, _, _ in self.keys}
            for wire in values:
                if wire not in known:
                    data[wire] = values.get(wire)
        return data

    def _all(self, values: Any, wire: str) -> List[Any]:
        if self.source == "query":
            return list(values.getlist(wire))
        if self.source == "header":
            from .typed import header_list  # late, as in __init__

            return header_list(values, wire)
        got = values.get(wire)
        if got is None:
            return []
        if isinstance(got, list):
            return got
        return [got]
