"""The mutation score per module after ``mutmut run`` (``make mutation``); fails below 90%.

Score = detected / (mutants - equivalent), where detected is killed or timed out. A mutant
is *equivalent* when no input can tell it from the original. Each one judged so is listed
below with the reason and matched by its function and the exact line it changes, not by
mutmut's number (which shifts when the source changes); an entry that no longer matches a
survivor is reported as stale rather than left to excuse another mutant. Two rules cover
whole classes: a codec name changed only in case, and any mutant inside the one branch of
``verify_log_entries`` that cannot run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = str(Path(sys.executable).with_name("mutmut"))
MINIMUM = 90.0
DETECTED = {"killed", "timeout", "caught by type check"}


@dataclass(frozen=True)
class Equivalent:
    function: str  # module.function as mutmut names it, without the __mutmut_N suffix
    removed: str  # the original line(s), stripped and joined with " / "
    added: str  # the mutated line(s), likewise
    reason: str


_WALK = "fn == sn == 0 is excluded by the sn == 0 check before it, so fn (== sn, even) never "
_WALK += "reaches 0 in the loop: 'fn != 0' and 'fn != 1' stop at the same point"
EQUIVALENTS = [
    Equivalent(
        "dataward._transparency.merkle.x_verify_inclusion",
        "while not fn & 1 and fn != 0:",
        "while not fn & 1 and fn != 1:",
        _WALK,
    ),
    Equivalent(
        "dataward._transparency.merkle.x_verify_consistency",
        "while not fn & 1 and fn != 0:",
        "while not fn & 1 and fn != 1:",
        _WALK,
    ),
    Equivalent(
        "dataward._transparency.merkle.x_root_from_leaf_hashes",
        "size, node = 1, h",
        "size, node = 2, h",
        "sizes are only compared with each other; doubling every size changes no comparison",
    ),
    Equivalent(
        "dataward._transparency.merkle.x__subproof",
        "return [*_subproof(m - k, d[k:], False), root_from_leaf_hashes(d[:k])]",
        "return [*_subproof(m - k, d[k:], None), root_from_leaf_hashes(d[:k])]",
        "'complete' is only tested for truth; None and False are both false",
    ),
    Equivalent(
        "dataward._transparency.tree.xǁMerkleTreeǁconsistency_proof",
        "complete = False",
        "complete = None",
        "'complete' is only tested for truth; None and False are both false",
    ),
    Equivalent(
        "dataward._transparency.tree.xǁMerkleTreeǁfrom_leaf_hashes",
        "while len(below) >= 2 * HASH_SIZE:",
        "while len(below) >= 2 / HASH_SIZE:",
        "adds one empty level above the top node; append() and _node() never read it",
    ),
    Equivalent(
        "dataward._transparency.tree.xǁMerkleTreeǁfrom_leaf_hashes",
        "for off in range(0, len(below) - HASH_SIZE * 2 + 1, HASH_SIZE * 2):",
        "for off in range(0, len(below) - HASH_SIZE * 2 + 2, HASH_SIZE * 2):",
        "len(below) is a multiple of 32, so no multiple of 64 lies between the two stops",
    ),
    Equivalent(
        "dataward._transparency.logcheck.x_verify_log_entries",
        "tree.consistency_proof(previous.size, cp.size),",
        "tree.consistency_proof(previous.size, None),",
        "checkpoints are reached only when tree.size == cp.size, and None means tree.size",
    ),
    Equivalent(
        "dataward._transparency.logcheck.x_verify_log_entries",
        "tree.consistency_proof(previous.size, cp.size),",
        "tree.consistency_proof(previous.size, ),",
        "checkpoints are reached only when tree.size == cp.size, and the default is tree.size",
    ),
    Equivalent(
        "dataward._transparency.logcheck.x_verify_log_entries",
        'what = "is missing" if entry.index > i else "is stored twice or out of order"',
        'what = "is missing" if entry.index >= i else "is stored twice or out of order"',
        "only reached when entry.index != i, where > and >= agree",
    ),
    Equivalent(
        "dataward._transparency.note.x_open_checkpoint",
        "verified = False",
        "verified = None",
        "'verified' is only tested for truth; None and False are both false",
    ),
]
# The codec names "ascii"/"ASCII" and "utf-8"/"UTF-8" name the same codec.
_CODECS = (("ascii", "ASCII"), ("utf-8", "UTF-8"))

# verify_log_entries re-checks consistency between consecutive checkpoints after comparing
# each one's root with the recomputed tree; two roots of one append-only tree are always
# consistent, so that except branch cannot run and no mutant inside it can be told apart.
_UNREACHABLE = (
    "dataward._transparency.logcheck.x_verify_log_entries",
    "is not consistent with #",
    "inside the except branch of the consistency re-check, which cannot run",
)


@dataclass(frozen=True)
class Mutant:
    name: str
    removed: str
    added: str
    hunk: str  # the diff with its context lines

    @property
    def function(self) -> str:
        return self.name.rsplit("__mutmut_", 1)[0]


def _results() -> dict[str, str]:
    out = subprocess.run(  # noqa: S603 (our own venv's mutmut, fixed arguments)
        [MUTMUT, "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    statuses: dict[str, str] = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            statuses[name] = status
    return statuses


def _mutant(name: str) -> Mutant:
    show = [MUTMUT, "show", name]  # a mutant name mutmut itself listed
    out = subprocess.run(show, capture_output=True, text=True, check=True)  # noqa: S603
    removed, added = [], []
    for line in out.stdout.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:].strip())
        elif line.startswith("+"):
            added.append(line[1:].strip())
    return Mutant(name, " / ".join(removed), " / ".join(added), out.stdout)


def _equivalence(m: Mutant) -> tuple[Equivalent | None, str | None]:
    """The table entry (if any) and the reason, when ``m`` is judged equivalent."""
    for eq in EQUIVALENTS:
        if (eq.function, eq.removed, eq.added) == (m.function, m.removed, m.added):
            return eq, eq.reason
    for lower, upper in _CODECS:
        for quote in "\"'":
            original = f"{quote}{lower}{quote}"
            if original in m.removed and m.added == m.removed.replace(
                original, f"{quote}{upper}{quote}"
            ):
                return None, f"codec names are case-insensitive ({lower} is {upper})"
    function, marker, reason = _UNREACHABLE
    if m.function == function and marker in m.hunk:
        return None, reason
    return None, None


def _expected_modules() -> dict[str, Path]:
    """module name -> source file for each of [tool.mutmut] source_paths (all files)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    return {".".join(Path(p).with_suffix("").parts): Path(p) for p in config["source_paths"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minimum", type=float, default=MINIMUM, help="percent per module")
    args = parser.parse_args()

    statuses = _results()
    if not statuses:
        print("no mutmut results: run `mutmut run` first", file=sys.stderr)
        return 2
    # mutmut skips a source path that does not exist without a word: a module that moved
    # would silently drop out of the score.
    missing = []
    for module, path in _expected_modules().items():
        if not (ROOT / path).is_file():
            missing.append(f"{path}: no such file (moved? update [tool.mutmut] in pyproject.toml)")
        elif not any(name.startswith(f"{module}.") for name in statuses):
            missing.append(f"{path}: no mutants in the results (run `mutmut run`)")
    if missing:
        print("not mutated:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    total: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    excluded: Counter[str] = Counter()
    equivalents: list[tuple[Mutant, str]] = []
    survivors: list[tuple[Mutant, str]] = []
    used: set[Equivalent] = set()
    for name, status in sorted(statuses.items()):
        module = name.rsplit(".", 1)[0]
        total[module] += 1
        if status in DETECTED:
            detected[module] += 1
            continue
        mutant = _mutant(name)
        entry, reason = _equivalence(mutant)
        if reason is None:
            survivors.append((mutant, status))
            continue
        excluded[module] += 1
        equivalents.append((mutant, reason))
        if entry is not None:
            used.add(entry)

    failed = False
    print(f"{'module':34} {'detected':>8} / {'scored':<6} {'equivalent':>10} {'score':>7}")
    for module in sorted(total):
        scored = total[module] - excluded[module]
        score = 100.0 * detected[module] / scored if scored else 100.0
        below = score < args.minimum
        failed |= below
        print(
            f"{module:34} {detected[module]:>8} / {scored:<6} {excluded[module]:>10} "
            f"{score:>6.1f}%{f'  below {args.minimum:g}%' if below else ''}"
        )
    if equivalents:
        print("\nequivalent, excluded from the score:")
        for mutant, reason in equivalents:
            print(f"  {mutant.name}\n      {mutant.removed}  ->  {mutant.added}\n      {reason}")
    if survivors:
        print("\nnot detected (add a test, or judge it equivalent in tools/mutation_score.py):")
        for mutant, status in survivors:
            print(f"  {mutant.name} ({status})\n      {mutant.removed}  ->  {mutant.added}")
    for eq in EQUIVALENTS:
        if eq not in used:
            print(
                f"\nstale equivalent entry (no survivor matches; killed now, or the source "
                f"changed): {eq.function}: {eq.removed!r} -> {eq.added!r}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
