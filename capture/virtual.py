"""Recording the virtual rig through the real recorder, with its ground truth beside the session.

The simulated rig is played by ``devices.sim.rig.VirtualRigSource`` into the same
``Recorder`` as real devices. Before the session is closed its exact ground truth is
added: the ``reference.pose`` stream (``T_world_imu`` on the host timeline, quaternion
columns qw,qx,qy,qz) and the manifest's ``workspace`` (table tags and their world poses)
and ``ground_truth`` (true calibration values that calibration tests check against).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from capture.recorder import Recorder
from capture.session import Session, SessionWriter, add_reference_poses
from democap.home import Home
from devices.base import Sample

log = logging.getLogger(__name__)


def record_virtual(
    home: Home,
    seconds: float = 20.0,
    seed: int = 0,
    motion: str = "pick_place",
    cameras: str = "stereo-pinhole",
    operator: str = "virtual-operator",
    realtime: bool = False,
    observer: Callable[[Sample], None] | None = None,
    recorder_hook: Callable[[Recorder], None] | None = None,
    **config: Any,
) -> Session:
    """Record ``seconds`` of the virtual rig into a new session under ``home``."""
    from devices.sim.rig import SimRig, SimRigConfig

    rig = SimRig(SimRigConfig(seconds=seconds, seed=seed, motion=motion, cameras=cameras, **config))  # type: ignore[arg-type]
    truth = rig.ground_truth()
    rec = Recorder(
        home,
        [rig.source(realtime=realtime)],
        operator=operator,
        source_info={"kind": "virtual", "seed": seed, "motion": motion, "cameras": cameras, "seconds": seconds},
        observer=observer,
        planned_s=seconds,
    )
    if recorder_hook is not None:
        recorder_hook(rec)

    def add_truth(w: SessionWriter) -> None:
        add_reference_poses(
            w,
            truth.t_host_ns,
            truth.clock.device_ns(truth.t_s),
            truth.T_world_imu,
            "T_world_imu",
            "virtual rig ground truth",
        )
        table_tag = min(truth.tags)
        w.update(
            workspace={
                "table_tag_id": int(table_tag),
                "tag_size_m": float(truth.tag_size_m),
                "tag_family": truth.tag_family,
                "tags": {str(k): np.asarray(v).tolist() for k, v in sorted(truth.tags.items())},
            },
            ground_truth={
                "camera_time_offset_ns": int(truth.camera_time_offset_ns),
                "T_imu_cam": {k: np.asarray(v).tolist() for k, v in truth.T_imu_cam.items()},
                "T_cam0_tcp": np.asarray(truth.T_cam0_tcp).tolist(),
                "clock_mapping": {
                    "device_ref_ns": truth.clock_mapping.device_ref_ns,
                    "host_ref_ns": truth.clock_mapping.host_ref_ns,
                    "drift_ppm": truth.clock_mapping.drift_ppm,
                },
            },
        )

    session = rec.run(before_close=add_truth)
    log.info("recorded %.1f s of the virtual rig as %s", seconds, session.id)
    return session
