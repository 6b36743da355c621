"""Benchmark: full cryptographic verification of an Open Badges 3.0 credential,
this service's Python verifier against Digital Bazaar's JavaScript verifier.

Both verify the same issued credential (the demo badge of a fresh instance),
REPEAT times each, in the same run:

* **JavaScript**: ``tests/badges/interop/verify.mjs --repeat`` (``@digitalbazaar/vc``
  with the eddsa-rdfc-2022 cryptosuite and a static document loader), timed
  inside Node so its start-up is not counted;
* **Python, proof**: ``badges.dataintegrity.verify``: JSON-LD expansion with the
  safe-mode check, RDFC-1.0 canonicalization, hashing and the Ed25519 check,
  the same work as the JavaScript verifier;
* **Python, full report**: what the page and the API answer on a first sight of
  a credential (proof, issuer key, 1EdTech JSON Schema, status list, expiry),
  with the proof cache emptied before every run.

Goal: Python proof throughput at least the JavaScript verifier's.
Run: ``python tests/bench/bench_verify.py [REPEAT]``. Exits 1 if the goal is missed.
Needs Node.js; installs the verifier's locked packages on first use (``npm ci``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
INTEROP = ROOT / "tests" / "badges" / "interop"


def javascript_ms(credential: dict, public_multikey: str, repeat: int) -> float:
    if not (INTEROP / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=INTEROP, check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(credential, handle)
    out = subprocess.run(
        [
            "node",
            str(INTEROP / "verify.mjs"),
            handle.name,
            public_multikey,
            "--repeat",
            str(repeat),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    Path(handle.name).unlink()
    verdict = json.loads(out.stdout)
    assert verdict["verified"], verdict
    return verdict["milliseconds_per_verification"]


def main(repeat: int) -> int:
    from sqlalchemy import select

    from badges import dataintegrity, issuers, verification
    from badges.models import Badge, IssuerKey
    from core.extensions import db
    from tests.bench.instance import demo_instance

    with demo_instance() as (app, _instance), app.app_context():
        badge = db.session.scalars(select(Badge).where(Badge.kind == "micro_credential")).one()
        credential = json.loads(badge.credential_json)
        key = db.session.get(IssuerKey, badge.key_id)
        public = issuers.public_key(key)

        def proof_once() -> None:
            assert dataintegrity.verify(credential, lambda _method: public).verified

        def report_once() -> None:
            verification._PROOF_CACHE.clear()
            assert verification.verify_credential(credential).valid

        def python_ms(once) -> float:
            once()  # warm the context cache, as Node's first run does
            start = time.perf_counter()
            for _ in range(repeat):
                once()
            return (time.perf_counter() - start) * 1000 / repeat

        js = javascript_ms(credential, key.public_multikey, repeat)
        proof = python_ms(proof_once)
        report = python_ms(report_once)

    print(f"verifications per implementation: {repeat}")
    print(f"JavaScript (Digital Bazaar)  {js:7.2f} ms each  {1000 / js:7.1f}/s")
    print(f"Python, proof                {proof:7.2f} ms each  {1000 / proof:7.1f}/s")
    print(f"Python, full report          {report:7.2f} ms each  {1000 / report:7.1f}/s")
    print(f"throughput Python proof / JavaScript: {js / proof:.2f}x (goal >= 1.0x)")
    print(f"throughput Python full report / JavaScript: {js / report:.2f}x")
    return 0 if js / proof >= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
