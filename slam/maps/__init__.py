"""Maps of a workspace that later sessions relocalise in (issue 6, point 5).

A map is built once from a session whose trajectory stage has run: keyframes with their
poses ``T_world_cam`` in the map's world (the table tag's frame when the building session
saw one), ORB features, and 3-D landmarks triangulated with those known poses. Other
sessions relocalise against it frame by frame (descriptor matching + PnP RANSAC on
normalised, fisheye-aware bearings), which ties their world to the map's and joins
trajectory pieces after a tracking loss.

Modules: ``store`` (the one reader/writer of ``<home>/maps/<name>/``), ``features`` (ORB on
the raw image, bearings through ``CameraModel.unproject``), ``build``, ``relocalise``,
``join`` (relocalised frames -> world of a trajectory and its pieces), ``check``
(``democap map check``: coverage of the workspace). The format is described in docs/maps.md.
"""

from slam.maps.store import FORMAT_VERSION, Map, MapError, list_maps, load_map, map_dir, save_map

__all__ = ["FORMAT_VERSION", "Map", "MapError", "list_maps", "load_map", "map_dir", "save_map"]
