"""The Slicer extension's files agree with each other: CMake lists, the .ui, the panel code, the icon.

Slicer's Qt is not available here, so the module file is checked as source: every widget it uses
exists in the .ui, every parameter the .ui binds exists in the parameter node, and every Python file
and resource that must be installed is listed in RadioWMHSeg/CMakeLists.txt (no globs there).
"""

import ast
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
MODULE_DIR = REPOSITORY / "RadioWMHSeg"
MODULE_FILE = MODULE_DIR / "RadioWMHSeg.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "RadioWMHSeg.ui"
MODULE_CMAKE = MODULE_DIR / "CMakeLists.txt"


def cmake_list(name, text=None):
    """Entries of set(<name> ...) in RadioWMHSeg/CMakeLists.txt, with ${MODULE_NAME} expanded."""
    text = text or MODULE_CMAKE.read_text()
    module_name = re.search(r"set\(MODULE_NAME\s+(\S+)\)", text).group(1)
    match = re.search(rf"set\({name}\s+(.*?)\)", text, re.S)
    assert match, f"set({name} ...) is missing from {MODULE_CMAKE}"
    return [e.replace("${MODULE_NAME}", module_name) for e in match.group(1).split() if not e.startswith("#")]


def ui_widgets():
    root = ElementTree.parse(UI_FILE).getroot()
    return {w.get("name"): w for w in root.iter("widget")}


def test_the_ui_file_parses_and_holds_every_widget_the_panel_uses():
    widgets = ui_widgets()
    used = set(re.findall(r"\bui\.(\w+)", MODULE_FILE.read_text()))
    assert used, "the panel uses no widget of the .ui"
    missing = sorted(used - set(widgets))
    assert not missing, f"{UI_FILE.name} lacks the widgets {missing} that RadioWMHSeg.py uses"


def parameter_node_fields():
    tree = ast.parse(MODULE_FILE.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "RadioWMHSegParameterNode":
            return {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
    raise AssertionError("RadioWMHSegParameterNode is missing from RadioWMHSeg.py")


def test_every_widget_bound_in_the_ui_is_a_parameter_of_the_parameter_node():
    bound = {}
    for name, widget in ui_widgets().items():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[name] = prop.find("string").text
    assert bound, "no widget of the .ui is bound to the parameter node"
    fields = parameter_node_fields()
    unknown = {w: p for w, p in bound.items() if p not in fields}
    assert not unknown, f"widgets bound to parameters the parameter node does not have: {unknown}"
    # Parameters kept without a bound widget are handled in code: they must be used there.
    source = MODULE_FILE.read_text()
    for field in fields - set(bound.values()):
        assert f".{field}" in source, f"parameter {field} is neither bound in the .ui nor used in RadioWMHSeg.py"


def test_the_module_file_is_valid_python_and_stays_short():
    source = MODULE_FILE.read_text()
    compile(source, str(MODULE_FILE), "exec")
    assert len(source.splitlines()) < 400, "RadioWMHSeg.py grows: move the logic into RadioWMHSegLib"
    classes = {n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}
    assert {"RadioWMHSeg", "RadioWMHSegWidget", "RadioWMHSegLogic", "RadioWMHSegTest"} <= classes


def test_the_slicer_logic_imports_no_qt():
    source = (REPOSITORY / "RadioWMHSegLib" / "slicer_logic.py").read_text()
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source))
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"qt", "ctk", "PythonQt", "slicer.util"}
    assert "slicer.util" not in source and "mrmlScene." not in source


def test_every_python_file_is_listed_in_the_cmake_file():
    module_scripts = set(cmake_list("MODULE_PYTHON_SCRIPTS"))
    library_scripts = set(cmake_list("LIBRARY_PYTHON_SCRIPTS"))
    missing = []
    for path in sorted(MODULE_DIR.rglob("*.py")):
        relative = path.relative_to(MODULE_DIR).as_posix()
        if relative not in module_scripts:
            missing.append(f"{relative} (add it to MODULE_PYTHON_SCRIPTS)")
    for path in sorted((REPOSITORY / "RadioWMHSegLib").rglob("*.py")):
        relative = path.relative_to(REPOSITORY).as_posix()
        if relative not in library_scripts:
            missing.append(f"{relative} (add it to LIBRARY_PYTHON_SCRIPTS)")
    assert not missing, "RadioWMHSeg/CMakeLists.txt does not list: " + ", ".join(missing)


def test_every_resource_is_listed_and_every_listed_file_exists():
    listed = {MODULE_DIR / f for f in cmake_list("MODULE_PYTHON_SCRIPTS") + cmake_list("MODULE_PYTHON_RESOURCES")}
    listed |= {REPOSITORY / f for f in cmake_list("LIBRARY_PYTHON_SCRIPTS") + cmake_list("LIBRARY_RESOURCES")}
    absent = sorted(str(p.relative_to(REPOSITORY)) for p in listed if not p.is_file())
    assert not absent, f"RadioWMHSeg/CMakeLists.txt lists files that do not exist (CMake would stop): {absent}"
    shipped = [p for p in (MODULE_DIR / "Resources").rglob("*") if p.is_file()]
    shipped += [p for p in (REPOSITORY / "Resources").rglob("*") if p.is_file()]
    unlisted = sorted(str(p.relative_to(REPOSITORY)) for p in shipped
                      if p not in listed and not any(part.startswith(".") for part in p.parts))
    assert not unlisted, ("RadioWMHSeg/CMakeLists.txt does not install: " + ", ".join(unlisted)
                          + " (add RadioWMHSeg/Resources/... to MODULE_PYTHON_RESOURCES, Resources/... to LIBRARY_RESOURCES)")


def test_the_extension_cmake_file_has_its_metadata():
    text = (REPOSITORY / "CMakeLists.txt").read_text()
    for field in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf'set\(EXTENSION_{field}\s+"[^"]+"\)', text), f"EXTENSION_{field} is not set"
    assert re.search(r'set\(EXTENSION_CATEGORY\s+"Segmentation"\)', text)
    assert re.search(r'set\(EXTENSION_DEPENDS\s+"PyTorch"\)', text)
    assert "add_subdirectory(RadioWMHSeg)" in text


def test_the_icon_is_a_128_pixel_png():
    from PIL import Image

    with Image.open(MODULE_DIR / "Resources" / "Icons" / "RadioWMHSeg.png") as icon:
        assert icon.format == "PNG" and icon.size == (128, 128)


@pytest.mark.parametrize("name", ["MODULE_PYTHON_SCRIPTS", "LIBRARY_PYTHON_SCRIPTS"])
def test_cmake_lists_have_no_globs_or_duplicates(name):
    entries = cmake_list(name)
    assert not [e for e in entries if "*" in e]
    assert len(entries) == len(set(entries))
