"""Devices screen: discovered rigs, pairing with code confirmation, live status, firmware update.

Every action calls the same ``devices.link`` functions as the command line (discovery,
``pair``, ``update_firmware``, ``RigLinkSource`` for status) in a background job.
With no hardware, "Start virtual rig" runs the virtual firmware process and lists it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from democap.home import Home
from devices import base
from devices.link.discovery import FoundRig, browse_network_rigs, find_serial_rigs
from devices.link.keystore import Keystore
from gui import theme
from gui.indicators import Metric, StatusLight, header
from gui.workers import Jobs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RigStatus:
    """What a short listen to a rig tells: battery, link quality, clock-sync error, firmware."""

    serial: str
    firmware: str
    battery_pct: int | None
    link_quality: float  # share of frames received of those sent (sequence numbers)
    clock_error_us: float | None  # 1-sigma of the live clock mapping
    samples: int


def firmware_keys_folder(home: Home) -> Path:
    """Trusted vendor keys (``*.pub``) for firmware updates, per home folder."""
    return home.root / "firmware-keys"


def connect_to(address: str, home: Home) -> Callable[[], object]:
    """A function opening a fresh ``RigLink`` to ``address`` with the rig's pairing key when paired."""
    from devices.link.client import RigLink
    from devices.link.transport import open_transport

    def connect() -> RigLink:
        link = RigLink(open_transport(address))
        if address.startswith("udp:"):
            with contextlib.suppress(Exception):
                for k in Keystore(home.keystore).rigs():
                    if k.address == address:
                        link.set_key(k.key)
        return link

    return connect


def probe_status(address: str, home: Home, seconds: float = 1.5) -> RigStatus:
    """Listen to the rig for ``seconds`` through the recorder's own source (``RigLinkSource``)."""
    from devices.link.client import RigLinkSource

    src = RigLinkSource(connect_to(address, home), rig="probe")  # type: ignore[arg-type]
    desc = src.describe()
    battery: int | None = None
    n = 0
    t_end = time.monotonic() + seconds
    try:
        for s in src.samples():
            n += 1
            if isinstance(s, base.RigEvent) and s.kind == "status":
                m = re.search(r"battery_pct=(\d+)", s.value)
                if m:
                    battery = int(m.group(1))
            if time.monotonic() > t_end:
                src.stop()
    finally:
        if src.link is not None:
            src.link.close()
    stats = src.link.stats if src.link is not None else None
    quality = 1.0
    if stats is not None and stats.frames + stats.lost > 0:
        quality = stats.frames / (stats.frames + stats.lost)
    mapping = src.clock.mapping()
    clock_us = mapping.uncertainty_ns / 1e3 if mapping is not None else None
    return RigStatus(desc.info.serial, desc.info.firmware, battery, quality, clock_us, n)


class _CodeAsker(QObject):
    """Carries a pairing code from the worker to the UI thread and the answer back."""

    ask = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self.answer = False
        self.answered = threading.Event()


class DevicesPanel(QWidget):
    COLUMNS = ("Rig", "Address", "Hardware", "Firmware", "Paired", "Battery", "Link", "Clock sync")

    def __init__(self, home: Home, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.jobs = jobs
        self.rigs: list[FoundRig] = []
        self.status: dict[str, RigStatus] = {}
        self.virtual_rigs: list[object] = []  # VirtualRigProcess, stopped on close
        #: Called (in a worker thread) with the 6-digit code; None asks the user in a dialog.
        self.confirm_code: Callable[[str], bool] | None = None
        self._asker = _CodeAsker()
        self._asker.ask.connect(self._ask_code, Qt.ConnectionType.QueuedConnection)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.setSpacing(12)
        lay.addWidget(
            header("Devices", "Rigs found on USB and the network. Pair a rig once; its key stays in this home folder.")
        )
        bar = QHBoxLayout()
        self.scan_btn = QPushButton("Scan")
        self.virtual_btn = QPushButton("Start virtual rig")
        self.pair_btn = QPushButton("Pair…")
        self.pair_btn.setObjectName("primary")
        self.status_btn = QPushButton("Refresh status")
        self.update_btn = QPushButton("Update firmware…")
        for b in (self.scan_btn, self.virtual_btn, self.pair_btn, self.status_btn, self.update_btn):
            bar.addWidget(b)
        bar.addStretch(1)
        lay.addLayout(bar)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.table, 1)
        detail = QGroupBox("Selected rig")
        dl = QHBoxLayout(detail)
        self.m_battery = Metric("Battery")
        self.m_link = Metric("Link quality")
        self.m_clock = Metric("Clock-sync error (1σ)")
        self.m_firmware = Metric("Firmware")
        for m in (self.m_battery, self.m_link, self.m_clock, self.m_firmware):
            dl.addWidget(m)
        lay.addWidget(detail)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        self.message = StatusLight("No scan yet. Press Scan, or Start virtual rig to try democap without hardware.")
        lay.addWidget(self.message)

        self.scan_btn.clicked.connect(self.scan)
        self.virtual_btn.clicked.connect(self.start_virtual_rig)
        self.pair_btn.clicked.connect(lambda: self.pair_selected())
        self.status_btn.clicked.connect(lambda: self.refresh_status())
        self.update_btn.clicked.connect(lambda: self.update_selected())
        self.table.itemSelectionChanged.connect(self._show_selected)

    # ----------------------------------------------------------------- model
    def selected(self) -> FoundRig | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows and len(self.rigs) == 1:
            return self.rigs[0]
        return self.rigs[rows[0].row()] if rows else None

    def set_rigs(self, rigs: list[FoundRig]) -> None:
        known = {r.address: r for r in self.rigs}
        for r in rigs:
            known[r.address] = r
        self.rigs = list(known.values())
        self._fill()

    def _fill(self) -> None:
        paired = {k.serial for k in self._keys()}
        self.table.setRowCount(len(self.rigs))
        for i, r in enumerate(self.rigs):
            st = self.status.get(r.address)
            battery = f"{st.battery_pct} %" if st and st.battery_pct is not None else "–"
            link = f"{st.link_quality:.0%}" if st else "–"
            clock = f"±{st.clock_error_us:.0f} µs" if st and st.clock_error_us is not None else "–"
            cells = (
                r.serial or "?",
                r.address,
                r.hw_rev or "–",
                (st.firmware if st else r.firmware) or "–",
                "yes" if r.serial in paired else "no",
                battery,
                link,
                clock,
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 4:
                    item.setForeground(theme_colour("ok" if text == "yes" else "pending"))
                if j == 5 and st and st.battery_pct is not None:
                    item.setForeground(
                        theme_colour("ok" if st.battery_pct > 30 else "warn" if st.battery_pct > 10 else "error")
                    )
                if j == 6 and st:
                    item.setForeground(
                        theme_colour("ok" if st.link_quality > 0.98 else "warn" if st.link_quality > 0.9 else "error")
                    )
                self.table.setItem(i, j, item)
        if self.rigs and not self.table.selectionModel().selectedRows():
            self.table.selectRow(0)
        self._show_selected()

    def _show_selected(self) -> None:
        r = self.selected()
        st = self.status.get(r.address) if r else None
        if st is None:
            for m in (self.m_battery, self.m_link, self.m_clock):
                m.set("–")
            self.m_firmware.set(r.firmware if r and r.firmware else "–")
            return
        if st.battery_pct is None:
            self.m_battery.set("–")
        else:
            self.m_battery.set(
                f"{st.battery_pct} %", "ok" if st.battery_pct > 30 else "warn" if st.battery_pct > 10 else "error"
            )
        self.m_link.set(
            f"{st.link_quality:.1%}", "ok" if st.link_quality > 0.98 else "warn" if st.link_quality > 0.9 else "error"
        )
        if st.clock_error_us is None:
            self.m_clock.set("–")
        else:
            self.m_clock.set(f"{st.clock_error_us:.0f} µs", "ok" if st.clock_error_us < 500 else "warn")
        self.m_firmware.set(st.firmware)

    def _keys(self) -> list:
        try:
            return Keystore(self.home.keystore).rigs()
        except Exception as e:  # noqa: BLE001 - an unreadable keystore shows as "not paired" plus a message
            self.message.set("error", str(e))
            return []

    def _busy(self, text: str) -> None:
        self.message.set("info", text)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)

    def _idle(self, status: str, text: str) -> None:
        self.progress.setVisible(False)
        self.message.set(status, text)

    # --------------------------------------------------------------- actions
    def scan(self) -> None:
        def work() -> list[FoundRig]:
            found = find_serial_rigs()
            try:
                found += browse_network_rigs(timeout=1.5)
            except Exception as e:  # noqa: BLE001 - no network / mDNS blocked: USB results still count
                log.info("mDNS browse failed: %s", e)
            return found

        def done(found: list[FoundRig]) -> None:
            self.set_rigs(found)
            self._idle(
                "ok" if self.rigs else "idle",
                f"{len(self.rigs)} rig(s) found."
                if self.rigs
                else "No rig found. Plug a rig in by USB, or Start virtual rig.",
            )

        self._busy("Scanning USB and the network…")
        self.jobs.start(work, done, self._failed)

    def start_virtual_rig(self, *extra: str) -> None:
        from devices.link.virtual_firmware import spawn

        def work() -> FoundRig:
            state = self.home.root / "virtual-rig"
            args = ["--pty", "--state-dir", str(state), "--episode-every", "8"]
            for k in sorted(firmware_keys_folder(self.home).glob("*.pub")):
                args += ["--trusted-key", k.read_text().strip()]
            proc = spawn(*args, *extra)
            self.virtual_rigs.append(proc)
            from devices.link.discovery import probe_serial

            info = probe_serial(proc.port, timeout=3.0)
            return FoundRig(proc.address, info.serial, info.hw_rev, info.fw_version_str, "virtual")

        def done(rig: FoundRig) -> None:
            self.set_rigs([rig])
            self._idle("ok", f"Virtual rig {rig.serial} is running at {rig.address}. Pair it, then record.")

        self._busy("Starting the virtual rig…")
        self.jobs.start(work, done, self._failed)

    def pair_selected(self, on_done: Callable[[str], None] | None = None) -> None:
        rig = self.selected()
        if rig is None:
            self.message.set("warn", "Select a rig to pair with (Scan first).")
            return
        from devices.link.client import pair

        def work() -> str:
            link = connect_to(rig.address, self.home)()
            try:
                return pair(link, Keystore(self.home.keystore), self._confirm, address=rig.address)  # type: ignore[arg-type]
            finally:
                link.close()  # type: ignore[attr-defined]

        def done(serial: str) -> None:
            self._index_pairing()
            self._fill()
            self._idle("ok", f"Paired with {serial}.")
            if on_done:
                on_done(serial)

        self._busy(f"Pairing with {rig.serial}… compare the code on the rig's display.")
        self.jobs.start(work, done, self._failed)

    def _confirm(self, code: str) -> bool:
        if self.confirm_code is not None:
            return self.confirm_code(code)
        self._asker.answered.clear()
        self._asker.ask.emit(code, self.selected().serial if self.selected() else "")  # type: ignore[union-attr]
        self._asker.answered.wait(120)
        return self._asker.answer

    def _ask_code(self, code: str, serial: str) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Confirm pairing")
        box.setText(
            f"<p>Does <b>{serial or 'the rig'}</b> show this code?</p>"
            f"<p style='font-size:24pt; letter-spacing:6px'><b>{code[:3]} {code[3:]}</b></p>"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        self._asker.answer = box.exec() == QMessageBox.StandardButton.Yes
        self._asker.answered.set()

    def _index_pairing(self) -> None:
        from capture.catalog import Catalog

        with contextlib.suppress(Exception):
            cat = Catalog(self.home)
            for k in Keystore(self.home.keystore).rigs():
                rec = k.record()
                cat.index_device_pairing(rec.serial, int(rec.paired_at * 1e9), rec.fingerprint)
            cat.close()

    def refresh_status(self, on_done: Callable[[], None] | None = None) -> None:
        rigs = list(self.rigs)
        if not rigs:
            self.message.set("warn", "No rig to ask: Scan or Start virtual rig first.")
            return

        def work() -> dict[str, RigStatus]:
            out = {}
            for r in rigs:
                try:
                    out[r.address] = probe_status(r.address, self.home)
                except Exception as e:  # noqa: BLE001 - one silent rig must not hide the others
                    log.warning("status of %s: %s", r.address, e)
            return out

        def done(st: dict[str, RigStatus]) -> None:
            self.status.update(st)
            self._fill()
            self._idle("ok" if len(st) == len(rigs) else "warn", f"Status of {len(st)} of {len(rigs)} rig(s) updated.")
            if on_done:
                on_done()

        self._busy("Listening to the rigs…")
        self.jobs.start(work, done, self._failed)

    def update_selected(self, package: Path | None = None, on_done: Callable[[str], None] | None = None) -> None:
        rig = self.selected()
        if rig is None:
            self.message.set("warn", "Select a rig to update.")
            return
        if package is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Firmware package", str(Path.home()), "democap firmware (*.dcfw)"
            )
            if not path:
                return
            package = Path(path)
        from devices.link.client import update_firmware
        from devices.link.firmware import read_package, trusted_keys_from

        def work() -> str:
            pkg = read_package(package)
            keys = trusted_keys_from(firmware_keys_folder(self.home))
            v = update_firmware(connect_to(rig.address, self.home), pkg, keys)  # type: ignore[arg-type]
            return ".".join(map(str, v))

        def progress(label: str, done: int, total: int) -> None:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

        def finished(version: str) -> None:
            i = self.rigs.index(rig)
            self.rigs[i] = replace(rig, firmware=version)
            if rig.address in self.status:
                self.status[rig.address] = replace(self.status[rig.address], firmware=version)
            self._fill()
            self._idle("ok", f"{rig.serial} now runs firmware {version}.")
            if on_done:
                on_done(version)

        self._busy(f"Updating {rig.serial}… keep it powered.")
        self.progress.setRange(0, 100)
        self.jobs.start(work, finished, self._failed, on_progress=progress)

    def _failed(self, text: str) -> None:
        self._idle("error", text)

    def shutdown(self) -> None:
        for p in self.virtual_rigs:
            with contextlib.suppress(Exception):
                p.stop()  # type: ignore[attr-defined]
        self.virtual_rigs.clear()


def theme_colour(status: str) -> Any:
    from PySide6.QtGui import QColor

    return QColor(theme.status_colour(status))
