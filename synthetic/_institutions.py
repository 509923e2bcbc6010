"""Designated institutions: a handful of hospitals, clinics and pharmacies per prefecture.

Institutions of one prefecture and one class are contiguous, so a claim picks its institution
with two array lookups (``first[prefecture, class] + k``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from synthetic._divisions import DIVISIONS

__all__ = ["CLASSES", "Institutions", "build_institutions", "prefecture_of_division"]

# Class index -> (kind, level); claims choose a class, then an institution of it.
CLASSES = (
    ("HOSPITAL", "TERTIARY"),
    ("HOSPITAL", "SECONDARY"),
    ("CLINIC", "PRIMARY"),
    ("PHARMACY", "PRIMARY"),
)
_PHARMACY_BRANDS = ("老百姓大药房", "益丰大药房", "大参林", "一心堂", "国大药房", "海王星辰")


@dataclass(frozen=True)
class Institutions:
    table: pa.Table
    first: np.ndarray  # (prefectures, classes) index of the first institution of the class
    count: np.ndarray  # (prefectures, classes)


def prefecture_of_division() -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Each division's prefecture index, and the (province, prefecture) names by index."""
    keys: list[tuple[str, str]] = []
    index: dict[tuple[str, str], int] = {}
    out = np.empty(len(DIVISIONS), dtype=np.int64)
    for i, d in enumerate(DIVISIONS):
        key = (d.province, d.prefecture)
        if key not in index:
            index[key] = len(keys)
            keys.append(key)
        out[i] = index[key]
    return out, keys


def build_institutions(rng: np.random.Generator) -> Institutions:
    pref_of, prefectures = prefecture_of_division()
    counties: list[list[int]] = [[] for _ in prefectures]
    for i, p in enumerate(pref_of):
        counties[int(p)].append(i)
    names: list[str] = []
    kinds: list[str] = []
    levels: list[str] = []
    regions: list[str] = []
    first = np.zeros((len(prefectures), len(CLASSES)), dtype=np.int64)
    count = np.zeros_like(first)
    for p, (_, prefecture) in enumerate(prefectures):
        city = prefecture.removesuffix("市")
        local = [DIVISIONS[i] for i in counties[p]]
        seat = local[0].code
        tertiary = [f"{city}市第一人民医院", f"{city}市中心医院", f"{city}医科大学附属医院"]
        per_class = (
            [(name, seat) for name in tertiary[: 1 + len(local) // 4]],
            [(f"{d.county}人民医院", d.code) for d in local] + [(f"{city}市中医医院", seat)],
            [(f"{d.county}社区卫生服务中心", d.code) for d in local],
            [(f"{_brand(rng)}({d.county}店)", d.code) for d in local],
        )
        for c, class_names in enumerate(per_class):
            first[p, c] = len(names)
            count[p, c] = len(class_names)
            for name, code in class_names:
                names.append(name)
                kinds.append(CLASSES[c][0])
                levels.append(CLASSES[c][1])
                regions.append(code)
    table = pa.table(
        {
            "institution_id": pa.array(np.arange(1, len(names) + 1), pa.int64()),
            "name": pa.array(names, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "level": pa.array(levels, pa.string()),
            "region_code": pa.array(regions, pa.string()),
        }
    )
    return Institutions(table=table, first=first, count=count)


def _brand(rng: np.random.Generator) -> str:
    return _PHARMACY_BRANDS[int(rng.integers(len(_PHARMACY_BRANDS)))]
