"""democap core: the shared data model, file formats, home folder and CLI.

The modules ``model``, ``geometry``, ``timebase``, ``errors``, ``home``, ``progress``
and ``formats`` are the bottom layer that every stage imports. ``pipeline`` and
``cli`` sit on top of all stages.
"""

__version__ = "0.1.0"
