#!/usr/bin/env python3
"""Writes Output Gate test fixtures with the real libraries (numpy, pandas, scikit-learn, joblib, gzip, bz2,
zlib, zipfile): the independent producer of the files the gate's format readers are tested on.

Usage: gate_fixtures.py RECIPES.json OUT_DIR

RECIPES.json is a list of {"name": file name, "kind": ..., ...}; each kind is documented in write() below.
Run it with the job runtime's interpreter (/opt/delong/runtime/bin/python3, built by `delong runtime build`
from contrib/runtime/requirements.lock), so fixtures come from the library versions jobs use.
"""
import bz2
import gzip
import io
import json
import os
import pickle
import sys
import zipfile
import zlib

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.ensemble import RandomForestClassifier


def serialize(obj, recipe):
    fmt = recipe.get("format", "pickle")
    buf = io.BytesIO()
    if fmt == "pickle":
        pickle.dump(obj, buf, protocol=recipe.get("protocol", 5))
    elif fmt == "joblib":
        joblib.dump(obj, buf, compress=recipe.get("compress", 0))
    else:
        raise SystemExit(f"unknown format {fmt}")
    return buf.getvalue()


def model(recipe):
    X = np.array(recipe["X"], dtype=float)
    y = np.array(recipe["y"])
    kind = recipe["kind"]
    if kind == "knn":
        return KNeighborsClassifier(n_neighbors=1).fit(X, y)
    if kind == "knn_reg":
        return KNeighborsRegressor(n_neighbors=2).fit(X, y.astype(float))
    if kind == "svc":
        return SVC(kernel="linear", C=1e-6).fit(X, y)
    if kind == "svr":
        return SVR(C=1e-6).fit(X, y.astype(float))
    if kind == "tree":
        return DecisionTreeRegressor(random_state=0).fit(X, y.astype(float))
    if kind == "forest":
        return RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    if kind == "tree_k":
        return DecisionTreeClassifier(min_samples_leaf=recipe.get("leaf", 20), random_state=0).fit(X, y)
    if kind == "linreg":
        return LinearRegression().fit(X, y.astype(float))
    if kind == "logreg":
        return LogisticRegression(max_iter=200).fit((X - X.mean(0)) / X.std(0), y)
    raise SystemExit(f"unknown model {kind}")


def write(recipe):
    kind = recipe["kind"]
    if kind in ("knn", "knn_reg", "svc", "svr", "tree", "forest", "tree_k", "linreg", "logreg"):
        return serialize(model(recipe), recipe)
    if kind == "dataframe":
        df = pd.DataFrame(recipe["rows"], columns=recipe["columns"])
        for column in recipe.get("dates", []):
            df[column] = pd.to_datetime(df[column])
        return serialize(df, recipe)
    if kind == "npy":
        buf = io.BytesIO()
        np.save(buf, np.array(recipe["array"], dtype=recipe.get("dtype")), allow_pickle=True)
        return buf.getvalue()
    if kind == "npy_records":
        dtype = [(name, code) for name, code in recipe["fields"]]
        array = np.array([tuple(row) for row in recipe["rows"]], dtype=dtype)
        buf = io.BytesIO()
        np.save(buf, array)
        return buf.getvalue()
    if kind == "npz":
        buf = io.BytesIO()
        arrays = {k: np.array(v, dtype=recipe.get("dtype")) for k, v in recipe["arrays"].items()}
        (np.savez_compressed if recipe.get("compressed") else np.savez)(buf, **arrays)
        return buf.getvalue()
    if kind in ("gzip", "bz2", "zlib"):
        data = recipe["text"].encode()
        return {"gzip": gzip.compress, "bz2": bz2.compress, "zlib": zlib.compress}[kind](data)
    if kind == "zip":
        buf = io.BytesIO()
        method = zipfile.ZIP_DEFLATED if recipe.get("deflate", True) else zipfile.ZIP_STORED
        with zipfile.ZipFile(buf, "w", method) as z:
            for entry in recipe["entries"]:
                if "inner" in entry:
                    z.writestr(entry["name"], write(entry["inner"]))
                else:
                    z.writestr(entry["name"], entry["text"])
        return buf.getvalue()
    if kind == "describe":
        df = pd.DataFrame(recipe["rows"], columns=recipe["columns"])
        return df.describe().to_csv().encode()
    if kind == "groupby":
        df = pd.DataFrame(recipe["rows"], columns=recipe["columns"])
        return df.groupby(recipe["by"]).mean(numeric_only=True).to_csv().encode()
    if kind == "csv":
        df = pd.DataFrame(recipe["rows"], columns=recipe["columns"])
        return df.to_csv(index=False, float_format=recipe.get("float_format")).encode()
    raise SystemExit(f"unknown kind {kind}")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    recipes = json.load(open(sys.argv[1]))
    os.makedirs(sys.argv[2], exist_ok=True)
    for recipe in recipes:
        with open(os.path.join(sys.argv[2], recipe["name"]), "wb") as out:
            out.write(write(recipe))


if __name__ == "__main__":
    main()
