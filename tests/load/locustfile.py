"""Load scenario: teachers build and submit evidence, reviewers score what they are
assigned, state verifiers check a badge. Accounts come from ``tests/load/seed.py``
(``LOAD_ACCOUNTS`` names its JSON file). Run by ``scripts/load_test.sh``.

Answers 429 (rate limited) are counted apart by the script; anything else that is
not the expected status is a failure.
"""

from __future__ import annotations

import itertools
import json
import os
import struct
import zlib
from typing import Any

from locust import HttpUser, between, task

from badges.demo import sample_pdf

ACCOUNTS = json.loads(open(os.environ["LOAD_ACCOUNTS"]).read())  # noqa: SIM115
_teacher_tokens = itertools.cycle(ACCOUNTS["teachers"])
_reviewer_tokens = itertools.cycle(ACCOUNTS["reviewers"])
_verifier_tokens = itertools.cycle(ACCOUNTS["verifiers"])


def _png(seed: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    pixels = b"".join(b"\x00" + bytes([seed % 256, 120, 200]) * 8 for _ in range(8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(pixels + seed.to_bytes(4, "big")))
        + chunk(b"IEND", b"")
    )


def _words(count: int, seed: int) -> str:
    return " ".join(f"word{seed}-{n}" for n in range(count))


class ApiUser(HttpUser):
    abstract = True
    token = ""

    def call(
        self, method: str, path: str, expect: int = 200, name: str | None = None, **kw: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        with self.client.request(
            method, path, headers=headers, name=name or path, catch_response=True, **kw
        ) as response:
            if response.status_code == expect:
                response.success()
            else:
                reason = response.error if response.status_code == 0 else response.text[:200]
                response.failure(f"{response.status_code}: {reason}")
            return response


class Teacher(ApiUser):
    """Starts a submission, adds every piece of evidence UDL-05 asks for, submits it,
    then keeps an eye on it and browses the catalog."""

    fixed_count = 200
    wait_time = between(5, 15)

    def on_start(self) -> None:
        self.token = next(_teacher_tokens)
        self.submission_id: int | None = None
        self.seed = id(self) % 100_000

    def _lock(self) -> int:
        return self.call(
            "GET", f"/api/v1/submissions/{self.submission_id}", name="/api/v1/submissions/[id]"
        ).json()["lock_version"]

    def _add(self, kind: str, body: dict[str, Any]) -> None:
        body["lock_version"] = self._lock()
        self.call(
            "POST",
            f"/api/v1/submissions/{self.submission_id}/items/{kind}",
            201,
            name=f"/api/v1/submissions/[id]/items/{kind}",
            json=body,
        )

    def _upload(self, part: str, name: str, data: bytes, **meta: str) -> None:
        self.call(
            "POST",
            f"/api/v1/submissions/{self.submission_id}/parts/{part}/files",
            201,
            name="/api/v1/submissions/[id]/parts/[part]/files",
            files={"file": (name, data)},
            data=meta,
        )

    @task(1)
    def build_and_submit(self) -> None:
        if self.submission_id is not None:
            return self.follow()
        mine = self.call("GET", "/api/v1/submissions").json()
        existing = [s for s in mine if s.get("credential_code") == ACCOUNTS["code"]]
        if existing:
            self.submission_id = existing[0]["id"]
            return None
        started = self.call("POST", "/api/v1/submissions", 201, json={"code": ACCOUNTS["code"]})
        self.submission_id = started.json()["id"]
        self._add(
            "text", {"part_key": "P1", "text": "A grade 4 class of 26, " + _words(40, self.seed)}
        )
        self._add("text", {"part_key": "P2", "text": "Goal: explain " + _words(30, self.seed)})
        self._upload("A1", "plan.pdf", sample_pdf(f"Task plan {self.seed}"))
        for n in range(3):
            self._upload(
                "A2", f"sample{n}.png", _png(self.seed * 3 + n), alt_text=f"Student sample {n}"
            )
        self._add("link", {"part_key": "A3", "url": "https://example.org/scaffolds"})
        self._add("text", {"part_key": "R1", "text": _words(350, self.seed)})
        self.call(
            "POST",
            f"/api/v1/submissions/{self.submission_id}/submit",
            name="/api/v1/submissions/[id]/submit",
            json={"privacy_attested": True, "lock_version": self._lock()},
        )
        return None

    @task(3)
    def follow(self) -> None:
        if self.submission_id is None:
            return
        self.call(
            "GET", f"/api/v1/submissions/{self.submission_id}", name="/api/v1/submissions/[id]"
        )

    @task(2)
    def browse(self) -> None:
        self.call("GET", "/api/v1/catalog")
        self.call("GET", "/api/v1/badges")


class Reviewer(ApiUser):
    """Works the queue: opens each assigned submission and submits passing scores."""

    fixed_count = 40
    wait_time = between(5, 15)

    def on_start(self) -> None:
        self.token = next(_reviewer_tokens)

    @task
    def review(self) -> None:
        queue = self.call("GET", "/api/v1/reviews/assignments").json()
        open_ones = [a for a in queue if a.get("status") == "assigned"]
        if not open_ones:
            return
        assignment = open_ones[0]["id"]
        self.call(
            "GET",
            f"/api/v1/reviews/assignments/{assignment}",
            name="/api/v1/reviews/assignments/[id]",
        )
        self.call(
            "PUT",
            f"/api/v1/reviews/assignments/{assignment}/scores",
            name="/api/v1/reviews/assignments/[id]/scores",
            json={"levels": ACCOUNTS["levels"]},
        )
        self.call(
            "POST",
            f"/api/v1/reviews/assignments/{assignment}/submit",
            name="/api/v1/reviews/assignments/[id]/submit",
            json={"levels": ACCOUNTS["levels"]},
        )


class Verifier(ApiUser):
    """Checks the demo badge: its public page, its credential, and the verification API."""

    fixed_count = 50
    wait_time = between(3, 10)

    def on_start(self) -> None:
        self.token = next(_verifier_tokens)

    @task(3)
    def badge_page(self) -> None:
        self.call("GET", f"/badges/{ACCOUNTS['badge_id']}", name="/badges/[id]")

    @task(2)
    def credential_json(self) -> None:
        self.call(
            "GET",
            f"/badges/{ACCOUNTS['badge_id']}/credential.json",
            name="/badges/[id]/credential.json",
        )

    @task(1)
    def verify(self) -> None:
        self.call("POST", "/api/v1/verifications", json={"id": ACCOUNTS["badge_id"]})
