"""The build order of the parts (SCHEDULE in build/parts.mk): the longest recording first."""
from __future__ import annotations

import shutil
from pathlib import Path

from pipeline import cli
from pipeline.system.ffmpeg import probe

ROOT = Path(__file__).resolve().parents[1]


def _mk(tmp_path: Path) -> dict[str, list[str]]:
    assert cli.main(["parts-mk", "texts", "--recordings", "recordings", "-o", "parts.mk"]) == 0
    lines = (tmp_path / "parts.mk").read_text(encoding="utf-8").splitlines()
    return {k: v.split() for k, _, v in (ln.partition(" := ") for ln in lines) if k in ("NARRATED", "SCHEDULE")}


def test_schedule_is_the_narrated_parts_longest_recording_first(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "texts", tmp_path / "texts")
    shutil.copytree(ROOT / "recordings", tmp_path / "recordings")
    mk = _mk(tmp_path)
    recordings = {p.name.split(".")[0]: p for p in (tmp_path / "recordings").iterdir()
                  if not p.name.endswith(".labels.txt")}
    length = {pid: probe(recordings[pid]).duration for pid in mk["NARRATED"]}
    assert sorted(mk["SCHEDULE"]) == sorted(mk["NARRATED"])
    assert [length[p] for p in mk["SCHEDULE"]] == sorted(length.values(), reverse=True)
    assert mk["SCHEDULE"] != mk["NARRATED"]        # the demo's reading order is not its longest-first order
    # a recording whose length cannot be read goes last (the master stage reports it), the rest keep their order
    first = mk["SCHEDULE"][0]
    recordings[first].write_bytes(b"not audio")
    again = _mk(tmp_path)
    assert again["SCHEDULE"] == mk["SCHEDULE"][1:] + [first]
    assert again["NARRATED"] == mk["NARRATED"]
