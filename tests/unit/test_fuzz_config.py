"""Fuzzed integration YAML: whatever the file holds, reading it gives the integration or a list of problems, each
naming the file, the setting and a fix; loading it raises ConfigError, never a traceback of another kind. Files are
hostile variants of the packaged sample (settings dropped, retyped, given nasty values) or its text broken as text
(truncated, non-UTF-8 bytes, a BOM, keys given twice, tabs, nesting thousands deep, alias bombs, Python tags).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from erp_wms_sync.config import ConfigError, Integration, check_file, clear_cache, load_integration
from tests.unit.fuzz_payloads import FUZZ, variant

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_TEXT = (ROOT / "include" / "integrations" / "northwind.yaml").read_text()
SAMPLE = yaml.safe_load(SAMPLE_TEXT)
_files = itertools.count(1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-integrations")


def _write(folder: Path, content: bytes) -> Path:
    """``content`` as ``northwind.yaml`` in a folder of its own (the name must match the file's ``name``)."""
    path = folder / str(next(_files)) / "northwind.yaml"
    path.parent.mkdir()
    path.write_bytes(content)
    return path


def _judge(path: Path) -> None:
    clear_cache()
    check = check_file(path)
    event("usable" if check.ok else "refused")  # shown by --hypothesis-show-statistics
    assert isinstance(check.problems, tuple)
    if check.ok:
        assert isinstance(check.integration, Integration) and check.integration.name == "northwind"
        assert load_integration(path).name == "northwind"
        return
    assert check.problems, "a file that is not usable must say why"
    for problem in check.problems:
        text = str(problem)
        assert str(path) in text and problem.field and problem.message.strip(), text
    with pytest.raises(ConfigError) as caught:
        clear_cache()
        load_integration(path)
    assert str(path) in str(caught.value)


def _dump(data: Any) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


def test_the_sample_is_valid(folder: Path) -> None:
    path = _write(folder, SAMPLE_TEXT.encode())
    assert check_file(path).ok and load_integration(path).name == "northwind"


@FUZZ
@given(data=variant(SAMPLE))
def test_a_hostile_settings_file_is_an_integration_or_named_problems(folder: Path, data: Any) -> None:
    _judge(_write(folder, _dump(data)))


LINES = SAMPLE_TEXT.splitlines(keepends=True)


@st.composite
def broken_text(draw: st.DrawFn) -> bytes:
    """The sample's text broken as text."""
    text = SAMPLE_TEXT.encode()
    kind = draw(st.integers(min_value=0, max_value=11))
    if kind == 0:
        return text[:draw(st.integers(min_value=0, max_value=len(text)))]
    if kind == 1:
        at = draw(st.integers(min_value=0, max_value=len(text)))
        return text[:at] + draw(st.binary(min_size=1, max_size=8)) + text[at:]
    if kind == 2:
        return b"\xef\xbb\xbf" + text
    if kind == 3:  # a line given twice: a key twice in one mapping
        at = draw(st.integers(min_value=0, max_value=len(LINES) - 1))
        return "".join(LINES[:at + 1] + [LINES[at]] + LINES[at + 1:]).encode()
    if kind == 4:
        return text.replace(b"  ", b"\t", draw(st.integers(min_value=1, max_value=5)))
    if kind == 5:
        depth = draw(st.integers(min_value=50, max_value=20_000))
        return text + b"extra: " + b"[" * depth + b"]" * depth + b"\n"
    if kind == 6:  # an alias bomb: nine references to nine references to ...
        bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 8))
        return (bomb + SAMPLE_TEXT.replace("  emails: [ops@northwind.example]", "  emails: *a7", 1)).encode()
    if kind == 7:
        return text.replace(b"name: northwind", draw(st.sampled_from([
            b"name: !!python/object/apply:os.system ['true']", b"name: &n northwind\nalias: *n", b"name: 1e400",
            b"name: " + b"9" * 5000, b"name: [northwind]", b"name: ~"])), 1)
    if kind == 8:
        at = draw(st.integers(min_value=0, max_value=len(LINES) - 1))
        return "".join(LINES[:at] + [draw(st.text(max_size=60)) + "\n"] + LINES[at + 1:]).encode("utf-8",
                                                                                               "surrogatepass")
    if kind == 9:
        return text.replace(b"\n", draw(st.sampled_from([b"\r\n", b"\r", b"\x85", b"\u2028".decode(
            "unicode_escape").encode()])))
    return text


@FUZZ
@given(content=broken_text())
def test_a_broken_settings_text_is_an_integration_or_named_problems(folder: Path, content: bytes) -> None:
    _judge(_write(folder, content))


@FUZZ
@given(content=st.binary(max_size=400))
def test_any_bytes_as_a_settings_file_are_named_problems(folder: Path, content: bytes) -> None:
    _judge(_write(folder, content))
