"""Observation-gap flags: what a policy trained on this data would see wrongly.

Detectors (``image``, ``hands``, ``detectors``) are pure functions; ``stage.run`` writes a
session's flags; ``summary.episode_summary`` gives the per-episode verdict. Flags never
delete data: the export policy (``democap.model.ExportPolicy``) decides what they do.
"""
