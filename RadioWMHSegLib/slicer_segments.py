"""The WMH segment (and a 3-class model's other-pathology segment) of a segmentation node: names, colours, masks in and out.

A segment's binary labelmap may be a layer shared with other segments (each with its own label
value) and cropped to the segment; `segment_to_sitk` always returns the segment alone on the
reference volume's full grid. No Qt, no `slicer.mrmlScene`: works with slicer-core.
"""

import numpy as np
import SimpleITK as sitk
import slicer
import vtk

from .errors import InputError
from .slicer_geometry import (LPS_FROM_RAS, _array_to_image_data, _geometry_from_ijk_to_ras, _ijk_to_ras_from_image,
                              _image_data_to_array, _matrix_to_numpy, _numpy_to_matrix, on_grid_of, volume_to_sitk)

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
# Label 2 of the datasets (tumour, oedema, resection cavity): what a 3-class model finds beside WMH.
PATHOLOGY_SEGMENT_NAME = "Tumour / oedema, not WMH"
PATHOLOGY_COLOR = (0.35, 0.55, 1.0)  # blue: far from WMH's yellow
# Label 3 of the datasets: a region the annotator leaves open; training and validation do not score it.
UNSCORED_SEGMENT_NAME = "Unscored (left out of training)"
UNSCORED_COLOR = (0.6, 0.6, 0.6)  # grey: neither WMH nor pathology


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
    """ID of the WMH segment (by name, else the only segment but the pathology and unscored ones); None when absent
    and not created."""
    segmentation = segmentation_node.GetSegmentation()
    segment_id = segmentation.GetSegmentIdBySegmentName(WMH_SEGMENT_NAME)
    if segment_id:
        return segment_id
    others = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    others = [i for i in others
              if segmentation.GetSegment(i).GetName() not in (PATHOLOGY_SEGMENT_NAME, UNSCORED_SEGMENT_NAME)]
    if len(others) == 1:
        return others[0]
    if not create:
        return None
    segment_id = segmentation.AddEmptySegment(WMH_SEGMENT_NAME, WMH_SEGMENT_NAME, WMH_COLOR)
    segment = segmentation.GetSegment(segment_id)
    if hasattr(segment, "SetTerminology"):
        segment.SetTerminology(WMH_TERMINOLOGY)
    else:  # older Slicer versions keep the terminology as a plain tag
        segment.SetTag(segment.GetTerminologyEntryTagName(), WMH_TERMINOLOGY)
    return segment_id


def _named_segment_id(segmentation_node, create, segment_id, name, color):
    """ID of the segment called `name`; created empty (with segment_id and color) when absent and create."""
    segmentation = segmentation_node.GetSegmentation()
    found = segmentation.GetSegmentIdBySegmentName(name)
    if found or not create:
        return found or None
    return segmentation.AddEmptySegment(segment_id, name, color)


def pathology_segment_id(segmentation_node, create=False):
    """ID of the other-pathology segment (by name); None when absent and not created."""
    return _named_segment_id(segmentation_node, create, "other_pathology", PATHOLOGY_SEGMENT_NAME, PATHOLOGY_COLOR)


def unscored_segment_id(segmentation_node, create=False):
    """ID of the unscored segment (by name); None when absent and not created."""
    return _named_segment_id(segmentation_node, create, "unscored", UNSCORED_SEGMENT_NAME, UNSCORED_COLOR)


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
