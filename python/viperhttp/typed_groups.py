"""A pydantic model standing for a group of parameters of one source (docs/internals/typed-api.md,
"Parameter models"): FastAPI's `Annotated[FilterParams, Query()]`, and the same with `Header()`,
`Cookie()` and `Form()`. Each field of the model is one parameter of that source; the handler
gets the validated model.

It plays a `typed._Source` in `TypedPlan.fill_validated` (same attributes), so errors are
reported per field with the source in front of `loc` (`body` for a form, as FastAPI), and the OpenAPI document lists each field
as a parameter, as FastAPI does.

The model is given what FastAPI 0.165 gives it (`_request_param_model_to_args`, for a form
`_extract_form_items`): its own fields that the request carries, keyed by the field's name (or
alias), then every other key of the source as received. So a model with `extra = "forbid"`
refuses any other query parameter, cookie, header or form field (for headers, every header the client sends: Host, User-Agent, ...), one
`extra_forbidden` error each, and a 422's `input` is that whole dict. Only routes with a
parameter model run any of this.
"""
from __future__ import annotations

from typing import Any, Dict, List, Set, Tuple

__all__ = ["ModelGroup", "ABSENT"]

#: `ModelGroup.gather`'s answer for an optional model the request says nothing of (the
#: parameter's default applies, or a `missing` error at `[source]`)
ABSENT = object()


class ModelGroup:
    """`source` parameters gathered into `model` for the handler parameter `name`."""

    __slots__ = ("source", "name", "model", "validate", "keys", "fast", "fast_entries",
                 "path_first", "fields", "lookups", "also_known", "own_names", "header_locs",
                 "optional", "default")

    def __init__(self, source: str, name: str, model: Any, convert_underscores: bool = True,
                 optional: bool = False, default: Any = ...) -> None:
        self.source = source
        self.name = name
        self.model = model
        self.validate = model.__pydantic_validator__.validate_python
        from .typed import _is_sequence  # late: typed imports this module; the one list test
        header = source == "header"
        config = model.model_config
        by_name = config.get("validate_by_alias") is False or \
            config.get("validate_by_name", config.get("populate_by_name", False))
        #: per field: ((key the model validates, name in the request), ...) in preference
        #: order, and whether it takes every value (a list field)
        self.lookups: List[Tuple[Tuple[Tuple[str, str], ...], bool]] = []
        #: a header field's unconverted name is not an extra header (FastAPI's rule)
        self.also_known: Set[str] = set()
        #: every name a field answers to (an optional model is absent when none is sent)
        self.own_names: Set[str] = set()
        #: a header field's validation key → its header name, for the error `loc`
        self.header_locs: Dict[str, str] = {}
        #: (name on the wire as declared, key the model validates, many values), for the
        #: OpenAPI document
        self.keys: List[Tuple[str, str, bool]] = []
        for field_name, info in model.model_fields.items():
            key = info.validation_alias if isinstance(info.validation_alias, str) and info.validation_alias \
                else info.alias or field_name
            # A header field `x_token` is the `x-token` header; an alias is taken as written.
            named = key.replace("_", "-") if header and convert_underscores and key == field_name else key
            wire = named.lower() if header else named  # header names arrive lower-case
            pairs = [(key, wire)]
            if by_name and field_name != key:
                by_wire = field_name.replace("_", "-") if header and convert_underscores else field_name
                pairs.append((field_name, by_wire.lower() if header else by_wire))
            many = _is_sequence(info.annotation)
            self.lookups.append((tuple(pairs), many))
            self.keys.append((named, key, many))
            for valid, request_name in pairs:
                self.own_names.add(request_name)
                if header and valid.lower() != request_name:
                    self.also_known.add(valid.lower())
                    if config.get("loc_by_alias", True):
                        self.header_locs[valid] = request_name
        #: `Annotated[Model | None, Header()] = None`: absent when the request sends none of
        #: the model's names (and nothing an `allow`/`forbid` model would take)
        self.optional = optional
        self.default = default
        self.fast = None  # no native plan: the model's own validation runs
        self.fast_entries = None
        self.path_first = False
        self.fields = ()

    def gather(self, values: Any) -> Any:
        """The model's input from the source's values (`request.query_params`, `.headers`,
        `.cookies` or the form), or `ABSENT`."""
        if self.source == "form":
            return self._gather_form(values)
        data: Dict[str, Any] = {}
        seen: Set[str] = set(self.also_known)
        many_values = getattr(values, "getlist", None) if self.source != "cookie" else None
        for pairs, many in self.lookups:
            valid, wire = pairs[0]
            if len(pairs) > 1:
                for pair in pairs:
                    if pair[1] in values:
                        valid, wire = pair
                        break
            seen.add(wire)
            if many and many_values is not None:
                value: Any = many_values(wire)
                if not value:
                    continue
            else:
                value = values.get(wire)
                if value is None:
                    continue
            data[valid] = value
        # Every other key, in arrival order, one value or the list of a repeated one.
        if many_values is None:
            for key in values:
                if key not in seen:
                    data[key] = values.get(key)
        else:
            for key in _keys(values):
                if key not in seen:
                    got = many_values(key)
                    data[key] = got[0] if len(got) == 1 else got
        if self.optional and not (self.own_names.intersection(values) or (
                data and self.model.model_config.get("extra") in ("allow", "forbid"))):
            return ABSENT
        return data

    def relabel(self, errors: List[Dict[str, Any]]) -> None:
        """A header field's error names the header (`["header", "save-data"]`), as FastAPI's."""
        for err in errors:
            loc = err["loc"]
            if len(loc) > 1 and loc[1] in self.header_locs:
                loc[1] = self.header_locs[loc[1]]

    def _gather_form(self, values: Any) -> Dict[str, Any]:
        data: Dict[str, Any] = {}
        for pairs, many in self.lookups:
            key, wire = pairs[0]
            got = values.get(wire)
            if got is None:
                continue
            if many:
                data[key] = got if isinstance(got, list) else [got]
            else:
                data[key] = got[-1] if isinstance(got, list) else got  # a form's last
        # The form's other fields, as FastAPI 0.165 passes them (`_extract_form_items`): an
        # `extra = "allow"` model keeps them, `"forbid"` refuses each, `"ignore"` drops them.
        for wire in values:
            if wire not in self.own_names:
                data[wire] = values.get(wire)
        return data


def _keys(values: Any) -> List[str]:
    """The distinct keys of a query or header multi-dict, in arrival order."""
    multi = getattr(values, "multi_items", None)
    if multi is None:
        return list(values)
    return list(dict.fromkeys(key for key, _ in multi()))


def missing_model(loc: str) -> Dict[str, Any]:
    """FastAPI's error for a required optional-typed model the request says nothing of, at
    `loc` (its source; `body` for a form model)."""
    return {"type": "missing", "loc": [loc], "msg": "Field required", "input": None}

