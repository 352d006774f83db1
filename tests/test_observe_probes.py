"""What the --metrics-addr server's probes promise a supervisor: they only read (a database
deleted under a worker is a 503, never a new empty one), /healthz answers within about a
second however the store stalls, a scrape reads one snapshot, and a request the server does
not take is said in plain text.
"""

from __future__ import annotations

import os

from conftest import Env
from test_observe_support import free_port, http_get, listening, start_logged

TEXT = "text/plain; charset=utf-8"
# A lease of 2 minutes: the worker looks at its database file every 40 s, so it does not
# notice the file gone (and stop) while the test probes.
SLOW_LOOKS = '[settings]\nlease = "120s"\n\n[jobs.ok]\ncommand = ["true"]\n'


def test_a_probe_of_a_deleted_database_is_a_503_and_makes_no_new_one(env: Env) -> None:
    env.write_config(SLOW_LOOKS)
    env.enqueue("ok")
    port = free_port()
    worker = start_logged(env, "run-worker", "--metrics-addr", str(port))
    assert listening(env, worker) == ("127.0.0.1", port)
    worker.wait_event(env, "worker.started")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{env.db}{suffix}"):
            os.unlink(f"{env.db}{suffix}")
    status, kind, body = http_get("127.0.0.1", port, "/healthz")
    assert (status, kind) == (503, TEXT), body
    assert body.startswith("unhealthy: database ") and "does not exist" in body, body
    status, _, body = http_get("127.0.0.1", port, "/metrics")
    assert status == 503 and body.startswith("# jobctl: database ") and "does not exist" in body
    assert not env.db.exists()
