#!/usr/bin/env python3
"""Renders the Output Gate's image corpus (Tests/ComputingPlaneTests/GateImagesCorpusTests.swift).

    gate-image-fixtures.py SPEC.json OUT_DIR

SPEC.json is {"items": [{"file": NAME, "kind": KIND, ...}]}, written by the test from its synthetic people
table; every image is drawn deterministically into OUT_DIR/NAME. It needs matplotlib, numpy and Pillow: the
job runtime venv has them (`delong runtime build`, /opt/delong/runtime/bin/python3, which CI builds before
`swift test`), so the test runs this script with that interpreter (or $DELONG_FIXTURE_PYTHON).

Kinds (leaks): png-text (a chart with a tEXt/zTXt/iTXt chunk), jpeg-meta (EXIF ImageDescription or a COM
segment), lsb (a chart whose low bits carry a payload), scatter (one mark per record, PNG or SVG), table
(text rows rendered as pixels, PNG or JPEG). Kinds (benign): bar, line, hist (PNG or SVG), photo (PNG or
JPEG, no metadata).
"""
import io
import json
import os
import sys
import zlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin  # noqa: E402


def chart(item, fmt="png"):
    rng = np.random.default_rng(item.get("seed", 1))
    fig, ax = plt.subplots(figsize=item.get("size", [6.4, 4.8]), dpi=item.get("dpi", 100))
    kind = item.get("chart", item["kind"])
    labels = item.get("labels", ["north", "south", "east", "west", "central"])
    if kind == "bar":
        ax.bar(labels, item.get("values") or list(rng.integers(10, 400, len(labels))))
        ax.set_ylabel("count")
    elif kind == "line":
        x = np.arange(item.get("points", 12))
        for _ in range(item.get("series", 2)):
            ax.plot(x, np.cumsum(rng.normal(0, 1, len(x))), marker="o" if item.get("markers") else None)
        ax.set_xlabel("month")
    elif kind == "hist":
        ax.hist(rng.normal(50000, 15000, 2000), bins=item.get("bins", 20))
        ax.set_xlabel("income")
    elif kind == "scatter":
        ax.scatter(item["x"], item["y"], s=item.get("s", 12))
        ax.set_xlabel(item.get("xlabel", "x"))
        ax.set_ylabel(item.get("ylabel", "y"))
    ax.set_title(item.get("title", "summary"))
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    plt.close(fig)
    return buf.getvalue()


def png_text(item):
    image = Image.open(io.BytesIO(chart(dict(item, chart="bar"))))
    info = PngImagePlugin.PngInfo()
    chunk = item["chunk"]
    if chunk == "tEXt":
        info.add_text(item["key"], item["text"])
    elif chunk == "zTXt":
        info.add_text(item["key"], item["text"], zip=True)
    else:
        info.add_itxt(item["key"], item["text"], lang="en", tkey=item["key"], zip=item.get("zip", False))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def jpeg_meta(item):
    image = Image.open(io.BytesIO(chart(dict(item, chart="bar")))).convert("RGB")
    out = io.BytesIO()
    if "exif" in item:
        exif = Image.Exif()
        exif[0x010E] = item["exif"]  # ImageDescription
        exif[0x013B] = item.get("artist", "analyst")  # Artist
        image.save(out, format="JPEG", quality=85, exif=exif.tobytes())
    else:
        image.save(out, format="JPEG", quality=85, comment=item["comment"].encode())
    return out.getvalue()


def lsb(item):
    image = Image.open(io.BytesIO(chart(dict(item, chart=item.get("chart", "bar"))))).convert(item.get("mode", "RGB"))
    pixels = np.array(image)
    payload = item["payload"].encode()
    if item.get("zlib"):
        payload = zlib.compress(payload)
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    if item.get("channel") is not None:
        flat = pixels[:, :, item["channel"]].reshape(-1).copy()
    else:
        flat = pixels.reshape(-1).copy()
    if item.get("bits", 1) == 2:
        pairs = bits.reshape(-1, 2)
        values = (pairs[:, 0] << 1) | pairs[:, 1]
        flat[: len(values)] = (flat[: len(values)] & 0xFC) | values
    else:
        flat[: len(bits)] = (flat[: len(bits)] & 0xFE) | bits
    if item.get("channel") is not None:
        pixels[:, :, item["channel"]] = flat.reshape(pixels.shape[:2])
    else:
        pixels = flat.reshape(pixels.shape)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def table(item):
    lines = item["lines"]
    size = item.get("font", 20)
    font = ImageFont.load_default(size=size)
    width = max(int(font.getlength(line)) for line in lines) + 40
    image = Image.new("RGB", (width, (size + 8) * len(lines) + 40), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((20, 20 + i * (size + 8)), line, fill=(0, 0, 0), font=font)
    out = io.BytesIO()
    if item.get("format") == "jpeg":
        image.save(out, format="JPEG", quality=90)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def photo(item):
    rng = np.random.default_rng(item.get("seed", 1))
    h, w = item.get("height", 360), item.get("width", 480)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack(
        [
            128 + 100 * np.sin(x / (40 + rng.integers(0, 30))),
            128 + 100 * np.cos(y / (50 + rng.integers(0, 30))),
            128 + 60 * np.sin((x + y) / 70.0),
        ],
        axis=-1,
    )
    for _ in range(8):
        cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(20, 90)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        base[mask] = base[mask] * 0.5 + rng.integers(0, 255, 3) * 0.5
    base += rng.normal(0, item.get("noise", 6), base.shape)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    if item.get("format") == "jpeg":
        image.save(out, format="JPEG", quality=88)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def render(item):
    kind = item["kind"]
    if kind == "png-text":
        return png_text(item)
    if kind == "jpeg-meta":
        return jpeg_meta(item)
    if kind == "lsb":
        return lsb(item)
    if kind == "table":
        return table(item)
    if kind == "photo":
        return photo(item)
    if kind in ("bar", "line", "hist", "scatter"):
        return chart(item, fmt=item.get("format", "png"))
    raise SystemExit(f"unknown kind {kind!r}")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    spec = json.load(open(sys.argv[1]))
    os.makedirs(sys.argv[2], exist_ok=True)
    plt.rcParams["svg.hashsalt"] = "delong"
    for item in spec["items"]:
        with open(os.path.join(sys.argv[2], item["file"]), "wb") as f:
            f.write(render(item))


if __name__ == "__main__":
    main()
