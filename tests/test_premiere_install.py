"""`shotforge install-premiere`: what is copied where, PlayerDebugMode, the panel origin in the server config."""

from __future__ import annotations

import argparse
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from plugins.premiere_cep import install as inst

PLUGIN = Path(inst.__file__).resolve().parent


def test_extensions_dir_per_platform():
    assert inst.extensions_dir("win32", {"APPDATA": r"C:\Users\ed\AppData\Roaming"}) == \
        Path(r"C:\Users\ed\AppData\Roaming") / "Adobe" / "CEP" / "extensions"
    assert inst.extensions_dir("darwin", {"HOME": "/Users/ed"}) == \
        Path("/Users/ed/Library/Application Support/Adobe/CEP/extensions")
    assert inst.extensions_dir("linux", {"HOME": "/home/ed"}) is None


def test_install_copies_the_runtime_files_only_and_sets_debug_mode_on_macos(tmp_path):
    calls, lines = [], []
    target = inst.install(tmp_path / "extensions", platform="darwin", run=lambda cmd, check: calls.append(cmd),
                          log=lines.append)
    assert target == tmp_path / "extensions" / "com.shotforge.premiere"
    for rel in ("CSXS/manifest.xml", "index.html", "css/panel.css", "js/panel.js", "js/sf_core.js", "js/lib/CSInterface.js",
                "jsx/host.jsx", ".debug"):
        assert (target / rel).is_file(), rel
    # Every script and stylesheet the panel page loads is installed (the workflow's modules included).
    import re  # noqa: PLC0415
    page = (target / "index.html").read_text()
    loaded = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page)
    assert "js/sf_workflow.js" in loaded and "js/sf_plan.js" in loaded
    for rel in loaded:
        assert (target / rel).is_file(), rel
    assert not (target / "tests").exists() and not (target / "node_modules").exists()
    assert not (target / "package.json").exists()
    assert calls == [["defaults", "write", "com.adobe.CSXS.11", "PlayerDebugMode", "1"],
                     ["defaults", "write", "com.adobe.CSXS.12", "PlayerDebugMode", "1"]]
    assert any("cors-origin null" in line for line in lines)
    # Reinstalling replaces the old copy and leaves no staging folders behind.
    (target / "stale.txt").write_text("x")
    inst.install(tmp_path / "extensions", platform="darwin", run=lambda cmd, check: None, log=lambda s: None)
    assert not (target / "stale.txt").exists()
    assert [p.name for p in (tmp_path / "extensions").iterdir()] == ["com.shotforge.premiere"]
    assert inst.uninstall(tmp_path / "extensions") == [target] and not target.exists()


def test_install_refuses_a_hash_in_the_path(tmp_path):
    with pytest.raises(SystemExit, match="#"):
        inst.install(tmp_path / "a#b", platform="darwin", player_debug_mode=False, log=lambda s: None)


def test_allow_panel_origin_writes_a_top_level_key(tmp_path):
    config = tmp_path / "server.toml"
    config.write_text('port = 9000\n[[path_map]]\neditor = "Z:/F"\nserver = "/mnt/f"\n')
    inst.allow_origin_in_config(config)
    data = tomllib.loads(config.read_text())
    assert data["cors_origins"] == ["null"] and data["port"] == 9000 and data["path_map"][0]["server"] == "/mnt/f"
    before = config.read_text()
    assert "already" in inst.allow_origin_in_config(config)
    assert config.read_text() == before


def test_manifest_and_debug_file_agree():
    manifest = ET.parse(PLUGIN / "CSXS" / "manifest.xml").getroot()
    ext_id = manifest.find("ExtensionList/Extension").get("Id")
    assert manifest.find("DispatchInfoList/Extension").get("Id") == ext_id
    assert manifest.find(".//Resources/MainPath").text == "./index.html"
    assert manifest.find(".//Resources/ScriptPath").text == "./jsx/host.jsx"
    assert manifest.find(".//HostList/Host").get("Name") == "PPRO"
    debug = ET.parse(PLUGIN / ".debug").getroot()
    assert debug.find("Extension").get("Id") == ext_id
    assert debug.find("Extension/HostList/Host").get("Name") == "PPRO"
    for rel in ("index.html", "jsx/host.jsx"):
        assert (PLUGIN / rel).is_file()


def test_register_adds_install_premiere():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    inst.register(sub)
    args = parser.parse_args(["install-premiere", "--dest", "/tmp/x", "--no-debug-mode"])
    assert args.handler is inst._cli and args.dest == "/tmp/x" and args.no_debug_mode
