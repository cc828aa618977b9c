"""The Peoplevox WSDL is fetched once per URL, not once per task: shared in the process, kept on disk, and fetched
again when the stored copy is unusable, out of date, or no longer matches the service."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from lxml import etree

from erp_wms_simulators.peoplevox import operations
from erp_wms_simulators.peoplevox.soap import IntegrationResult
from erp_wms_sync.connectors.peoplevox import WSDL_SETTINGS, PeoplevoxClient
from erp_wms_sync.connectors.peoplevox_wsdl import SHARED, WsdlCache
from erp_wms_sync.connectors.transport import RetryPolicy
from erp_wms_sync.errors import ApiRejected, ApiResponseInvalid
from tests.contract.conftest_peoplevox import PVX_CLIENT, PVX_PASSWORD, PVX_PASSWORD_B64, PVX_USER, PeoplevoxSim

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.005)


@pytest.fixture
def make_client(peoplevox_sim: PeoplevoxSim) -> Callable[..., PeoplevoxClient]:
    def build(**kwargs: object) -> PeoplevoxClient:
        return PeoplevoxClient(peoplevox_sim.base_url, PVX_CLIENT, PVX_USER, PVX_PASSWORD, retry=FAST_RETRY,
                               **kwargs)  # type: ignore[arg-type]
    return build


def served_wsdl(sim: PeoplevoxSim) -> bytes:
    response = requests.get(f"{sim.service_url()}?wsdl", timeout=10)
    response.raise_for_status()
    return response.content


def stored_copy(url: str) -> Path:
    return SHARED.path(url)


def test_clients_of_one_process_share_the_wsdl(make_client: Callable[..., PeoplevoxClient],
                                               peoplevox_sim: PeoplevoxSim) -> None:
    for _ in range(3):
        make_client().get_save_template("Sites")
    assert peoplevox_sim.calls("WSDL") == 1
    assert peoplevox_sim.calls("Authenticate") == 3  # one session per client, none shared


def test_a_new_process_reads_the_disk_copy_which_holds_no_credential(make_client: Callable[..., PeoplevoxClient],
                                                                      peoplevox_sim: PeoplevoxSim) -> None:
    first = make_client()
    session_id = first.authenticate()
    SHARED.clear()  # what a new task process starts with
    make_client().get_save_template("Sites")
    assert peoplevox_sim.calls("WSDL") == 1
    text = stored_copy(first.wsdl_url).read_text(encoding="utf-8")
    for secret in (PVX_PASSWORD, PVX_PASSWORD_B64, session_id, first.wsdl_url, PVX_USER):
        assert secret not in text
    assert stored_copy(first.wsdl_url).stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "tampered", "not xml"])
def test_an_unusable_disk_copy_is_replaced(make_client: Callable[..., PeoplevoxClient], peoplevox_sim: PeoplevoxSim,
                                           damage: str) -> None:
    url = make_client().wsdl_url
    make_client().get_save_template("Sites")
    path = stored_copy(url)
    record = json.loads(path.read_text(encoding="utf-8"))
    if damage == "garbage":
        path.write_bytes(b"\x00\xff not json")
    elif damage == "truncated":
        path.write_text(path.read_text(encoding="utf-8")[:200], encoding="utf-8")
    elif damage == "tampered":
        record["wsdl"] = record["wsdl"][:-8] + "AAAAAAA="
        path.write_text(json.dumps(record), encoding="utf-8")
    else:  # a consistent record whose content is not a WSDL
        import base64
        import hashlib

        record["wsdl"] = base64.b64encode(b"<html>maintenance</html>").decode()
        record["sha256"] = hashlib.sha256(b"<html>maintenance</html>").hexdigest()
        path.write_text(json.dumps(record), encoding="utf-8")
    SHARED.clear()
    assert make_client().get_save_template("Sites")
    assert peoplevox_sim.calls("WSDL") == 2
    assert json.loads(path.read_text(encoding="utf-8"))["sha256"] != ""
    SHARED.clear()
    make_client().get_save_template("Sites")
    assert peoplevox_sim.calls("WSDL") == 2  # the replacement is used again


def test_an_old_copy_is_fetched_again(make_client: Callable[..., PeoplevoxClient],
                                      peoplevox_sim: PeoplevoxSim, tmp_path: Path) -> None:
    now = [1_000_000.0]
    cache = WsdlCache(folder=tmp_path, max_age=3600, clock=lambda: now[0])
    make_client(wsdl_cache=cache).get_save_template("Sites")
    now[0] += 3599
    make_client(wsdl_cache=cache).get_save_template("Sites")
    assert peoplevox_sim.calls("WSDL") == 1
    now[0] += 2
    make_client(wsdl_cache=cache).get_save_template("Sites")
    assert peoplevox_sim.calls("WSDL") == 2


STALE = {
    # an older description without the operation the client calls
    "operation missing": ('<wsdl:operation name="GetSaveTemplate">', '<wsdl:operation name="GetSaveTemplateV3">'),
    # an older description whose request element named its field differently
    "field renamed": ('name="templateName"', 'name="template"'),
}


@pytest.mark.parametrize("change", sorted(STALE))
def test_a_cached_wsdl_the_service_no_longer_matches_is_fetched_again_once(
        make_client: Callable[..., PeoplevoxClient], peoplevox_sim: PeoplevoxSim, change: str) -> None:
    url = make_client().wsdl_url
    old, new = STALE[change]
    current = served_wsdl(peoplevox_sim)
    assert old.encode() in current
    stale = current.replace(old.encode(), new.encode())
    SHARED.document(url, lambda _: stale, WSDL_SETTINGS)  # what an earlier task cached before the change
    SHARED.clear()  # a new process: only the disk copy remains
    assert make_client().get_save_template("Sites")
    assert peoplevox_sim.calls("WSDL") == 1 + 1  # the test's own download, then the client's one re-fetch
    assert peoplevox_sim.calls("GetSaveTemplate") == 1
    SHARED.clear()
    make_client().get_save_template("Sites")  # the fresh copy replaced the stale one on disk
    assert peoplevox_sim.calls("WSDL") == 2


def test_a_fault_unrelated_to_the_wsdl_is_not_repeated(make_client: Callable[..., PeoplevoxClient],
                                                       peoplevox_sim: PeoplevoxSim,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    make_client().authenticate()  # the WSDL is now cached

    def broken(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        raise RuntimeError("disk full")

    monkeypatch.setitem(operations.HANDLERS, "GetSaveTemplate", broken)
    with pytest.raises(ApiRejected, match="SOAP fault: .*RuntimeError"):
        make_client().get_save_template("Sites")
    assert peoplevox_sim.calls("WSDL") == 2  # checked once: unchanged, so the verdict stands
    assert peoplevox_sim.calls("GetSaveTemplate") == FAST_RETRY.max_attempts  # the server fault, asked again


def test_a_broken_wsdl_is_never_cached(make_client: Callable[..., PeoplevoxClient], peoplevox_sim: PeoplevoxSim,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_simulators.peoplevox import app as pvx_app

    original = pvx_app.build_wsdl
    monkeypatch.setattr(pvx_app, "build_wsdl", lambda location: b"<definitions>half a WSDL")
    with pytest.raises(ApiResponseInvalid, match="the WSDL cannot be used"):
        make_client().get_save_template("Sites")
    assert not stored_copy(make_client().wsdl_url).exists()
    monkeypatch.setattr(pvx_app, "build_wsdl", original)
    assert make_client().get_save_template("Sites")


def test_a_server_refusing_large_batches_costs_a_call_never_a_record(make_client: Callable[..., PeoplevoxClient],
                                                                     peoplevox_sim: PeoplevoxSim,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The real SaveData limit is unknown: a whole refusal of a batch above 100 falls back to 100 per call."""
    real = operations.HANDLERS["SaveData"]
    refused: list[int] = []

    def at_most_100(ctx: operations.CallContext, body: etree._Element) -> IntegrationResult:
        csv_data = operations.text(operations.child(body, "saveRequest"), "CsvData") or ""
        if csv_data.count("\n") > 101:
            refused.append(csv_data.count("\n") - 1)
            return IntegrationResult.error("Maximum of 100 records per request exceeded")
        return real(ctx, body)

    monkeypatch.setitem(operations.HANDLERS, "SaveData", at_most_100)
    client = make_client(save_batch_size=250)
    rows = [{"ItemCode": f"SKU-{n:04d}", "Name": f"Item {n}"} for n in range(450)]
    assert all(outcome.ok for outcome in client.save_item_types(rows))
    assert len(peoplevox_sim.state.records(PVX_CLIENT, "Item types")) == 450
    assert refused == [250]  # one refused batch, then 100 per call for the rest of the client's life
    assert peoplevox_sim.calls("SaveData") == 1 + 5
