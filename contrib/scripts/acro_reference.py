"""ACRO (PyPI `acro`) as an independent reference for the Output Gate's statistical rules.

Builds a deterministic synthetic dataset, has ACRO produce crosstabs and pivot tables with its per-cell
checks (threshold, NK rule, p-ratio, zeros), and prints one JSON object: the data as CSV, and for each table the
plain CSV a consumer would write (pandas `to_csv`, without ACRO's wrapper) and ACRO's outcome for every cell.
Usage: python acro_reference.py  (no arguments; output on stdout)
"""

import contextlib
import io
import json
import logging
import os
import sys
import tempfile

import numpy as np
import pandas as pd

logging.disable(logging.CRITICAL)
with contextlib.redirect_stdout(io.StringIO()):
    import acro


def dataset() -> pd.DataFrame:
    rng = np.random.default_rng(20261203)
    sizes = {"north": 420, "south": 380, "east": 350, "west": 300, "central": 280, "port": 30, "hill": 20,
             "isle": 6, "fen": 9}
    region = np.concatenate([[name] * size for name, size in sizes.items()])
    n = len(region)
    df = pd.DataFrame({
        "person_id": [f"ID{100000 + i}" for i in range(n)],
        "region": region,
        "sex": rng.choice(["F", "M"], n),
        "smoker": rng.choice(["no", "yes"], n, p=[0.7, 0.3]),
        "age": rng.integers(18, 90, n),
        "income": np.round(rng.gamma(4.0, 9000.0, n), 2),
    })
    # Planted: port has one dominant income, hill two near-equal large ones, fen only smokers.
    port = np.flatnonzero(df.region == "port")
    df.loc[port[0], "income"] = 5_000_000.0
    hill = np.flatnonzero(df.region == "hill")
    df.loc[hill[0], "income"] = 1_000_000.0
    df.loc[hill[1], "income"] = 950_000.0
    df.loc[hill[2:], "income"] = 2_000.0
    df.loc[df.region == "fen", "smoker"] = "yes"
    return df


def cells(table: pd.DataFrame, outcome: pd.DataFrame) -> list:
    out = []
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            status = str(outcome.iat[i, j]).strip()
            out.append([i, str(table.columns[j]), "ok" if status == "ok" else status])
    return out


def main() -> None:
    df = dataset()
    bands = pd.cut(df.age, [17, 29, 44, 64, 120])
    bands.name = "age"
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        os.chdir(tmp)
        session = acro.ACRO(suppress=False)
        tables = [
            ("region_sex.csv", session.crosstab(df.region, df.sex)),
            ("region_smoker.csv", session.crosstab(df.region, df.smoker)),
            ("sex_age.csv", session.crosstab(df.sex, bands)),
            ("mean_income.csv", session.pivot_table(df, index="region", values="income", aggfunc="mean")),
            ("mean_income_sex.csv",
             session.pivot_table(df, index="region", columns="sex", values="income", aggfunc="mean")),
            ("sum_income_smoker.csv",
             session.pivot_table(df, index="region", columns="smoker", values="income", aggfunc="sum")),
            ("crosstab_mean.csv",
             session.crosstab(df.region, df.sex, values=df.income, aggfunc="mean")),
        ]
        result = []
        for k, (name, table) in enumerate(tables):
            outcome = session.results.get_index(k).outcome
            text = table.to_csv()
            result.append({
                "name": name,
                "csv": text,
                "headerLines": len(text.splitlines()) - table.shape[0],
                "cells": cells(table, outcome),
            })
    json.dump({"data": df.to_csv(index=False), "tables": result}, sys.stdout)


if __name__ == "__main__":
    main()
