"""The study's published table (CIC 2025), shipped with the package as data.

Source: the CIC 2025 market study on China's third-party custom-wholesale compute-centre
market, region pages and national supply/demand charts (stock at year end, MW). jingjin is
the residual: national minus the other three regions.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

STUDY_CSV = "cic2025_wholesale_stock.csv"


def study_table() -> pd.DataFrame:
    """Year-end stock per region and year: columns region, year, demand_stock_mw,
    supply_stock_mw, occupancy (fraction, computed), occupancy_printed_pct, source."""
    with resources.files("mcsd").joinpath("data", STUDY_CSV).open("r", encoding="utf-8") as f:
        table = pd.read_csv(f)
    table["occupancy"] = table["demand_stock_mw"] / table["supply_stock_mw"]
    return table
