"""Nodes around a result in the scene: subject-hierarchy placement, the lesion table, node files in and out.

Headless scenes (slicer-core) make no subject-hierarchy items by themselves and have no
`slicer.util.loadVolume`, so files are read and written here through storage nodes; writes are
staged and moved into place, so nothing is half-written and nothing existing is replaced.
"""

import os
from pathlib import Path

import vtk

from . import safe_write
from .choices import MASK_ENDINGS
from .errors import InputError
from .slicer_segments import ensure_segmentation_converters


def place_next_to(node, volume_node):
    """Put node in the subject hierarchy beside the volume (under its study), and under its transform."""
    scene = volume_node.GetScene()
    hierarchy = scene.GetSubjectHierarchyNode() if hasattr(scene, "GetSubjectHierarchyNode") else None
    if hierarchy is not None:
        volume_item = hierarchy.GetItemByDataNode(volume_node)
        node_item = hierarchy.GetItemByDataNode(node)
        if volume_item and node_item:
            hierarchy.SetItemParent(node_item, hierarchy.GetItemParent(volume_item))
        elif volume_item:  # headless scenes make no subject hierarchy items by themselves
            hierarchy.CreateItem(hierarchy.GetItemParent(volume_item), node)
    if node.IsA("vtkMRMLTransformableNode"):
        node.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())


def set_lesion_table(table_node, stats: dict):
    """Fill the table with one row per lesion: index, volume (mL), voxels and centre (RAS, mm)."""
    table_node.RemoveAllColumns()
    columns = {}
    for name, kind in (("Lesion", "int"), ("Volume (mL)", "double"), ("Voxels", "int"),
                       ("Centre R (mm)", "double"), ("Centre A (mm)", "double"), ("Centre S (mm)", "double")):
        array = vtk.vtkIntArray() if kind == "int" else vtk.vtkDoubleArray()
        array.SetName(name)
        columns[name] = array
    for lesion in stats.get("lesions", []):
        x, y, z = lesion["centre_mm"]  # LPS, as SimpleITK measures it
        columns["Lesion"].InsertNextValue(int(lesion["index"]))
        columns["Volume (mL)"].InsertNextValue(float(lesion["volume_ml"]))
        columns["Voxels"].InsertNextValue(int(lesion["n_voxels"]))
        columns["Centre R (mm)"].InsertNextValue(-float(x))
        columns["Centre A (mm)"].InsertNextValue(-float(y))
        columns["Centre S (mm)"].InsertNextValue(float(z))
    for array in columns.values():
        table_node.AddColumn(array)
    table_node.Modified()


def read_volume_file(path, scene, labelmap=False, name=None):
    """Load an image file into a new volume node of the scene (headless, no Slicer GUI needed)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist: check the path")
    node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode",
                                   name or _stem(path))
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    if not storage.ReadData(node):
        scene.RemoveNode(node)
        scene.RemoveNode(storage)
        raise InputError(f"{path.name} could not be read as an image volume: give a .nii.gz, .nrrd or .mha file")
    node.SetAndObserveStorageNodeID(storage.GetID())
    return node


def read_segmentation_file(path, scene, name=None):
    """Load a .seg.nrrd (or a labelmap file) into a new segmentation node of the scene."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist: check the path")
    ensure_segmentation_converters(scene)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or _stem(path))
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    if not storage.ReadData(node):
        scene.RemoveNode(node)
        scene.RemoveNode(storage)
        raise InputError(f"{path.name} could not be read as a segmentation: give a .seg.nrrd or a labelmap file")
    node.SetAndObserveStorageNodeID(storage.GetID())
    return node


def write_node_file(node, path) -> Path:
    """Save a node headless with its default storage (.seg.nrrd, .nrrd/.nii.gz, .csv for tables).

    Written in a hidden staging folder and moved into place (with any side file, e.g. a table's
    .schema.csv), so nothing is half-written, and nothing existing is replaced.
    """
    path = Path(path)
    if path.exists():
        raise InputError(f"{path} already exists: choose another name or remove it first (nothing was written)")
    staging = safe_write.staging_directory(path.parent)
    try:
        storage = node.CreateDefaultStorageNode()
        storage.SetFileName(str(staging / path.name))
        if not storage.WriteData(node):
            raise InputError(f"{node.GetName()} could not be written to {path.name}: use a format its kind supports")
        written = sorted(staging.iterdir())
        clashes = [f.name for f in written if (path.parent / f.name).exists()]
        if clashes:
            raise InputError(f"{', '.join(clashes)} already exist in {path.parent}: choose another name (nothing was written)")
        for file in written:
            os.replace(file, path.parent / file.name)
    finally:
        safe_write.remove_staging(staging)
    return path


def remove_node(node):
    """Remove a node and the storage and display nodes that only it used."""
    scene = node.GetScene()
    helpers = [node.GetNthStorageNode(i) for i in range(node.GetNumberOfStorageNodes())]
    if node.IsA("vtkMRMLDisplayableNode"):
        helpers += [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
    scene.RemoveNode(node)
    for helper in helpers:
        if helper is not None:
            scene.RemoveNode(helper)


def _stem(path) -> str:
    name = Path(path).name
    for ending in MASK_ENDINGS:
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    return Path(path).stem
