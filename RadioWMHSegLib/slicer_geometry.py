"""Exact geometry between MRML volume nodes (IJK-to-RAS) and SimpleITK images (LPS origin, spacing, direction).

MRML stores voxels with an IJK-to-RAS matrix, SimpleITK with origin/spacing/direction in LPS; the
conversion here is exact (oblique and left-handed grids included), so a mask computed by the
library lands on the volume's own voxels. No Qt, no `slicer.mrmlScene`: works with slicer-core.
"""

import numpy as np
import SimpleITK as sitk
import vtk
from vtk.util import numpy_support

from .errors import InputError
from .geometry import same_grid

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])  # its own inverse


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


def on_grid_of(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """The mask as uint8 on the reference's grid (nearest neighbour where the grids differ)."""
    mask = sitk.Cast(mask, sitk.sitkUInt8)
    if same_grid(mask, reference):
        mask.CopyInformation(reference)
        return mask
    return sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def on_grid_of_float(image: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """float32 image on the reference's grid (linear interpolation where the grids differ)."""
    image = sitk.Cast(image, sitk.sitkFloat32)
    if same_grid(image, reference):
        image.CopyInformation(reference)
        return image
    return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
