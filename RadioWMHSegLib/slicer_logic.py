"""MRML nodes in and out of the library, for the Slicer module and for headless scripts (no Qt).

Everything works on the scene of the nodes it is given (slicer-core has no `slicer.mrmlScene`), so
the same code runs in the Slicer GUI, in `Slicer --no-main-window --python-script` and in plain
Python with the slicer-core wheel. Images cross into the library as SimpleITK images: MRML stores
voxels with an IJK-to-RAS matrix, SimpleITK with origin/spacing/direction in LPS, and the
conversion here is exact (oblique grids included), so a mask computed by the library lands on the
volume's own voxels.
"""

import datetime
import json
import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from . import safe_write
from .errors import InputError

WMH_SEGMENT_NAME = "WMH"
WMH_COLOR = (1.0, 0.85, 0.0)  # bright yellow: visible on a grey FLAIR and unlike the default green
# DICOM/SNOMED CT terminology as Slicer encodes it (context~category~type~modifier~region context~region~modifier):
# a lesion (morphologically altered structure) of the cerebral white matter.
WMH_TERMINOLOGY = (
    "Segmentation category and type - DICOM master list"
    "~SCT^49755003^Morphologically Altered Structure"
    "~SCT^52988006^Lesion"
    "~^^"
    "~Anatomic codes - DICOM master list"
    "~SCT^68523003^Cerebral white matter"
    "~^^"
)
# Same values as segment.py; repeated so that this module (and the Slicer panel) load without torch.
DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_LESION_MM3 = 3.0

# What the library needs beyond what 3D Slicer ships (numpy, SimpleITK, vtk): import name -> pip
# requirement. torch comes through Slicer's PyTorch extension (it picks the CUDA build that fits).
REQUIREMENTS = {
    "torch": "torch>=2.1",
    "monai": "monai>=1.3",
    "nibabel": "nibabel>=5",
    "nilearn": "nilearn>=0.10.3",
    "skimage": "scikit-image>=0.21",
    "scipy": "scipy>=1.10",
    "matplotlib": "matplotlib>=3.7",
    "tqdm": "tqdm>=4.60",
}

# Node references and attributes on the result segmentation node: saved with the scene, so an
# export after reloading a scene still finds the model's original prediction and the statistics.
ORIGINAL_PREDICTION_ROLE = "RadioWMHSegOriginalPrediction"
LESION_TABLE_ROLE = "RadioWMHSegLesionTable"
PROBABILITY_ROLE = "RadioWMHSegProbability"
ATTRIBUTE_PREFIX = "RadioWMHSeg."

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])  # its own inverse


# ---------------------------------------------------------------- geometry and voxel conversion

def _matrix_to_numpy(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _numpy_to_matrix(array) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r][c]))
    return matrix


def ijk_to_ras(volume_node) -> np.ndarray:
    """4x4 IJK-to-RAS matrix of a volume node (in its own, untransformed coordinates)."""
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return _matrix_to_numpy(matrix)


def _geometry_from_ijk_to_ras(matrix):
    """(origin, spacing, direction) of SimpleITK (LPS) from an IJK-to-RAS matrix."""
    matrix = np.asarray(matrix, dtype=float)
    lps = LPS_FROM_RAS @ matrix[:3, :3]
    spacing = np.linalg.norm(lps, axis=0)
    direction = lps / spacing
    origin = LPS_FROM_RAS @ matrix[:3, 3]
    return tuple(origin), tuple(spacing), tuple(direction.ravel())


def _ijk_to_ras_from_image(image: sitk.Image) -> np.ndarray:
    direction = np.array(image.GetDirection()).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = LPS_FROM_RAS @ direction @ np.diag(image.GetSpacing())
    matrix[:3, 3] = LPS_FROM_RAS @ np.array(image.GetOrigin())
    return matrix


def _image_data_to_array(image_data) -> np.ndarray:
    """(z, y, x) array copy of a single-component vtkImageData."""
    scalars = image_data.GetPointData().GetScalars()
    if scalars is None or scalars.GetNumberOfComponents() != 1:
        raise InputError("the volume has no voxels or several components per voxel: select a single-channel scalar volume")
    dims = image_data.GetDimensions()
    return numpy_support.vtk_to_numpy(scalars).reshape(dims[::-1]).copy()


def _array_to_image_data(array) -> vtk.vtkImageData:
    array = np.ascontiguousarray(array)
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    scalars = numpy_support.numpy_to_vtk(array.ravel(), deep=True)
    scalars.SetName("ImageScalars")
    image_data.GetPointData().SetScalars(scalars)
    return image_data


def volume_to_sitk(volume_node, pixel_type=sitk.sitkFloat32) -> sitk.Image:
    """SimpleITK image of a volume node with the node's exact geometry (RAS turned into LPS).

    pixel_type None keeps the node's voxel type. The geometry is the node's own; a parent transform
    is not applied (results are put under the same transform instead).
    """
    if volume_node is None or volume_node.GetImageData() is None:
        raise InputError("the selected volume holds no image: load a FLAIR volume first")
    image = sitk.GetImageFromArray(_image_data_to_array(volume_node.GetImageData()))
    origin, spacing, direction = _geometry_from_ijk_to_ras(ijk_to_ras(volume_node))
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    return sitk.Cast(image, pixel_type) if pixel_type is not None else image


def sitk_to_volume_node(image: sitk.Image, scene, name, labelmap=False, node=None):
    """A new (or the given) scalar or labelmap volume node holding the image, with its geometry."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode", name)
    node.SetIJKToRASMatrix(_numpy_to_matrix(_ijk_to_ras_from_image(image)))
    node.SetAndObserveImageData(_array_to_image_data(sitk.GetArrayFromImage(image)))
    return node


def same_grid(image: sitk.Image, reference: sitk.Image, tolerance=1e-4) -> bool:
    return (image.GetSize() == reference.GetSize()
            and np.allclose(image.GetSpacing(), reference.GetSpacing(), atol=tolerance)
            and np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=tolerance * 100)
            and np.allclose(image.GetDirection(), reference.GetDirection(), atol=tolerance))


def on_grid_of(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """The mask as uint8 on the reference's grid (nearest neighbour where the grids differ)."""
    mask = sitk.Cast(mask, sitk.sitkUInt8)
    if same_grid(mask, reference):
        mask.CopyInformation(reference)
        return mask
    return sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


# ---------------------------------------------------------------- segmentations

def ensure_segmentation_converters(scene):
    """Register the segmentation conversion rules once (Slicer does it at startup, slicer-core does not)."""
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    if factory.GetConverterRules():
        return None
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    logic.SetMRMLScene(scene)  # registers the rules (and the segment editor node class)
    return logic


def _oriented_image_from_sitk(mask: sitk.Image):
    array = (sitk.GetArrayFromImage(mask) > 0).astype(np.uint8)
    oriented = slicer.vtkOrientedImageData()
    oriented.ShallowCopy(_array_to_image_data(array))
    oriented.SetImageToWorldMatrix(_numpy_to_matrix(_ijk_to_ras_from_image(mask)))
    return oriented


def wmh_segment_id(segmentation_node, create=False):
    """ID of the WMH segment (by name, else the only segment); None when absent and not created."""
    segmentation = segmentation_node.GetSegmentation()
    segment_id = segmentation.GetSegmentIdBySegmentName(WMH_SEGMENT_NAME)
    if segment_id:
        return segment_id
    if segmentation.GetNumberOfSegments() == 1:
        return segmentation.GetNthSegmentID(0)
    if not create:
        return None
    segment_id = segmentation.AddEmptySegment(WMH_SEGMENT_NAME, WMH_SEGMENT_NAME, WMH_COLOR)
    segment = segmentation.GetSegment(segment_id)
    if hasattr(segment, "SetTerminology"):
        segment.SetTerminology(WMH_TERMINOLOGY)
    else:  # older Slicer versions keep the terminology as a plain tag
        segment.SetTag(segment.GetTerminologyEntryTagName(), WMH_TERMINOLOGY)
    return segment_id


def set_mask_to_segment(segmentation_node, mask: sitk.Image, segment_id):
    """Replace a segment's voxels by a binary mask (any grid: the segmentation resamples it)."""
    oriented = _oriented_image_from_sitk(mask)
    ok = slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
        oriented, segmentation_node, segment_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE,
        oriented.GetExtent())
    if not ok:
        raise InputError(f"the mask could not be written into segment '{segment_id}': check that the segmentation is editable")


def _oriented_image_to_sitk(oriented) -> sitk.Image:
    """SimpleITK image of a vtkOrientedImageData, whose extent may start anywhere (cropped labelmaps)."""
    extent = oriented.GetExtent()
    matrix = vtk.vtkMatrix4x4()
    oriented.GetImageToWorldMatrix(matrix)
    matrix = _matrix_to_numpy(matrix)
    image = sitk.GetImageFromArray(_image_data_to_array(oriented))
    origin, spacing, direction = _geometry_from_ijk_to_ras(matrix)
    first_voxel_ras = matrix @ np.array([extent[0], extent[2], extent[4], 1.0])
    image.SetOrigin(tuple(LPS_FROM_RAS @ first_voxel_ras[:3]))
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    return image


def segment_to_sitk(segmentation_node, reference_volume_node, segment_id=None) -> sitk.Image:
    """uint8 {0,1} mask of one segment (default: WMH) on the reference volume's voxel grid.

    The segment's binary labelmap lies on the segmentation's reference geometry (the volume's grid,
    cropped to the segment), so nearest-neighbour placement onto the volume's grid is exact.
    """
    ensure_segmentation_converters(segmentation_node.GetScene())
    segment_id = segment_id or wmh_segment_id(segmentation_node)
    if not segment_id:
        raise InputError(f"segmentation '{segmentation_node.GetName()}' has no '{WMH_SEGMENT_NAME}' segment: "
                         "rename the lesion segment to WMH or keep a single segment")
    reference = volume_to_sitk(reference_volume_node, pixel_type=None)
    oriented = slicer.vtkOrientedImageData()
    # Not applying the parent transform: the segmentation sits under the volume's own transform.
    ok = slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(
        segmentation_node, segment_id, oriented, False)
    extent = oriented.GetExtent()
    if not ok or extent[0] > extent[1] or extent[2] > extent[3] or extent[4] > extent[5]:
        empty = sitk.Image(reference.GetSize(), sitk.sitkUInt8)  # an empty segment has no voxels at all
        empty.CopyInformation(reference)
        return empty
    # Segments share labelmap layers (one label value each), and the layer comes back whole.
    label_value = segmentation_node.GetSegmentation().GetSegment(segment_id).GetLabelValue()
    mask = sitk.Cast(_oriented_image_to_sitk(oriented) == label_value, sitk.sitkUInt8)
    return on_grid_of(mask, reference)


def labelmap_node_to_sitk(labelmap_node, reference_volume_node) -> sitk.Image:
    """uint8 {0,1} (non-zero voxels) of a labelmap node, on the reference volume's grid."""
    mask = sitk.Cast(volume_to_sitk(labelmap_node, pixel_type=None) > 0, sitk.sitkUInt8)
    return on_grid_of(mask, volume_to_sitk(reference_volume_node, pixel_type=None))


def _place_next_to(node, volume_node):
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


def _set_lesion_table(table_node, stats: dict):
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


def missing_python_packages() -> dict:
    """{import name: pip requirement} of the REQUIREMENTS not importable here (nothing is imported)."""
    import importlib.util

    return {module: spec for module, spec in REQUIREMENTS.items() if importlib.util.find_spec(module) is None}


def _stem(path) -> str:
    name = Path(path).name
    for ending in (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    return Path(path).stem


# ---------------------------------------------------------------- the logic

class RadioWMHSegLogic:
    """Segment a FLAIR volume node, show and measure the result, export corrected cases.

    No Qt and no `slicer.mrmlScene`: each method works in the scene of the nodes it gets.
    """

    def segment(self, volumeNode, skullStripped=False, device="auto", threshold=DEFAULT_THRESHOLD,
                minLesionMm3=DEFAULT_MIN_LESION_MM3, model=None, probabilityVolume=False, tta=False,
                progress=None, cancel=None):
        """Run the library on the volume in this process; returns the new segmentation node.

        model: None (bundled), a model folder or a model_io.LoadedModel. Statistics: see statistics().
        """
        from .segment import segment_image

        image = volume_to_sitk(volumeNode)
        result = segment_image(image, skull_stripped=skullStripped, model=model, device=device, threshold=threshold,
                               min_lesion_mm3=minLesionMm3, tta=tta, progress=progress, cancel=cancel)
        return self.loadResult(volumeNode, result.mask,
                               probability=result.probability if probabilityVolume else None,
                               stats=result.stats.to_dict(), modelInfo=result.record.get("model"),
                               parameters={"threshold": threshold, "min_lesion_mm3": minLesionMm3,
                                           "skull_stripped": bool(skullStripped), "device": result.record.get("device")})

    def loadResult(self, volumeNode, mask, probability=None, stats=None, modelInfo=None, parameters=None,
                   keepOriginal=True):
        """Turn a mask on the volume's grid (and optional probability map) into result nodes.

        Creates the segmentation "<input> WMH" (segment WMH, colour, terminology, closed surface,
        reference geometry = the volume), a hidden labelmap keeping the mask as the model's original
        prediction for later export (keepOriginal), the lesion table, and the probability volume if given.
        """
        scene = volumeNode.GetScene()
        ensure_segmentation_converters(scene)
        reference = volume_to_sitk(volumeNode, pixel_type=None)
        mask = on_grid_of(mask, reference)
        base_name = f"{volumeNode.GetName()} WMH"

        segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(base_name))
        segmentation_node.CreateDefaultDisplayNodes()
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
        segment_id = wmh_segment_id(segmentation_node, create=True)
        set_mask_to_segment(segmentation_node, mask, segment_id)
        segmentation_node.CreateClosedSurfaceRepresentation()
        _place_next_to(segmentation_node, volumeNode)

        if keepOriginal:
            self.setOriginalPrediction(segmentation_node, volumeNode, mask)

        if probability is not None:
            probability_node = sitk_to_volume_node(on_grid_of_float(probability, reference), scene,
                                                   f"{segmentation_node.GetName()} probability")
            probability_node.CreateDefaultDisplayNodes()
            _place_next_to(probability_node, volumeNode)
            segmentation_node.SetNodeReferenceID(PROBABILITY_ROLE, probability_node.GetID())

        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "InputVolume", volumeNode.GetID())
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "Model", json.dumps(modelInfo or {}))
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "Parameters", json.dumps(parameters or {}))
        if stats is None:
            from .lesion_stats import compute_lesion_stats

            stats = compute_lesion_stats(mask).to_dict()
        self._store_statistics(segmentation_node, stats)
        return segmentation_node

    def _store_statistics(self, segmentation_node, stats: dict):
        scene = segmentation_node.GetScene()
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "WMHVolumeMl", f"{stats['total_volume_ml']:.4f}")
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "LesionCount", str(int(stats["count"])))
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "Statistics", json.dumps(stats))
        table = self.lesionTable(segmentation_node)
        if table is None:
            table = scene.AddNewNodeByClass("vtkMRMLTableNode", f"{segmentation_node.GetName()} lesions")
            input_volume = scene.GetNodeByID(segmentation_node.GetAttribute(ATTRIBUTE_PREFIX + "InputVolume") or "")
            if input_volume is not None:
                _place_next_to(table, input_volume)
            segmentation_node.SetNodeReferenceID(LESION_TABLE_ROLE, table.GetID())
        _set_lesion_table(table, stats)

    def setOriginalPrediction(self, segmentationNode, volumeNode, mask: sitk.Image):
        """Keep mask (on the volume's grid) as the model's output that edits are compared with."""
        scene = segmentationNode.GetScene()
        node = self.originalPrediction(segmentationNode)
        if node is None:
            node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode",
                                           f"{segmentationNode.GetName()} original prediction")
            node.SetHideFromEditors(True)  # kept for the export's Dice, not for display
            segmentationNode.SetNodeReferenceID(ORIGINAL_PREDICTION_ROLE, node.GetID())
        sitk_to_volume_node(on_grid_of(mask, volume_to_sitk(volumeNode, pixel_type=None)), scene, None,
                            labelmap=True, node=node)
        _place_next_to(node, volumeNode)
        return node

    def statistics(self, segmentationNode) -> dict:
        """{"total_volume_ml", "count", "lesions": [...]} stored on a result segmentation node."""
        text = segmentationNode.GetAttribute(ATTRIBUTE_PREFIX + "Statistics")
        return json.loads(text) if text else {}

    def updateStatistics(self, segmentationNode, volumeNode, minLesionMm3=0.0) -> dict:
        """Recompute volume, count and lesion table from the segment as it is now (after editing)."""
        from .lesion_stats import compute_lesion_stats

        mask = segment_to_sitk(segmentationNode, volumeNode)
        stats = compute_lesion_stats(mask, min_lesion_mm3=minLesionMm3).to_dict()
        self._store_statistics(segmentationNode, stats)
        return stats

    def lesionTable(self, segmentationNode):
        return segmentationNode.GetNodeReference(LESION_TABLE_ROLE)

    def probabilityVolume(self, segmentationNode):
        return segmentationNode.GetNodeReference(PROBABILITY_ROLE)

    def originalPrediction(self, segmentationNode):
        """The hidden labelmap holding the model's mask before any editing (None if not made here)."""
        return segmentationNode.GetNodeReference(ORIGINAL_PREDICTION_ROLE)

    def modelInfo(self, segmentationNode) -> dict:
        text = segmentationNode.GetAttribute(ATTRIBUTE_PREFIX + "Model")
        return json.loads(text) if text else {}

    def correctionDice(self, volumeNode, segmentationNode, originalPrediction=None):
        """Dice between the model's original prediction and the segment as edited (None if no original)."""
        from .metrics import compute_metrics

        original = self._original_as_sitk(volumeNode, segmentationNode, originalPrediction)
        if original is None:
            return None
        return float(compute_metrics(original, segment_to_sitk(segmentationNode, volumeNode))["dsc"])

    def _original_as_sitk(self, volumeNode, segmentationNode, originalPrediction):
        if originalPrediction is None:
            originalPrediction = self.originalPrediction(segmentationNode)
        if originalPrediction is None:
            return None
        if isinstance(originalPrediction, sitk.Image):
            return on_grid_of(originalPrediction, volume_to_sitk(volumeNode, pixel_type=None))
        if originalPrediction.IsA("vtkMRMLSegmentationNode"):
            return segment_to_sitk(originalPrediction, volumeNode)
        return labelmap_node_to_sitk(originalPrediction, volumeNode)

    def exportCase(self, volumeNode, segmentationNode, datasetDir, caseName=None, annotator="",
                   originalPrediction=None):
        """Write FLAIR + corrected label (+ original prediction, metadata) as a new training case.

        The label is the WMH segment on the FLAIR's voxel grid. Never overwrites: exporting the same
        case again makes a new version (see datasets.add_case). Returns the datasets.Case written;
        the Dice of the original prediction against the correction is in its metadata.
        """
        from . import datasets
        from .metrics import compute_metrics

        if not datasetDir:
            raise InputError("no dataset folder was given: choose the folder that collects the training cases")
        image = volume_to_sitk(volumeNode)
        label = segment_to_sitk(segmentationNode, volumeNode)
        prediction = self._original_as_sitk(volumeNode, segmentationNode, originalPrediction)
        model = self.modelInfo(segmentationNode)
        metadata = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "annotator": annotator or "",
            "model": model.get("name"),
            "model_weights_sha256": model.get("weights_sha256"),
            "source": "3D Slicer RadioWMHSeg module",
            "input_volume": volumeNode.GetName(),
            "wmh_volume_ml": round(float(np.count_nonzero(sitk.GetArrayViewFromImage(label)))
                                   * float(np.prod(label.GetSpacing())) / 1000.0, 4),
        }
        if prediction is not None:
            metadata["dice_original_vs_corrected"] = round(float(compute_metrics(prediction, label)["dsc"]), 4)
        name = safe_write.safe_name(caseName or volumeNode.GetName())
        return datasets.add_case(datasetDir, name, image, label, prediction=prediction, metadata=metadata)

    def availableModels(self) -> list:
        """[(model folder, card)]: the bundled model first, then the user's fine-tuned models."""
        from . import model_io

        return model_io.list_models()

    def writeInput(self, volumeNode, jobDir) -> Path:
        """Write the volume (exact geometry) where a background segmentation job reads it."""
        path = Path(jobDir) / "input.nrrd"
        sitk.WriteImage(volume_to_sitk(volumeNode), str(path), True)
        return path

    def loadJobResult(self, volumeNode, outputs: dict):
        """Result nodes from the files of a finished background_job.segment_job."""
        document = json.loads(Path(outputs["stats"]).read_text(encoding="utf-8"))
        stats = {key: document[key] for key in ("total_volume_ml", "count", "min_lesion_mm3", "lesions") if key in document}
        processing = document.get("processing", {})
        probability = sitk.ReadImage(str(outputs["probability"])) if outputs.get("probability") else None
        parameters = {}
        for stage in processing.get("stages", []):
            parameters.update(stage.get("parameters", {}) if stage.get("stage") == "map_back_and_threshold" else {})
        return self.loadResult(volumeNode, sitk.ReadImage(str(outputs["mask"])), probability=probability, stats=stats,
                               modelInfo=processing.get("model"), parameters=parameters)

    def loadDatasetCase(self, imagePath, scene=None):
        """Load the exported case whose image (imagesTr/<case>_0000.nii.gz) is given, with its label."""
        from . import datasets

        imagePath = Path(imagePath).resolve()
        dataset = datasets.load_dataset(imagePath.parent.parent, check_geometry=False)
        for case in dataset.cases:
            if Path(case.image_path).resolve() == imagePath:
                return self.loadCase(case.image_path, case.label_path, case.prediction_path, scene=scene,
                                     modelName=case.metadata.get("model"))
        raise InputError(f"{imagePath.name} is not a case of the dataset {dataset.path}: pick an image listed in its dataset.json")

    def loadCase(self, imagePath, labelPath=None, predictionPath=None, scene=None, modelName=None):
        """Load an exported case back for more editing: (volume node, segmentation node or None).

        The original prediction, when given, becomes the hidden reference of the segmentation, so
        exporting again reports the Dice against the model's output and not against the last edit.
        """
        scene = scene if scene is not None else getattr(slicer, "mrmlScene", None)
        if scene is None:
            raise InputError("no MRML scene: pass scene=slicer.vtkMRMLScene() when running outside Slicer")
        volume_node = read_volume_file(imagePath, scene)
        if labelPath is None:
            return volume_node, None
        from .lesion_stats import compute_lesion_stats

        label = read_volume_file(labelPath, scene, labelmap=True)
        mask = labelmap_node_to_sitk(label, volume_node)
        remove_node(label)
        segmentation_node = self.loadResult(volume_node, mask, stats=compute_lesion_stats(mask).to_dict(),
                                            modelInfo={"name": modelName, "exported_label": str(labelPath)},
                                            keepOriginal=False)
        if predictionPath:
            prediction_node = read_volume_file(predictionPath, scene, labelmap=True)
            self.setOriginalPrediction(segmentation_node, volume_node, labelmap_node_to_sitk(prediction_node, volume_node))
            remove_node(prediction_node)
        return volume_node, segmentation_node


def on_grid_of_float(image: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """float32 image on the reference's grid (linear interpolation where the grids differ)."""
    image = sitk.Cast(image, sitk.sitkFloat32)
    if same_grid(image, reference):
        image.CopyInformation(reference)
        return image
    return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
