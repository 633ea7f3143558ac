"""Errors that the command line and the Slicer module turn into one clear line for the user.

Every message says what is wrong and what to do about it; code that raises these never
leaves partial output behind.
"""


class RadioWMHSegError(Exception):
    """Base class: anything a user can fix by changing their input or options."""


class InputError(RadioWMHSegError):
    """The image, label or folder a user gave cannot be used as it is."""


class ModelError(RadioWMHSegError):
    """A model file or its card is missing, corrupt or does not match the code."""


class DatasetError(RadioWMHSegError):
    """A training dataset folder is malformed (layout, dataset.json, geometry)."""


class CancelledError(RadioWMHSegError):
    """The user asked a running job to stop."""
