"""OData ``$filter`` parsing and evaluation, ``$top``/``$skip`` paging, as Defender applies them.

Property names are case-sensitive and must be in the collection's documented list; anything
else is answered with 400 ``ODataError``, like the real APIs.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from prefect_defender.emulator.guard import Ctx

__all__ = ["ODataError", "collection", "compile_filter", "metadata", "parse_top_skip"]


class ODataError(ValueError):
    """An invalid query option (answered as 400 ``ODataError``)."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<dt>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),:/])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_CMP = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"startswith", "endswith", "contains"}


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ODataError(f"Syntax error at position {pos} in '{text}'")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


@lru_cache(maxsize=1 << 17)
def _parse_dt(v: str) -> datetime:
    # cached: a list filter compares every stored record's timestamp on every request, and
    # the same few thousand strings come back request after request (tens of thousands of
    # incidents paged by time windows)
    s = v.replace("Z", "+00:00")
    if "." in s:
        head, frac = s.split(".", 1)
        digits = "".join(ch for ch in frac if ch.isdigit())
        rest = frac[len(digits) :]
        s = f"{head}.{digits[:6]}{rest}"
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise ODataError(f"Invalid datetime literal '{v}'") from None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(b, datetime) and isinstance(a, str):
        return _parse_dt(a), b
    if isinstance(a, str) and isinstance(b, str):
        return a.lower(), b.lower()  # Defender compares strings case-insensitively
    return a, b


Pred = Callable[[dict[str, Any]], bool]
#: the entity type Defender for Endpoint names when a $filter property is unknown
MDE_ENTITY = "microsoft.windowsDefenderATP.api.PublicEntity"


class _Parser:
    def __init__(
        self,
        toks: list[tuple[str, str]],
        props: list[str],
        any_case: bool = False,
        entity: str = MDE_ENTITY,
    ) -> None:
        self.toks, self.i = toks, 0
        self.entity = entity
        self.props: dict[str, str] = {}
        for p in props:  # the first spelling of a name is the record's field
            self.props.setdefault(p.lower() if any_case else p, p)
        self.any_case = any_case

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "eof" or (value is not None and tok[1] != value):
            raise ODataError(f"Syntax error: expected '{value or 'a value'}', found '{tok[1]}'")
        self.i += 1
        return tok

    def expr(self) -> Pred:
        left = self.and_()
        while self.peek() == ("word", "or"):
            self.take()
            right = self.and_()
            left = (lambda lhs, rhs: lambda r: lhs(r) or rhs(r))(left, right)
        return left

    def and_(self) -> Pred:
        left = self.unary()
        while self.peek() == ("word", "and"):
            self.take()
            right = self.unary()
            left = (lambda lhs, rhs: lambda r: lhs(r) and rhs(r))(left, right)
        return left

    def unary(self) -> Pred:
        if self.peek() == ("word", "not"):
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        if self.peek() == ("punct", "("):
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        return self.comparison()

    def prop(self) -> str:
        kind, name = self.take()
        field = self.props.get(name.lower() if self.any_case else name) if kind == "word" else None
        if field is None:
            raise ODataError(f"Could not find a property named '{name}' on type '{self.entity}'.")
        return field

    def literal(self) -> Any:
        kind, v = self.take()
        if kind == "str":
            return v[1:-1].replace("''", "'")
        if kind == "dt":
            return _parse_dt(v)
        if kind == "num":
            return float(v) if "." in v else int(v)
        if kind == "word" and v in ("true", "false"):
            return v == "true"
        if kind == "word" and v == "null":
            return None
        raise ODataError(f"Syntax error: '{v}' is not a literal")

    def comparison(self) -> Pred:
        kind, word = self.peek()
        if kind == "word" and word in _FUNCS:
            self.take()
            return self.function_call(word)
        name = self.prop()
        if self.peek() == ("punct", "/"):
            return self.lambda_any(name)
        op = self.take()[1]
        if op == "in":
            return self.in_list(name)
        if op not in _CMP:
            raise ODataError(f"Syntax error: unknown operator '{op}'")
        return _compare(name, op, self.literal())

    def function_call(self, func: str) -> Pred:
        """``startswith|endswith|contains(prop, 'text')``, case-insensitive."""
        self.take("(")
        name = self.prop()
        self.take(",")
        value = str(self.literal()).lower()
        self.take(")")
        test: Callable[[str, str], bool] = {
            "startswith": str.startswith,
            "endswith": str.endswith,
            "contains": str.__contains__,
        }[func]
        return lambda r: isinstance(r.get(name), str) and test(r[name].lower(), value)

    def lambda_any(self, name: str) -> Pred:
        """``prop/any(x: x eq 'value')`` over a list property."""
        self.take("/")
        self.take("any")
        self.take("(")
        var = self.take()[1]
        self.take(":")
        if self.take()[1] != var:
            raise ODataError("Syntax error in lambda expression")
        op = self.take()[1]
        if op != "eq":
            raise ODataError("Only 'eq' is supported inside any()")
        value = str(self.literal()).lower()
        self.take(")")
        return lambda r: any(str(x).lower() == value for x in r.get(name) or [])

    def in_list(self, name: str) -> Pred:
        """``prop in ('a', 'b')``, case-insensitive."""
        self.take("(")
        values = [self.literal()]
        while self.peek() == ("punct", ","):
            self.take(",")
            values.append(self.literal())
        self.take(")")
        low = {str(v).lower() for v in values}
        return lambda r: str(r.get(name)).lower() in low


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def _compare(name: str, op: str, value: Any) -> Pred:
    """``prop <op> literal``: ``null`` only equals ``null``; strings compare case-insensitively,
    datetimes as instants; values that do not compare are not matched."""
    test = _OPS[op]

    def pred(r: dict[str, Any]) -> bool:
        a = r.get(name)
        if a is None or value is None:
            if op == "eq":
                return (a is None) == (value is None)
            return (a is None) != (value is None) if op == "ne" else False
        x, y = _coerce(a, value)
        try:
            return bool(test(x, y))
        except TypeError:
            return False

    return pred


def page_list(sentence: str) -> tuple[str, ...]:
    """The property names of a documentation sentence as the page writes it
    (``"a, b,c, and d."`` -> ``("a", "b", "c", "d")``)."""
    names = re.split(r",|\band\b", sentence.rstrip(". "))
    return tuple(n.strip() for n in names if n.strip())


def compile_filter(
    text: str | None,
    properties: Iterable[str],
    *,
    any_case: bool = False,
    entity: str = MDE_ENTITY,
) -> Pred:
    """A predicate for ``$filter`` over records with the given filterable properties.

    A property outside ``properties`` is an :class:`ODataError` naming ``entity`` (Graph names
    its own type, e.g. ``microsoft.graph.security.incident``).

    With ``any_case`` a property named in another case (``HealthStatus``) is the record's
    field listed first (``healthStatus``): Defender for Endpoint's pages spell the same
    properties both ways (see the route modules), so the emulator serves both.
    """
    if not text:
        return lambda r: True
    parser = _Parser(_tokens(text), list(properties), any_case, entity)
    pred = parser.expr()
    if parser.peek()[0] != "eof":
        raise ODataError(f"Syntax error: unexpected '{parser.peek()[1]}'")
    return pred


def parse_top_skip(params: Any, maximum: int, default: int | None = None) -> tuple[int, int]:
    """``($top, $skip)`` from query parameters, checked against the documented maximum."""
    try:
        top = int(params.get("$top")) if params.get("$top") is not None else (default or maximum)
        skip = int(params.get("$skip") or 0)
    except ValueError:
        raise ODataError("$top and $skip must be integers") from None
    if top < 0 or skip < 0:
        raise ODataError("$top and $skip must not be negative")
    if top > maximum:
        raise ODataError(
            f"The limit of '{maximum}' for Top query has been exceeded. "
            f"The value from the incoming request is '{top}'."
        )
    return top, skip


def metadata(ctx: Ctx, name: str) -> str:
    """The ``@odata.context`` of a Defender answer: ``<base>api/$metadata#<name>``."""
    return f"{ctx.request.base_url}api/$metadata#{name}"


def collection(ctx: Ctx, name: str, rows: list[dict[str, Any]]) -> JSONResponse:
    """A Defender collection answer: ``{"@odata.context": ..., "value": rows}``."""
    return JSONResponse({"@odata.context": metadata(ctx, name), "value": rows})
