# ruff: noqa: E501  (lines are the emitted TOML text, kept one-to-one with the output)
"""Generate ``priors/cic2025.toml``, the study's priors, from the study's table.

Usage (from the repository root)::

    python tools/make_cic2025_priors.py            # writes priors/cic2025.toml
    python tools/make_cic2025_priors.py --check    # exit 1 if the file on disk differs

Deterministic: the same CSV gives the same file, byte for byte. The TOML is the artifact;
this script only documents how its numbers were derived:

* regional yearly increments = CSV stock of year y minus year y-1 (demand and supply);
* per-buyer and per-provider splits of those increments use the share tables below
  (assumptions: the study prints no per-buyer or per-provider figures) and a
  largest-remainder rule, so integer MW sum *exactly* to the study's increments;
* each third-party share is a truncnorm centred on its nominal, truncated symmetrically, so
  its median is the nominal exactly;
* project months are staggered through the year (first-half heavy) so that, in point
  mode, monthly occupancy reproduces the study's turning points (checked below).

Reads ``mcsd/data/cic2025_wholesale_stock.csv`` (the project's copy of the study table).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CSV_PATH = ROOT / "mcsd" / "data" / "cic2025_wholesale_stock.csv"
OUT_PATH = ROOT / "priors" / "cic2025.toml"

BASE_YEAR = 2024
YEARS = (2025, 2026, 2027, 2028)
REGIONS = ("jingjin", "yangtze", "gba", "southwest_other")
THRESHOLD = 0.80
MAX_OCCUPANCY = 0.97
BETA_CONCENTRATION = 30.0  # a + b ~ 30: sd of a share near 0.6 is about 0.09 (moderate)

REGION_INFO = {
    "jingjin": (
        "Around Beijing incl. Inner Mongolia (环京地区（含内蒙古）)",
        "区域页: 环京地区（含内蒙古）第三方算力中心定制批发业务供需关系分析 (jingjin = national"
        " minus the other three, as in the CSV; text: 4.8 GW demand / 6.0 GW supply end-2024)",
        0.25,
        "assumption: power and energy-approval (能评) limits around Beijing -- 政策页 '一线城市："
        "算力中心供给存在稀缺性，土地资源与能耗指标相对紧张', 区域页 '北京受土地资源、电力成本等"
        "因素的制约，算力中心供给收紧' -- make all providers' slippage there move together",
    ),
    "yangtze": (
        "Yangtze River Delta (长三角)",
        "区域页: 长三角地区第三方算力中心定制批发业务供需关系分析 (bar chart, MW)",
        0.20,
        "assumption: Shanghai approvals are limited ('由于其批复资源规模受限', 长三角 供给特征) but"
        " supply has moved to Kunshan/Taicang/Changshu/Nantong where it is easier: a milder common"
        " factor than jingjin",
    ),
    "gba": (
        "Greater Bay Area (粤港澳)",
        "区域页: 粤港澳地区第三方算力中心定制批发业务供需关系分析 (bar chart, MW)",
        0.30,
        "assumption: '广州和深圳...由于电力资源限制，两个城市现阶段已基本暂停批复3,000R+以上能评'"
        " (粤港澳 供给特征); new supply depends on Shaoguan/Dongguan grid and approvals, so the"
        " widest regional factor",
    ),
    "southwest_other": (
        "Southwest and other regions incl. Shanxi (西南及其他地区（含山西）)",
        "区域页: 西南及其他地区第三方算力中心定制批发业务供需关系分析 (bar chart, MW)",
        0.15,
        "assumption: ample renewable power and low prices in the west (算力中心行业供给面临电力资源"
        "挑战 页: 西部电价 <0.3 元/kWh; 东数西算) -- a narrow regional factor",
    ),
}

# --------------------------------------------------------------------------------------
# Buyers. Shares are percent of each region's yearly increment (assumption: the study
# prints no per-buyer split). Each column sums to 100.
# --------------------------------------------------------------------------------------
#            id, name, in_study, shares(jj, yz, gba, sw), s, loading, persistence, tp_nominal
BUYERS = [
    ("bytedance", "ByteDance (字节跳动)", True, (34, 20, 12, 30), 0.32, 0.80, 0.5, 0.70),
    ("alibaba", "Alibaba (阿里巴巴)", True, (18, 26, 14, 6), 0.30, 0.80, 0.6, 0.55),
    ("tencent", "Tencent (腾讯)", True, (8, 14, 28, 12), 0.30, 0.80, 0.5, 0.55),
    ("baidu", "Baidu (百度)", True, (7, 5, 6, 6), 0.30, 0.75, 0.5, 0.50),
    ("huawei", "Huawei (华为)", True, (5, 5, 20, 12), 0.30, 0.70, 0.5, 0.40),
    ("kuaishou", "Kuaishou (快手)", True, (9, 3, 2, 2), 0.25, 0.65, 0.5, 0.60),
    ("jd", "JD.com (京东)", True, (4, 3, 3, 6), 0.20, 0.55, 0.5, 0.50),
    ("meituan", "Meituan (美团)", True, (3, 3, 2, 6), 0.20, 0.55, 0.5, 0.60),
    ("netease", "NetEase (网易)", True, (1, 5, 3, 5), 0.20, 0.55, 0.5, 0.60),
    ("apple", "Apple (苹果)", True, (2, 1, 2, 6), 0.20, 0.50, 0.5, 0.35),
    ("amazon", "Amazon (亚马逊)", True, (0, 1, 1, 5), 0.25, 0.50, 0.5, 0.35),
    ("ant_group", "Ant Group (蚂蚁集团)", False, (2, 6, 2, 1), 0.20, 0.55, 0.5, 0.50),
    ("pinduoduo", "Pinduoduo (拼多多)", False, (3, 4, 2, 1), 0.20, 0.55, 0.5, 0.70),
    ("xiaohongshu", "Xiaohongshu (小红书)", False, (3, 3, 2, 1), 0.25, 0.60, 0.5, 0.75),
    ("microsoft_china", "Microsoft China (微软中国)", False, (1, 1, 1, 1), 0.25, 0.50, 0.5, 0.80),
]

BUYER_NOTES = {
    # id: (regional split sources, why this width and loading, why this third-party share)
    "bytedance": (
        "the largest buyer: 中国AI服务器出货量 页 '字节跳动和腾讯各采购约23万片' H-series chips in"
        " 2024; BAT Capex变化 页 '2024年字节跳动的资本开支达800亿元'; 山西（大同）页 '仅字节在大同"
        "地区IT需求便超过650MW，在建接近200MW，同时仍有超过900MW需求规划中' -> heavy in jingjin"
        " and southwest_other (Datong is in Shanxi)",
        "AI-training heavy; one firm's capex decision moves hundreds of MW",
        "mostly leases built-to-suit halls (Datong via third parties)",
    ),
    "alibaba": (
        "BAT Capex变化 页 '未来三年，阿里在云和AI上的资本开支将超3,800亿元'; 内蒙古页 乌兰察布"
        " customers include 阿里; 长三角 页 南通 '阿里巴巴等大型企业的自建项目' -> heavy in yangtze",
        "cloud + AI, CNY 380bn three-year plan (a multi-year plan also makes shocks persist: 0.6)",
        "large self-built campuses (Nantong, Zhangbei) beside leases",
    ),
    "tencent": (
        "中国AI服务器出货量 页: about 230k H-series chips in 2024; 粤港澳 页 '华为、腾讯在粤港澳"
        "地区有一定的用户基础...制定了稳定的部署规划'; 西南页 贵安 hosts 腾讯 -> heavy in gba",
        "AI-heavy (Hunyuan), chip-purchase driven",
        "self-built campuses (Gui'an, Qingyuan) beside leases",
    ),
    "baidu": (
        "BAT Capex变化 页 (BAT capex > CNY 120bn in 2024); 粤港澳 页 东莞 customers include 百度",
        "AI-model firm (ERNIE), volatile capex",
        "large self-built campus (Yangquan, Shanxi)",
    ),
    "huawei": (
        "内蒙古页 乌兰察布 customers include 华为; 西南页 贵安 '华为、腾讯、网易'; 粤港澳 页 '华为、"
        "腾讯...稳定的部署规划' -> heavy in gba and southwest_other",
        "Ascend AI cloud growth, but export-control exposure",
        "builds much itself (Gui'an, Ulanqab)",
    ),
    "kuaishou": (
        "内蒙古页 乌兰察布 customers include 快手 -> heavy in jingjin",
        "short video plus its own models (Kling): partly AI",
        "self-built Ulanqab campus beside leases",
    ),
    "jd": (
        "山西（大同）页 '目前大同已入驻字节、京东等公司' -> southwest_other; Beijing HQ -> jingjin",
        "e-commerce, mostly general compute: steadier",
        "mix of own and leased halls",
    ),
    "meituan": (
        "西南页 '亚马逊、美团均在宁夏建成大型数据中心' -> southwest_other; Beijing HQ -> jingjin",
        "local services, mostly general compute: steadier",
        "leases most capacity near Beijing",
    ),
    "netease": (
        "西南页 贵安 '华为、腾讯、网易' -> southwest_other; Hangzhou HQ -> yangtze",
        "games and Youdao, mostly general compute: steadier",
        "leases most capacity",
    ),
    "apple": (
        "内蒙古页 乌兰察布 customers include 苹果; iCloud China in Gui'an (assumption)",
        "stable storage demand; onshore-data policy risk",
        "mostly in local partners' own facilities (assumption)",
    ),
    "amazon": (
        "西南页 '亚马逊、美团均在宁夏建成大型数据中心' -> southwest_other",
        "foreign cloud in China: geopolitics and moves abroad",
        "own Ningxia campus",
    ),
    "ant_group": (
        "assumption (not named in the study): fintech/AI platform, Hangzhou -> yangtze",
        "fintech, mostly general compute: steadier",
        "mix of own and leased halls",
    ),
    "pinduoduo": (
        "assumption (not named in the study): asset-light e-commerce, Shanghai -> yangtze",
        "e-commerce, mostly general compute: steadier",
        "asset-light, leases",
    ),
    "xiaohongshu": (
        "assumption (not named in the study): fast-growing content platform, Shanghai",
        "young, fast-growing content platform",
        "asset-light, leases",
    ),
    "microsoft_china": (
        "assumption (not named in the study): Azure China is operated by VNET (世纪互联)",
        "foreign cloud in China: geopolitics",
        "runs entirely in partners' third-party halls",
    ),
}

# --------------------------------------------------------------------------------------
# Providers. Shares are percent of each region's yearly supply addition (assumption).
#   id, name, named_in_study, {region: share}, cancellation, delay_factor_s, p_on_time,
#   late gamma scale (a = 2 always), note
# --------------------------------------------------------------------------------------
PROVIDERS = [
    (
        "gds",
        "GDS Holdings (万国数据)",
        False,
        {"jingjin": 16, "yangtze": 18, "gba": 30},
        0.03,
        0.30,
        0.65,
        1.5,
        "national; Hebei/Inner Mongolia, Shanghai/Kunshan, Shenzhen/Huizhou; leveraged (funding)",
    ),
    (
        "chindata",
        "Chindata / Qinhuai (秦淮数据)",
        True,
        {"jingjin": 16, "southwest_other": 35},
        0.02,
        0.25,
        0.65,
        1.5,
        "named: 山西（大同）页 '已经集合了秦淮、京东等企业入驻'; hyperscale builder for ByteDance",
    ),
    (
        "vnet",
        "VNET (世纪互联)",
        True,
        {"jingjin": 12, "yangtze": 12},
        0.04,
        0.30,
        0.60,
        1.5,
        "named: 内蒙古页 '华为、世纪互联、中金数据等智算中心正在建设中'; leveraged (funding)",
    ),
    (
        "cidc",
        "CIDC (中金数据)",
        True,
        {"jingjin": 8},
        0.03,
        0.30,
        0.60,
        1.5,
        "named: 内蒙古页 (智算中心正在建设中); Horinger/Ulanqab",
    ),
    (
        "range",
        "Range Intelligent Computing (润泽科技)",
        False,
        {"jingjin": 16, "yangtze": 10},
        0.02,
        0.25,
        0.65,
        1.5,
        "national; Langfang campus, Pinghu (Zhejiang); strong land/power reserves",
    ),
    (
        "sinnet",
        "Sinnet (光环新网)",
        False,
        {"jingjin": 7},
        0.03,
        0.30,
        0.60,
        1.5,
        "Beijing outskirts and Yanjiao; Beijing approvals are tight",
    ),
    (
        "bridge_dc",
        "Bridge Data Centres (BDC)",
        False,
        {"jingjin": 12, "southwest_other": 25},
        0.03,
        0.30,
        0.60,
        2.0,
        "hyperscale builder; Huailai (Hebei) and Datong (Shanxi)",
    ),
    (
        "glp_dc",
        "GLP Data Centres (普洛斯数据中心)",
        False,
        {"jingjin": 6},
        0.04,
        0.30,
        0.60,
        2.0,
        "Langfang/Zhangjiakou; newer entrant",
    ),
    (
        "ucloud",
        "UCloud (优刻得)",
        False,
        {"jingjin": 7},
        0.05,
        0.35,
        0.55,
        2.0,
        "Ulanqab campus; smaller balance sheet (funding)",
    ),
    (
        "dataway",
        "Dataway (数据港)",
        False,
        {"yangtze": 16},
        0.03,
        0.30,
        0.60,
        1.5,
        "Shanghai-based wholesale builder (Alibaba's partner)",
    ),
    (
        "pdg",
        "Princeton Digital Group (普林斯顿数字)",
        False,
        {"yangtze": 10},
        0.04,
        0.30,
        0.60,
        2.0,
        "foreign-owned; Shanghai/Nantong",
    ),
    (
        "baosight",
        "Baosight IDC (宝信软件)",
        False,
        {"yangtze": 12},
        0.02,
        0.25,
        0.65,
        1.5,
        "state-backed Shanghai operator (Baowu); strong funding",
    ),
    (
        "youfu",
        "Youfu Network (有孚网络)",
        False,
        {"yangtze": 8},
        0.05,
        0.35,
        0.55,
        2.0,
        "regional Shanghai/Nanjing provider",
    ),
    (
        "chengdi",
        "Chengdi Xiangjiang (城地香江)",
        False,
        {"yangtze": 6},
        0.06,
        0.35,
        0.55,
        2.0,
        "regional Shanghai provider; weaker funding",
    ),
    (
        "hangang",
        "Hangang Digital (杭钢数字科技)",
        False,
        {"yangtze": 8},
        0.04,
        0.30,
        0.60,
        2.0,
        "regional Hangzhou provider (state-backed)",
    ),
    (
        "aofei",
        "Aofei Data (奥飞数据)",
        False,
        {"gba": 25},
        0.04,
        0.35,
        0.55,
        2.0,
        "Guangzhou-based regional provider; also Langfang",
    ),
    (
        "kehua",
        "Kehua Data (科华数据)",
        False,
        {"gba": 20},
        0.04,
        0.35,
        0.55,
        2.0,
        "regional provider; Guangzhou/Shenzhen",
    ),
    (
        "yingshuo",
        "Yingshuo Group (鹰硕集团)",
        True,
        {"gba": 25},
        0.05,
        0.35,
        0.55,
        2.0,
        "named: 粤港澳 页 韶关 '当前已建成的算力中心主要由运营商和鹰硕集团投资建设并运营'",
    ),
    (
        "meili_cloud",
        "Meili Cloud (美利云, Zhongwei)",
        False,
        {"southwest_other": 15},
        0.05,
        0.35,
        0.55,
        2.0,
        "regional provider in Zhongwei, Ningxia (中卫集群)",
    ),
    (
        "sw_regional",
        "Southwest regional providers (aggregate)",
        False,
        {"southwest_other": 25},
        0.06,
        0.35,
        0.55,
        2.5,
        "AGGREGATE (assumption): the study's regional third parties in Gui'an, Chengdu-Chongqing,"
        " Wuhan; one entry so the provider count stays at the study's 20",
    ),
]

# Scheduled-month slots per region and year (rotated between providers year by year).
# Assumption, tuned so point-mode MONTHLY occupancy behaves like the study (see check()):
# yangtze's 2025 halls arrive Jan-Sep so it stays < 80% through 2025 (79.05% at year end);
# jingjin's halls, the largest, are spread Mar/Apr-Nov/Dec so it turns in Jan 2025 and stays
# above 80%; national stays < 80% through 2026 (79.19% at year end) and >= 80% from Jan 2027.
_JJ_A = (4, 5, 6, 7, 8, 9, 10, 11, 12)
_JJ_B = (3, 4, 5, 6, 7, 8, 9, 10, 11)
_YZ_A = (1, 2, 3, 4, 5, 6, 7, 8, 9)
_YZ_B = (2, 3, 4, 5, 6, 7, 8, 9, 10)
MONTH_SLOTS = {
    2025: {
        "jingjin": _JJ_A,
        "yangtze": _YZ_A,
        "gba": (3, 5, 7, 9),
        "southwest_other": (2, 4, 6, 8),
    },
    2026: {
        "jingjin": _JJ_B,
        "yangtze": _YZ_A,
        "gba": (3, 5, 7, 9),
        "southwest_other": (2, 4, 6, 8),
    },
    2027: {
        "jingjin": _JJ_A,
        "yangtze": _YZ_B,
        "gba": (3, 5, 7, 9),
        "southwest_other": (3, 5, 7, 9),
    },
    2028: {
        "jingjin": _JJ_B,
        "yangtze": _YZ_A,
        "gba": (3, 5, 7, 9),
        "southwest_other": (2, 4, 6, 8),
    },
}


# --------------------------------------------------------------------------------------
def read_stock() -> dict[str, dict[int, tuple[int, int]]]:
    out: dict[str, dict[int, tuple[int, int]]] = {}
    with CSV_PATH.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["region"], {})[int(row["year"])] = (
                int(row["demand_stock_mw"]),
                int(row["supply_stock_mw"]),
            )
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


def month_str(year: int, month: int) -> str:
    return f"{year}-{month:02d}"


def build():
    stock = read_stock()
    dinc = {r: {y: stock[r][y][0] - stock[r][y - 1][0] for y in YEARS} for r in REGIONS}
    sinc = {r: {y: stock[r][y][1] - stock[r][y - 1][1] for y in YEARS} for r in REGIONS}

    # buyers' integer increments
    binc: dict[str, dict[str, dict[int, int]]] = {b[0]: {r: {} for r in REGIONS} for b in BUYERS}
    for ri, r in enumerate(REGIONS):
        weights = [b[3][ri] for b in BUYERS]
        assert sum(weights) == 100, (r, sum(weights))
        for y in YEARS:
            for b, v in zip(BUYERS, largest_remainder(dinc[r][y], weights), strict=True):
                binc[b[0]][r][y] = v

    # projects
    projects: dict[str, list[tuple[str, str, int, str, str]]] = {p[0]: [] for p in PROVIDERS}
    for r in REGIONS:
        active = [p for p in PROVIDERS if r in p[3]]
        weights = [p[3][r] for p in active]
        assert sum(weights) == 100, (r, sum(weights))
        for k, y in enumerate(YEARS):
            slots = MONTH_SLOTS[y][r]
            caps = largest_remainder(sinc[r][y], weights)
            for i, (p, cap) in enumerate(zip(active, caps, strict=True)):
                assert cap > 0
                month = slots[(i + 2 * k) % len(slots)]
                pid = f"{p[0]}-{r}-{y}"
                note = f"{p[3][r]}% of {r} {y} supply addition {sinc[r][y]}"
                projects[p[0]].append((pid, r, cap, month_str(y, month), note))
    return stock, dinc, sinc, binc, projects


# --------------------------------------------------------------------------------------
def point_mode(stock, binc, projects):
    """Independent monthly point mode: returns {region: (demand[48], supply[48])}."""
    n = 12 * len(YEARS)
    out = {}
    for r in REGIONS:
        d = np.full(n, float(stock[r][BASE_YEAR][0]))
        s = np.full(n, float(stock[r][BASE_YEAR][1]))
        for k, y in enumerate(YEARS):
            inc = sum(binc[b][r][y] for b in binc)
            for m in range(12):
                t = 12 * k + m  # index of month m+1 of year y
                d[t:] += inc / 12.0
        for plist in projects.values():
            for _pid, pr, cap, sm, _ in plist:
                if pr != r:
                    continue
                y, m = map(int, sm.split("-"))
                t = 12 * (y - YEARS[0]) + (m - 1)
                s[t:] += cap
        out[r] = (d, s)
    return out


def first_shortage(d, s):
    idx = np.nonzero(d / s >= THRESHOLD)[0]
    if len(idx) == 0:
        return None
    t = int(idx[0])
    return month_str(YEARS[0] + t // 12, t % 12 + 1)


def check(stock, dinc, sinc, binc, projects) -> dict[str, str | None]:
    pm = point_mode(stock, binc, projects)
    res = {}
    for r, (d, s) in pm.items():
        assert np.all(d <= MAX_OCCUPANCY * s + 1e-9), f"unmet demand in {r}"
        for k, y in enumerate(YEARS):
            t = 12 * k + 11
            assert abs(d[t] - stock[r][y][0]) < 1e-6 and abs(s[t] - stock[r][y][1]) < 1e-9
        res[r] = first_shortage(d, s)
    dn = sum(pm[r][0] for r in REGIONS)
    sn = sum(pm[r][1] for r in REGIONS)
    res["national"] = first_shortage(dn, sn)
    assert res["jingjin"] and res["jingjin"].startswith("2025"), res
    assert res["yangtze"] and res["yangtze"].startswith("2026"), res
    assert res["national"] and res["national"].startswith("2027"), res
    assert res["gba"] is None and res["southwest_other"] is None, res
    for r in ("jingjin", "national"):  # once short, stays short (as the study's narrative)
        d, s = pm[r] if r != "national" else (dn, sn)
        t0 = (int(res[r][:4]) - YEARS[0]) * 12 + int(res[r][5:]) - 1
        assert np.all(d[t0:] / s[t0:] >= THRESHOLD), r
    n_proj = sum(len(v) for v in projects.values())
    assert 80 <= n_proj <= 130, n_proj
    return res


# --------------------------------------------------------------------------------------
def fmt(x: float) -> str:
    return repr(float(x))


def render(stock, dinc, sinc, binc, projects) -> str:
    L: list[str] = []
    a = L.append
    a("# cic2025.toml -- the study's priors for mcsd (the base case).")
    a("#")
    a("# GENERATED by tools/make_cic2025_priors.py from mcsd/data/cic2025_wholesale_stock.csv;")
    a("# edit the generator, not this file, and re-run it.")
    a("#")
    a("# Source: CIC 灼识咨询 2025 market study of China's third-party custom-wholesale")
    a("# (定制批发) compute-centre market: year-end IT-capacity stock (存量口径, MW) of demand and")
    a("# supply per region, 2023 actual, 2024E, 2025E-2028E. Region stocks come from the region")
    a(
        "# pages' bar charts (区域页 ...供需关系分析); jingjin is the national charts (中国第三方算力中心"
    )
    a("# 定制批发业务IT容量需求/供给变化) minus the other three regions.")
    a("#")
    a(
        "# LABEL-SHIFT TRAP: on the page 分地区每年增量供需预测（GW） the text extraction shifted the"
    )
    a(
        "# chart labels by one: the numbers printed under '环京' are yangtze's, under '长三角' gba's,"
    )
    a("# under '粤港澳' southwest_other's and under '西南及其他地区' jingjin's. This file does NOT")
    a("# read that page: every increment below is a difference of the CSV's year-end stocks, which")
    a("# agree with the region pages (and with the corrected reading of the increments page).")
    a("#")
    a("# What is the study and what is assumed:")
    a(
        "#  * study: base stocks, yearly regional increments of demand and supply (exact, integer MW),"
    )
    a("#    threshold 0.80, 15 buyers and 20 providers as the model's structure (研究方法论 页).")
    a("#  * assumption: every per-buyer and per-provider split (the study prints none), every")
    a("#    uncertainty width, project months, delays, cancellations, spillover. Each is marked")
    a("#    'assumption:' with its reasoning. Splits add up EXACTLY to the study's increments")
    a("#    (largest-remainder rounding), so point mode reproduces the CSV's year-end stocks.")
    a("#  * nominal = median for every uncertain input (MODEL.md): lognorm with scale 1 has")
    a(
        "#    median 1; each share is a symmetric truncnorm centred on its nominal (median = nominal); delays are"
    )
    a("#    0 with probability p_on_time >= 0.5, so the nominal delivery is the scheduled month.")
    a("")
    a("[meta]")
    a('name = "cic2025"')
    a(
        'description = "CIC 2025 study of China third-party custom-wholesale compute-centre capacity:'
        ' 4 regions, 15 buyers, 20 providers; base end-2024, horizon end-2028."'
    )
    a("")
    a("[settings]")
    a(
        'base_month = "2024-12"     # study: base stocks are the 2024E year-end stock (CSV 2024 rows)'
    )
    a('horizon_month = "2028-12"  # study: forecast runs to 2028E')
    a(
        "threshold = 0.80           # study: '存量需求占比存量供给超过80%即为供不应求' (region pages' note)"
    )
    a(
        "max_occupancy = 0.97       # assumption: halls are leased whole, but racks in commissioning,"
    )
    a(
        "                           # power headroom and ramp-up gaps keep ~3% unusable; cf. Northern"
    )
    a(
        "                           # Virginia vacancy 0.1% (美国算力中心产业需求快速爆发 页) is the extreme"
    )
    a("sustain_months = 1         # study: turning point = first year above 80% (no sustain rule)")
    a("")

    # ---- regions
    a("# ------------------------------------------------------------------ regions")
    a("# demand_stock_mw / supply_stock_mw: CSV 2024 rows (2024E year-end stock).")
    a("# delay_factor: assumption, a regional factor (lognorm, scale 1 -> median 1) multiplying")
    a(
        "# every project's delay in the region: power supply and energy approvals (能评) are regional."
    )
    for r in REGIONS:
        name, src, s, why = REGION_INFO[r]
        d0, s0 = stock[r][BASE_YEAR]
        a("")
        a("[[regions]]")
        a(f'id = "{r}"')
        a(f'name = "{name}"')
        for line in _wrap(src):
            a(f"# {line}")
        a(f"demand_stock_mw = {d0}   # CSV {r} 2024 row, demand_stock_mw")
        a(f"supply_stock_mw = {s0}   # CSV {r} 2024 row, supply_stock_mw")
        for line in _wrap(why):
            a(f"# {line}")
        a(
            f'delay_factor = {{ dist = "lognorm", s = {fmt(s)}, scale = 1.0 }}   # assumption (above)'
        )

    # ---- buyers
    a("")
    a("# ------------------------------------------------------------------ buyers")
    a("# Structure: 研究方法论 页 '我们详细梳理了包括字节、阿里、腾讯在内共计15家下游厂商的IT容量")
    a(
        "# 需求情况...假设上述15家需求方定制批发需求在整体市场中的占比将维持当前水平不变'. Named in the"
    )
    a("# study: ByteDance, Alibaba, Tencent, Baidu, Huawei, Kuaishou, JD, Meituan, NetEase, Apple,")
    a("# Amazon. ASSUMPTION: the other four (Ant Group, Pinduoduo, Xiaohongshu, Microsoft China)")
    a("# are not named; they stand for the rest of the 15 and small buyers are folded in pro rata.")
    a("#")
    a(
        "# increments_mw: ASSUMPTION per buyer; the study prints no per-buyer split. Each region-year"
    )
    a(
        "# total is EXACT: CSV demand stock of year y minus year y-1 for that region. Shares (percent of"
    )
    a("# each region's yearly increment, the same every year -- the study holds shares constant):")
    a("#")
    a(
        "#   buyer            jingjin yangtze  gba  southwest_other   (sources in each buyer's block)"
    )
    for b in BUYERS:
        sh = b[3]
        a(f"#   {b[0]:<16} {sh[0]:>5}   {sh[1]:>5} {sh[2]:>5} {sh[3]:>8}")
    a("#   total              100     100   100      100")
    a("# Integer MW by the largest-remainder rule (ties to the buyer listed first).")
    a("# Region totals (CSV demand stock diffs, MW):")
    for r in REGIONS:
        a(f"#   {r:<16} " + ", ".join(f"{y}: {dinc[r][y]}" for y in YEARS))
    a("#")
    a("# demand_multiplier: assumption, lognorm with scale 1 (median 1). s from 0.20 (general")
    a("# compute, steady) to 0.32 (AI-training heavy, chip-import and capex-cycle exposed); the")
    a(
        "# study names DeepSeek efficiency gains, moves abroad and moving off cloud as downside risks"
    )
    a("# (展望 页 / 中国联通 页 '互联网厂商逐步向海外布局算力中心').")
    a(
        "# market_loading: assumption, 0.5-0.8: one AI capex cycle drives all buyers (BAT Capex变化 页:"
    )
    a("# Q3 2024 capex +117% y/y), strongest for the AI-heavy ones.")
    a("# persistence: assumption, 0.5 (a capex surprise carries half into the next year); 0.6 for")
    a("# Alibaba's announced three-year plan.")
    a("# third_party_share: assumption. The study models each buyer's share of IT deployed in")
    a("# third-party centres (研究方法论 页 '采用第三方算力中心服务的IT部署比例') but prints none.")
    a("# truncnorm centred on the nominal, sd = sqrt(nominal (1 - nominal) / 31) (the spread of")
    a("# a beta with concentration 30: about 0.07-0.09, moderate), truncated symmetrically at")
    a(
        "# min(3 sd, distance to 0 or 1): symmetric truncation keeps the median exactly at the nominal,"
    )
    a("# and its quantile function is cheap (two normal CDF constants and one ndtri per draw).")
    for b in BUYERS:
        bid, name, named, _sh, s, load, pers, tp = b
        origin, wide, tpwhy = BUYER_NOTES[bid]
        sd = round(math.sqrt(tp * (1.0 - tp) / (BETA_CONCENTRATION + 1.0)), 4)
        k = round(min(3.0, (1.0 - tp) / sd, tp / sd), 4)
        a("")
        a("[[buyers]]")
        a(f'id = "{bid}"')
        a(f'name = "{name}"')
        tag = "named in the study" if named else "ASSUMPTION: not named in the study"
        for line in _wrap(f"{tag}. Regional split: {origin}"):
            a(f"# {line}")
        a(
            f"market_loading = {fmt(load)}   # assumption: loading on the common AI capex cycle; {wide}"
        )
        a(f"persistence = {fmt(pers)}      # assumption: AR(1) of yearly shocks (buyers' header)")
        a(
            f'demand_multiplier = {{ dist = "lognorm", s = {fmt(s)}, scale = 1.0 }}'
            f"   # assumption: median 1; s = {s:g}: {wide}"
        )
        a(
            f'third_party_share = {{ nominal = {fmt(tp)}, dist = "truncnorm", a = {fmt(-k)}, b = {fmt(k)},'
            f" loc = {fmt(tp)}, scale = {fmt(sd)} }}"
            f"   # assumption: nominal {tp:.2f} = median: {tpwhy}"
        )
        a(f"[buyers.increments_mw]   # assumption: share x CSV {', '.join(REGIONS)} demand diffs")
        for ri, r in enumerate(REGIONS):
            vals = ", ".join(f"{y} = {binc[bid][r][y]}" for y in YEARS)
            a(f"{r} = {{ {vals} }}   # {b[3][ri]}% of each year's {r} increment")

    # ---- providers
    a("")
    a("# ------------------------------------------------------------------ providers")
    a(
        "# Structure: 研究方法论 页 '我们详细梳理了共20家全国性及区域性第三方算力中心服务商的运营容量及"
    )
    a(
        "# 规划容量情况，并综合考虑各厂商的土地资源、能评资源、资金实力等多方面因素'. The study names no"
    )
    a(
        "# list; named in its text: 世纪互联 and 中金数据 (内蒙古 页), 秦淮 (山西（大同） 页), 鹰硕集团"
    )
    a(
        "# (粤港澳 页). All other names are ASSUMPTIONS (well-known third-party wholesale providers),"
    )
    a("# and sw_regional is an AGGREGATE of regional providers.")
    a("#")
    a("# projects: ASSUMPTION per provider: one project per region it is active in per year. Each")
    a("# region-year total is EXACT: CSV supply stock of year y minus year y-1 for that region:")
    for r in REGIONS:
        a(f"#   {r:<16} " + ", ".join(f"{y}: {sinc[r][y]}" for y in YEARS))
    a("# split by the provider shares noted on each project line (largest remainder, integer MW).")
    a("# scheduled_month: assumption, staggered through the year and rotated between providers")
    a("# year by year. Month slots per year and region:")
    for y in YEARS:
        a(f"#   {y}: " + "; ".join(f"{r} {list(MONTH_SLOTS[y][r])}" for r in REGIONS))
    a("# They keep point-mode MONTHLY occupancy like the study: jingjin >= 80% from 2025-01 on,")
    a("# yangtze below 80% through 2025 (79.05% at year end; its halls arrive Jan-Sep) and >= 80%")
    a("# from 2026-01, national below 80% through 2026 (79.19% at year end) and >= 80% from")
    a("# 2027-01, gba and southwest_other never; demand never exceeds 0.97 x supply (no unmet).")
    a("#")
    a("# cancellation_probability: assumption, 0.02-0.06 per project: strong-funding national or")
    a("# state-backed builders 0.02, leveraged nationals 0.03-0.04, small regionals 0.05-0.06")
    a("# (研究方法论 页: land, energy approval 能评 and funding constraints).")
    a("# delay_factor: assumption, lognorm scale 1 (median 1), s 0.25-0.35: the provider's")
    a("# execution/funding factor shared by its projects (correlated delays).")
    a("# delivery_delay_months: assumption. The study's nominal is on schedule: buyers expect")
    a(
        "# 'T+6/8的灵活定制化交付' (需求 页, 中国第三方算力中心定制批发业务IT容量需求变化), so p_on_time"
    )
    a("# >= 0.55 keeps the median deviation 0; when late, gamma(a = 2, scale 1.5-2.5): mean 3-5")
    a(
        "# months, for power hook-up, energy approvals and construction (算力中心行业供给面临电力资源"
    )
    a(
        "# 挑战 页; 一线城市 能耗指标紧张). Integer shape a = 2 on purpose (the engine's exact path)."
    )
    for p in PROVIDERS:
        pid, name, named, regs, canc, dfs, pot, scale, note = p
        a("")
        a("[[providers]]")
        a(f'id = "{pid}"')
        a(f'name = "{name}"')
        tag = "named in the study" if named else "ASSUMPTION: not named in the study"
        for line in _wrap(f"{tag}: {note}. Active in: {', '.join(regs)}."):
            a(f"# {line}")
        a(f"cancellation_probability = {fmt(canc)}   # assumption: see providers' header")
        a(
            f'delay_factor = {{ dist = "lognorm", s = {fmt(dfs)}, scale = 1.0 }}'
            "   # assumption: provider execution factor, median 1"
        )
        a(
            f'delivery_delay_months = {{ p_on_time = {fmt(pot)}, late = {{ dist = "gamma", a = 2,'
            f" scale = {fmt(scale)} }} }}   # assumption: median 0 (on schedule);"
            f" late mean {2 * scale:g} months"
        )
        a(
            "projects = [   # assumption: capacity = provider share x CSV supply diff; months staggered"
        )
        for prj_id, r, cap, sm, pnote in projects[pid]:
            a(
                f'  {{ id = "{prj_id}", region = "{r}", capacity_mw = {cap},'
                f' scheduled_month = "{sm}" }},   # {pnote}'
            )
        a("]")

    # ---- spillover
    a("")
    a("# ------------------------------------------------------------------ spillover")
    a("# assumption: share of a region's unmet demand that moves to another region each month.")
    a("# Kept modest (buyers relocate slowly; training loads move more easily than inference).")
    a("[spillover]")
    a("# jingjin -> southwest_other 0.30: first-tier approvals are closed and supply moves west")
    a("# (政策页 '国家枢纽节点外原则上不得新建各类大型及超大型数据中心'; 东数西算; 算力产业链加速")
    a(
        "# '西迁'); Datong (Shanxi) already serves Beijing's overflow (山西（大同） 页 '服务于京津冀的"
    )
    a("# 数据基地'). jingjin -> yangtze 0.05: yangtze is itself tight, little room.")
    a("jingjin = { southwest_other = 0.30, yangtze = 0.05 }   # assumption (above); row sum 0.35")
    a("# yangtze -> southwest_other 0.10 and -> gba 0.05: training loads can move west; gba has")
    a("# room but little power for new large halls (粤港澳 页).")
    a("yangtze = { southwest_other = 0.10, gba = 0.05 }   # assumption (above); row sum 0.15")
    a("# gba -> southwest_other 0.10: Gui'an already hosts Huawei/Tencent (西南 页). Never binding")
    a("# in the study's case (gba stays near 50%) but keeps scenarios sensible.")
    a("gba = { southwest_other = 0.10 }   # assumption (above)")
    a("# southwest_other -> jingjin 0.05: hardly ever binding (about 60% occupancy).")
    a("southwest_other = { jingjin = 0.05 }   # assumption (above)")
    a("")
    return "\n".join(L)


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _wrap(text: str, width: int = 92) -> list[str]:
    """Wrap on spaces; split over-long (CJK) runs by display width (CJK = 2 columns)."""
    tokens: list[str] = []
    for w in text.split(" "):
        while _width(w) > width:
            cut, acc = 0, 0
            while acc + _width(w[cut]) <= width:
                acc += _width(w[cut])
                cut += 1
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
    if cur:
        lines.append(cur)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the file on disk")
    ap.add_argument("--out", type=Path, default=OUT_PATH)
    args = ap.parse_args(argv)
    parts = build()
    res = check(*parts)
    text = render(*parts)
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{args.out} differs from the generator's output")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    n_proj = sum(len(v) for v in parts[4].values())
    print(f"wrote {args.out} ({len(BUYERS)} buyers, {len(PROVIDERS)} providers, {n_proj} projects)")
    print("point-mode first month with occupancy >= 0.80:", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
