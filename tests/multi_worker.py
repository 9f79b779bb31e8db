"""Runs a command as the 2 tasks of a multi-worker cluster on 127.0.0.1 (TF_CONFIG per process, free ports)."""

import json
import os
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRACE_SECONDS = 60  # how long a task may outlive a failed peer (it waits in a collective that never completes)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_two_workers(argv, timeout=900, env=None):
    """Starts `argv` (one command, or one per task) as worker 0, the chief, and worker 1, with `env` added to the
    environment; returns each task's `(returncode, stdout, stderr)`. A task still running `GRACE_SECONDS` after its peer
    failed, or at `timeout`, is killed (return code -9)."""
    argvs = argv if isinstance(argv[0], list) else [argv, argv]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    processes, logs = [], []
    for index, command in enumerate(argvs):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        task_env = {**os.environ, **(env or {}), "TF_CONFIG": tf_config, "TF_CPP_MIN_LOG_LEVEL": "3",
                    "CUDA_VISIBLE_DEVICES": ""}
        out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")  # no pipe buffer to fill up
        logs.append((out, err))
        processes.append(subprocess.Popen(command, cwd=ROOT, env=task_env, stdout=out, stderr=err, text=True))
    deadline, failed_at = time.time() + timeout, None
    try:
        while any(p.poll() is None for p in processes) and time.time() < deadline:
            if failed_at is None and any(p.poll() not in (None, 0) for p in processes):
                failed_at = time.time()
            if failed_at is not None and time.time() > failed_at + GRACE_SECONDS:
                break
            time.sleep(0.2)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = []
    for p, (out, err) in zip(processes, logs):
        out.seek(0)
        err.seek(0)
        results.append((p.returncode, out.read(), err.read()))
        out.close()
        err.close()
    return results
