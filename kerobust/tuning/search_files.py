"""Checks that make a search fail fast and name its problem: KerasTuner's distributed variables and the chief's
address (checked before any work, so that a worker pointed nowhere stops within seconds instead of waiting forever),
and the search's own files (a damaged `oracle.json` or `trial.json` is named, with the way back)."""

from __future__ import annotations

import glob
import json
import os
import socket
import time
from collections.abc import Mapping

from kerobust.errors import KerobustError

VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
CHIEF_WAIT_SECONDS = 30.0  # how long a worker waits for the chief to listen


def distributed_address(environ: Mapping[str, str] | None = None) -> tuple[str, str, int] | None:
    """`(tuner_id, host, port)` of a distributed search, or None when none of KerasTuner's variables is set; one-line
    errors for a partial or malformed set."""
    environ = os.environ if environ is None else environ
    given = {name: environ.get(name, "").strip() for name in VARIABLES}
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise KerobustError(f"a distributed search needs {', '.join(VARIABLES)}; {', '.join(missing)} "
                            f"{'is' if len(missing) == 1 else 'are'} not set (e.g. KERASTUNER_TUNER_ID=chief on one "
                            "process, tuner0, tuner1, ... on the others).")
    port = given["KERASTUNER_ORACLE_PORT"]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise KerobustError(f"KERASTUNER_ORACLE_PORT must be a port number in [1, 65535], got {port!r}.")
    return given["KERASTUNER_TUNER_ID"], given["KERASTUNER_ORACLE_IP"], int(port)


def check_oracle_address(environ: Mapping[str, str] | None = None, wait: float | None = None) -> None:
    """Before any work: the chief can listen on the oracle's address; a worker reaches it within `wait` seconds
    (default `CHIEF_WAIT_SECONDS`)."""
    wait = CHIEF_WAIT_SECONDS if wait is None else wait
    address = distributed_address(environ)
    if address is None:
        return
    tuner_id, host, port = address
    where = f"{host}:{port}"
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise KerobustError(f"KERASTUNER_ORACLE_IP {host!r} is not a known host ({error.strerror}).") from None
    if "chief" in tuner_id:
        try:
            with socket.create_server((host, port)):
                pass
        except OSError as error:
            raise KerobustError(f"the search's chief cannot listen on {where} ({error.strerror or error}): choose a "
                                "free KERASTUNER_ORACLE_PORT and an address of this machine.") from None
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            socket.create_connection((host, port), timeout=max(0.5, min(5.0, deadline - time.monotonic()))).close()
            return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise KerobustError(f"worker {tuner_id!r} cannot reach the search's chief at {where} within "
                                    f"{wait:g} s ({error.strerror or error}): start the chief first "
                                    "(KERASTUNER_TUNER_ID=chief), or check KERASTUNER_ORACLE_IP and "
                                    "KERASTUNER_ORACLE_PORT.") from None
            time.sleep(0.5)


def check_search_files(directory: str) -> None:
    """A one-line error naming a damaged `oracle.json` or `trial.json` of the search in `directory`, with the way
    back."""
    for path in [os.path.join(directory, "oracle.json")] + sorted(glob.glob(os.path.join(directory, "trial_*",
                                                                                       "trial.json"))):
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                if not isinstance(json.load(handle), dict):
                    raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as error:
            raise KerobustError(
                f"search file {path} is damaged ({type(error).__name__}): restore it, or remove oracle.json and "
                f"every trial_*/trial.json in {directory} to restart the search; the trials' run folders are kept, "
                "and a finished one is reused, not retrained, when the restarted search gives it the same "
                "settings.") from None
