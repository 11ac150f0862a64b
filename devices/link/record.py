"""A paired rig's link as a ``RigSource`` (``capture.rig.record_from_rig`` records from it)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from democap.home import Home
from democap.model import ClockMapping
from devices.link.client import RigLink, RigLinkSource
from devices.link.clock_sync import fit_clock
from devices.link.keystore import Keystore
from devices.link.transport import open_transport

log = logging.getLogger(__name__)


def open_rig_source(home: Home, target: str, rig: str = "rig0") -> RigLinkSource:
    """A RigSource for the rig ``target`` (serial number of a paired rig, or an address)."""
    from devices.cli import resolve_address  # one resolution rule for CLI and recorder

    address = resolve_address(home, target)
    ks = Keystore(home.keystore)

    def connect() -> RigLink:
        link = RigLink(open_transport(address))
        if link.authenticated:
            info = link.hello()
            rk = ks.get(info.serial)
            if rk is None:
                from devices.link.client import RigLinkError

                raise RigLinkError(f"rig {info.serial} at {address} is not paired (democap devices pair {address})")
            link.set_key(rk.key)
        return link

    return RigLinkSource(connect, rig=rig)


def clock_mapping_from_columns(cols: dict[str, Any]) -> ClockMapping:
    """After-the-fact mapping from a session's ``<rig>.clocksync`` columns (Session.columns)."""
    ex = np.column_stack(
        [cols["t_host_send_ns"], cols["t_device_rx_ns"], cols["t_device_tx_ns"], cols["t_host_recv_ns"]]
    ).astype(np.int64)
    return fit_clock(ex)
