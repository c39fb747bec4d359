"""The ``mcsd priors`` subcommand: look at a prior, or write one.

``mcsd priors show FIELD [--priors FILE] [--quantiles 0.05,0.5,0.95]`` prints the
distribution(s) FIELD selects in a priors file, in scipy.stats' names, and their quantiles.
FIELD is a scenario file's selector (``buyers.bytedance.demand_multiplier``,
``providers.*.delivery_delay_months``), resolved by the loader's own selector code on the
file's document (scenarios applied); the whole file is validated first. A share also shows
its nominal (and its loading on the cycle); a ``delivery_delay_months`` table its on-time
probability, its loadings and the quantiles of its ``late`` distribution.

``mcsd priors solve DIST --median M [--fix NAME=VALUE ...] [--solve NAME]`` finds the
parameter NAME (default: ``scale``; ``loc`` for norm and truncnorm, ``b`` for beta) of the
scipy.stats distribution DIST whose median is M (:mod:`mcsd.priors.solve`) and prints it as
an inline table ready to paste, e.g. ``{ dist = "gamma", a = 2.0, scale = 2.979 }``,
followed by comment lines: its median and the priors fields the loader accepts it in.

Wire it into the main parser with ``register(subparsers)``. Errors (a bad field, file,
distribution or argument; a median no parameter value reaches) print one line
``mcsd priors <cmd>: error: ...`` on stderr and return 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

PROG = "mcsd priors"
DEFAULT_QUANTILES = "0.05,0.5,0.95"
# The fields show can read, by their key in the file, with the loader's checker role.
_ROLES = {
    "demand_multiplier": "factor",
    "delay_factor": "factor",
    "late": "late",
    "third_party_share": "share",
    "delivery_delay_months": "delay",
}
_SHOWABLE = "demand_multiplier, third_party_share, delay_factor, delivery_delay_months or its late"


class _Error(Exception):
    """One line for stderr (exit 2)."""


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``priors`` subcommand (``show``, ``solve``) to an ``argparse`` subparsers
    object and return its parser."""
    parser = subparsers.add_parser(
        "priors",
        help="show a prior's quantiles, or solve a distribution's parameter for a median",
        description=(
            "Look at the priors: 'show' prints a field's distribution in scipy.stats' names "
            "and its quantiles; 'solve' finds a distribution parameter for a given median "
            "and prints the TOML to paste."
        ),
    )
    parser.set_defaults(func=_no_action)
    actions = parser.add_subparsers(dest="priors_command", metavar="{show,solve}")

    show = actions.add_parser(
        "show",
        help="a field's distribution and quantiles",
        description=(
            "Print the distribution(s) FIELD selects (a scenario selector such as "
            "buyers.bytedance.demand_multiplier or providers.*.delivery_delay_months) in "
            "scipy.stats' names, with their quantiles. A share also shows its nominal; a "
            "delivery_delay_months table its on-time probability and the quantiles of its "
            "late distribution (months, before the delay factors)."
        ),
    )
    show.add_argument("field", metavar="FIELD", help="selector, as in a scenario file's field")
    show.add_argument(
        "--priors",
        default=None,
        metavar="FILE",
        help="priors or scenario file, or a built-in name (default: cic2025, the study's)",
    )
    show.add_argument(
        "--quantiles",
        default=DEFAULT_QUANTILES,
        metavar="Q,Q,...",
        help=f"probabilities in [0, 1], comma-separated (default: {DEFAULT_QUANTILES})",
    )
    show.set_defaults(func=run_show)

    solve = actions.add_parser(
        "solve",
        help="solve a distribution's parameter for a median; print the TOML",
        description=(
            "Find the parameter --solve of the scipy.stats distribution DIST so that its "
            "median is M, the other parameters given with --fix; print the inline table to "
            "paste into a priors file, checked by the loader's distribution checker."
        ),
    )
    solve.add_argument("dist", metavar="DIST", help="scipy.stats name (lognorm, gamma, beta, ...)")
    solve.add_argument("--median", required=True, metavar="M", help="the median to reach")
    solve.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another parameter's value (repeatable), e.g. --fix s=0.3",
    )
    solve.add_argument(
        "--solve",
        default=None,
        metavar="NAME",
        help="the parameter to find (default: scale; loc for norm and truncnorm, b for beta)",
    )
    solve.set_defaults(func=run_solve)
    return parser


def _no_action(args: argparse.Namespace) -> int:
    return _fail("", "choose show or solve (mcsd priors show FIELD, mcsd priors solve DIST)")


def _fail(cmd: str, message: str) -> int:
    from mcsd.cli.text import safe

    line = " ".join(safe(message).split())
    name = f"{PROG} {cmd}" if cmd else PROG
    try:
        print(f"{name}: error: {line}", file=sys.stderr)
    except (OSError, ValueError):  # stderr gone too: nothing left to tell
        pass
    return 2


def _float(text: str, what: str) -> float:
    try:
        value = float(text.strip().replace("_", ""))
    except ValueError:
        raise _Error(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise _Error(f"{what} must be a finite number, got {text!r}")
    return value


def parse_quantiles(text: str) -> list[float]:
    """``"0.05,0.5,0.95"`` as floats in [0, 1] (_Error otherwise)."""
    items = [t for t in text.split(",")]
    if not text.strip() or any(not t.strip() for t in items):
        raise _Error(f"--quantiles must be probabilities separated by commas, got {text!r}")
    out = []
    for item in items:
        q = _float(item, "--quantiles")
        if not 0 <= q <= 1:
            raise _Error(f"--quantiles must be in [0, 1], got {item.strip()!r}")
        out.append(q)
    return out


# ----------------------------------------------------------------------------- show


def _locate(node: Any, target: Any, path: str = "") -> str | None:
    """The loader's field path (``buyers[0] (bytedance).demand_multiplier``) of the object
    ``target`` (by identity) inside the document ``node``."""
    from mcsd.priors.loader import _item_path, _key_path

    if node is target:
        return path
    if isinstance(node, dict):
        children = ((_key_path(path, str(k)), v) for k, v in node.items())
    elif isinstance(node, list):
        children = ((_item_path(path, i, v), v) for i, v in enumerate(node))
    else:
        return None
    for child_path, child in children:
        found = _locate(child, target, child_path)
        if found is not None:
            return found
    return None


def _scipy_call(dist) -> str:
    args = ", ".join(f"{k}={float(v)!r}" for k, v in dist.params.items())
    return f"scipy.stats.{dist.name}({args})"


def _quantile_lines(dist, quantiles: list[float], unit: str) -> list[str]:
    import numpy as np

    from mcsd.priors import distributions

    with np.errstate(all="ignore"):
        values = distributions.ppf(dist, np.asarray(quantiles, dtype=float))
    width = max(len(f"{q:g}") for q in quantiles)
    lines = [f"  {'q':<{width}}  value ({unit})"]
    lines += [f"  {q:<{width}g}  {v:.6g}" for q, v in zip(quantiles, values, strict=True)]
    return lines


def describe(label: str, key: str, raw: Any, quantiles: list[float], file: str) -> list[str]:
    """The lines ``show`` prints for one selected node ``raw`` (its key ``key``)."""
    from mcsd.priors.loader import _Ctx, _delay, _distribution, _toml

    role = _ROLES.get(key)
    if role is None or not isinstance(raw, dict):
        shown = "" if isinstance(raw, (dict, list)) else f" (it is {_toml(raw)[:60]})"
        raise _Error(f"{label} is not a distribution{shown}: show reads {_SHOWABLE}")
    ctx = _Ctx(file)
    lines = [f"{label} = {_toml(raw)}"]
    if role == "delay":
        delay = _delay(ctx, label, raw)
        p = delay.p_on_time
        lines.append(f"  on time with probability {p:g}; late with probability {1 - p:.6g}")
        lines.append(
            f"  lateness shared: provider_loading {delay.provider_loading:g}, "
            f"region_loading {delay.region_loading:g}"
        )
        lines.append(f"  late: {_scipy_call(delay.late)}")
        lines += _quantile_lines(delay.late, quantiles, "months late, before the delay factors")
        return lines
    if role == "share":
        nominal, dist, loading = _distribution("share")(ctx, label, raw)
        lines.append(f"  {_scipy_call(dist)}")
        lines.append(f"  nominal {nominal:g} (= the median); market_loading {loading:g}")
        lines += _quantile_lines(dist, quantiles, "share")
        return lines
    dist = _distribution(role)(ctx, label, raw)
    lines.append(f"  {_scipy_call(dist)}")
    unit = "months late, before the delay factors" if role == "late" else "factor, median 1"
    lines += _quantile_lines(dist, quantiles, unit)
    return lines


def show_lines(field: str, priors: str | None, quantiles: list[float]) -> list[str]:
    """What ``mcsd priors show`` prints (PriorsError / _Error on bad input)."""
    from mcsd.priors.loader import _Ctx, _select, load_document, priors_from_document

    resolved, loaded = load_document(priors)
    priors_from_document(resolved, loaded)  # the whole file must be valid
    doc = loaded.doc
    out: list[str] = []
    for _parent, key, node in _select(_Ctx(resolved.name), "FIELD", doc, field):
        label = _locate(doc, node) or field
        if out:
            out.append("")
        out += describe(label, str(key), node, quantiles, resolved.name)
    return out


def run_show(args: argparse.Namespace) -> int:
    """Run ``mcsd priors show``; return the exit status."""
    from mcsd.cli.text import safe
    from mcsd.priors.loader import PriorsError

    try:
        quantiles = parse_quantiles(args.quantiles)
        lines = show_lines(args.field, args.priors, quantiles)
    except (_Error, PriorsError) as err:
        return _fail("show", str(err))
    for line in lines:
        print(safe(line))
    return 0


# ----------------------------------------------------------------------------- solve


def parse_fixes(items: list[str]) -> dict[str, float]:
    """``["s=0.3", "loc=0"]`` as ``{"s": 0.3, "loc": 0.0}`` (_Error otherwise)."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise _Error(f"--fix must be NAME=VALUE (e.g. --fix s=0.3), got {item!r}")
        if name in out:
            raise _Error(f"--fix {name} is given twice")
        out[name] = _float(value, f"--fix {name}")
    return out


def solve_lines(dist: str, median: str, fixes: list[str], param: str | None) -> list[str]:
    """What ``mcsd priors solve`` prints (SolveError / PriorsError / _Error on bad input)."""
    from mcsd.priors import distributions
    from mcsd.priors.solve import check, default_parameter, shortened, solve_median, toml_line

    target = _float(median, "--median")
    solved = solve_median(dist, target, parse_fixes(fixes), param)
    param = param or default_parameter(dist)
    short = shortened(solved, param, target)
    fits = check(short)
    got = distributions.median(short)
    error = abs(got - target) / abs(target) if target else abs(got)
    lines = [toml_line(short)]
    lines.append(f"# {_scipy_call(short)}: median {got!r} (relative error {error:.2g})")
    ok = [label for label, problem in fits.items() if problem is None]
    if ok:
        lines.append(f"# the loader accepts it as: {', '.join(ok)}")
        if fits.get("third_party_share") is None:
            lines.append(f"# as a share: third_party_share = {toml_line(short, nominal=target)}")
    else:
        lines.append(
            "# valid, but no priors field takes it as it is (a multiplier needs median 1, a "
            "late delay support >= 0, a share support in [0, 1])"
        )
    return lines


def run_solve(args: argparse.Namespace) -> int:
    """Run ``mcsd priors solve``; return the exit status."""
    from mcsd.cli.text import safe
    from mcsd.priors.loader import PriorsError
    from mcsd.priors.solve import SolveError

    try:
        lines = solve_lines(args.dist, args.median, args.fix, args.solve)
    except (_Error, SolveError, PriorsError) as err:
        return _fail("solve", str(err))
    for line in lines:
        print(safe(line))
    return 0
