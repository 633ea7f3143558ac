"""The segmentation choices as one object, turned into `segment_image()` arguments or `radiowmhseg segment` options.

The Slicer panel builds one `SegmentOptions` from its parameters and hands it either to the
in-process path (`RadioWMHSegLogic.segment`) or to the background job (`background_job.segment_job`),
so the two paths cannot drift apart. The choices and defaults come from choices.py, as the command
line's do: a skull-strip method added there appears in the panel without further change. Importing
this module loads neither torch nor any package that 3D Slicer lacks.
"""

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

from .choices import (DEFAULT_MIN_LESION_MM3, DEFAULT_SEGMENT_PRECISION, DEFAULT_SKULL_STRIP_METHOD,  # noqa: F401
                      DEFAULT_THRESHOLD, DEFAULT_TTA, DEVICE_CHOICES, MAX_MIN_LESION_MM3, PRECISIONS, SKULL_STRIP_METHODS)
from .errors import InputError


@dataclass(frozen=True)
class SegmentOptions:
    skull_stripped: bool = False  # the input holds the brain only: no skull stripping
    skull_strip_method: str = DEFAULT_SKULL_STRIP_METHOD  # one of SKULL_STRIP_METHODS
    device: str = "auto"  # one of DEVICE_CHOICES
    threshold: float = DEFAULT_THRESHOLD  # probability above which a voxel is WMH
    min_lesion_mm3: float = DEFAULT_MIN_LESION_MM3  # smaller connected lesions are dropped
    tta: bool = DEFAULT_TTA  # test-time flips (4 passes: slower, fewer false specks)
    precision: str = DEFAULT_SEGMENT_PRECISION  # network arithmetic, one of PRECISIONS ('auto': bf16 where this machine is faster in it)
    model: Optional[Any] = None  # None: the bundled model; a model folder; in process also a model_io.LoadedModel
    probability: bool = False  # also give the probability map
    uncertainty: bool = False  # also give the flip uncertainty map and score (predicts with the TTA flips)

    def __post_init__(self):
        if self.skull_strip_method not in SKULL_STRIP_METHODS:
            raise InputError(f"unknown skull-strip method '{self.skull_strip_method}': "
                             f"choose one of {', '.join(SKULL_STRIP_METHODS)}")
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision '{self.precision}': choose one of {', '.join(PRECISIONS)}")
        if self.device not in DEVICE_CHOICES:
            raise InputError(f"unknown device '{self.device}': choose one of {', '.join(DEVICE_CHOICES)}")
        if not 0.0 < float(self.threshold) < 1.0:
            raise InputError(f"threshold {self.threshold} is outside (0, 1): give a probability such as 0.5")
        if not 0.0 <= float(self.min_lesion_mm3) <= MAX_MIN_LESION_MM3:
            raise InputError(f"minimum lesion size {self.min_lesion_mm3} mm3 is outside 0..{MAX_MIN_LESION_MM3:g}: "
                             "give a size in mm3 such as 3")

    def segment_image_arguments(self) -> dict:
        """Keyword arguments of segment.segment_image (everything but the image, progress and cancel)."""
        return {"skull_stripped": bool(self.skull_stripped), "skull_strip_method": self.skull_strip_method,
                "device": self.device, "threshold": float(self.threshold),
                "min_lesion_mm3": float(self.min_lesion_mm3), "tta": bool(self.tta), "precision": self.precision,
                "model": self.model}

    def command_arguments(self) -> list:
        """Options of `radiowmhseg segment` that ask for the same segmentation (outputs not included)."""
        arguments = ["--skull-strip-method", self.skull_strip_method, "--device", self.device,
                     "--threshold", repr(float(self.threshold)), "--min-lesion-mm3", repr(float(self.min_lesion_mm3)),
                     "--precision", self.precision]
        if self.skull_stripped:
            arguments.append("--skull-stripped")
        arguments.append("--tta" if self.tta else "--no-tta")  # said either way: the default may change
        if self.model is not None:
            arguments += ["--model", str(self.model_folder())]
        return arguments

    def model_folder(self) -> Optional[Path]:
        """The model as a folder (None: the bundled model); a model held only in memory cannot leave the process."""
        if self.model is None or isinstance(self.model, (str, Path)):
            return None if self.model is None else Path(self.model)
        path = getattr(self.model, "path", None)
        if path is None:
            raise InputError("the model is held in memory only and cannot be given to a background job: "
                             "save it with model_io.save_model and pass its folder")
        return Path(path)

    def record(self) -> dict:
        """The options as JSON-ready values (the model as its folder, or 'in memory'), to keep with a result."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        path = self.model if isinstance(self.model, (str, Path)) else getattr(self.model, "path", None)
        values["model"] = None if self.model is None else (str(path) if path is not None else "in memory")
        return values
