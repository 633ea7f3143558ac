"""The Slicer extension's files agree with each other: what the build installs, the .ui, the panel code, the icon.

Slicer's Qt is not available here, so the module file is checked as source: every widget it uses
exists in the .ui, every parameter the .ui binds exists in the parameter node. What the build
installs is found by running RadioWMHSeg/CMakeLists.txt through CMake itself (script mode), with
stand-ins for Slicer's macros that record the arguments they really receive; the recorded files are
then laid out as the real macros lay them out, and the library is imported from that layout.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
MODULE_DIR = REPOSITORY / "RadioWMHSeg"
MODULE_FILE = MODULE_DIR / "RadioWMHSeg.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "RadioWMHSeg.ui"
MODULE_CMAKE = MODULE_DIR / "CMakeLists.txt"
SCRIPTED_MODULES_DIR = "lib/Slicer-5.6/qt-scripted-modules"  # Slicer_(INSTALL_)QTSCRIPTEDMODULES_LIB_DIR

# Stand-ins for Slicer's build macros, for `cmake -P`. slicerMacroBuildScriptedModule forwards to
# ctkMacroCompilePythonScript exactly as Slicer's own macro does (CMake/SlicerMacroBuildScriptedModule.cmake);
# the CTK stand-in records each file with the arguments that decide where it goes.
CMAKE_DRIVER = r"""
set(CMAKE_CURRENT_SOURCE_DIR "${MODULE_SOURCE_DIR}")
set(CMAKE_BINARY_DIR "${BUILD_DIR}")
set(CMAKE_CURRENT_BINARY_DIR "${BUILD_DIR}/RadioWMHSeg")
set(Slicer_QTSCRIPTEDMODULES_LIB_DIR "@SCRIPTED@")
set(Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR "@SCRIPTED@")
set(BUILD_TESTING ON)
file(WRITE "${RECORD}" "")

macro(slicerMacroBuildScriptedModule)
  cmake_parse_arguments(MY_SLICER "WITH_GENERIC_TESTS;WITH_SUBDIR;VERBOSE" "NAME" "SCRIPTS;RESOURCES" ${ARGN})
  if(MY_SLICER_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "Unknown keywords given to slicerMacroBuildScriptedModule(): ${MY_SLICER_UNPARSED_ARGUMENTS}")
  endif()
  set(_no_install_subdir_option NO_INSTALL_SUBDIR)
  set(_destination_subdir "")
  if(MY_SLICER_WITH_SUBDIR)
    get_filename_component(_destination_subdir ${CMAKE_CURRENT_SOURCE_DIR} NAME)
    set(_destination_subdir "/${_destination_subdir}")
    set(_no_install_subdir_option "")
  endif()
  ctkMacroCompilePythonScript(
    TARGET_NAME ${MY_SLICER_NAME}
    SCRIPTS "${MY_SLICER_SCRIPTS}"
    RESOURCES "${MY_SLICER_RESOURCES}"
    DESTINATION_DIR ${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR}${_destination_subdir}
    INSTALL_DIR ${Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR}
    ${_no_install_subdir_option}
    )
endmacro()

macro(ctkMacroCompilePythonScript)
  cmake_parse_arguments(MY "NO_INSTALL_SUBDIR;GLOBAL_TARGET" "TARGET_NAME;SOURCE_DIR;DESTINATION_DIR;INSTALL_DIR"
                        "SCRIPTS;RESOURCES" ${ARGN})
  if(MY_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "Unknown arguments given to ctkMacroCompilePythonScript(): ${MY_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT DEFINED MY_SOURCE_DIR)
    set(MY_SOURCE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  foreach(kind SCRIPTS RESOURCES)
    foreach(file ${MY_${kind}})
      file(APPEND "${RECORD}" "${kind}|${MY_SOURCE_DIR}|${file}|${MY_DESTINATION_DIR}|${MY_INSTALL_DIR}|${MY_NO_INSTALL_SUBDIR}|${CMAKE_CURRENT_BINARY_DIR}\n")
    endforeach()
  endforeach()
endmacro()

function(slicer_add_python_unittest)
endfunction()

include("${LISTS}")
""".replace("@SCRIPTED@", SCRIPTED_MODULES_DIR)


def installed_files(tmp_path, cmake_text=None) -> dict:
    """{installed path (relative to the install prefix): source file} for RadioWMHSeg/CMakeLists.txt (or a variant).

    The paths follow ctkMacroCompilePythonScript: a file F goes to DESTINATION_DIR/F (".py" added to
    scripts without it; an absolute F is taken relative to the binary folder), and the install copies
    DESTINATION_DIR (its content only with NO_INSTALL_SUBDIR) into INSTALL_DIR. A file whose copy
    lands outside DESTINATION_DIR is not installed at all: it maps to None under its own name.
    """
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.fail("cmake is needed to check what the extension installs: apt-get install cmake (or pip install cmake)")
    lists = MODULE_CMAKE
    if cmake_text is not None:
        lists = tmp_path / "variant" / "CMakeLists.txt"
        lists.parent.mkdir(parents=True, exist_ok=True)
        lists.write_text(cmake_text)
    driver, record = tmp_path / "driver.cmake", tmp_path / "record.txt"
    driver.write_text(CMAKE_DRIVER)
    done = subprocess.run([cmake, f"-DMODULE_SOURCE_DIR={MODULE_DIR}", f"-DBUILD_DIR={tmp_path / 'build'}",
                           f"-DRECORD={record}", f"-DLISTS={lists}", "-P", str(driver)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"CMake stopped on {lists}:\n{done.stderr}"
    installed = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        kind, source_dir, file, destination, install_dir, no_subdir, binary_dir = line.split("|")
        if kind == "SCRIPTS" and not file.endswith("py"):
            file += ".py"
        source = Path(file) if os.path.isabs(file) else Path(source_dir) / file
        target_file = os.path.relpath(file, binary_dir) if os.path.isabs(file) else file
        target = Path(os.path.normpath(Path(destination) / target_file))
        inside = Path(os.path.normpath(destination))
        if inside not in target.parents:
            installed[f"(not installed) {file}"] = None
            continue
        prefix = Path(install_dir) if no_subdir == "TRUE" else Path(install_dir) / inside.name
        installed[(prefix / target.relative_to(inside)).as_posix()] = Path(os.path.normpath(source))
    return installed


def install_problems(installed) -> list:
    """Every file the extension needs that the build would not install where the module imports it from."""
    problems = [f"{name}: the copy lands outside the module's folder" for name, source in installed.items()
                if source is None]
    problems += [f"{name}: its source {source} does not exist (CMake would stop)"
                 for name, source in installed.items() if source is not None and not source.is_file()]
    expected = {}
    for path in sorted(MODULE_DIR.glob("*.py")):
        expected[f"{SCRIPTED_MODULES_DIR}/{path.name}"] = path
    for path in sorted((REPOSITORY / "RadioWMHSegLib").rglob("*.py")):
        expected[f"{SCRIPTED_MODULES_DIR}/{path.relative_to(REPOSITORY).as_posix()}"] = path
    for root in (MODULE_DIR, REPOSITORY):  # the module's Resources and the top Resources share one folder
        for path in sorted((root / "Resources").rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.parts):
                expected[f"{SCRIPTED_MODULES_DIR}/{path.relative_to(root).as_posix()}"] = path
    for name, source in expected.items():
        if name not in installed:
            problems.append(f"{source.relative_to(REPOSITORY)} is not installed (list it in RadioWMHSeg/CMakeLists.txt)")
        elif installed[name] is not None and installed[name].resolve() != source.resolve():
            problems.append(f"{name} is installed from {installed[name]} instead of {source}")
    return problems


def test_the_build_installs_the_module_the_library_the_model_and_the_sample(tmp_path):
    installed = installed_files(tmp_path)
    problems = install_problems(installed)
    assert not problems, "RadioWMHSeg/CMakeLists.txt:\n" + "\n".join(problems)
    assert f"{SCRIPTED_MODULES_DIR}/RadioWMHSegLib/slicer_logic.py" in installed  # the check itself saw the library


@pytest.mark.parametrize("breakage", ["a library file", "the model's weights", "a subpackage file", "the source folder"])
def test_the_install_check_names_what_a_broken_cmake_file_leaves_out(tmp_path, breakage):
    text = MODULE_CMAKE.read_text(encoding="utf-8")
    edits = {
        "a library file": ("  RadioWMHSegLib/slicer_jobs.py\n", "", "RadioWMHSegLib/slicer_jobs.py"),
        "the model's weights": ("  Resources/Models/radiowmhseg-attention-vnet/model.pt\n", "",
                                "Resources/Models/radiowmhseg-attention-vnet/model.pt"),
        "a subpackage file": ("  RadioWMHSegLib/preprocessing/skull_strip.py\n", "",
                              "RadioWMHSegLib/preprocessing/skull_strip.py"),
        # Paths relative to the module folder, as a first try might write them, land one folder too high.
        "the source folder": ("SOURCE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/..", "SOURCE_DIR ${CMAKE_CURRENT_SOURCE_DIR}",
                              "does not exist"),
    }
    old, new, named = edits[breakage]
    assert old in text, f"the test's edit no longer applies: {old!r} is not in {MODULE_CMAKE}"
    problems = install_problems(installed_files(tmp_path, text.replace(old, new)))
    assert any(named in problem for problem in problems), problems


def test_the_library_imports_from_the_installed_layout_and_finds_its_model_and_sample(tmp_path):
    prefix = tmp_path / "install"
    for name, source in installed_files(tmp_path).items():
        if source is not None and source.is_file():
            (prefix / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, prefix / name)
    module_dir = prefix / SCRIPTED_MODULES_DIR  # what Slicer puts on sys.path for the module
    probe = (
        "import json, RadioWMHSegLib\n"
        "from RadioWMHSegLib import model_io, slicer_selftest\n"
        "models = model_io.list_models()\n"
        "print(json.dumps({'library': RadioWMHSegLib.__file__, 'bundled': str(model_io.bundled_model_dir()),\n"
        "                  'first_model': str(models[0][0]) if models else None,\n"
        "                  'sample': [str(p) for p in slicer_selftest.sample_paths() if p.is_file()]}))\n")
    env = {k: v for k, v in os.environ.items() if k != "RADIOWMHSEG_BUNDLED_MODEL"}
    env["PYTHONPATH"] = str(module_dir)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["library"]).is_relative_to(module_dir), found
    assert Path(found["bundled"]) == module_dir / "Resources" / "Models" / "radiowmhseg-attention-vnet"
    assert found["first_model"] == found["bundled"]
    assert len(found["sample"]) == 2 and all(Path(p).is_relative_to(module_dir) for p in found["sample"])


def test_the_cmake_lists_name_every_file_once_without_globs():
    text = MODULE_CMAKE.read_text(encoding="utf-8")
    for name in ("MODULE_PYTHON_SCRIPTS", "MODULE_PYTHON_RESOURCES", "LIBRARY_PYTHON_SCRIPTS", "LIBRARY_RESOURCES"):
        entries = re.search(rf"set\({name}\s+(.*?)\)", text, re.S).group(1).split()
        assert entries and not [e for e in entries if "*" in e], name
        assert len(entries) == len(set(entries)), f"{name} lists a file twice"
    assert "GLOB" not in text


# ---------------------------------------------------------------- the panel, the .ui, the module file

def ui_widgets():
    root = ElementTree.parse(UI_FILE).getroot()
    return {w.get("name"): w for w in root.iter("widget")}


def test_the_ui_file_parses_and_holds_every_widget_the_panel_uses():
    widgets = ui_widgets()
    used = set(re.findall(r"\bui\.(\w+)", MODULE_FILE.read_text(encoding="utf-8")))
    assert used, "the panel uses no widget of the .ui"
    missing = sorted(used - set(widgets))
    assert not missing, f"{UI_FILE.name} lacks the widgets {missing} that RadioWMHSeg.py uses"


def module_tree():
    return ast.parse(MODULE_FILE.read_text(encoding="utf-8"))


def parameter_node_fields():
    for node in module_tree().body:
        if isinstance(node, ast.ClassDef) and node.name == "RadioWMHSegParameterNode":
            return {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
    raise AssertionError("RadioWMHSegParameterNode is missing from RadioWMHSeg.py")


def bound_parameters():
    bound = {}
    for name, widget in ui_widgets().items():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[name] = prop.find("string").text
    return bound


def test_every_widget_bound_in_the_ui_is_a_parameter_of_the_parameter_node():
    bound = bound_parameters()
    assert bound, "no widget of the .ui is bound to the parameter node"
    fields = parameter_node_fields()
    unknown = {w: p for w, p in bound.items() if p not in fields}
    assert not unknown, f"widgets bound to parameters the parameter node does not have: {unknown}"
    # Parameters kept without a bound widget are handled in code: they must be used there.
    source = MODULE_FILE.read_text(encoding="utf-8")
    for field in fields - set(bound.values()):
        assert f".{field}" in source, f"parameter {field} is neither bound in the .ui nor used in RadioWMHSeg.py"


def test_every_segmentation_option_is_a_choice_in_the_advanced_section_and_reaches_the_options_object():
    from dataclasses import fields

    from RadioWMHSegLib.segment_options import SegmentOptions

    calls = [n for n in ast.walk(module_tree()) if isinstance(n, ast.Call)
             and getattr(n.func, "id", getattr(n.func, "attr", None)) == "SegmentOptions"]
    assert len(calls) == 1, "RadioWMHSeg.py must build its SegmentOptions in one place"
    passed = {k.arg: ast.unparse(k.value) for k in calls[0].keywords}
    assert set(passed) == {f.name for f in fields(SegmentOptions)}, "the panel does not set every option"
    parameters = {v.split(".", 1)[1].split()[0] for v in passed.values() if v.startswith("p.")}
    root = ElementTree.parse(UI_FILE).getroot()
    advanced = next(w for w in root.iter("widget") if w.get("name") == "advancedCollapsibleButton")
    in_advanced = {p.find("string").text for w in advanced.iter("widget") for p in w.findall("property")
                   if p.get("name") == "SlicerParameterName"}
    for option in ("skullStripMethod", "tta", "device", "threshold", "minLesionMm3", "precision"):
        assert option in parameters and option in in_advanced, option


def test_the_panel_choices_come_from_the_library_constants():
    source = MODULE_FILE.read_text(encoding="utf-8")
    for constant in ("SKULL_STRIP_METHODS", "DEVICE_CHOICES", "PRECISIONS", "FROM_SOURCE_WEIGHTS"):
        assert re.search(rf"Choice\(list\({constant}\)\)", source), f"the panel types its own {constant}"
    assert not re.search(r"Choice\(\[", source), "the panel types a list of choices: take it from RadioWMHSegLib.choices"


def test_the_module_file_is_thin_and_has_its_classes():
    source = MODULE_FILE.read_text(encoding="utf-8")
    compile(source, str(MODULE_FILE), "exec")
    assert len(source.splitlines()) < 300, "RadioWMHSeg.py grows: move the logic into RadioWMHSegLib"
    classes = {n.name for n in module_tree().body if isinstance(n, ast.ClassDef)}
    assert {"RadioWMHSeg", "RadioWMHSegWidget", "RadioWMHSegLogic", "RadioWMHSegTest"} <= classes
    assert "sys.path" not in source, "the module imports RadioWMHSegLib as installed, without a path fallback"
    assert "qt.QProcess" not in source, "process handling belongs to slicer_jobs / slicer_qprocess"


def test_only_the_qprocess_adapter_imports_qt():
    for path in sorted((REPOSITORY / "RadioWMHSegLib").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        uses_qt = bool(imported & {"qt", "ctk", "PythonQt", "slicer.util"}) or "mrmlScene." in source
        assert uses_qt == (path.name == "slicer_qprocess.py"), path.relative_to(REPOSITORY)


def test_loading_the_module_imports_nothing_that_is_installed_on_first_use():
    """Slicer's build server and a fresh Slicer have no torch, MONAI...: the module must still load."""
    from RadioWMHSegLib import slicer_install
    from packaging.requirements import Requirement

    imported = sorted({node.module for node in ast.walk(module_tree())
                       if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("RadioWMHSegLib")}
                      | {f"RadioWMHSegLib.{alias.name}" for node in ast.walk(module_tree())
                         if isinstance(node, ast.ImportFrom) and node.module == "RadioWMHSegLib" for alias in node.names})
    forbidden = [Requirement(r).name for r in slicer_install.Installer().requirements()]
    probe = ("import importlib, importlib.metadata as md, json, sys, types\n"
             "sys.modules['qt'] = types.ModuleType('qt')  # Slicer's Qt, absent here\n"
             f"for name in {imported!r}:\n    importlib.import_module(name)\n"
             "owners = md.packages_distributions()\n"
             "print(json.dumps(sorted({d for m in list(sys.modules) for d in owners.get(m.split('.')[0], [])})))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPOSITORY)
    assert done.returncode == 0, done.stderr
    loaded = {d.lower() for d in json.loads(done.stdout.strip().splitlines()[-1])}
    assert "RadioWMHSegLib.slicer_logic" in imported
    assert not loaded & {f.lower() for f in forbidden}, f"importing the module loads {sorted(loaded & set(forbidden))}"


# ---------------------------------------------------------------- extension metadata, licence

def test_the_extension_metadata_leaves_the_publisher_fields_to_fill_and_invents_no_address():
    text = (REPOSITORY / "CMakeLists.txt").read_text(encoding="utf-8")
    for field in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf'set\(EXTENSION_{field}\s+"[^"]+"\)', text), f"EXTENSION_{field} is not set"
    assert re.search(r'set\(EXTENSION_CATEGORY\s+"Segmentation"\)', text)
    assert re.search(r'set\(EXTENSION_DEPENDS\s+"PyTorch"\)', text)
    assert "add_subdirectory(RadioWMHSeg)" in text
    publishing = (REPOSITORY / "docs" / "publishing.md").read_text(encoding="utf-8")
    for field in ("HOMEPAGE", "CONTRIBUTORS", "ICONURL", "SCREENSHOTURLS"):
        value = re.search(rf'set\(EXTENSION_{field}\s+"([^"]+)"\)', text).group(1)
        assert "docs/publishing.md" in value, f"EXTENSION_{field} is not marked as the publisher's to fill"
        assert f"EXTENSION_{field}" in publishing, f"docs/publishing.md does not say how to fill EXTENSION_{field}"
    for path in [REPOSITORY / "CMakeLists.txt", MODULE_FILE, REPOSITORY / "README.md", REPOSITORY / "docs" / "slicer.md"]:
        assert not re.search(r"github\.com/radiowmhseg", path.read_text(encoding="utf-8"), re.I), f"{path.name} names a made-up address"


def test_the_licence_is_the_apache_licence_named_in_pyproject_and_the_readme():
    licence = (REPOSITORY / "LICENSE").read_text(encoding="utf-8")
    assert licence.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence and len(licence.splitlines()) > 190
    assert re.search(r'license\s*=\s*\{\s*text\s*=\s*"Apache-2.0"', (REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8").rstrip().splitlines()
    assert readme[-2].startswith("## Licen") and "Apache" in readme[-1], "the README ends with its Licence section"


def test_the_icon_is_a_128_pixel_png():
    from PIL import Image

    with Image.open(MODULE_DIR / "Resources" / "Icons" / "RadioWMHSeg.png") as icon:
        assert icon.format == "PNG" and icon.size == (128, 128)
