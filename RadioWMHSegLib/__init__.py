"""RadioWMHSeg: white-matter hyperintensity segmentation on FLAIR MRI by transfer learning.

One call does the whole job (the command line `radiowmhseg segment` is this function):

    from RadioWMHSegLib.segment import segment
    segment("flair.nii.gz", "wmh.nii.gz", stats="wmh.json")

Importing the package loads neither torch, Slicer nor Qt; each module imports what it needs.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # The MRML logic is imported lazily: it needs Slicer (or slicer-core), which plain users lack.
    if name == "RadioWMHSegLogic":
        from .slicer_logic import RadioWMHSegLogic

        return RadioWMHSegLogic
    raise AttributeError(f"module 'RadioWMHSegLib' has no attribute '{name}'")
