"""Benchmark: normalize + hash user_data, ours against Meta's Python SDK and bare SHA-256.

    .venv/bin/python bench/bench_normalize.py [--events 600] [--repeat 7] [--baseline REV]

One run, the same corpus (tests/corpus.py, seeded) for every contestant:

- ours: ``capi.meta.user_data.prepare_user_data`` on each event's user_data, three ways:
  warm (the bounded per-value caches filled, as in steady traffic where values repeat),
  cold (caches cleared before every pass: only repeats inside one pass of the corpus hit), and
  no cache at all (a child process with CAPI_NORMALIZE_CACHE_SIZE=0);
- SDK: ``facebook_business.adobjects.serverside.user_data.UserData(...).normalize()`` (which
  also hashes); its exceptions are counted (one bad field makes it drop the whole user_data);
- bare: ``hashlib.sha256(s.encode()).hexdigest()`` over the strings our normalization produced
  for the same events (the floor: what the SHA-256 calls alone cost).

Prints events/s for each and the ratios ours/SDK and ours/bare. Best of ``--repeat`` passes.
``--baseline REV`` also measures ours (warm and cold) with the relay's code as it was at git
revision REV (extracted with ``git archive``), in a child process of the same run, on the same
corpus, and prints now/before.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _imports() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def best_of(repeat: int, run: Any, before: Any = None) -> float:
    """The fastest of ``repeat`` timed calls of ``run()`` (``before()`` untimed, each time)."""
    best = float("inf")
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def normalized_strings(users: list[dict]) -> list[str]:
    """Every string our normalization hashes for these user_data (what bare hashing hashes)."""
    from capi.meta import normalize as n
    from capi.meta.rules import HASHED_FIELDS
    from capi.meta.user_data import _region, is_sha256

    out: list[str] = []
    for user in users:
        region = _region(user.get("country"))
        for field in HASHED_FIELDS:
            raw = user.get(field)
            for value in raw if isinstance(raw, list) else [raw]:
                if isinstance(value, int):
                    value = str(value)
                if not isinstance(value, str) or not value.strip() or is_sha256(value.strip()):
                    continue
                text = value.strip()
                try:
                    if field == "ph":
                        result = n.normalize_phone(text, country=region)
                    elif field == "st":
                        result = n.normalize_state(text, country=region)
                    elif field == "zp":
                        result = n.normalize_zip(text, country=region)
                    elif field == "db":
                        result = n.normalize_date_of_birth(text)
                    else:
                        result = {
                            "em": n.normalize_email,
                            "fn": n.normalize_name,
                            "ln": n.normalize_name,
                            "ct": n.normalize_city,
                            "country": n.normalize_country,
                            "ge": n.normalize_gender,
                            "external_id": n.normalize_external_id,
                        }[field](text)
                except n.NormalizationError:
                    continue
                if result:
                    out.append(result)
    return out


def sdk_arguments(users: list[dict]) -> list[dict]:
    """UserData keyword arguments for each user_data (prepared outside the timing: the SDK wants
    lists and its Gender enum, which its users must build themselves)."""
    from facebook_business.adobjects.serverside.gender import Gender

    names = {
        "em": "emails",
        "ph": "phones",
        "fn": "first_names",
        "ln": "last_names",
        "ct": "cities",
        "st": "states",
        "zp": "zip_codes",
        "country": "country_codes",
        "db": "dates_of_birth",
        "external_id": "external_ids",
    }
    result = []
    for user in users:
        kwargs: dict[str, Any] = {}
        for key, name in names.items():
            raw = user.get(key)
            if raw is not None:
                kwargs[name] = raw if isinstance(raw, list) else [raw]
        gender = user.get("ge")
        if isinstance(gender, str):
            letter = gender.strip()[:1].lower()
            genders = {"m": [Gender.MALE], "f": [Gender.FEMALE], "w": [Gender.FEMALE]}
            if letter in genders:
                kwargs["genders"] = genders[letter]
        for key in ("client_ip_address", "client_user_agent", "fbc", "fbp"):
            if key in user:
                kwargs[key] = user[key]
        result.append(kwargs)
    return result


def measure_ours(users: list[dict], repeat: int) -> dict[str, float]:
    from capi.meta import normalize
    from capi.meta.user_data import prepare_user_data

    def run() -> None:
        for user in users:
            prepare_user_data(user)

    run()  # builds the lazy ISO tables once: a one-time cost, reported separately
    results = {"cold": best_of(repeat, run, normalize.clear_caches)}
    if normalize.CACHE_SIZE:
        run()
        results["warm"] = best_of(repeat, run)
    return results


def measure_sdk(arguments: list[dict], repeat: int) -> tuple[float, int]:
    from facebook_business.adobjects.serverside.user_data import UserData

    failures = 0

    def run() -> None:
        nonlocal failures
        failures = 0
        for kwargs in arguments:
            try:
                UserData(**kwargs).normalize()
            except (TypeError, ValueError, AttributeError):
                failures += 1

    return best_of(repeat, run), failures


def sdk_accepts(kwargs: dict) -> bool:
    from facebook_business.adobjects.serverside.user_data import UserData

    try:
        UserData(**kwargs).normalize()
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def measure_bare(strings: list[str], repeat: int) -> float:
    sha256 = hashlib.sha256

    def run() -> None:
        for text in strings:
            sha256(text.encode()).hexdigest()

    return best_of(repeat, run)


def phone_share(users: list[dict], repeat: int) -> float:
    """Seconds per pass spent in phone normalization alone, caches cleared (what dominates)."""
    from capi.meta import normalize
    from capi.meta.user_data import _region

    phones = []
    for user in users:
        raw = user.get("ph")
        for value in raw if isinstance(raw, list) else [raw]:
            if isinstance(value, str):
                phones.append((value, _region(user.get("country"))))

    def run() -> None:
        for value, region in phones:
            with contextlib.suppress(normalize.NormalizationError):
                normalize.normalize_phone(value, country=region)

    return best_of(repeat, run, normalize.clear_caches)


def import_time_ms() -> float:
    """Cumulative import time of capi.meta.prepare in a fresh interpreter (python -X importtime)."""
    process = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import capi.meta.prepare"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    for line in process.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "capi.meta.prepare":
            return int(parts[1]) / 1000
    return float("nan")


def first_use_ms() -> float:
    """One-time cost of the lazily built ISO tables (capi/meta/iso_data.py), in a fresh
    interpreter."""
    code = (
        "import time, capi.meta.prepare as p; t = time.perf_counter(); "
        "p.prepare_user_data({'country': 'Germany', 'st': 'California'}); "
        "print((time.perf_counter() - t) * 1000)"
    )
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return float(process.stdout.strip())


def baseline(revision: str, events: int, repeat: int) -> dict[str, float]:
    """Ours measured with the code of an older revision, in a child process."""
    import tempfile

    tree = Path(tempfile.mkdtemp(prefix="capi-normalize-baseline-"))
    archive = subprocess.run(
        ["git", "archive", revision, "capi"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    command = [sys.executable, __file__, "--child", "--capi-from", str(tree)]
    child = subprocess.run(
        [*command, "--events", str(events), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(child.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--capi-from", default="", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", default="", help="git revision to compare ours with")
    args = parser.parse_args()
    if args.capi_from:  # the baseline child: capi from the old tree, the corpus from this one
        _imports()
        from tests import corpus  # noqa: F401  (loaded from this tree before the path changes)

        sys.path.insert(0, args.capi_from)
    _imports()
    from tests.corpus import make_corpus

    users = [event["user_data"] for event in make_corpus(args.events)]
    if args.child:  # CAPI_NORMALIZE_CACHE_SIZE=0: ours without any cache (or the baseline)
        import capi

        assert not args.capi_from or capi.__file__.startswith(args.capi_from), capi.__file__
        print(json.dumps(measure_ours(users, args.repeat)))
        return

    env = {**os.environ, "CAPI_NORMALIZE_CACHE_SIZE": "0", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, __file__, "--child", "--events", str(args.events)]
    child = subprocess.run(
        [*command, "--repeat", str(args.repeat)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    no_cache = json.loads(child.stdout)["cold"]
    ours = measure_ours(users, args.repeat)
    strings = normalized_strings(users)
    arguments = sdk_arguments(users)
    sdk, sdk_failures = measure_sdk(arguments, args.repeat)
    accepted = [i for i, kwargs in enumerate(arguments) if sdk_accepts(kwargs)]
    sdk_subset, _ = measure_sdk([arguments[i] for i in accepted], args.repeat)
    ours_subset = measure_ours([users[i] for i in accepted], args.repeat)
    bare = measure_bare(strings, args.repeat)
    phones = phone_share(users, args.repeat)

    count = len(users)

    def rate(seconds: float) -> float:
        return count / seconds

    print(f"corpus: {count} events, {len(strings)} hashed values; best of {args.repeat} passes")
    print(f"python {sys.version.split()[0]}, {sys.platform}")
    print()
    print(f"{'contestant':<44}{'events/s':>12}{'us/event':>10}{'vs SDK':>9}{'vs bare':>9}")
    rows = [
        ("ours, warm caches (steady traffic)", ours["warm"]),
        ("ours, caches cleared before each pass", ours["cold"]),
        ("ours, no cache (CAPI_NORMALIZE_CACHE_SIZE=0)", no_cache),
        (f"SDK UserData.normalize() ({sdk_failures} raised)", sdk),
        ("bare sha256 of our normalized strings", bare),
    ]
    for label, seconds in rows:
        print(
            f"{label:<44}{rate(seconds):>12,.0f}{seconds / count * 1e6:>10.1f}"
            f"{sdk / seconds:>8.2f}x{bare / seconds:>8.2f}x"
        )
    print()
    print("ratios (events/s): ours/SDK = speed-up over the SDK (goal >= 3);")
    print("                   bare/ours = how many times the bare hashing cost we take (goal <= 2)")
    for label, seconds in rows[:3]:
        print(f"  {label:<44} ours/SDK {sdk / seconds:5.2f}   bare/ours {seconds / bare:5.2f}")
    print()
    print(
        f"only the {len(accepted)} events the SDK accepts whole (it aborts on the others): "
        f"SDK {len(accepted) / sdk_subset:,.0f} events/s; ours "
        f"{len(accepted) / ours_subset['warm']:,.0f} warm "
        f"({sdk_subset / ours_subset['warm']:.2f}x), "
        f"{len(accepted) / ours_subset['cold']:,.0f} cold "
        f"({sdk_subset / ours_subset['cold']:.2f}x)"
    )
    print(
        f"phone normalization alone, caches cleared: {phones * 1e3:.1f} ms per pass "
        f"({phones / ours['cold'] * 100:.0f}% of ours cold)"
    )
    print(f"import time of capi.meta.prepare: {import_time_ms():.1f} ms (python -X importtime)")
    if args.baseline:
        before = baseline(args.baseline, args.events, args.repeat)
        print()
        print(f"ours now against ours at {args.baseline} (same corpus, same run):")
        for kind in ("warm", "cold"):
            print(
                f"  {kind}: now {count / ours[kind]:,.0f} events/s, before "
                f"{count / before[kind]:,.0f} events/s, now/before {before[kind] / ours[kind]:.2f}"
            )
    print(f"first use, lazy ISO tables (pycountry): {first_use_ms():.1f} ms once per process")


if __name__ == "__main__":
    main()
