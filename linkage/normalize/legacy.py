"""Legacy Vietnamese text: detect and decode 8-bit encodings, repair mojibake in single values.

Old registers and spreadsheets were typed with 8-bit fonts (TCVN3/ABC, VNI-Windows) or saved as
Windows-1258. Such bytes are not valid UTF-8, and once they have been read as Windows-1252 they
show up as mojibake ("NguyÔn", "Nguyeãn"). Both problems are solved the same way: decode every
candidate, and keep the one whose words look most like Vietnamese syllables.

The byte tables live in `rules/text/` (see the README there for their source).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path

from linkage.rules import read_ref_csv

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
UTF16_LE = "utf-16-le"
UTF16_BE = "utf-16-be"
CP1258 = "cp1258"
VNI = "vni-windows"
TCVN3 = "tcvn3"
LEGACY_ENCODINGS = (CP1258, VNI, TCVN3)  # order = preference when two score the same
ENCODINGS = (UTF8, UTF8_BOM, UTF16_LE, UTF16_BE, *LEGACY_ENCODINGS)

SAMPLE_BYTES = 256 * 1024  # enough text to judge an encoding; whole files are only decoded once

TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"  # huyền, sắc, ngã, hỏi, nặng
# Latin-1 symbols that legacy bytes turn into when read with the wrong table.
_MOJIBAKE_SYMBOLS = "¡¢£¤¥¦§¨©«¬\xad®¯±²³´¶·¸¹»¼½¾¿"

# ---------------------------------------------------------------- Vietnamese syllables

_INITIAL = "ngh|ng|gh|gi|kh|nh|ph|qu|th|tr|ch|b|c|d|đ|g|h|k|l|m|n|p|r|s|t|v|x"
_CLOSABLE = "uyê|iê|yê|uô|ươ|oa|oă|oe|oo|uâ|uê|uy|a|ă|â|e|ê|i|o|ô|ơ|u|ư|y"
_FINAL = "ch|ng|nh|c|m|n|p|t"
_OPEN = (
    "iêu|yêu|uôi|ươi|ươu|oai|oao|oay|oeo|uây|uya|uyu|"
    "ai|ao|au|ay|âu|ây|eo|êu|ia|iu|oi|ôi|ơi|ua|ui|ưa|ưi|ưu|uơ"
)
_SYLLABLE = re.compile(rf"^(?:{_INITIAL})?(?:(?:{_CLOSABLE})(?:{_FINAL})?|(?:{_OPEN}))$")
_WORD = re.compile(r"[^\W\d_]+")
_C1 = re.compile("[\x80-\x9f]")
_SUSPECT = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd{_MOJIBAKE_SYMBOLS}\u0300-\u036f]")


@lru_cache(maxsize=200_000)
def is_vietnamese_syllable(word: str) -> bool:
    """True if `word` (one token, any case) is spelled like a Vietnamese syllable with at most one tone."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    tones = sum(decomposed.count(t) for t in TONE_MARKS)
    if tones > 1:
        return False
    toneless = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in TONE_MARKS))
    return bool(_SYLLABLE.match(toneless))


def vietnamese_plausibility(text: str) -> float:
    """Share of non-ASCII words that are valid Vietnamese syllables, with every control character,
    stray combining mark or typical mojibake symbol counted as a failure. 1.0 for ASCII text."""
    words = Counter(w for w in _WORD.findall(text) if not w.isascii())
    suspects = len(_SUSPECT.findall(text))
    total = sum(words.values()) + suspects
    if total == 0:
        return 1.0
    valid = sum(n for w, n in words.items() if is_vietnamese_syllable(w))
    return valid / total


# ---------------------------------------------------------------- tables


@lru_cache(maxsize=4)
def _tcvn3_tables(rules: str | None = None) -> tuple[str, dict[str, int]]:
    """(256-char decoding table, char -> byte for encoding). Unlisted bytes decode as Latin-1."""
    df = read_ref_csv("text/legacy_tcvn3.csv", rules, columns=("byte", "char"))
    table = [chr(b) for b in range(256)]
    encode: dict[str, int] = {}
    for byte, char in zip(df["byte"], df["char"]):
        b = int(byte, 16)
        table[b] = char
        encode[char] = b
    return "".join(table), encode


@lru_cache(maxsize=4)
def _tcvn3_known_bytes(rules: str | None = None) -> bytes:
    """ASCII plus every byte the TCVN3 table maps (what `bytes.translate` should delete to
    leave only the unmapped ones)."""
    df = read_ref_csv("text/legacy_tcvn3.csv", rules, columns=("byte",))
    return bytes(range(0x80)) + bytes(int(b, 16) for b in df["byte"])


@lru_cache(maxsize=4)
def _vni_tables(rules: str | None = None) -> tuple[dict[str, str], dict[str, str], re.Pattern, str]:
    """(VNI sequence as Latin-1 text -> letter, letter -> sequence, sequence pattern, modifier chars).

    The pattern tries the two-byte sequences before the single bytes, so "ôù" is one letter (ớ)."""
    df = read_ref_csv("text/legacy_vni.csv", rules, columns=("bytes", "char"))
    decode: dict[str, str] = {}
    for hexbytes, char in zip(df["bytes"], df["char"]):
        seq = bytes(int(h, 16) for h in hexbytes.split()).decode("latin-1")
        decode[seq] = char
    encode = {v: k for k, v in decode.items()}
    pairs = sorted(k for k in decode if len(k) == 2)
    singles = "".join(sorted(k for k in decode if len(k) == 1))
    modifiers = "".join(sorted({k[1] for k in pairs}))
    pattern = re.compile("|".join(map(re.escape, pairs)) + f"|[{re.escape(singles)}]")
    return decode, encode, pattern, modifiers


# ---------------------------------------------------------------- decoding


def _decode_tcvn3(data: bytes) -> tuple[str, int]:
    table, _ = _tcvn3_tables()
    text, _ = codecs.charmap_decode(data, "strict", table)
    unmapped = len(data.translate(None, _tcvn3_known_bytes()))
    return _tcvn3_upper_words(text), unmapped


def _tcvn3_upper_words(text: str) -> str:
    """TCVN3 has no upper-case toned letters: capitals came from a second font reusing the
    lower-case codes. A word with two or more capitals and no lower-case ASCII letter is
    upper-cased as a whole ("NGUYễN" -> "NGUYỄN"); "Hà" or "Đỗ" stay as they are."""

    def fix(m: re.Match) -> str:
        w = m.group()
        ascii_letters = [c for c in w if c.isascii()]
        capitals = sum(c.isupper() for c in w)
        if capitals >= 2 and all(c.isupper() for c in ascii_letters) and any(c.islower() for c in w):
            return w.upper()
        return w

    return _WORD.sub(fix, text)


def _decode_vni(data: bytes) -> tuple[str, int]:
    """Modifier bytes not attached to a base letter, and C1 bytes, count as unmapped. (Counted on
    the input: several modifiers, e.g. "â", are also Vietnamese letters in the output.)"""
    decode, _, pattern, modifiers = _vni_tables()
    latin = data.decode("latin-1")
    pairs = 0

    def letter(m: re.Match) -> str:
        nonlocal pairs
        seq = m.group()
        pairs += len(seq) == 2
        return decode[seq]

    text = pattern.sub(letter, latin)
    stray = len(latin) - len(latin.translate(dict.fromkeys(map(ord, modifiers)))) - pairs
    return text, stray + len(_C1.findall(latin))


def _decode_cp1258(data: bytes) -> tuple[str, int]:
    text = data.decode(CP1258, errors="replace")
    return unicodedata.normalize("NFC", text), text.count("\ufffd")


def _decode_utf8_lenient(data: bytes) -> tuple[str, int]:
    text = data.decode(UTF8, errors="replace")
    return text, text.count("\ufffd")


def decode_bytes(data: bytes, encoding: str) -> tuple[str, int]:
    """Decode with a named encoding; returns (text, number of bytes that could not be mapped).

    A byte-order mark matching the encoding is dropped. Windows-1258 text is composed to NFC."""
    if encoding in (UTF8, UTF8_BOM):
        if data.startswith(codecs.BOM_UTF8):
            data = data[3:]
        return _decode_utf8_lenient(data)
    if encoding in (UTF16_LE, UTF16_BE):
        bom = codecs.BOM_UTF16_LE if encoding == UTF16_LE else codecs.BOM_UTF16_BE
        if data.startswith(bom):
            data = data[2:]
        text = data.decode(encoding, errors="replace")
        return text, text.count("\ufffd")
    if encoding == CP1258:
        return _decode_cp1258(data)
    if encoding == VNI:
        return _decode_vni(data)
    if encoding == TCVN3:
        return _decode_tcvn3(data)
    raise ValueError(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)}")


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 saved without a BOM: mostly-ASCII text has a zero in every other byte."""
    head = sample[:4096]
    if len(head) < 8:
        return None
    even = head[0::2].count(0) / (len(head) / 2)
    odd = head[1::2].count(0) / (len(head) / 2)
    if odd > 0.3 and even < 0.05:
        return UTF16_LE
    if even > 0.3 and odd < 0.05:
        return UTF16_BE
    return None


def _cut_at_line(sample: bytes) -> bytes:
    cut = sample.rfind(b"\n")
    return sample[: cut + 1] if cut > 0 else sample


def guess_encoding(data: bytes) -> tuple[str, float]:
    """(encoding name, confidence 0..1) from the bytes' start (and the first non-UTF-8 region).

    BOMs and valid UTF-8 are certain (1.0). Otherwise each legacy candidate (and UTF-8 with
    replacement, for a UTF-8 file with a few broken bytes) is scored by how Vietnamese its
    decoded words look, minus unmapped bytes; ties go to the order of LEGACY_ENCODINGS."""
    if data.startswith(codecs.BOM_UTF8):
        return UTF8_BOM, 1.0
    if data.startswith(codecs.BOM_UTF16_LE):
        return UTF16_LE, 1.0
    if data.startswith(codecs.BOM_UTF16_BE):
        return UTF16_BE, 1.0
    utf16 = _utf16_without_bom(data)
    if utf16:
        return utf16, 0.9
    try:
        data.decode(UTF8)
        return UTF8, 1.0
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and "end of data" in exc.reason:
            return UTF8, 1.0  # a multi-byte character cut by the end of a sample
        first_bad = exc.start
    sample = _cut_at_line(data[:SAMPLE_BYTES])
    if first_bad >= len(sample):
        line_start = data.rfind(b"\n", 0, first_bad) + 1
        sample += _cut_at_line(data[line_start : line_start + SAMPLE_BYTES])
    best, best_score = UTF8, -1.0
    for enc in (*LEGACY_ENCODINGS, UTF8):
        text, unmapped = decode_bytes(sample, enc)
        score = _score(text, unmapped)
        if score > best_score:
            best, best_score = enc, score
    return best, max(best_score, 0.0)


def _score(text: str, unmapped: int) -> float:
    words = sum(1 for w in _WORD.findall(text) if not w.isascii())
    plausible = vietnamese_plausibility(text)
    return plausible - unmapped / max(words, 1)


def detect_and_decode(data: bytes) -> tuple[str, str]:
    """Decode a whole file's bytes: (text, encoding name used). Legacy results are NFC."""
    encoding, _ = guess_encoding(data)
    text, _ = decode_bytes(data, encoding)
    return text, encoding


# ---------------------------------------------------------------- encoding (for tests and synthetic files)


def encode_legacy(text: str, encoding: str) -> bytes:
    """Write NFC text in a legacy encoding, as an old system would have. TCVN3 has no capital
    toned letters, so those are written with the lower-case code (as the `.VnTimeH` fonts did).
    A character the encoding cannot hold raises ValueError."""
    if encoding not in LEGACY_ENCODINGS:
        raise ValueError(f"encode_legacy: unknown legacy encoding {encoding!r}; known: {', '.join(LEGACY_ENCODINGS)}")
    text = unicodedata.normalize("NFC", text)
    table = {ord(c): _legacy_form(c, encoding) for c in set(text) if not c.isascii()}
    codec = CP1258 if encoding == CP1258 else "latin-1"
    return text.translate(table).encode(codec)


def _legacy_form(c: str, encoding: str) -> str:
    """How one non-ASCII character is written: Windows-1258 characters (base letter + combining
    tone), or for TCVN3/VNI text whose code points are the bytes (Latin-1)."""
    form: str | None
    if encoding == CP1258:
        decomposed = unicodedata.normalize("NFD", c)
        tone = "".join(m for m in decomposed if m in TONE_MARKS)
        base = unicodedata.normalize("NFC", "".join(m for m in decomposed if m not in TONE_MARKS))
        form = c if _encodable(c, CP1258) else base + tone
        form = form if _encodable(form, CP1258) else None
    elif encoding == TCVN3:
        enc = _tcvn3_tables()[1]
        code = enc.get(c, enc.get(c.lower()))
        form = chr(code) if code is not None else None
    else:
        form = _vni_tables()[1].get(c)
    if form is None:
        raise ValueError(f"{c!r} (U+{ord(c):04X}) cannot be written in {encoding}")
    return form


def _encodable(s: str, codec: str) -> bool:
    try:
        s.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


# ---------------------------------------------------------------- repairing single values


def _repair_candidates(raw: bytes) -> list[str]:
    out = []
    for decoder in (_decode_tcvn3, _decode_vni):
        text, unmapped = decoder(raw)
        if unmapped == 0:
            out.append(text)
    try:
        out.append(unicodedata.normalize("NFC", raw.decode(UTF8)))
    except UnicodeDecodeError:
        pass
    text, unmapped = _decode_cp1258(raw)
    if unmapped == 0:
        out.append(text)
    return out


def _fully_plausible(text: str) -> bool:
    return vietnamese_plausibility(text) == 1.0


@lru_cache(maxsize=100_000)
def repair_legacy_text(s: str) -> str:
    """Undo mojibake from legacy bytes read as Windows-1252: TCVN3 ("NguyÔn" -> "Nguyễn"), VNI
    ("Nguyeãn" -> "Nguyễn"), Windows-1258 ("NguyêÞn") and UTF-8 ("Nguyá»…n").

    Repairs only when unambiguous: the value must not already read as Vietnamese, and exactly
    one reading must turn every non-ASCII word into a Vietnamese syllable. ASCII, proper
    Unicode Vietnamese and anything else are returned unchanged."""
    if not s or s.isascii():
        return s
    try:
        raw = s.encode("cp1252")
    except UnicodeEncodeError:
        return s  # holds characters no 8-bit font produces (ễ, ư, ...): real Unicode
    if _fully_plausible(s):
        return s
    readings = {c for c in _repair_candidates(raw) if c != s and _fully_plausible(c)}
    return readings.pop() if len(readings) == 1 else s


def decode_file(path: str | Path) -> tuple[str, str]:
    """Read and decode a whole text file: (text, encoding name)."""
    return detect_and_decode(Path(path).read_bytes())
