"""Viewer ids: a stable keyed hash; the key lives outside the database, 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import platformdirs
import pytest

from branching.store import Store, ViewerKeyProblem
from branching.store.viewers import default_key_path, load_key, viewer_id
from tests.test_store_api import play_through, rows


def test_the_key_is_created_once_0600_in_the_user_config_dir(tmp_path: Path) -> None:
    key_path = default_key_path()
    assert key_path.parent == platformdirs.user_config_path("branching")
    assert not key_path.exists()
    with Store.open(tmp_path / "t.db") as store:
        first = store.viewer_id("alice")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    with Store.open(tmp_path / "other.db") as store:
        assert store.viewer_id("alice") == first  # stable across databases and runs
        assert store.viewer_id("bob") != first
    assert key_path.read_text().strip() not in (tmp_path / "t.db").read_bytes().decode("latin-1")


def test_the_stored_id_is_hmac_sha256_of_the_name_under_the_key(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        play_through(store, "alice")
    expected = viewer_id(load_key(), "alice")
    assert rows(path, "SELECT DISTINCT viewer_id FROM sessions") == [(expected,)]
    other_key = tmp_path / "kiosk.key"
    assert viewer_id(load_key(other_key), "alice") != expected  # another key, another id


def test_a_loose_key_is_made_private_again(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    load_key(key)
    key.chmod(0o644)
    load_key(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_damaged_or_missing_key_gives_a_clear_error(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    key.write_text("not hex at all\n")
    with pytest.raises(ViewerKeyProblem, match="damaged"):
        load_key(key)
    with pytest.raises(ViewerKeyProblem, match="no viewer key"):
        load_key(tmp_path / "absent.key", create=False)


def test_an_empty_viewer_name_is_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path / "t.db") as store, pytest.raises(ValueError, match="empty"):
        store.viewer_id("   ")
