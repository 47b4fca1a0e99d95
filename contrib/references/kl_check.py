"""Recompute k-anonymity and l-diversity of a sample table with pycanon (an independent reference).

Usage: kl_check.py TABLE.csv QI[,QI...] [SENSITIVE[,SENSITIVE...]]
Prints one JSON object: {"k": int, "l": int or null}. Every cell is read as a string, empty cells stay empty.
"""

import json
import sys

import pandas as pd
from pycanon import anonymity


def main() -> None:
    path, qi_arg = sys.argv[1], sys.argv[2]
    sa_arg = sys.argv[3] if len(sys.argv) > 3 else ""
    qi = [c for c in qi_arg.split(",") if c]
    sa = [c for c in sa_arg.split(",") if c]
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    k = int(anonymity.k_anonymity(df, qi))
    l = int(anonymity.l_diversity(df, qi, sa)) if sa else None
    print(json.dumps({"k": k, "l": l}))


if __name__ == "__main__":
    main()
