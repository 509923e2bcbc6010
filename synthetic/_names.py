"""Chinese names and mobile numbers, built as Arrow string arrays without per-row Python.

Every character used is a CJK ideograph of the Basic Multilingual Plane, three bytes in
UTF-8, so a name of k characters is exactly 3k bytes and a whole column is assembled by
masking a fixed-width byte matrix.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["ascii_column", "names", "phones"]

# The most common surnames with their approximate share of the population (per mille), after
# the 2020 census ranking; the remainder is spread over the tail of the list.
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_SURNAME_TOP = (
    74, 72, 69, 53, 46, 32, 24, 22, 20, 19, 18, 15, 14, 13, 13, 12, 11, 11, 11, 11, 10, 9.5, 9,
    9, 8, 8, 7, 7, 7, 6.5, 6.5, 6, 6, 6, 5.5, 5.5, 5, 5, 5, 5, 5, 4.5, 4.5, 4.5, 4, 4, 4, 4,
)  # fmt: skip

_MALE_GIVEN = (
    "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建国志文峰海东亮成德兵晨轩博睿泽子豪"
    "鸿翔振宏毅刚坤彬康瑞铭锋昊天嘉航晟诚磊永庆春生宗"
)
_FEMALE_GIVEN = (
    "芳娜敏静丽艳娟霞秀玲桂英慧巧美婷雪琳晶颖倩洁琴云莹梅萍红燕欣怡悦涵萱诗雨思佳梓可馨彤琪瑶璐蕾薇月露"
    "婉娅妍淑珊凤兰琼丹霖若曦宁蓉菲晴"
)


def _utf8_matrix(chars: str) -> np.ndarray:
    """A (len(chars), 3) uint8 matrix of the chars' UTF-8 bytes."""
    raw = chars.encode("utf-8")
    assert len(raw) == 3 * len(chars), "only 3-byte characters are allowed"
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)


def _surname_weights() -> np.ndarray:
    weights = np.full(len(_SURNAMES), 2.0)
    weights[: len(_SURNAME_TOP)] = _SURNAME_TOP
    out: np.ndarray = weights / weights.sum()
    return out


def names(rng: np.random.Generator, male: np.ndarray) -> pa.StringArray:
    """Surname plus a one- or two-character given name drawn from the gender's pool."""
    n = male.shape[0]
    sur = _utf8_matrix(_SURNAMES)
    pools = (_utf8_matrix(_FEMALE_GIVEN), _utf8_matrix(_MALE_GIVEN))
    surname_idx = rng.choice(len(_SURNAMES), size=n, p=_surname_weights())
    two_char = rng.random(n) < 0.7
    mat = np.zeros((n, 9), dtype=np.uint8)
    mat[:, 0:3] = sur[surname_idx]
    for is_male, pool in ((False, pools[0]), (True, pools[1])):
        sel = male == is_male
        k = int(sel.sum())
        mat[sel, 3:6] = pool[rng.integers(0, len(pool), k)]
        mat[sel, 6:9] = pool[rng.integers(0, len(pool), k)]
    lengths = np.where(two_char, 9, 6)
    keep = np.arange(9)[None, :] < lengths[:, None]
    return _strings(mat[keep], lengths)


def phones(rng: np.random.Generator, n: int, taken: set[int] | None = None) -> np.ndarray:
    """``n`` distinct 11-digit mobile numbers 1[3-9]x-xxxx-xxxx as int64."""
    prefixes = np.array(
        [*range(130, 140), *range(150, 154), *range(155, 160), 166, 170, 171, 173,
         *range(175, 179), *range(180, 190), 191, 198, 199],
    )  # fmt: skip
    out = prefixes[rng.integers(0, len(prefixes), n)] * 10**8 + rng.integers(0, 10**8, n)
    while True:
        _, first = np.unique(out, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            return out
        k = int(dup.sum())
        out[dup] = prefixes[rng.integers(0, len(prefixes), k)] * 10**8 + rng.integers(0, 10**8, k)


def ascii_column(values: np.ndarray, width: int, valid: np.ndarray | None = None) -> pa.StringArray:
    """Fixed-width zero-padded decimal strings of non-negative ints, e.g. phone numbers."""
    n = values.shape[0]
    digits = np.empty((n, width), dtype=np.uint8)
    rest = values.astype(np.int64, copy=True)
    for pos in range(width - 1, -1, -1):
        digits[:, pos] = 48 + rest % 10
        rest //= 10
    return ascii_matrix(digits, valid)


def ascii_matrix(mat: np.ndarray, valid: np.ndarray | None = None) -> pa.StringArray:
    """Rows of a (n, w) uint8 ASCII matrix as strings; rows where ``valid`` is False are null."""
    n, width = mat.shape
    if valid is None:
        return _strings(mat.reshape(-1), np.full(n, width))
    lengths = np.where(valid, width, 0)
    mask = np.packbits(valid, bitorder="little")
    return _strings(mat[valid].reshape(-1), lengths, pa.py_buffer(mask.tobytes()))


def _strings(
    data: np.ndarray, lengths: np.ndarray, validity: pa.Buffer | None = None
) -> pa.StringArray:
    offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    arr = pa.StringArray.from_buffers(
        lengths.shape[0],
        pa.py_buffer(offsets.tobytes()),
        pa.py_buffer(np.ascontiguousarray(data).tobytes()),
        validity,
    )
    return arr
