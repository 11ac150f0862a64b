"""Dataset export: LeRobot v3 (first), robomimic HDF5, ACT HDF5, UMI zarr, each with a datasheet.

``export.run(sessions, fmt, out_dir, policy, robot=None, split=None, append=False)`` is the
one entry point; the CLI and the GUI call it.
"""

from export.pipeline import FORMATS, ExportResult, run

__all__ = ["FORMATS", "ExportResult", "run"]
