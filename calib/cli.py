"""``democap calib intrinsics|stereo|imu|gripper|latency|target|export|import``: thin over the calib library.

Sources are an image folder or a session (id, id prefix, ``last`` or a path). Results
print as text, or as one JSON object with ``--json``. ``--save`` folds the result into
the rig's calibration (the session's, if any) and stores it under the home folder
(``calibrations/<sha256>.json``, indexed by the catalog).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calib.targets import Target
from democap.errors import CalibrationError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm")


# ------------------------------------------------------------------ sources


def _target_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("target")
    g.add_argument("--target", choices=["chessboard", "charuco", "aprilgrid"], help="target kind")
    g.add_argument("--target-yaml", help="Kalibr target.yaml instead of the options below")
    g.add_argument("--rows", type=int, help="chessboard: inner corners per column; aprilgrid: tag rows")
    g.add_argument("--cols", type=int, help="chessboard: inner corners per row; aprilgrid: tag columns")
    g.add_argument("--square", type=float, help="chessboard/charuco square edge [m]")
    g.add_argument("--marker", type=float, help="charuco marker edge [m]")
    g.add_argument("--dictionary", default="DICT_6X6_250", help="charuco ArUco dictionary")
    g.add_argument("--tag-size", type=float, help="aprilgrid tag edge incl. its black border [m]")
    g.add_argument("--tag-spacing", type=float, default=0.3, help="aprilgrid gap / tag size")


def target_from_args(args: argparse.Namespace) -> Target:
    from calib.targets import AprilGrid, Charuco, Chessboard, load_target

    if getattr(args, "target_yaml", None):
        return load_target(args.target_yaml)
    need = {"chessboard": ("rows", "cols", "square"), "charuco": ("rows", "cols", "square", "marker"),
            "aprilgrid": ("rows", "cols", "tag_size")}  # fmt: skip
    if not args.target:
        raise CalibrationError("give --target (chessboard, charuco, aprilgrid) or --target-yaml")
    missing = [f"--{n.replace('_', '-')}" for n in need[args.target] if getattr(args, n) is None]
    if missing:
        raise CalibrationError(f"target {args.target} needs {', '.join(missing)}")
    if args.target == "chessboard":
        return Chessboard(args.rows, args.cols, args.square)
    if args.target == "charuco":
        return Charuco(args.cols, args.rows, args.square, args.marker, args.dictionary)
    return AprilGrid(args.rows, args.cols, args.tag_size, args.tag_spacing)


def _is_folder(source: str) -> bool:
    p = Path(source)
    return p.is_dir() and not (p / "manifest.json").exists()


def _session(args: argparse.Namespace, source: str):
    from capture.session import Session

    p = Path(source)
    if (p / "manifest.json").exists():
        return Session(p)
    from democap.cli import resolve_session

    return resolve_session(args.home, source)


def folder_images(folder: str | Path) -> list[tuple[str, np.ndarray]]:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CalibrationError("no images (png, jpg, ...) in the folder", folder)
    out = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise CalibrationError("cannot decode image", f)
        out.append((f.name, img))
    return out


def _images(args: argparse.Namespace, source: str, cam: str) -> Iterator[tuple[str, int, np.ndarray]]:
    """(name, t_ns, image) from a folder (t = index) or a session stream ``<rig>.<cam>``."""
    if _is_folder(source):
        for i, (name, img) in enumerate(folder_images(source)):
            yield name, i, img
        return
    from calib.sessions import frames_with_times

    session = _session(args, source)
    for t, img in frames_with_times(session, f"{args.rig}.{cam}", step=args.step):
        yield str(t), t, img


def _base_rig(args: argparse.Namespace, source: str):
    from calib.rig import empty_rig

    if not _is_folder(source):
        rig = _session(args, source).calibration(args.rig)
        if rig is not None:
            return rig
    return empty_rig(args.serial or "unknown")


def _save(args: argparse.Namespace, rig) -> dict[str, Any]:
    from capture.calibrations import store_calibration

    path = store_calibration(args.home, rig)
    return {"calibration": rig.hash, "path": str(path)}


def _emit(args: argparse.Namespace, result: dict[str, Any], lines: list[str]) -> int:
    if args.json:
        print(json.dumps(result, default=_json_default))
    else:
        print("\n".join(lines))
    return 0


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o).__name__)


# ---------------------------------------------------------------- commands


def cmd_intrinsics(args: argparse.Namespace) -> int:
    from calib.intrinsics import calibrate_intrinsics
    from calib.rig import with_camera

    target = target_from_args(args)
    names, dets, size = [], [], None
    for name, _, img in _images(args, args.source, args.camera):
        names.append(name)
        dets.append(target.detect(img))
        size = (img.shape[1], img.shape[0])
    if size is None:
        raise CalibrationError("no images", args.source)
    res = calibrate_intrinsics(dets, size, args.model, fix_aspect=args.fix_aspect, n_dist=args.dist, names=names)
    out = res.to_json()
    out["detected"] = sum(d is not None for d in dets)
    if args.plots:
        from calib.plots import plot_coverage, plot_residuals

        Path(args.plots).mkdir(parents=True, exist_ok=True)
        out["plots"] = [str(plot_residuals(res, Path(args.plots) / "residuals.png")),
                        str(plot_coverage(res, Path(args.plots) / "coverage.png"))]  # fmt: skip
    if args.save:
        out.update(_save(args, with_camera(_base_rig(args, args.source), args.camera, res.camera, rms_px=res.rms_px)))
    c = res.camera
    lines = [
        f"{c.model} {c.width}x{c.height}: fx {c.fx:.3f}  fy {c.fy:.3f}  cx {c.cx:.3f}  cy {c.cy:.3f}",
        "distortion " + " ".join(f"{v:.6g}" for v in c.distortion),
        f"RMS {res.rms_px:.3f} px over {len(res.used_views)} of {len(names)} images "
        f"(target found in {out['detected']})",
        *[f"warning: {w}" for w in res.warnings],
        *[f"plot: {p}" for p in out.get("plots", [])],
    ]
    if "calibration" in out:
        lines.append(f"saved {out['calibration']}")
    return _emit(args, out, lines)


def cmd_stereo(args: argparse.Namespace) -> int:
    from calib.intrinsics import calibrate_intrinsics
    from calib.rig import with_camera, with_stereo
    from calib.stereo import calibrate_stereo

    target = target_from_args(args)
    if args.right:  # two folders, paired by sorted order
        left = folder_images(args.source)
        right = folder_images(args.right)
        if len(left) != len(right):
            raise CalibrationError(f"{len(left)} left and {len(right)} right images; pairs must match", args.right)
        imgs_l, imgs_r = [i for _, i in left], [i for _, i in right]
    else:
        imgs_l = [i for _, _, i in _images(args, args.source, args.camera)]
        imgs_r = [i for _, _, i in _images(args, args.source, args.camera2)]
        n = min(len(imgs_l), len(imgs_r))
        imgs_l, imgs_r = imgs_l[:n], imgs_r[:n]
    dl, dr = [target.detect(i) for i in imgs_l], [target.detect(i) for i in imgs_r]
    size = (imgs_l[0].shape[1], imgs_l[0].shape[0])
    il = calibrate_intrinsics(dl, size, args.model, fix_aspect=args.fix_aspect, n_dist=args.dist)
    ir = calibrate_intrinsics(dr, (imgs_r[0].shape[1], imgs_r[0].shape[0]), args.model, fix_aspect=args.fix_aspect,
                              n_dist=args.dist)  # fmt: skip
    st = calibrate_stereo(dl, dr, il.camera, ir.camera)
    out = {"left": il.to_json(), "right": ir.to_json(), "stereo": st.to_json()}
    if args.save:
        rig = with_camera(_base_rig(args, args.source), args.camera, il.camera, rms_px=il.rms_px)
        rig = with_camera(rig, args.camera2, ir.camera, rms_px=ir.rms_px)
        out.update(_save(args, with_stereo(rig, args.camera, args.camera2, st.T_right_left)))
    t = st.T_right_left[:3, 3]
    lines = [
        f"left  fx {il.camera.fx:.2f} fy {il.camera.fy:.2f} RMS {il.rms_px:.3f} px",
        f"right fx {ir.camera.fx:.2f} fy {ir.camera.fy:.2f} RMS {ir.rms_px:.3f} px",
        f"T_right_left t = ({t[0]:.4f}, {t[1]:.4f}, {t[2]:.4f}) m, baseline {st.baseline_m:.4f} m",
        f"stereo RMS {st.rms_px:.3f} px, rectified epipolar error RMS {st.epipolar_rms_px:.3f} px "
        f"(max {st.epipolar_max_px:.2f}) over {st.n_pairs} pairs",
    ]
    return _emit(args, out, lines)


def cmd_imu(args: argparse.Namespace) -> int:
    from calib.camera_imu import calibrate_camera_imu
    from calib.rig import with_camera
    from calib.sessions import camera_of, imu_samples, track_session_target, workspace_target

    session = _session(args, args.source)
    target: Target = target_from_args(args) if (args.target or args.target_yaml) else workspace_target(session)
    camera = camera_of(session, args.rig, args.camera, None)
    track = track_session_target(session, target, args.rig, args.camera, camera, device_time=not args.host_time,
                                 fast=True)  # fmt: skip
    t_imu, gyro, accel = imu_samples(session, args.rig, device_time=not args.host_time)
    gravity = np.array([0.0, 0.0, -9.81]) if (args.level_target or target.kind == "tagmap") else None
    res = calibrate_camera_imu(track.t_ns, track.T_target_cam, t_imu, gyro, accel, gravity_target=gravity,
                               anchor_cam=track.anchor_cam)  # fmt: skip
    out = res.to_json()
    out["frames_with_target"] = len(track.t_ns)
    if args.save:
        rig = with_camera(_base_rig(args, args.source), args.camera, camera, T_imu_cam=res.T_imu_cam,
                          time_offset_ns=res.time_offset_ns)  # fmt: skip
        out.update(_save(args, rig))
    t = res.T_imu_cam[:3, 3]
    from democap import geometry

    rv = np.degrees(geometry.so3_log(res.T_imu_cam[:3, :3]))
    s = res.sigma_translation_m * 1e3
    lines = [
        f"target seen in {len(track.t_ns)} of {track.n_frames} frames",
        f"time offset {res.time_offset_ns * 1e-6:.3f} ms (1-sigma {res.sigma_offset_ms:.3f} ms; "
        "t_imu = t_cam + offset)",
        f"R_imu_cam rotation vector ({rv[0]:.3f}, {rv[1]:.3f}, {rv[2]:.3f}) deg (1-sigma {res.sigma_rotation_deg:.3f})",
        f"t_imu_cam ({t[0] * 1e3:.1f}, {t[1] * 1e3:.1f}, {t[2] * 1e3:.1f}) mm "
        f"(1-sigma {s[0]:.1f}, {s[1]:.1f}, {s[2]:.1f})",
        f"gyro residual RMS {res.rms_gyro_rad_s:.4f} rad/s, accel residual RMS {res.rms_accel_m_s2:.3f} m/s^2",
    ]
    return _emit(args, out, lines)


def cmd_gripper(args: argparse.Namespace) -> int:
    from calib.gripper import (
        FingerMarkers,
        calibrate_width_from_encoder,
        calibrate_width_from_fiducials,
        observe_clip,
        tcp_from_fingers,
    )
    from calib.rig import with_gripper
    from calib.sessions import camera_of, frames_with_times

    session = _session(args, args.source)
    out: dict[str, Any] = {}
    T_cam_tcp = None
    if args.encoder:
        raw = session.columns(f"{args.rig}.gripper")["raw"]
        g = calibrate_width_from_encoder(raw, args.min_width, args.max_width)
    else:
        markers = FingerMarkers(args.marker_dictionary, args.left_id, args.right_id, args.marker_size,
                                (0.0, args.tip_offset, 0.0))  # fmt: skip
        camera = camera_of(session, args.rig, args.camera, None)
        obs = observe_clip(frames_with_times(session, f"{args.rig}.{args.camera}", args.step), camera, markers)
        g = calibrate_width_from_fiducials(obs, args.min_width, args.max_width)
        T_cam_tcp, spread = tcp_from_fingers(obs, markers)
        out.update(T_cam_tcp=T_cam_tcp, tcp_spread_mm=spread * 1e3, frames=len(obs),
                   frames_both_fingers=sum(o.complete for o in obs))  # fmt: skip
    out.update(source=g.source, scale=g.scale, offset_m=g.offset_m, min_width_m=g.min_width_m,
               max_width_m=g.max_width_m)  # fmt: skip
    if args.save:
        out.update(_save(args, with_gripper(_base_rig(args, args.source), g, T_cam_tcp)))
    lines = [f"width_m = {g.scale:.6g} * {'raw' if args.encoder else 'marker distance'} + {g.offset_m:.6g}"]
    if T_cam_tcp is not None:
        t = T_cam_tcp[:3, 3] * 1e3
        lines.append(f"TCP in {args.camera}: ({t[0]:.1f}, {t[1]:.1f}, {t[2]:.1f}) mm, "
                     f"spread {out['tcp_spread_mm']:.2f} mm")  # fmt: skip
    return _emit(args, out, lines)


def cmd_latency(args: argparse.Namespace) -> int:
    from calib.latency import measure_latency, run_display
    from calib.rig import with_latency

    if args.show:
        run_display(args.seconds)
        return 0
    if not args.source:
        raise CalibrationError("give a session (or --show to display the clock code)")
    session = _session(args, args.source)
    stream = f"{args.rig}.{args.camera}"
    t = session.columns(stream)["t_host_ns"]
    frames = ((int(t[k]), img) for k, img in session.frames(stream, step=args.step))
    res = measure_latency(frames, display_hz=args.display_hz)
    out = res.to_json()
    if args.save:
        out.update(_save(args, with_latency(_base_rig(args, args.source), args.camera, res.latency_ns)))
    lines = [f"{stream}: latency {res.latency_ns * 1e-6:.2f} ms (1-sigma {res.sigma_ns * 1e-6:.2f} ms, "
             f"frame spread {res.spread_ns * 1e-6:.2f} ms) from {res.n_decoded} of {res.n_frames} frames"]  # fmt: skip
    if res.warning:
        lines.append(f"warning: {res.warning}")
    return _emit(args, out, lines)


def cmd_handeye(args: argparse.Namespace) -> int:
    from calib.hand_eye import calibrate_hand_eye, held_out_errors
    from calib.intrinsics import calibrate_intrinsics, solve_pnp
    from democap import geometry
    from democap.formats.euroc import read_camera_folder, read_pose_csv

    root = Path(args.source)
    if not root.is_dir():
        raise CalibrationError("expected an ASL folder (<camera>/data.csv, <body>/data.csv)", root)
    target = target_from_args(args)
    cam_folder = read_camera_folder(root / args.camera)
    body = read_pose_csv(root / args.body / "data.csv")
    board_csv = root / args.board / "data.csv"
    board = read_pose_csv(board_csv) if board_csv.exists() else None
    dets, size = [], None
    for f in cam_folder.files:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise CalibrationError("cannot decode image", f)
        dets.append(target.detect(img))
        size = (img.shape[1], img.shape[0])
    if size is None:
        raise CalibrationError("data.csv lists no images", root / args.camera)
    intr = calibrate_intrinsics(dets, size, args.model, fix_aspect=args.fix_aspect, n_dist=args.dist)
    t = cam_folder.t_ns
    inside = (t >= body.t_ns[0]) & (t <= body.t_ns[-1])
    if board is not None:
        inside &= (t >= board.t_ns[0]) & (t <= board.t_ns[-1])
    ok = [i for i, d in enumerate(dets) if d is not None and inside[i]]
    seen = [d for d in (dets[i] for i in ok) if d is not None]
    if len(ok) < 3:
        raise CalibrationError(f"only {len(ok)} images show the target within the motion-capture time span", root)

    def poses(gt: Any) -> np.ndarray:
        T = geometry.se3(geometry.quat_wxyz_to_matrix(gt.q_world_body_wxyz), gt.p_world_body)
        return geometry.interpolate_poses(gt.t_ns, T, t[ok])

    T_world_body = poses(body)
    T_world_board = poses(board) if board is not None else np.repeat(np.eye(4)[None], len(ok), axis=0)
    T_cam_grid = np.array([solve_pnp(intr.camera, d)[1] for d in seen])
    fit_args = (T_world_body, T_world_board, T_cam_grid, seen, intr.camera)
    refine = not args.fixed_intrinsics
    res = calibrate_hand_eye(*fit_args, refine_intrinsics=refine)
    trans, rot = held_out_errors(*fit_args, refine_intrinsics=refine)
    out = res.to_json()
    out.update(held_out_median_trans_err_mm=float(np.median(trans) * 1e3),
               held_out_median_rot_err_deg=float(np.median(rot)), self_calibration_rms_px=intr.rms_px)  # fmt: skip
    if args.save:
        from calib.rig import with_camera

        cam = res.camera or intr.camera
        out.update(_save(args, with_camera(_base_rig(args, args.source), args.camera, cam, rms_px=res.rms_px)))
    t_bc = res.T_body_cam[:3, 3] * 1e3
    lines = [
        f"T_{args.body}_{args.camera}: t = ({t_bc[0]:.1f}, {t_bc[1]:.1f}, {t_bc[2]:.1f}) mm, "
        f"rotation {np.degrees(geometry.rotation_angle(res.T_body_cam[:3, :3])):.2f} deg from identity",
        f"mocap-predicted vs PnP board poses over {len(ok)} images: median {out['median_trans_err_mm']:.2f} mm / "
        f"{out['median_rot_err_deg']:.3f} deg; on held-out images {out['held_out_median_trans_err_mm']:.2f} mm / "
        f"{out['held_out_median_rot_err_deg']:.3f} deg",
        f"corners through the mocap chain: RMS {res.rms_px:.3f} px"
        + (" (intrinsics refined through the chain)" if refine else ""),
    ]
    if "calibration" in out:
        lines.append(f"saved {out['calibration']}")
    return _emit(args, out, lines)


def cmd_target(args: argparse.Namespace) -> int:
    from calib.targets import save_target, write_printable

    target = target_from_args(args)
    path = write_printable(target, args.output, dpi=args.dpi, margin_m=args.margin)
    out: dict[str, Any] = {"output": str(path), "target": target.to_dict()}
    if args.yaml:
        save_target(args.yaml, target)
        out["yaml"] = args.yaml
    return _emit(args, out, [f"wrote {path} (print at 100 % scale)"] + ([f"wrote {args.yaml}"] if args.yaml else []))


def cmd_export(args: argparse.Namespace) -> int:
    from capture.calibrations import load_calibration
    from democap.formats import kalibr, opencv_yaml

    rig = load_calibration(args.home, args.hash)
    if args.format == "kalibr":
        kalibr.write_kalibr_camchain(args.output, rig)
        if rig.imu is not None and args.imu_yaml:
            kalibr.write_kalibr_imu_yaml(args.imu_yaml, rig.imu)
    else:
        opencv_yaml.write_opencv_rig(args.output, rig)
    return _emit(args, {"output": args.output, "calibration": rig.hash}, [f"wrote {args.output}"])


def cmd_import(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from democap.formats import kalibr, opencv_yaml

    if args.format == "kalibr":
        imu = kalibr.read_kalibr_imu_yaml(args.imu_yaml) if args.imu_yaml else None
        rig = kalibr.rig_from_camchain(kalibr.read_kalibr_camchain(args.file), args.serial or "unknown", imu)
    else:
        rig = opencv_yaml.read_opencv_rig(args.file)
        if args.serial:
            rig = replace(rig, rig_serial=args.serial)
    out = _save(args, rig)
    return _emit(args, out, [f"stored {out['calibration']} ({len(rig.cameras)} cameras) at {out['path']}"])


# ------------------------------------------------------------------ parser


def add_commands(sub: Any) -> None:
    calib = sub.add_parser("calib", help="calibrate cameras, camera-IMU, gripper and latency")
    cs = calib.add_subparsers(dest="calib_command", metavar="COMMAND")

    def common(p: argparse.ArgumentParser, source_help: str = "image folder or session (id, prefix, last, path)"
               ) -> None:  # fmt: skip
        p.add_argument("source", nargs="?" if p.prog.endswith("latency") else None, help=source_help)
        p.add_argument("--rig", default="rig0")
        p.add_argument("--camera", default="cam0")
        p.add_argument("--step", type=int, default=1, help="use every n-th frame of a session")
        p.add_argument("--serial", help="rig serial for a calibration made from an image folder")
        p.add_argument("--save", action="store_true", help="store the result as a rig calibration in the home folder")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    def model(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default="pinhole-radtan", choices=["pinhole-radtan", "fisheye-equidistant"])
        p.add_argument("--fix-aspect", action="store_true", help="fx = fy")
        p.add_argument("--dist", type=int, default=5, choices=[4, 5], help="radtan coefficients (k3 or not)")

    p = cs.add_parser("intrinsics", help="camera intrinsics from target images")
    common(p)
    _target_args(p)
    model(p)
    p.add_argument("--plots", help="folder for residuals.png and coverage.png")
    p.set_defaults(func=cmd_intrinsics)

    p = cs.add_parser("stereo", help="intrinsics of both cameras and their extrinsic")
    common(p, "left image folder, or a session")
    p.add_argument("right", nargs="?", help="right image folder (images paired by sorted name)")
    p.add_argument("--camera2", default="cam1")
    _target_args(p)
    model(p)
    p.set_defaults(func=cmd_stereo)

    p = cs.add_parser("imu", help="camera-IMU rotation, time offset and lever arm from a session")
    common(p, "session with a static target (default: its workspace tags)")
    _target_args(p)
    p.add_argument("--level-target", action="store_true", help="the target lies level, z up: gravity is known")
    p.add_argument("--host-time", action="store_true", help="use host arrival stamps, not the rig's")
    p.set_defaults(func=cmd_imu)

    p = cs.add_parser("gripper", help="finger width line (and TCP) from a min/max clip")
    common(p, "session holding the clip (close fully, open fully)")
    p.add_argument("--min-width", type=float, default=0.0, help="fully closed width [m]")
    p.add_argument("--max-width", type=float, required=True, help="fully open width [m]")
    p.add_argument("--encoder", action="store_true", help="use the <rig>.gripper raw channel, not fiducials")
    p.add_argument("--marker-dictionary", default="DICT_4X4_50")
    p.add_argument("--left-id", type=int, default=0)
    p.add_argument("--right-id", type=int, default=1)
    p.add_argument("--marker-size", type=float, default=0.016, help="finger marker edge [m]")
    p.add_argument("--tip-offset", type=float, default=0.028, help="marker centre to fingertip along the marker y [m]")
    p.set_defaults(func=cmd_gripper)

    p = cs.add_parser("latency", help="camera-to-host latency from filming the clock code")
    common(p, "session that films the clock code")
    p.add_argument("--display-hz", type=float, default=60.0, help="refresh rate of the display that showed the code")
    p.add_argument("--show", action="store_true", help="show the clock code on this screen")
    p.add_argument("--seconds", type=float, default=30.0)
    p.set_defaults(func=cmd_latency)

    p = cs.add_parser("handeye", help="camera on a tracked body (motion capture) from an ASL folder")
    common(p, "ASL folder: <camera>/data.csv + data/, <body>/data.csv, optional <board>/data.csv")
    _target_args(p)
    model(p)
    p.add_argument("--body", default="body0", help="pose CSV folder of the camera's tracked body")
    p.add_argument("--board", default="target0", help="pose CSV folder of the target (absent: the target is the world)")
    p.add_argument(
        "--fixed-intrinsics",
        action="store_true",
        help="keep the self-calibrated intrinsics; default: refine them through the mocap chain",
    )
    p.set_defaults(func=cmd_handeye)

    p = cs.add_parser("target", help="write a printable target (PDF or PNG at true scale)")
    p.add_argument("output", help="file.pdf or file.png")
    _target_args(p)
    p.add_argument("--dpi", type=float, default=300.0)
    p.add_argument("--margin", type=float, default=0.01, help="white margin [m]")
    p.add_argument("--yaml", help="also write the Kalibr target.yaml here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_target)

    p = cs.add_parser("export", help="write a stored calibration as Kalibr camchain or OpenCV YAML")
    p.add_argument("hash", help="calibration hash (or unique prefix)")
    p.add_argument("--format", choices=["kalibr", "opencv"], default="kalibr")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--imu-yaml", help="kalibr: also write imu.yaml here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

    p = cs.add_parser("import", help="store a Kalibr camchain or OpenCV YAML as a rig calibration")
    p.add_argument("file")
    p.add_argument("--format", choices=["kalibr", "opencv"], default="kalibr")
    p.add_argument("--imu-yaml", help="kalibr imu.yaml with the noise densities")
    p.add_argument("--serial", help="rig serial")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)

    calib.set_defaults(func=lambda args: calib.print_help() or 2)
