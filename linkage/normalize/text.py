"""Vietnamese text repair for names: Unicode clean-up, keystroke residues, one tone-mark style.

Every later stage compares what comes out of here, so each step is conservative: it changes a word
only when the rule is certain (a confusable code point, a tone mark inside a parseable syllable, a
keystroke residue that decodes to a valid syllable while the word itself is not one).

Tone style (rules/names/syllables.yaml, syllable_nuclei.csv): the TRADITIONAL ("old") style, hòa /
thúy / khỏe, because it dominates in names (observed_variant_frequencies.csv: hòa 271 vs hoà 55,
thúy 1076 vs thuý 191) and in the 2025 ward list. Rule: in a syllable onset + nucleus + coda
("gi"/"qu" + vowel are onsets: già, quý), the mark goes on the nucleus vowel listed in the table:
the last hat/breve/horn vowel if any (tuấn, trường, nguyễn); else the last vowel when a coda follows
(hoàn, khoét, huỳnh); else for open clusters the first of two (hòa, thúy, mái) or the middle of three
(khoái, khuỷu). Words that do not parse (Ksơr, K'Bròng, foreign words) keep their marks as written.

Pipeline of canonical_name: legacy-encoding repair (linkage.normalize.legacy, on the raw value,
because nfc_clean's confusable map would destroy the byte patterns it detects, e.g. TCVN3 "é" read
as "Ð"; skipped when the value already reads as Vietnamese once Ð is read as Đ) -> nfc_clean ->
bracketed notes dropped ("Nguyễn Văn A (Tèo)": a nickname must not become the given name) ->
keystroke repair -> other punctuation and leftover digits -> spaces -> apostrophe prefixes joined
(H' Hen -> H'Hen) -> lost spaces restored ("NguyễnVăn") -> tone style -> Title Case per syllable
(and after an apostrophe: H'Hen, K'Bròng). The result is a fixed point (canonical_name is
idempotent). Values whose words are already clean valid syllables take a per-word cached fast
path with the same result.
"""

from __future__ import annotations

import re
import unicodedata
import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from unidecode import unidecode

from linkage.errors import RulesError
from linkage.rules import load_yaml, read_ref_csv, read_ref_lines, rules_dir

# Combining marks: the five tones and the three vowel modifiers.
TONE_MARKS = {"\u0301": 1, "\u0300": 2, "\u0309": 3, "\u0303": 4, "\u0323": 5}
TONE_CHAR = {v: k for k, v in TONE_MARKS.items()}
VOWELS = set("aăâeêioôơuưy")

_WORD = re.compile(r"(?:[^\W\d_]|[\u0300-\u036f])+")
_ASCII_WORD = re.compile(r"(?<![^\W_])[A-Za-z0-9]+(?![^\W_])")
_APOS_SPACE = re.compile(r"(?<=\w)' +(?=\w)")


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyllableRules:
    """Parsed syllable/tone/keystroke/confusable rules for one rules directory."""

    onsets: tuple[str, ...]  # longest first
    codas: frozenset[str]
    stop_codas: frozenset[str]
    nuclei: dict[str, tuple[bool, bool, int | None, int | None]]  # open, closed, tone_open, tone_closed
    folded_nuclei: dict[str, tuple[bool, bool]]
    confusables: dict[int, str]
    telex_tones: dict[str, int]
    telex_double: dict[str, str]
    telex_w: dict[str, str]
    telex_strong_keys: frozenset[str]
    vni_tones: dict[str, int]
    vni_mods: dict[str, dict[str, str]]
    apostrophe_prefixes: tuple[str, ...]
    bare_letter_prefixes: frozenset[str]
    lexicon: frozenset[str]  # lower-case canonical syllables of known names
    keystroke_exceptions: frozenset[str]  # lower-case attested words that look like residues


def _codepoint(text: str, where: str) -> int:
    m = re.fullmatch(r"U\+([0-9A-Fa-f]{4,6})", text.strip())
    if not m:
        raise RulesError(f"{where}: expected a code point like U+00D0, got {text!r}")
    return int(m.group(1), 16)


def _strip_marks(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c)).replace("đ", "d")


@lru_cache(maxsize=8)
def _load(key: str) -> SyllableRules:
    rules = Path(key)
    syl = load_yaml("names/syllables.yaml", rules)
    style = syl.get("tone_style")
    if style not in ("traditional", "modern"):
        raise RulesError(f"{rules / 'names/syllables.yaml'}: tone_style must be traditional or modern")
    for key in ("onsets", "codas", "stop_codas", "nuclei_table"):
        if key not in syl:
            raise RulesError(f"{rules / 'names/syllables.yaml'}: missing key {key}")
    table = read_ref_csv(
        syl["nuclei_table"],
        rules,
        columns=("nucleus", "open", "closed", "tone_open_traditional", "tone_open_modern", "tone_closed"),
    )
    nuclei: dict[str, tuple[bool, bool, int | None, int | None]] = {}
    folded: dict[str, tuple[bool, bool]] = {}
    for i, row in table.iterrows():
        nuc = row["nucleus"]
        is_open, is_closed = row["open"] == "yes", row["closed"] == "yes"
        t_open = row[f"tone_open_{style}"]
        try:
            nuclei[nuc] = (
                is_open,
                is_closed,
                int(t_open) if is_open else None,
                int(row["tone_closed"]) if is_closed else None,
            )
        except ValueError:
            raise RulesError(f"{rules / syl['nuclei_table']}: row {i + 2}: tone index must be an integer") from None
        f = _strip_marks(nuc)
        o, c = folded.get(f, (False, False))
        folded[f] = (o or is_open, c or is_closed)

    conf = read_ref_csv("names/confusables.csv", rules, columns=("codepoint", "replacement"))
    confusables: dict[int, str] = {}
    for i, row in conf.iterrows():
        rep = row["replacement"]
        confusables[_codepoint(row["codepoint"], f"names/confusables.csv row {i + 2}")] = " " if rep == "space" else rep

    ks = load_yaml("names/keystrokes.yaml", rules)
    try:
        telex, vni = ks["telex"], ks["vni"]
        telex_tones = {str(k): int(v) for k, v in telex["tone_keys"].items()}
        telex_double = {str(k): str(v) for k, v in telex["double"].items()}
        telex_w = {str(k): str(v) for k, v in telex["w"].items()}
        telex_strong = frozenset(str(k) for k in telex["strong_tone_keys"])
        vni_tones = {str(k): int(v) for k, v in vni["tone_digits"].items()}
        vni_mods = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in vni["modifier_digits"].items()}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise RulesError(f"{rules / 'names/keystrokes.yaml'}: malformed ({exc})") from None

    lexicon: set[str] = set()
    try:
        for rel in ks["name_lexicon"]["lists"]:
            lexicon |= {w for line in read_ref_lines(str(rel), rules) for w in line.lower().split()}
        for rel, col in ks["name_lexicon"]["tables"].items():
            table_words = read_ref_csv(str(rel), rules, columns=(str(col),))[str(col)]
            lexicon |= {w for v in table_words for w in v.lower().split()}
        exceptions = frozenset(w.lower() for w in read_ref_lines(str(ks["exceptions"]), rules))
    except (KeyError, TypeError, AttributeError) as exc:
        raise RulesError(f"{rules / 'names/keystrokes.yaml'}: malformed name_lexicon/exceptions ({exc})") from None

    mino = load_yaml("names/minority.yaml", rules)
    apos = tuple(sorted((str(p) for p in mino.get("apostrophe_prefixes", [])), key=len, reverse=True))
    bare = frozenset(str(p).lower() for p in mino.get("bare_letter_prefixes", []))

    built = SyllableRules(
        onsets=tuple(sorted((str(o) for o in syl["onsets"]), key=len, reverse=True)),
        codas=frozenset(str(c) for c in syl["codas"]),
        stop_codas=frozenset(str(c) for c in syl["stop_codas"]),
        nuclei=nuclei,
        folded_nuclei=folded,
        confusables=confusables,
        telex_tones=telex_tones,
        telex_double=telex_double,
        telex_w=telex_w,
        telex_strong_keys=telex_strong,
        vni_tones=vni_tones,
        vni_mods=vni_mods,
        apostrophe_prefixes=apos,
        bare_letter_prefixes=bare,
        lexicon=frozenset(),
        keystroke_exceptions=exceptions,
    )
    # the lexicon in canonical tone style (the tables mix hoà/hòa), built with the rules just read
    canon = {_retone_letters(w, built) for w in lexicon}
    return dataclasses.replace(built, lexicon=frozenset(c for c in canon if c))


@lru_cache(maxsize=64)
def rules_key(rules: str | Path | None = None) -> str:
    """A stable cache key for a rules directory (its resolved path)."""
    return str(rules_dir(rules).resolve())


def load_rules(rules: str | Path | None = None) -> SyllableRules:
    """The text rules of a rules directory (cached; invalid files raise RulesError)."""
    return _load(rules_key(rules))


# ---------------------------------------------------------------------------------------------
# nfc_clean
# ---------------------------------------------------------------------------------------------


def nfc_clean(s: str, *, rules: str | Path | None = None) -> str:
    """NFC, confusables (Ð->Đ, curly/modifier apostrophes -> '), invisible characters (zero-width,
    bidi marks, control characters) removed, every kind of space -> one ' ', stripped."""
    table = load_rules(rules).confusables
    s = s.translate(table)
    if not s.isprintable():
        # other control and format characters (bidi marks, C1 controls) carry nothing for a name
        s = "".join(
            " " if c.isspace() else c for c in s if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf")
        )
    s = unicodedata.normalize("NFC", s)
    return " ".join(s.split())


# ---------------------------------------------------------------------------------------------
# Syllable model
# ---------------------------------------------------------------------------------------------

# A letter: (lower-case base with its vowel modifier, tone 0-5 or -1 if several, upper-case?)
Letter = tuple[str, int, bool]


def _letters(word: str) -> list[Letter] | None:
    """Split a word into letters with the tone separated from the vowel; None if a mark sits on
    nothing."""
    out: list[list] = []
    for ch in unicodedata.normalize("NFD", word):
        if unicodedata.combining(ch):
            if not out:
                return None
            cur = out[-1]
            if ch in TONE_MARKS:
                cur[1] = TONE_MARKS[ch] if cur[1] == 0 else -1
            else:
                cur[0] = unicodedata.normalize("NFC", cur[0] + ch)
        else:
            out.append([ch.lower(), 0, ch.isupper()])
    return [(b, t, u) for b, t, u in out]


def _compose(letters: list[Letter]) -> str:
    parts = []
    for base, tone, upper in letters:
        c = unicodedata.normalize("NFC", base + TONE_CHAR[tone]) if tone > 0 else base
        parts.append(c.upper() if upper else c)
    return "".join(parts)


def _parse(bases: str, R: SyllableRules, folded: bool) -> tuple[int, str, str] | None:
    """Split a lower-case syllable (no tone) into (onset length, nucleus, coda), or None."""
    for onset in R.onsets:
        if not bases.startswith(onset):
            continue
        rest = bases[len(onset) :]
        if onset in ("gi", "qu"):
            if not rest or rest[0] not in VOWELS:
                continue  # gì, gìn: g + i
        elif onset == "g" and rest.startswith("i") and len(rest) > 1 and rest[1] in VOWELS:
            continue  # gia must parse as gi + a
        n = 0
        while n < len(rest) and rest[n] in VOWELS:
            n += 1
        nucleus, coda = rest[:n], rest[n:]
        if not nucleus or coda not in R.codas:
            return None
        if folded:
            spec = R.folded_nuclei.get(nucleus)
            if spec is None or not (spec[1] if coda else spec[0]):
                return None
        else:
            spec4 = R.nuclei.get(nucleus)
            if spec4 is None or not (spec4[1] if coda else spec4[0]):
                return None
        return len(onset), nucleus, coda
    return None


def _tone_index(nucleus: str, coda: str, R: SyllableRules) -> int:
    spec = R.nuclei[nucleus]
    return spec[3] if coda else spec[2]  # type: ignore[return-value]


def _place_tone(letters: list[Letter], tone: int, R: SyllableRules) -> list[Letter] | None:
    """Letters with `tone` moved to its canonical vowel; None if the word is not a syllable."""
    bases = "".join(b for b, _, _ in letters)
    parsed = _parse(bases, R, folded=False)
    if parsed is None:
        return None
    start, nucleus, coda = parsed
    pos = start + _tone_index(nucleus, coda, R)
    return [(b, tone if i == pos else 0, u) for i, (b, _, u) in enumerate(letters)]


def _is_valid_letters(letters: list[Letter], R: SyllableRules) -> bool:
    bases = "".join(b for b, _, _ in letters)
    tones = [t for _, t, _ in letters if t != 0]
    if any(t < 0 for t in tones) or len(tones) > 1:
        return False
    plain = bases.isascii() and not tones
    parsed = _parse(bases, R, folded=plain)
    if parsed is None:
        return False
    if tones and parsed[2] in R.stop_codas and tones[0] not in (1, 5):
        return False
    return True


def is_syllable(word: str, *, rules: str | Path | None = None) -> bool:
    """Is `word` a valid Vietnamese syllable, with or without its marks ("Hoa", "Tuan", "Nguyễn")?"""
    letters = _letters(unicodedata.normalize("NFC", word))
    return bool(letters) and _is_valid_letters(letters, load_rules(rules))


# ---------------------------------------------------------------------------------------------
# canonical_tones
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=200_000)
def _retone_word(word: str, key: str) -> str:
    return _retone_letters(word, _load(key))


def _retone_letters(word: str, R: SyllableRules) -> str:
    letters = _letters(word)
    if letters is None:
        return word
    tones = [t for _, t, _ in letters if t != 0]
    if len(tones) != 1 or tones[0] < 0:
        return unicodedata.normalize("NFC", word)
    placed = _place_tone(letters, tones[0], R)
    return unicodedata.normalize("NFC", word) if placed is None else _compose(placed)


def canonical_tones(s: str, *, rules: str | Path | None = None) -> str:
    """Every parseable syllable with its tone mark in the canonical (traditional) place:
    hoà -> hòa, thuý -> thúy, khoẻ -> khỏe, baỏ -> bảo; quý, hoàn, huỳnh unchanged."""
    key = rules_key(rules)
    s = unicodedata.normalize("NFC", s)
    return _WORD.sub(lambda m: _retone_word(m.group(0), key), s)


# ---------------------------------------------------------------------------------------------
# repair_keystrokes
# ---------------------------------------------------------------------------------------------

NONE, WEAK, STRONG = 0, 1, 2


def _recase(result: list[Letter], original: str) -> list[Letter]:
    letters = [c for c in original if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and len(letters) > 1:
        return [(b, t, True) for b, t, _ in result]
    first_upper = bool(letters) and letters[0].isupper()
    return [(b, t, first_upper and i == 0) for i, (b, t, _) in enumerate(result)]


def _telex(word: str, R: SyllableRules) -> tuple[list[Letter], int] | None:
    low = word.lower()
    first_vowel = next((i for i, c in enumerate(low) if c in "aeiouy"), None)
    if first_vowel is None:
        return None
    tone, tone_key = 0, ""
    kept: list[str] = []
    for i, c in enumerate(low):
        if i > first_vowel and c in R.telex_tones:
            if tone:
                return None  # two tone keys: ambiguous
            tone, tone_key = R.telex_tones[c], c
        else:
            kept.append(c)
    if tone_key and low[-1] != tone_key:
        return None  # a tone key inside the word (aran, basang): not a keystroke residue
    out: list[str] = []
    ops = 0
    for c in kept:
        if c == "w":
            j = next((k for k in range(len(out) - 1, -1, -1) if out[k] in "aou"), None)
            if j is None:
                if any(b in VOWELS for b in out):
                    return None
                out.append(R.telex_w["u"])  # "w" alone types ư
            elif out[j] == "o" and j > 0 and out[j - 1] in ("u", R.telex_w["u"]):
                out[j - 1], out[j] = R.telex_w["uo"][0], R.telex_w["uo"][1]
            else:
                out[j] = R.telex_w[out[j]]
            ops += 1
        elif out and (out[-1] + c) in R.telex_double:
            out[-1] = R.telex_double[out[-1] + c]
            ops += 1
        else:
            out.append(c)
    changed = ops > 0 or tone > 0
    # strong: two keystroke operations (Nguyeenx, Truwowng, Tuaans), dd, or a tone key that ends no
    # minority or foreign name (f, j); weak: a single s/r/x key (Bas, Dor, Kor are real minority
    # names) or a single modifier (Lee, Tow, Traan, Vawn)
    strong = ops + (tone > 0) >= 2 or tone_key in R.telex_strong_keys or "đ" in out
    strength = STRONG if strong else WEAK
    if not changed:
        return None
    letters: list[Letter] = [(b, 0, False) for b in out]
    if tone:
        placed = _place_tone(letters, tone, R)
        if placed is None:
            return None
        letters = placed
    return letters, strength


def _vni(word: str, R: SyllableRules) -> tuple[list[Letter], int] | None:
    low = word.lower()
    if not low[0].isalpha():
        return None
    out: list[str] = []
    tone = 0
    for c in low:
        if c.isalpha():
            out.append(c)
        elif c in R.vni_tones:
            tone = R.vni_tones[c]
        elif c in R.vni_mods:
            mods = R.vni_mods[c]
            j = next((k for k in range(len(out) - 1, -1, -1) if out[k] in mods), None)
            if j is None:
                return None
            if "uo" in mods and out[j] == "o" and j > 0 and out[j - 1] in ("u", mods["uo"][0]):
                out[j - 1], out[j] = mods["uo"][0], mods["uo"][1]
            elif out[j] == "u" and j + 1 < len(out) and out[j + 1] == "o" and "uo" in mods:
                out[j], out[j + 1] = mods["uo"][0], mods["uo"][1]
            else:
                out[j] = mods[out[j]]
        else:
            return None
    letters: list[Letter] = [(b, 0, False) for b in out]
    if tone:
        placed = _place_tone(letters, tone, R)
        if placed is None:
            return None
        letters = placed
    return letters, STRONG


@lru_cache(maxsize=200_000)
def _keystroke_word(word: str, key: str) -> tuple[str, int]:
    """(repaired word, evidence strength) for one ASCII word; (word, NONE) if nothing to repair."""
    R = _load(key)
    has_digit = any(c.isdigit() for c in word)
    if has_digit:
        if word.isdigit():
            return word, NONE
        decoded = _vni(word, R)
    else:
        letters = _letters(word)
        if letters and _is_valid_letters(letters, R):
            return word, NONE
        decoded = _telex(word, R)
    if decoded is None:
        return word, NONE
    letters, strength = decoded
    if not _is_valid_letters(letters, R):
        return word, NONE
    repaired = _compose(_recase(letters, word))
    if strength == WEAK and repaired.lower() in R.lexicon and word.lower() not in R.keystroke_exceptions:
        strength = STRONG  # Thuyr -> Thủy: a known name syllable, and "Thuyr" is no attested name
    return repaired, strength


def repair_keystrokes(s: str, *, rules: str | Path | None = None) -> str:
    """Leftover Telex/VNI keystrokes turned into letters where unambiguous: Nguyeenx -> Nguyễn,
    Hoangf -> Hoàng, Ddawngj -> Đặng, Nguye64n -> Nguyễn. Valid syllables (Hoa, Tuan) never change;
    doubled-vowel-only evidence (Traan) counts only next to a word with strong evidence."""
    key = rules_key(rules)
    found = [(m.span(), *_keystroke_word(m.group(0), key)) for m in _ASCII_WORD.finditer(s)]
    if not any(strength for _, _, strength in found):
        return s
    any_strong = any(strength == STRONG for _, _, strength in found)
    parts, last = [], 0
    for (a, b), rep, strength in found:
        if strength == STRONG or (strength == WEAK and any_strong):
            parts.append(s[last:a])
            parts.append(rep)
            last = b
    parts.append(s[last:])
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# fold_ascii
# ---------------------------------------------------------------------------------------------


def _build_fold_table() -> dict[int, str]:
    table: dict[int, str] = {ord("đ"): "d", ord("Đ"): "d"}
    for cp in list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):
        ch = chr(cp)
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if base.isascii() and base.isalpha() and len(base) == 1:
            table[cp] = base.lower()
    return table


_FOLD = _build_fold_table()
_APOS_SPACE_ANY = re.compile(r"' +")


def fold_ascii(s: str, *, rules: str | Path | None = None) -> str:
    """Lower-case ASCII fold (đ -> d, every mark dropped): for blocking and weak evidence only,
    because it merges different names (Hùng/Hưng)."""
    s = nfc_clean(s, rules=rules).lower().translate(_FOLD)
    if not s.isascii():
        s = unidecode("".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c)))
    if "'" in s:
        s = _APOS_SPACE_ANY.sub("'", s)
    return " ".join(s.split())


# ---------------------------------------------------------------------------------------------
# canonical_name
# ---------------------------------------------------------------------------------------------

_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_NON_NAME = re.compile(r"[^\w'\u0300-\u036f ]|[\d_]")


def _legacy_repair():
    """linkage.normalize.legacy.repair_legacy_text if that module exists (owned by another part)."""
    try:
        from linkage.normalize.legacy import repair_legacy_text  # type: ignore[attr-defined]
    except ImportError:
        return None
    return repair_legacy_text


def _title_word(word: str) -> str:
    parts = word.split("'")
    return "'".join(p[:1].upper() + p[1:].lower() for p in parts)


@lru_cache(maxsize=200_000)
def _finish_word(word: str, key: str) -> str:
    return _title_word(_WORD.sub(lambda m: _retone_word(m.group(0), key), word))


def _join_prefixes(words: list[str], R: SyllableRules) -> list[str]:
    """A leading bare prefix letter joined to the next word ("H Hen" -> "H'Hen"; only first, so the
    initial in "Nguyễn H. Nam" stays); lone and dangling apostrophes dropped."""
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w.strip("'") == "":
            i += 1
            continue
        if i == 0 and w.lower() in R.bare_letter_prefixes and len(words) > 1 and words[1].strip("'"):
            out.append(w + "'" + words[i + 1].lstrip("'"))
            i += 2
            continue
        out.append(w.strip("'") if not w.endswith("'") or i + 1 >= len(words) else w)
        i += 1
    return out


def _split_camel(word: str, R: SyllableRules) -> list[str]:
    """"NguyễnVăn" (a space lost or a zero-width space removed) -> ["Nguyễn", "Văn"], only when
    every part is a valid syllable."""
    cuts = [i for i in range(1, len(word)) if word[i].isupper() and word[i - 1].islower()]
    if not cuts:
        return [word]
    parts = [word[a:b] for a, b in zip([0, *cuts], [*cuts, len(word)])]
    ok = all((lt := _letters(p)) and _is_valid_letters(lt, R) for p in parts)
    return parts if ok else [word]


def canonical_name(s: str, *, rules: str | Path | None = None) -> str:
    """The canonical form of a name: legacy and confusable repair, keystroke repair, traditional tone
    style, Title Case per syllable ("nguyễn văn hùng" -> "Nguyễn Văn Hùng", "H' Hen niê" ->
    "H'Hen Niê"). Idempotent; "" for a value with no letters."""
    key = rules_key(rules)
    words = s.split()
    fast = [_safe_word(w, key) for w in words]
    if words and all(fast):
        return " ".join(fast)  # type: ignore[arg-type]
    legacy = _legacy_repair()
    R = _load(key)
    cleaned = nfc_clean(_apply_legacy(s, key, legacy, R) if legacy is not None else s, rules=key)
    words = cleaned.split()
    fast = [_safe_word(w, key) for w in words]
    if words and all(fast):
        return " ".join(fast)  # type: ignore[arg-type]  # only NFC/space/confusable repairs were needed
    out = _canonical_once(s, key, legacy)
    # a repair can expose another (the legacy repair reads the cleaned text differently from the
    # raw one; a removed digit or dot leaves a new word): settle on a fixed point so that
    # canonical_name(canonical_name(x)) == canonical_name(x). Only values off the fast path pay.
    for _ in range(3):
        again = _canonical_once(out, key, legacy)
        if again == out:
            break
        out = again
    return out


@lru_cache(maxsize=200_000)
def _safe_word(word: str, key: str) -> str | None:
    """The canonical form of a word whose canonical form does not depend on its neighbours, else
    None. Safe: letters only, already clean NFC, a valid syllable (so no legacy, keystroke,
    apostrophe or camel-case repair applies), not a bare prefix letter (H Hen). A value made only
    of safe words takes the fast path of canonical_name; the slow path gives the same result."""
    R = _load(key)
    if not word.isalpha() or nfc_clean(word, rules=key) != word or word.lower() in R.bare_letter_prefixes:
        return None
    if any(word[i].isupper() and word[i - 1].islower() for i in range(1, len(word))):
        return None
    letters = _letters(word)
    if not letters or not _is_valid_letters(letters, R):
        return None
    return _finish_word(word, key)


def _apply_legacy(s: str, key: str, legacy, R: SyllableRules) -> str:
    """The legacy repair, unless the confusable reading already is plain Vietnamese: "Ðoàn Quãng"
    (U+00D0 typed for Đ) also reads as Windows-1258 mojibake of "Đoàn Quăng"; when every word is a
    valid syllable after Ð -> Đ, the value was typed in Unicode and is kept."""
    repaired = legacy(s)
    if repaired == s:
        return s
    clean = nfc_clean(s, rules=key).split()
    if clean and all((lt := _letters(w)) and _is_valid_letters(lt, R) for w in clean):
        return s
    return repaired


def _canonical_once(s: str, key: str, legacy) -> str:
    R = _load(key)
    if legacy is not None:
        s = _apply_legacy(s, key, legacy, R)
    s = nfc_clean(s, rules=key)
    if "(" in s or "[" in s:
        # "Nguyễn Văn A (Tèo)", "Lê Văn B [bí danh]": a note or nickname, never part of the name;
        # left in, it would become the given name
        s = _BRACKETED.sub(" ", s)
    if not s:
        return ""
    s = repair_keystrokes(s, rules=key)
    s = _NON_NAME.sub(" ", s)
    if "'" in s:
        s = _APOS_SPACE.sub("'", s)
    words = s.split()
    if not s.isupper() and not s.islower():
        words = [p for w in words for p in _split_camel(w, R)]
    if "'" in s or (words and len(words[0]) == 1):
        words = _join_prefixes(words, R)
    return " ".join(_finish_word(w, key) for w in words)
