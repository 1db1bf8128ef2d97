"""Benchmark: what the JSON guard of ``core.request_guard`` costs, against the parser.

    .venv/bin/python bench/json_guard.py [--repeat 5]

For bodies up to the 8 MB cap (a cohort of 5 000 people, one long string, long runs of
escapes, 8 MB of 60-digit numbers, 8 MB of brackets, an unterminated string), prints the
best time of ``check_json_body`` and of ``json.loads`` on the same bytes, and their ratio:
the guard must stay linear (a few passes of C byte operations) whatever the body, so that
refusing deep JSON or huge numbers before parsing costs no more than a parse.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.errors import BadRequest  # noqa: E402
from core.request_guard import check_json_body  # noqa: E402


def bodies() -> dict[str, bytes]:
    people = [{"id": f"P-{i:05d}", "postal_code": "33000",
               "services": ["Aide aux démarches administratives"], "days": ["mardi"],
               "time_from": "14:00", "time_to": "17:00"} for i in range(5000)]
    return {
        "cohorte de 5 000 personnes": json.dumps({"people": people},
                                                 ensure_ascii=False).encode(),
        "une chaîne de 8 Mo": b'{"a": "' + b"x" * 8_000_000 + b'"}',
        "8 Mo d'échappements": b'{"a": "' + b'\\"' * 4_000_000 + b'"}',
        "8 Mo de nombres de 60 chiffres": b"[" + b",".join([b"1" * 60] * 130_000) + b"]",
        "8 Mo de crochets (refusés)": b"[" * 4_000_000 + b"]" * 4_000_000,
        "chaîne non fermée de 8 Mo": b'{"a": "' + b"x" * 8_000_000,
    }


def best_ms(function, body: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        with contextlib.suppress(BadRequest, ValueError, RecursionError):
            function(body)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'corps':34} {'taille':>9} {'garde':>9} {'json.loads':>11} {'rapport':>8}")
    for name, body in bodies().items():
        guard = best_ms(check_json_body, body, args.repeat)
        parse = best_ms(json.loads, body, args.repeat)
        print(f"{name:34} {len(body) // 1024:>6} Ko {guard:>6.1f} ms {parse:>8.1f} ms "
              f"{guard / parse:>7.1f}×")


if __name__ == "__main__":
    main()
