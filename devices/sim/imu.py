"""IMU readings synthesised from a ``Motion``: gravity, biases, noise and saturation.

Noise follows the Kalibr/EuRoC continuous-time model in ``democap.model.ImuNoise``:
white noise of density sigma_c gives per-sample sigma_c / sqrt(dt); biases random-walk
with sigma_b * sqrt(dt) per step. Readings are point samples at the IMU origin, in the
IMU frame; the accelerometer reads specific force (at rest: +9.81 m/s^2 along world up).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from democap.model import ImuNoise
from devices.sim.motion import Motion

#: EuRoC's ADIS16448 densities (mav0/imu0/sensor.yaml) at 200 Hz.
EUROC_NOISE = ImuNoise(
    gyro_noise_density=1.6968e-4,
    gyro_random_walk=1.9393e-5,
    accel_noise_density=2.0e-3,
    accel_random_walk=3.0e-3,
    rate_hz=200.0,
)
#: 1-sigma of the turn-on biases drawn per seed (a consumer MEMS part after factory trim).
GYRO_BIAS_SIGMA = 0.003  # rad/s
ACCEL_BIAS_SIGMA = 0.05  # m/s^2


@dataclass(frozen=True, eq=False)
class ImuSamples:
    """Synthesised readings at true sim times t_s (N,): gyro rad/s, accel m/s^2 (N, 3), IMU frame.

    gyro_bias / accel_bias (N, 3) are the true biases inside the readings; saturated (N,)
    marks samples clipped at the sensor's range.
    """

    t_s: NDArray[np.float64]
    gyro: NDArray[np.float64]
    accel: NDArray[np.float64]
    gyro_bias: NDArray[np.float64]
    accel_bias: NDArray[np.float64]
    saturated: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.t_s)


def _random_walk(
    rng: np.random.Generator, start: NDArray[np.float64], sigma: float, dt: NDArray[np.float64]
) -> NDArray[np.float64]:
    steps = rng.standard_normal((len(dt), 3)) * (sigma * np.sqrt(dt))[:, None]
    return start + np.concatenate([np.zeros((1, 3)), np.cumsum(steps[:-1], axis=0)])


def synthesize_imu(
    motion: Motion,
    t_s: ArrayLike,
    noise: ImuNoise | None = EUROC_NOISE,
    seed: int = 0,
    gyro_bias0: ArrayLike | None = None,
    accel_bias0: ArrayLike | None = None,
) -> ImuSamples:
    """IMU readings at sim times t_s (N,), increasing.

    ``noise=None`` gives ideal readings (no bias, no noise, no saturation): integrating them
    from the true start state reproduces the motion. Otherwise turn-on biases are drawn from
    the seed unless given, then random-walk; white noise is added and readings are clipped
    to the ranges in ``noise``. Same arguments, same samples.
    """
    t = np.asarray(t_s, dtype=np.float64)
    gyro_true = motion.angular_velocity_body(t)
    accel_true = motion.specific_force_body(t)
    zeros = np.zeros((len(t), 3))
    if noise is None or len(t) == 0:
        return ImuSamples(t, gyro_true, accel_true, zeros, zeros.copy(), np.zeros(len(t), dtype=bool))
    rng = np.random.default_rng([seed, 7002])
    bg0 = rng.normal(0.0, GYRO_BIAS_SIGMA, 3) if gyro_bias0 is None else np.asarray(gyro_bias0, dtype=np.float64)
    ba0 = rng.normal(0.0, ACCEL_BIAS_SIGMA, 3) if accel_bias0 is None else np.asarray(accel_bias0, dtype=np.float64)
    dt = np.diff(t, append=t[-1] + (t[-1] - t[-2] if len(t) > 1 else 1.0 / noise.rate_hz))
    bg = _random_walk(rng, bg0, noise.gyro_random_walk, dt)
    ba = _random_walk(rng, ba0, noise.accel_random_walk, dt)
    sd = 1.0 / np.sqrt(np.where(dt > 0, dt, 1.0 / noise.rate_hz))[:, None]
    gyro = gyro_true + bg + rng.standard_normal((len(t), 3)) * noise.gyro_noise_density * sd
    accel = accel_true + ba + rng.standard_normal((len(t), 3)) * noise.accel_noise_density * sd
    saturated = np.any(np.abs(gyro) >= noise.gyro_range_rad_s, axis=1) | np.any(
        np.abs(accel) >= noise.accel_range_m_s2, axis=1
    )
    gyro = np.clip(gyro, -noise.gyro_range_rad_s, noise.gyro_range_rad_s)
    accel = np.clip(accel, -noise.accel_range_m_s2, noise.accel_range_m_s2)
    return ImuSamples(t, gyro, accel, bg, ba, saturated)
