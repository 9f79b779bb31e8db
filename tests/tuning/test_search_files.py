"""A distributed search pointed nowhere stops within its wait with one line; damaged search files are named."""

import socket
import time

import pytest

from kerobust.errors import KerobustError
from kerobust.tuning.search_files import check_oracle_address, check_search_files, distributed_address

pytestmark = pytest.mark.smoke


def _env(tuner_id="tuner0", host="127.0.0.1", port="1"):
    return {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": port}


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


@pytest.mark.parametrize("environ,message", [
    ({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"}, "KERASTUNER_TUNER_ID is not set"),
    (_env(port="http"), "must be a port number in [1, 65535], got 'http'"),
    (_env(port="70000"), "must be a port number"),
])
def test_partial_or_malformed_variables_are_refused(environ, message):
    with pytest.raises(KerobustError, match=message.replace("[", r"\[").replace("]", r"\]")):
        distributed_address(environ)


def test_no_variables_no_distributed_search():
    assert distributed_address({}) is None
    check_oracle_address({})


def test_a_worker_with_a_closed_oracle_port_stops_within_its_wait():
    started = time.monotonic()
    port = _closed_port()
    with pytest.raises(KerobustError, match=f"cannot reach the search's chief at 127.0.0.1:{port} within 1 s"):
        check_oracle_address(_env(port=port), wait=1.0)
    assert time.monotonic() - started < 5


def test_a_worker_reaches_a_listening_chief():
    with socket.create_server(("127.0.0.1", 0)) as chief:
        check_oracle_address(_env(port=str(chief.getsockname()[1])), wait=1.0)


def test_an_unknown_host_and_an_address_the_chief_cannot_bind_are_named(monkeypatch):
    def unknown(*args, **kwargs):  # no resolver query leaves the machine
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with monkeypatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", unknown)
        with pytest.raises(KerobustError, match="'oracle-host' is not a known host .Name or service not known"):
            check_oracle_address(_env(host="oracle-host"), wait=1.0)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        with pytest.raises(KerobustError, match=f"the search's chief cannot listen on 127.0.0.1:{port}"):
            check_oracle_address(_env(tuner_id="chief", port=port))


@pytest.mark.parametrize("relative", ["oracle.json", "trial_0001/trial.json"])
def test_damaged_search_files_are_named_with_the_way_back(tmp_path, relative):
    (tmp_path / "trial_0001").mkdir()
    (tmp_path / "oracle.json").write_text("{}")
    (tmp_path / "trial_0001" / "trial.json").write_text("{}")
    check_search_files(str(tmp_path))
    (tmp_path / relative).write_text('{"trial_id": ')
    with pytest.raises(KerobustError, match=f"{relative} is damaged .JSONDecodeError.: restore it, or remove "
                                            r"oracle.json and every trial_\*/trial.json .*the trials' run folders are "
                                            "kept"):
        check_search_files(str(tmp_path))
