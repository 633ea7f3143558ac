"""The device has no SimpleITK: datasets and templates import it at module level, and training from caches and
exporting weights never call it. Importing this module puts a stand-in in its place that fails loudly if used."""
import sys
import types

try:
    import SimpleITK  # noqa: F401
except ImportError:  # imported at module level by datasets/templates; never called when training from caches
    stub = types.ModuleType("SimpleITK")

    def _missing(name):  # a class, so annotations such as sitk.Image still evaluate; using it fails loudly
        if name.startswith("_"):
            raise AttributeError(name)

        def refuse(*args, **kwargs):
            raise RuntimeError(f"SimpleITK.{name} is not on this machine")

        return type(name, (), {"__init__": refuse, "__new__": lambda cls, *a, **k: refuse()})

    stub.__getattr__ = _missing
    sys.modules["SimpleITK"] = stub
