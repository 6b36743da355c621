"""Benchmark: a 1 GiB upload through the HTTP endpoint of a running server.

Starts ``microcred serve`` on a fresh instance, uploads one file of SIZE bytes
(default 1 GiB) in a single resumable-upload PATCH, and compares, in the same
run and on the same disk:

* the growth of the web server's resident memory while receiving it
  (goal: at most 64 MiB), and
* the upload's throughput against ``cp`` of the same file (goal: at least 0.5x).

Run: ``python tests/bench/bench_upload.py [SIZE_MIB]``. Exits 1 if a goal is missed.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

MIB = 1024 * 1024
MP4_HEADER = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def gunicorn_workers(root: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if b"gunicorn" in cmdline and parent != root and int(entry.name) != root:
                found.append(int(entry.name))
    return found


class PeakWatcher(threading.Thread):
    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.baseline = {pid: rss_bytes(pid) for pid in pids}
        self.peak = dict(self.baseline)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss_bytes(pid))
            time.sleep(0.02)

    def growth(self) -> int:
        return max(self.peak[pid] - self.baseline[pid] for pid in self.pids)


def make_file(path: Path, size: int) -> None:
    block = (MP4_HEADER + bytes(range(256)) * 4096)[:MIB]
    with path.open("wb") as handle:
        handle.write(MP4_HEADER + block[len(MP4_HEADER) :])
        written = MIB
        while written < size:
            handle.write(block[: min(MIB, size - written)])
            written += min(MIB, size - written)


def main() -> int:
    size = int(sys.argv[1]) * MIB if len(sys.argv) > 1 else 1024 * MIB
    work = Path(tempfile.mkdtemp(prefix="microcred-bench-", dir=os.environ.get("BENCH_DIR")))
    instance = work / "instance"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(MICROCRED_INSTANCE=str(instance), FILE_MAX_BYTES=str(size + MIB))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(port), "--threads", "2"],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        token = create_token(instance, env)
        auth = {"Authorization": f"Bearer {token}"}

        source = work / "video.mp4"
        make_file(source, size)
        started = time.perf_counter()
        shutil.copyfile(source, work / "copy.mp4")
        os.sync()
        cp_seconds = time.perf_counter() - started
        (work / "copy.mp4").unlink()

        submission = call(base, "POST", "/api/v1/submissions", {"code": "UDL-05"}, auth)
        upload = call(
            base,
            "POST",
            f"/api/v1/submissions/{submission['id']}/parts/A2/uploads",
            {"filename": "video.mp4", "length": size, "transcript": "Benchmark video"},
            auth,
        )
        watcher = PeakWatcher(gunicorn_workers(server.pid))
        watcher.start()
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600, blocksize=MIB)
        with source.open("rb") as body:
            connection.request(
                "PATCH",
                upload["upload_url"],
                body=body,
                headers={
                    **auth,
                    "Upload-Offset": "0",
                    "Content-Length": str(size),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            response = connection.getresponse()
            result = json.loads(response.read())
        os.sync()
        upload_seconds = time.perf_counter() - started
        watcher.stopped.set()
        watcher.join()
        if response.status != 201:
            print("upload failed:", response.status, result)
            return 1
        growth = watcher.growth()
        throughput_ratio = cp_seconds / upload_seconds
        print(f"file size:                 {size / MIB:.0f} MiB")
        print(
            f"cp:                        {cp_seconds:.2f} s ({size / MIB / cp_seconds:.0f} MiB/s)"
        )
        print(
            f"HTTP upload:               {upload_seconds:.2f} s ({size / MIB / upload_seconds:.0f} MiB/s)"
        )
        print(f"throughput vs cp:          {throughput_ratio:.2f}x   (goal >= 0.50x)")
        print(f"server RSS growth:         {growth / MIB:.1f} MiB  (goal <= 64 MiB)")
        print(f"memory growth / file size: {growth / size:.4f}")
        return 0 if throughput_ratio >= 0.5 and growth <= 64 * MIB else 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        shutil.rmtree(work, ignore_errors=True)


def create_token(instance: Path, env: dict[str, str]) -> str:
    """A personal API token for the demo teacher, made with the service's own code."""
    code = (
        "from core import create_app\n"
        "from accounts.services import create_api_token, find_user_by_email\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    print(create_api_token(find_user_by_email('teacher@example.org'), 'bench')[1])\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    return re.findall(r"mc_\S+", output)[-1]


def call(base: str, method: str, path: str, body: dict, headers: dict[str, str]) -> dict:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode(),
        headers={**headers, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
