"""Generate ``priors/cic2025.toml``, the study's priors, from the study's table.

Usage (from the repository root)::

    python tools/make_cic2025_priors.py            # writes priors/cic2025.toml
    python tools/make_cic2025_priors.py --check    # exit 1 if the file on disk differs
    python tools/make_cic2025_priors.py --pre-lease-share 0.7 --out /tmp/pl70.toml
                                                   # a sensitivity variant (never priors/)

Inputs, found relative to this script: the study table mcsd/data/cic2025_wholesale_stock.csv;
every assumption, each next to its reason, in tools/cic2025/assumptions.toml; the layout in the
string.Template tools/cic2025/cic2025.toml.tmpl and its per-block templates cic2025/*.tmpl.
The script derives the integer splits (largest remainder: they sum exactly to the study's
increments), the distribution parameters, the project months, the providers' region
loadings and the pre-leases of the near-term halls; it checks the study's year-end stocks and
turning points in point mode and the pre-leases' cover rule. Same inputs, same file, byte for
byte.
"""

import argparse
import csv
import math
import sys
import tomllib
from pathlib import Path
from string import Template
from typing import Any, NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "cic2025"
CSV_PATH = ROOT / "mcsd" / "data" / "cic2025_wholesale_stock.csv"
OUT_PATH = ROOT / "priors" / "cic2025.toml"

Stock = dict[str, dict[int, tuple[int, int]]]  # region -> year -> (demand, supply) MW
Increments = dict[str, dict[int, int]]  # region -> year -> MW
TAG = {True: "named in the study", False: "ASSUMPTION: not named in the study"}


class Project(NamedTuple):
    id: str
    region: str
    year: int
    scheduled_month: str  # "YYYY-MM"
    capacity_mw: int
    pct: int  # the provider's share of the region's supply addition (percent) ...
    addition_mw: int  # ... in that year
    pre_lease_buyer: str | None = None
    pre_lease_mw: int = 0


class Derived(NamedTuple):
    stock: Stock
    demand_inc: Increments
    supply_inc: Increments
    buyer_inc: dict[str, Increments]  # buyer -> region -> year -> MW
    projects: dict[str, list[Project]]  # provider -> projects
    region_loading: dict[str, float]  # provider -> region_loading (capacity-weighted)
    pre_lease_share: float


def load_assumptions(path: Path = DATA / "assumptions.toml") -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def regions_of(a: dict[str, Any]) -> list[str]:
    return [r["id"] for r in a["regions"]]


def read_stock(path: Path = CSV_PATH) -> Stock:
    out: Stock = {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            mw = (int(row["demand_stock_mw"]), int(row["supply_stock_mw"]))
            out.setdefault(row["region"], {})[int(row["year"])] = mw
    return out


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Integers proportional to weights summing exactly to total (ties: first listed)."""
    w = np.asarray(weights, dtype=float)
    if total == 0 or w.sum() == 0:
        return [0] * len(weights)
    exact = total * w / w.sum()
    base = np.floor(exact).astype(int)
    rem = total - int(base.sum())
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - base[i]), i))
    for i in order[:rem]:
        base[i] += 1
    assert int(base.sum()) == total
    return [int(x) for x in base]


def build(a: dict[str, Any], stock: Stock, pre_lease_share: float | None = None) -> Derived:
    years: list[int] = a["study"]["years"]
    regions = regions_of(a)
    dinc = {r: {y: stock[r][y][0] - stock[r][y - 1][0] for y in years} for r in regions}
    sinc = {r: {y: stock[r][y][1] - stock[r][y - 1][1] for y in years} for r in regions}
    binc: dict[str, Increments] = {b["id"]: {r: {} for r in regions} for b in a["buyers"]}
    for r in regions:
        weights = [b["shares_pct"][r] for b in a["buyers"]]
        assert sum(weights) == 100, ("buyers", r, sum(weights))
        for y in years:
            for b, v in zip(a["buyers"], largest_remainder(dinc[r][y], weights), strict=True):
                binc[b["id"]][r][y] = v
    projects: dict[str, list[Project]] = {p["id"]: [] for p in a["providers"]}
    for r in regions:
        active = [p for p in a["providers"] if r in p["shares_pct"]]
        weights = [p["shares_pct"][r] for p in active]
        assert sum(weights) == 100, ("providers", r, sum(weights))
        for k, y in enumerate(years):
            slots = a["month_slots"][str(y)][r]
            caps = largest_remainder(sinc[r][y], weights)
            for i, (p, cap) in enumerate(zip(active, caps, strict=True)):
                assert cap > 0
                month = f"{y}-{slots[(i + 2 * k) % len(slots)]:02d}"
                prj = Project(
                    f"{p['id']}-{r}-{y}", r, y, month, cap, p["shares_pct"][r], sinc[r][y]
                )
                projects[p["id"]].append(prj)
    loading = region_loadings(a, projects)
    share = a["model"]["pre_lease_share"] if pre_lease_share is None else pre_lease_share
    projects = pre_lease(a, binc, projects, share)
    return Derived(stock, dinc, sinc, binc, projects, loading, share)


def region_loadings(a: dict[str, Any], projects: dict[str, list[Project]]) -> dict[str, float]:
    """Provider -> mean of its regions' lateness loadings, weighted by its 2025-28 capacity."""
    per_region = {r["id"]: r["lateness_loading"] for r in a["regions"]}
    out = {}
    for pid, plist in projects.items():
        cap = sum(x.capacity_mw for x in plist)
        out[pid] = round(sum(x.capacity_mw * per_region[x.region] for x in plist) / cap, 2)
    return out


def pre_lease(
    a: dict[str, Any], binc: dict[str, Increments], projects: dict[str, list[Project]], share: float
) -> dict[str, list[Project]]:
    """Projects with pre-leases: halls of the pre-lease years, share x capacity MW (integer).

    Per (region, year), largest hall first (ties: id): the tenant is the provider's anchor
    buyer if it has room, else the buyer with the most room (ties: listed first); room =
    floor(max_of_increment x increment) minus what that buyer already pre-leased there.
    """
    m = a["model"]
    anchor = {p["id"]: p.get("anchor_buyer") for p in a["providers"]}
    owner = {x.id: pid for pid, plist in projects.items() for x in plist}
    flat = {x.id: x for plist in projects.values() for x in plist}
    for r in regions_of(a):
        for y in m["pre_lease_years"]:
            room = {b: math.floor(m["pre_lease_max_of_increment"] * binc[b][r][y]) for b in binc}
            halls = sorted(
                (x for x in flat.values() if x.region == r and x.year == y),
                key=lambda x: (-x.capacity_mw, x.id),
            )
            for x in halls:
                want = math.floor(share * x.capacity_mw + 0.5)
                b = anchor[owner[x.id]]
                if b is None or room[b] <= 0:
                    b = max(room, key=lambda k: (room[k], -list(room).index(k)))
                mw = min(want, room[b])
                if mw > 0:
                    room[b] -= mw
                    flat[x.id] = x._replace(pre_lease_buyer=b, pre_lease_mw=mw)
    return {pid: [flat[x.id] for x in plist] for pid, plist in projects.items()}


def point_mode(a: dict[str, Any], d: Derived) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Independent monthly point mode: {region: (demand, supply)}, one value per month."""
    years, y0 = a["study"]["years"], a["study"]["base_year"]
    out = {}
    for r in regions_of(a):
        dem = np.full(12 * len(years), float(d.stock[r][y0][0]))
        sup = np.full(12 * len(years), float(d.stock[r][y0][1]))
        for k, y in enumerate(years):
            inc = sum(d.buyer_inc[b][r][y] for b in d.buyer_inc)
            for t in range(12 * k, 12 * k + 12):
                dem[t:] += inc / 12.0
        for prj in (p for plist in d.projects.values() for p in plist if p.region == r):
            y, m = map(int, prj.scheduled_month.split("-"))
            sup[12 * (y - years[0]) + m - 1 :] += prj.capacity_mw
        out[r] = (dem, sup)
    return out


def check(a: dict[str, Any], d: Derived) -> dict[str, str | None]:
    """Point mode meets the study (year-end stocks, no unmet demand, turning years under the
    year-end rule and first shortage months in the same years); pre-leases keep the cover
    rule. Returns region -> first month in shortage ("YYYY-MM") or None."""
    study, years, thr = a["study"], a["study"]["years"], a["study"]["threshold"]
    assert study["turning_point"] == "year_end" and study["sustain_months"] == 1
    pm = point_mode(a, d)
    for r, (dem, sup) in pm.items():
        assert np.all(dem <= a["model"]["max_occupancy"] * sup + 1e-9), f"unmet demand in {r}"
        for k, y in enumerate(years):
            assert abs(dem[12 * k + 11] - d.stock[r][y][0]) < 1e-6
            assert abs(sup[12 * k + 11] - d.stock[r][y][1]) < 1e-9
    pm["national"] = (sum(v[0] for v in pm.values()), sum(v[1] for v in pm.values()))
    res: dict[str, str | None] = {}
    for r, (dem, sup) in pm.items():
        want = study["first_short_year"].get(r)  # not listed: never short
        dec = dem[11::12] / sup[11::12] >= thr  # one December per year (year_end rule)
        got = years[int(np.argmax(dec))] if dec.any() else None
        assert got == want, f"{r}: turns (year end) in {got}, the study says {want or 'never'}"
        if r in study["stays_short"]:  # once short at a year end, short at every later one
            assert dec[years.index(want) :].all(), r
        short = np.nonzero(dem / sup >= thr)[0]  # monthly: p_shortage agrees with the study
        t0 = int(short[0]) if len(short) else None
        res[r] = None if t0 is None else f"{years[0] + t0 // 12}-{t0 % 12 + 1:02d}"
        first = None if t0 is None else years[0] + t0 // 12
        assert first == want, f"{r}: first short month {res[r]}, the study says {want or 'never'}"
    assert 80 <= sum(len(v) for v in d.projects.values()) <= 130
    check_pre_leases(a, d)
    return res


def check_pre_leases(a: dict[str, Any], d: Derived) -> None:
    """Cover rule: a buyer's pre-leases in a (region, year) never exceed its increment there
    (nor max_of_increment x it); each is in (0, capacity] and on a hall of a pre-lease year."""
    m = a["model"]
    held: dict[tuple[str, str, int], int] = {}
    for x in (x for plist in d.projects.values() for x in plist):
        if x.pre_lease_buyer is None:
            assert x.pre_lease_mw == 0, x.id
            continue
        assert 0 < x.pre_lease_mw <= x.capacity_mw and x.year in m["pre_lease_years"], x.id
        key = (x.pre_lease_buyer, x.region, x.year)
        held[key] = held.get(key, 0) + x.pre_lease_mw
    for (b, r, y), mw in held.items():
        inc = d.buyer_inc[b][r][y]
        assert mw <= m["pre_lease_max_of_increment"] * inc <= inc, (b, r, y, mw, inc)


def truncnorm(nominal: float, concentration: float) -> dict[str, Any]:
    """Symmetric truncnorm at the nominal (so median = nominal), sd of a beta (a + b = conc.)."""
    sd = round(math.sqrt(nominal * (1.0 - nominal) / (concentration + 1.0)), 4)
    k = round(min(3.0, (1.0 - nominal) / sd, nominal / sd), 4)  # truncation, in sd
    return {"nominal": f"{nominal:.2f}", "tn_a": -k, "tn_b": k, "tn_scale": sd}


def pairs(m: dict[Any, Any], sep: str = " = ") -> str:
    return ", ".join(f"{k}{sep}{v}" for k, v in m.items())


def block(name: str, *maps: dict[str, Any], **extra: object) -> str:
    """Fill tools/cic2025/<name>.tmpl from the maps (later wins; floats by repr), extras last."""
    values = {k: repr(v) if isinstance(v, float) else v for m in maps for k, v in m.items()}
    text = Template((DATA / f"{name}.tmpl").read_text(encoding="utf-8"))
    return text.substitute(values, **extra).removesuffix("\n")


def comment(text: str, indent: int = 0) -> str:
    """Comment lines: a text with line breaks kept as written, one without wrapped."""
    lines = text.splitlines() if "\n" in text else _wrap(text)
    return ("\n" + " " * indent).join(f"# {line}".rstrip() for line in lines)


def render_buyer(a: dict[str, Any], d: Derived, b: dict[str, Any]) -> str:
    inc = d.buyer_inc[b["id"]]
    rows = [block("increment", region=r, pct=b["shares_pct"][r], values=pairs(inc[r])) for r in inc]
    why = comment(f"{TAG[b['named_in_study']]}. Regional split: {b['shares_why']}")
    tn = truncnorm(b["third_party_share"], a["model"]["third_party_share_concentration"])
    return block(
        "buyer", b, tn, shares_why=why, region_list=", ".join(inc), increments="\n".join(rows)
    )


def render_project(x: Project) -> str:
    if x.pre_lease_buyer is None:
        return block("project", x._asdict(), pre_lease="", pre_lease_note="")
    lease = f', pre_lease = {{ buyer = "{x.pre_lease_buyer}", mw = {x.pre_lease_mw} }}'
    note = f"; pre-leased {x.pre_lease_mw} MW to {x.pre_lease_buyer} (assumption: header)"
    return block("project", x._asdict(), pre_lease=lease, pre_lease_note=note)


def render_provider(a: dict[str, Any], d: Derived, p: dict[str, Any]) -> str:
    plist = d.projects[p["id"]]
    note = comment(
        f"{TAG[p['named_in_study']]}: {p['note']}. Active in: {', '.join(p['shares_pct'])}."
    )
    late = f"{a['model']['late_gamma_a'] * p['late_gamma_scale']:g}"
    per_region = {r["id"]: r["lateness_loading"] for r in a["regions"]}
    mix = ", ".join(f"{r} {per_region[r]:.2f}" for r in p["shares_pct"])
    head = "; pre-leases: header" if any(x.pre_lease_buyer for x in plist) else ""
    return block(
        "provider",
        a["model"],
        p,
        {"region_loading": d.region_loading[p["id"]]},
        note=note,
        late_mean=late,
        loading_mix=mix,
        pre_lease_head=head,
        projects="\n".join(render_project(x) for x in plist),
    )


def render_event(e: dict[str, Any]) -> str:
    return block("demand_event", e, why=comment(e["why"]))


def render_region(a: dict[str, Any], d: Derived, r: dict[str, Any]) -> str:
    dem, sup = d.stock[r["id"]][a["study"]["base_year"]]
    src, why = comment(r["source"]), comment(r["delay_factor_why"])
    return block(
        "region",
        a["study"],
        r,
        source=src,
        delay_factor_why=why,
        lateness_loading_why=comment(r["lateness_loading_why"]),
        lateness_loading=f"{r['lateness_loading']:.2f}",
        demand_mw=dem,
        supply_mw=sup,
    )


def render_spillover(s: dict[str, Any]) -> str:
    to = pairs({k: f"{v:.2f}" for k, v in s["to"].items()})
    row_sum = f"; row sum {sum(s['to'].values()):.2f}" if len(s["to"]) > 1 else ""
    return block("spillover", s, why=comment(s["why"]), to=to, row_sum=row_sum)


def render(a: dict[str, Any], d: Derived) -> str:
    study, model, years, regions = a["study"], a["model"], a["study"]["years"], regions_of(a)

    def totals(inc: Increments) -> str:
        return "\n".join(f"#   {r:<16} " + pairs(inc[r], ": ") for r in regions)

    row = "#   {:<16} {:>5}   {:>5} {:>5} {:>8}"  # a buyer's shares
    shares = (row.format(b["id"], *(b["shares_pct"][r] for r in regions)) for b in a["buyers"])
    slots = (
        f"#   {y}: " + "; ".join(f"{r} {a['month_slots'][str(y)][r]}" for r in regions)
        for y in years
    )
    fill = placeholders(a, d)

    def text(t: str, indent: int = 0) -> str:
        return comment(Template(t).substitute(fill), indent)

    why = {f"why_{g}": "\n".join(text(t) for t in a["why"][g].values()) for g in a["why"]}
    changes = "\n".join(
        comment(f"{c['what']}: {c['old']} -> {c['new']}: {c['why']}.") for c in a["changes"]
    )
    leased = [x for plist in d.projects.values() for x in plist if x.pre_lease_buyer]
    by_year = {
        y: sum(x.pre_lease_mw for x in leased if x.year == y) for y in model["pre_lease_years"]
    }
    main = Template((DATA / "cic2025.toml.tmpl").read_text(encoding="utf-8"))
    return main.substitute(
        study | why | {f"n_{g}": len(a[g]) for g in ("regions", "buyers", "providers")},
        changes=changes,
        turning_point_why=text(study["turning_point_source"]),
        max_occupancy_keep_why=text(model["max_occupancy_keep_why"]),
        pre_lease_why=text(model["pre_lease_why"]),
        pre_lease_share_pct=f"{100 * d.pre_lease_share:g}",
        pre_lease_mw=sum(x.pre_lease_mw for x in leased),
        pre_lease_n=len(leased),
        pre_lease_totals="; ".join(f"{y} {mw} MW" for y, mw in by_year.items()),
        demand_events="\n\n".join(render_event(e) for e in a["demand_events"]),
        last_year=years[-1],
        threshold=f"{study['threshold']:.2f}",
        max_occupancy=f"{model['max_occupancy']:.2f}",
        max_occupancy_why=comment(model["max_occupancy_why"], indent=27),
        regions="\n\n".join(render_region(a, d, r) for r in a["regions"]),
        buyer_shares="\n".join(shares),
        demand_totals=totals(d.demand_inc),
        buyers="\n\n".join(render_buyer(a, d, b) for b in a["buyers"]),
        supply_totals=totals(d.supply_inc),
        month_slots="\n".join(slots),
        why_month_slots=comment(a["month_slots"]["why"]),
        providers="\n\n".join(render_provider(a, d, p) for p in a["providers"]),
        spillover="\n".join(render_spillover(s) for s in a["spillover"]),
    )


def placeholders(a: dict[str, Any], d: Derived) -> dict[str, str]:
    """Values the why texts name as ${...}: derived here so the text cannot drift."""
    m, years = a["model"], a["study"]["years"]
    pm = point_mode(a, d)
    peak = max(float(np.max(dem / sup)) for dem, sup in pm.values())
    yrs = m["pre_lease_years"]
    return {
        "peak": f"{100 * peak:.1f}%",
        "years": f"{yrs[0]}-{yrs[-1]}" if len(yrs) > 1 else str(yrs[0]),
        "share_pct": f"{100 * d.pre_lease_share:g}",
        "max_of_inc_pct": f"{100 * m['pre_lease_max_of_increment']:g}",
        "max_of_inc": f"{m['pre_lease_max_of_increment']:g}",
        "band": m["demand_band_2028"],
        "last_year": str(years[-1]),
    }


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _wrap(text: str, width: int = 92) -> list[str]:
    """Wrap on spaces; split over-long (CJK) runs by display width (CJK = 2 columns)."""
    tokens: list[str] = []
    for w in text.split(" "):
        while _width(w) > width:
            cut = max(i for i in range(len(w)) if _width(w[:i]) <= width)
            tokens.append(w[:cut])
            w = w[cut:]
        tokens.append(w)
    lines: list[str] = []
    cur = ""
    for w in tokens:
        if cur and _width(cur) + 1 + _width(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    return [*lines, cur] if cur else lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the file on disk")
    ap.add_argument("--out", type=Path, default=OUT_PATH)
    ap.add_argument(
        "--pre-lease-share",
        type=float,
        default=None,
        help="share of each near-term hall pre-leased (default: assumptions.toml); a "
        "non-default share needs --out elsewhere than priors/cic2025.toml",
    )
    args = ap.parse_args(argv)
    a = load_assumptions()
    share = args.pre_lease_share
    if share is not None and not 0.0 <= share <= 1.0:
        ap.error(f"--pre-lease-share must be in [0, 1], got {share}")
    default = share is None or share == a["model"]["pre_lease_share"]
    if not default and args.out.resolve() == OUT_PATH.resolve():
        ap.error("a non-default --pre-lease-share writes a variant: give --out another path")
    derived = build(a, read_stock(), share)
    res = check(a, derived)
    text = render(a, derived)
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{args.out} differs from the generator's output")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    n_proj = sum(len(v) for v in derived.projects.values())
    n_b, n_p = len(a["buyers"]), len(a["providers"])
    n_pl = sum(1 for v in derived.projects.values() for x in v if x.pre_lease_buyer)
    mw_pl = sum(x.pre_lease_mw for v in derived.projects.values() for x in v)
    print(f"wrote {args.out} ({n_b} buyers, {n_p} providers, {n_proj} projects)")
    print(f"pre-lease share {derived.pre_lease_share:g}: {mw_pl} MW on {n_pl} halls")
    print(f"point-mode first month with occupancy >= {a['study']['threshold']:.2f}:", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
