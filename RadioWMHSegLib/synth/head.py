"""The head around the brain of a skull-on synthetic FLAIR: skull, scalp, skull base, orbits, sinuses, neck.

A brain-extraction network trained on real heads (HD-BET) only finds the brain of a synthetic
head that looks like a real one, so the head is built from what surrounds the brain on a real
FLAIR: a thin dark band of extra-cerebral CSF, dark cortical bone with marrow, temporal muscle,
bright subcutaneous fat and skin; below the brain a thick skull base, the orbits (dark vitreous
in bright orbital fat), air in the sinuses and nose, the cervical cord in its canal, the airway
and the soft tissue of face and neck.

Layers around the cranium come from the distance to the brain closed over its sulci (the dura
follows that envelope, not the gyri); the orbits, sinuses, spine and the outline of face and neck
are simple shapes at fixed MNI152 coordinates (RAS mm: +x right, +y anterior, +z superior; ITK
grids are LPS, so x and y change sign). Everything is drawn in template space, so the case's
deformation moves head and brain together. Intensities are relative to white matter (WM = 1).
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .anatomy import Anatomy, _grid_key
from .random_fields import smooth_noise

# Independent random stream of the head, np.random.default_rng([seed, HEAD_STREAM]): drawing the
# head never moves the generator's own stream, so the skull-stripped output of a seed is unchanged
# and a skull-on case has exactly the brain, lesions and deformation of its skull-stripped twin.
HEAD_STREAM = 3
# The dura and skull follow the brain's envelope: the brain closed over sulci and fissures (mm).
CLOSING_MM = 10.0
# Bone left between the cranial cavity and anything below it (orbital roof, fossa floors), mm.
FLOOR_MM = 2.0

TISSUES = ("air", "csf", "bone", "marrow", "skin", "fat", "muscle", "vitreous", "sclera", "lens",
           "optic_nerve", "mucosa", "cord", "brain")
CODE = {name: code for code, name in enumerate(TISSUES)}

# Outline of face and neck below the cranium: axial ellipses centred on x = 0, y = centre_y,
# semi-axes half_x, half_y, interpolated over z (RAS mm). Above z = -10 the cranium alone is the head.
_OUTLINE_Z = (-110.0, -85.0, -65.0, -45.0, -25.0, -10.0)
_OUTLINE_CENTRE_Y = (2.0, 0.0, -2.0, -6.0, -10.0, -15.0)
_OUTLINE_HALF_X = (56.0, 60.0, 68.0, 72.0, 70.0, 55.0)
_OUTLINE_HALF_Y = (74.0, 80.0, 88.0, 92.0, 90.0, 75.0)


@dataclass(frozen=True)
class HeadGeometry:
    """What depends only on the grid (cached): RAS axes and the distance to the closed brain."""
    x: np.ndarray            # (nx,) RAS mm of each x index (the generation grids are axis-aligned)
    y: np.ndarray            # (ny,)
    z: np.ndarray            # (nz,)
    spacing: float           # mean voxel size, mm
    cavity_distance: np.ndarray  # float32 mm from the brain closed by CLOSING_MM, 0 inside
    cord_top: tuple          # (x, y, z) RAS mm of the centre of the brain's lowest slice (medulla)


@dataclass
class HeadModel:
    image: np.ndarray        # float32 relative intensity (WM = 1) outside the brain, 0 inside it
    tissue: np.ndarray       # uint8 code of TISSUES per voxel (air outside the head)
    info: dict               # what was drawn


def _ras_axes(grid):
    direction = np.asarray(grid.GetDirection()).reshape(3, 3)
    if not np.allclose(np.abs(direction), np.eye(3)):
        raise ValueError("the head model needs an axis-aligned generation grid (the template's)")
    origin, spacing = np.asarray(grid.GetOrigin()), np.asarray(grid.GetSpacing())
    axes = [origin[a] + direction[a, a] * spacing[a] * np.arange(n) for a, n in enumerate(grid.GetSize())]
    return axes[0] * -1.0, axes[1] * -1.0, axes[2] * 1.0  # LPS -> RAS


def _build_geometry(anatomy: Anatomy) -> HeadGeometry:
    x, y, z = _ras_axes(anatomy.grid)
    sampling = tuple(float(s) for s in reversed(anatomy.grid.GetSpacing()))
    brain = anatomy.brain > 0
    outside = ndi.distance_transform_edt(~brain, sampling=sampling)
    closed = ndi.distance_transform_edt(outside <= CLOSING_MM, sampling=sampling) > CLOSING_MM
    closed |= brain
    cavity_distance = ndi.distance_transform_edt(~closed, sampling=sampling).astype(np.float32)
    lowest = int(np.flatnonzero(brain.any(axis=(1, 2)))[0])
    rows, cols = np.nonzero(brain[lowest])
    cord_top = (float(x[cols].mean()), float(y[rows].mean()), float(z[lowest]))
    return HeadGeometry(x=x, y=y, z=z, spacing=float(np.mean(anatomy.grid.GetSpacing())),
                        cavity_distance=cavity_distance, cord_top=cord_top)


_geometries = {}


def head_geometry(anatomy: Anatomy) -> HeadGeometry:
    """The grid-only part of the head, computed once per grid (three distance maps, a few seconds)."""
    key = _grid_key(anatomy.grid)
    if key not in _geometries:
        if len(_geometries) >= 2:
            _geometries.clear()
        _geometries[key] = _build_geometry(anatomy)
    return _geometries[key]


def draw_head(rng, csf_level: float) -> dict:
    """Layer thicknesses (mm), shape jitter and tissue levels (WM = 1) of one head.

    Levels bracket real FLAIRs: fat from grey (3D FLAIR, as the bundled clinical scan) to bright
    (2D turbo spin echo FLAIR), muscle about half of WM, bone black, vitreous suppressed like CSF.
    """
    return {
        "csf_mm": float(rng.uniform(1.5, 3.5)),
        "bone_mm": float(rng.uniform(5.0, 8.0)),
        "skull_base_mm": float(rng.uniform(9.0, 14.0)),
        "temporalis_mm": float(rng.uniform(4.0, 8.0)),
        "fat_mm": float(rng.uniform(2.0, 5.0)),
        "skin_mm": float(rng.uniform(1.0, 2.0)),
        "globe_radius_mm": float(rng.uniform(11.0, 12.5)),
        "globe_shift_mm": [float(v) for v in rng.uniform(-2.0, 2.0, 3)],
        "sinus_scale": float(rng.uniform(0.8, 1.2)),
        "frontal_sinus": bool(rng.random() < 0.8),
        "levels": {
            "air": 0.0,
            "csf": float(csf_level),
            "bone": float(rng.uniform(0.02, 0.08)),
            "marrow": float(rng.uniform(0.35, 0.9)),
            "skin": float(rng.uniform(0.5, 0.9)),
            "fat": float(rng.uniform(0.7, 1.7)),
            "muscle": float(rng.uniform(0.35, 0.65)),
            "vitreous": float(min(0.45, csf_level * rng.uniform(1.0, 2.5) + 0.05)),
            "sclera": float(rng.uniform(0.15, 0.35)),
            "lens": float(rng.uniform(0.3, 0.6)),
            "optic_nerve": float(rng.uniform(0.75, 0.95)),
            "mucosa": float(rng.uniform(0.9, 1.6)),
            "cord": float(rng.uniform(0.85, 1.05)),
            "brain": 0.0,  # drawn by contrast.py; the head image is 0 there
        },
    }


class _Canvas:
    """The tissue map being painted: later shapes override earlier ones, only where allowed."""

    def __init__(self, geometry: HeadGeometry, shape):
        self.g = geometry
        self.tissue = np.zeros(shape, np.uint8)

    def box(self, low, high):
        """Slices (z, y, x) of the voxels inside the RAS box, and the broadcastable axes there."""
        picks = []
        for axis, lo, hi in ((self.g.z, low[2], high[2]), (self.g.y, low[1], high[1]), (self.g.x, low[0], high[0])):
            inside = np.flatnonzero((axis >= lo) & (axis <= hi))
            picks.append(slice(inside.min(), inside.max() + 1) if inside.size else slice(0, 0))
        zs, ys, xs = picks
        return picks, self.g.x[xs][None, None, :], self.g.y[ys][None, :, None], self.g.z[zs][:, None, None]

    def paint(self, name, where, slices=None, allowed=None):
        slices = tuple(slices) if slices is not None else (slice(None),) * 3
        target = self.tissue[slices]
        if allowed is not None:
            where = where & allowed[slices]
        target[np.broadcast_to(where, target.shape)] = CODE[name]

    def ellipsoid(self, name, centre, radii, allowed=None, inner=None):
        """Paint an ellipsoid; returns its normalised radius on its box, for shells and contents."""
        centre, radii = np.asarray(centre, float), np.asarray(radii, float)
        slices, x, y, z = self.box(centre - radii, centre + radii)
        q = np.sqrt(((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2
                    + ((z - centre[2]) / radii[2]) ** 2)
        self.paint(name, q <= 1.0 if inner is None else (q <= 1.0) & inner(x, y, z), slices, allowed)
        return slices, q


def _cone_coordinates(x, y, z, apex, rim):
    """Position along the apex -> rim axis (0..1) and distance from the axis (mm)."""
    apex, rim = np.asarray(apex, float), np.asarray(rim, float)
    axis = rim - apex
    length = np.linalg.norm(axis)
    axis = axis / length
    dx, dy, dz = x - apex[0], y - apex[1], z - apex[2]
    along = dx * axis[0] + dy * axis[1] + dz * axis[2]
    radial = np.sqrt(np.maximum(dx ** 2 + dy ** 2 + dz ** 2 - along ** 2, 0.0))
    return along / length, radial


def _orbit(canvas: _Canvas, side: float, draws: dict, below_floor: np.ndarray):
    """One orbit: bony cone, orbital fat, four rectus muscles, optic nerve, globe with lens."""
    shift = np.asarray(draws["globe_shift_mm"]) * np.array([side, 1.0, 1.0])
    apex = np.array([side * 15.0, 25.0, -38.0]) + 0.5 * shift
    rim = np.array([side * 34.0, 72.0, -37.0]) + shift
    slices, x, y, z = canvas.box(np.minimum(apex, rim) - 22.0, np.maximum(apex, rim) + 22.0)
    t, r = _cone_coordinates(x, y, z, apex, rim)
    radius = 4.0 + 15.0 * np.clip(t, 0.0, 1.0)
    in_cone = (t >= -0.05) & (t <= 1.0)
    canvas.paint("bone", in_cone & (r <= radius + 1.5), slices, below_floor)
    canvas.paint("fat", in_cone & (r <= radius), slices, below_floor)
    # Rectus muscles along the wall, from the apex to the globe's equator.
    axis = (rim - apex) / np.linalg.norm(rim - apex)
    up = np.cross(np.cross(axis, [0.0, 0.0, 1.0]), axis)
    up /= np.linalg.norm(up)
    lateral = np.cross(axis, up)
    for direction in (up, -up, lateral, -lateral):
        start, end = apex + direction * 3.0, apex + (rim - apex) * 0.75 + direction * 11.0
        tm, rm = _cone_coordinates(x, y, z, start, end)
        canvas.paint("muscle", (tm >= 0) & (tm <= 1) & (rm <= 2.2 + 0.6 * tm) & in_cone, slices, below_floor)
    globe_centre = np.array([side * 32.0, 57.0, -37.0]) + shift
    globe_radius = draws["globe_radius_mm"]
    tn, rn = _cone_coordinates(x, y, z, apex, globe_centre)
    canvas.paint("optic_nerve", (tn >= 0) & (tn <= 1) & (rn <= 2.5), slices, below_floor)
    canvas.ellipsoid("sclera", globe_centre, [globe_radius] * 3, below_floor)
    canvas.ellipsoid("vitreous", globe_centre, [globe_radius - 1.0] * 3, below_floor)
    lens_centre = globe_centre + np.array([0.0, globe_radius - 3.5, 0.0])
    canvas.ellipsoid("lens", lens_centre, [4.5, 2.0, 4.5], below_floor)


def _sinuses(canvas: _Canvas, rng, draws: dict, below_floor: np.ndarray, spacing: float):
    """Air in the ethmoid cells, nasal cavity (with septum and mucosa), maxillary and sphenoid sinuses."""
    s = draws["sinus_scale"]
    cells = smooth_noise(rng, canvas.tissue.shape, 5.0 / spacing)
    slices, x, y, z = canvas.box((-12.0, 28.0, -50.0), (12.0, 70.0, -24.0))
    canvas.paint("air", np.ones_like(x * y * z, bool), slices, below_floor)
    canvas.paint("bone", np.abs(cells[tuple(slices)]) < 0.12, slices, below_floor)  # thin septa between cells
    # Nasal cavity: narrow at the top, its roof sloping down to the front, with mucosa (bright on
    # FLAIR) on the turbinates and a midline septum.
    slices, x, y, z = canvas.box((-16.0, 22.0, -76.0), (16.0, 92.0, -38.0))
    half_width = np.interp(z, (-76.0, -60.0, -45.0, -38.0), (12.0, 15.0, 10.0, 5.0))
    roof = np.interp(y, (22.0, 60.0, 92.0), (-44.0, -38.0, -60.0))
    front = np.interp(z, (-76.0, -60.0, -38.0), (92.0, 88.0, 76.0))
    nasal = (np.abs(x) <= half_width) & (z <= roof) & (y <= front)
    canvas.paint("air", nasal, slices, below_floor)
    canvas.paint("mucosa", nasal & ((cells[tuple(slices)] > 0.0) | (np.abs(x) <= 3.5)), slices, below_floor)
    canvas.paint("muscle", nasal & (np.abs(x) <= 1.0), slices, below_floor)  # septal cartilage: intermediate
    for side in (-1.0, 1.0):
        canvas.ellipsoid("mucosa", (side * 30.0, 50.0, -61.0), np.array([13.0, 17.0, 14.0]) * s, below_floor)
        canvas.ellipsoid("air", (side * 30.0, 50.0, -61.0), np.array([11.5, 15.5, 12.5]) * s, below_floor)
    canvas.ellipsoid("air", (0.0, 18.0, -44.0), np.array([12.0, 10.0, 8.0]) * s, below_floor)


def _spine_and_airway(canvas: _Canvas, draws: dict, cavity_distance: np.ndarray):
    """The cervical cord leaving the medulla, its CSF and bony canal, vertebral bodies and the airway."""
    top_x, top_y, top_z = canvas.g.cord_top
    slices, x, y, z = canvas.box((top_x - 40.0, top_y - 40.0, -200.0), (top_x + 40.0, top_y + 80.0, top_z + 6.0))
    centre_y = top_y + 0.2 * (top_z - z)  # the cervical cord runs down and slightly forward
    r = np.sqrt((x - top_x) ** 2 + (y - centre_y) ** 2)
    body = np.sqrt((x - top_x) ** 2 + ((y - centre_y - 21.0) / 0.85) ** 2)
    low = z < top_z - 8.0  # vertebrae start below the foramen magnum
    canvas.paint("bone", low & (r <= 13.0), slices)
    canvas.paint("bone", low & (body <= 11.0), slices)
    canvas.paint("marrow", low & (body <= 9.5), slices)
    canvas.paint("csf", (r <= 9.5) & (z <= top_z + 4.0), slices)
    canvas.paint("cord", (r <= 6.0) & (z <= top_z + 4.0), slices)
    # Airway: nasopharynx under the sphenoid, then the oropharynx in front of the vertebrae.
    slices, x, y, z = canvas.box((-16.0, -30.0, -200.0), (16.0, 30.0, -48.0))
    airway_y = np.interp(z, (-200.0, -75.0, -58.0, -48.0), (top_y + 42.0, top_y + 42.0, 10.0, 14.0))
    half_y = np.interp(z, (-200.0, -75.0, -58.0, -48.0), (6.0, 6.0, 9.0, 7.0))
    half_x = np.interp(z, (-200.0, -75.0, -58.0), (12.0, 12.0, 14.0))
    airway = ((x / half_x) ** 2 + ((y - airway_y) / half_y) ** 2) <= 1.0
    canvas.paint("air", airway, slices, cavity_distance > draws["csf_mm"] + 6.0)


def _layer_thickness(rng, draws, shape, spacing, temporal):
    """Spatially varying CSF, bone and muscle thicknesses (mm): no real skull is even."""
    csf = draws["csf_mm"] * np.clip(1.0 + 0.3 * smooth_noise(rng, shape, 25.0 / spacing), 0.4, 1.8)
    bone = draws["bone_mm"] * np.clip(1.0 + 0.2 * smooth_noise(rng, shape, 30.0 / spacing), 0.5, 1.6)
    bone *= 1.0 - 0.4 * temporal  # the temporal squama is thin
    muscle = draws["temporalis_mm"] * temporal
    return csf.astype(np.float32), bone.astype(np.float32), muscle.astype(np.float32)


def _temporal_weight(g: HeadGeometry):
    """0..1 over the temporal fossae (lateral, above the zygoma, below the temporal line)."""
    lateral = np.clip((np.abs(g.x) - 42.0) / 18.0, 0.0, 1.0)[None, None, :]
    front_back = np.exp(-(((g.y + 5.0) / 38.0) ** 4))[None, :, None]
    height = np.interp(g.z, (-50.0, -35.0, 5.0, 35.0, 55.0), (0.0, 1.0, 1.0, 0.35, 0.0))[:, None, None]
    return (lateral * front_back * height).astype(np.float32)


def head_model(seed, anatomy: Anatomy, csf_level: float) -> HeadModel:
    """The head outside the brain for a case seed (its own stream), on the anatomy's grid."""
    rng = np.random.default_rng([int(seed), HEAD_STREAM])
    g = head_geometry(anatomy)
    shape = anatomy.brain.shape
    draws = draw_head(rng, csf_level)
    d = g.cavity_distance
    temporal = _temporal_weight(g)
    csf, bone, muscle = _layer_thickness(rng, draws, shape, g.spacing, temporal)
    base = np.interp(g.z, (-45.0, -15.0), (1.0, 0.0)).astype(np.float32)[:, None, None]
    bone += (draws["skull_base_mm"] - draws["bone_mm"]) * base
    skull_outer = csf + bone
    scalp = draws["fat_mm"] + draws["skin_mm"]

    # The head: the cranial layers, and below them the outline of face and neck.
    zc = g.z[:, None, None]
    centre_y = np.interp(zc, _OUTLINE_Z, _OUTLINE_CENTRE_Y)
    half_x = np.interp(zc, _OUTLINE_Z, _OUTLINE_HALF_X)
    half_y = np.interp(zc, _OUTLINE_Z, _OUTLINE_HALF_Y)
    lower = ((g.x[None, None, :] / half_x) ** 2 + ((g.y[None, :, None] - centre_y) / half_y) ** 2 <= 1.0)
    lower &= zc <= _OUTLINE_Z[-1]
    head = (d <= skull_outer + muscle + scalp) | lower
    depth = ndi.distance_transform_edt(head, sampling=(g.spacing,) * 3).astype(np.float32)

    canvas = _Canvas(g, shape)
    # Deep soft tissue of face and neck: muscles separated by thin sheets of fat (where a smooth
    # random field crosses zero) and a few fat pads.
    planes = smooth_noise(rng, shape, 14.0 / g.spacing)
    canvas.paint("muscle", head)
    canvas.paint("fat", head & ((np.abs(planes) < 0.1) | (planes > 1.6)))
    canvas.paint("muscle", head & (d > skull_outer) & (d <= skull_outer + muscle))
    canvas.paint("fat", head & (depth > draws["skin_mm"]) & (depth <= scalp) & (d > skull_outer))
    # Skull: inner and outer tables of dark cortical bone around a marrow layer (patchy in the base).
    marrow_noise = smooth_noise(rng, shape, 6.0 / g.spacing)
    in_bone = head & (d > csf) & (d <= skull_outer)
    middle = np.abs((d - csf) / np.maximum(bone, 1e-3) - 0.5) < 0.3
    canvas.paint("bone", in_bone)
    canvas.paint("marrow", in_bone & middle & (marrow_noise > -0.4 - 0.8 * (1.0 - base)))
    if draws["frontal_sinus"]:
        size = draws["sinus_scale"]
        canvas.ellipsoid("air", (0.0, 80.0, 0.0), np.array([15.0, 6.0, 12.0]) * size, in_bone & (d > csf + 1.5))
    below_floor = head & (d > csf + FLOOR_MM)
    _sinuses(canvas, rng, draws, below_floor, g.spacing)
    for side in (-1.0, 1.0):
        _orbit(canvas, side, draws, below_floor)
    canvas.paint("skin", head & (depth <= draws["skin_mm"]))
    canvas.paint("csf", head & (d <= csf))
    _spine_and_airway(canvas, draws, d)
    canvas.tissue[anatomy.brain > 0] = CODE["brain"]

    levels = np.array([draws["levels"][name] for name in TISSUES], np.float32)
    image = levels[canvas.tissue]
    image *= 1.0 + 0.08 * smooth_noise(rng, shape, 4.0 / g.spacing)
    marrow = canvas.tissue == CODE["marrow"]
    image[marrow] *= np.clip(1.0 + 0.35 * marrow_noise[marrow], 0.3, 1.7)
    info = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in draws.items() if k != "levels"}
    info["globe_shift_mm"] = [round(v, 3) for v in draws["globe_shift_mm"]]
    info["levels"] = {k: round(v, 3) for k, v in draws["levels"].items()}
    return HeadModel(image=image.astype(np.float32), tissue=canvas.tissue, info=info)
