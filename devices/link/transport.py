"""Byte transports of the rig link behind one interface: USB serial (pyserial) and UDP.

A transport moves raw wire bytes; framing, authentication and meaning live above it.
``recv`` returns whatever arrived (b"" on timeout) and raises ``LinkDown`` when the
link is gone (port unplugged, socket closed) so the client can mark a gap and reconnect.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Protocol

log = logging.getLogger(__name__)


class LinkDown(ConnectionError):
    """The transport lost its device (unplugged, closed); reopen to resume."""


class Transport(Protocol):
    name: str
    #: Network transports carry authenticated frames only (see security.py).
    authenticated: bool

    def send(self, wire: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes: ...

    def close(self) -> None: ...

    def reopen(self) -> None:
        """Try to reconnect after ``LinkDown``; raises ``LinkDown`` while the device is away."""
        ...


class SerialTransport:
    """USB CDC-ACM serial (or a pty in tests). Baud rate is ignored by CDC-ACM but kept for UARTs."""

    authenticated = False

    def __init__(self, port: str, baudrate: int = 921600) -> None:
        self.port, self.baudrate = port, baudrate
        self.name = f"serial:{port}"
        self._ser = None
        self.reopen()

    def reopen(self) -> None:
        import serial

        self.close()
        try:
            self._ser = serial.Serial(self.port, self.baudrate, timeout=0.05, write_timeout=1.0)
        except (serial.SerialException, OSError) as e:
            raise LinkDown(f"{self.port}: {e}") from e

    def send(self, wire: bytes) -> None:
        import serial

        if self._ser is None:
            raise LinkDown(f"{self.port}: closed")
        try:
            self._ser.write(wire)
        except (serial.SerialException, OSError) as e:
            raise LinkDown(f"{self.port}: {e}") from e

    def recv(self, timeout: float) -> bytes:
        import serial

        if self._ser is None:
            raise LinkDown(f"{self.port}: closed")
        try:
            self._ser.timeout = timeout
            first = self._ser.read(1)
            if not first:
                return b""
            return first + self._ser.read(self._ser.in_waiting)
        except (serial.SerialException, OSError, TypeError) as e:
            # pyserial raises TypeError/SerialException when the port vanishes mid-read.
            raise LinkDown(f"{self.port}: {e}") from e

    def close(self) -> None:
        if self._ser is not None:
            with contextlib.suppress(Exception):  # closing a vanished port may fail; nothing to do
                self._ser.close()
            self._ser = None


class UdpTransport:
    """One rig at ``(host, port)`` over UDP; each datagram holds one or more whole frames."""

    authenticated = True

    def __init__(self, host: str, port: int, local_port: int = 0) -> None:
        self.addr = (host, port)
        self.name = f"udp:{host}:{port}"
        self._local_port = local_port
        self._sock: socket.socket | None = None
        self.reopen()

    def reopen(self) -> None:
        self.close()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0" if self.addr[0] not in ("127.0.0.1", "localhost") else "127.0.0.1", self._local_port))
        s.connect(self.addr)
        self._sock = s

    def send(self, wire: bytes) -> None:
        if self._sock is None:
            raise LinkDown(f"{self.name}: closed")
        try:
            self._sock.send(wire)
        except ConnectionRefusedError:
            pass  # ICMP port unreachable from an earlier datagram: the rig may be rebooting
        except OSError as e:
            raise LinkDown(f"{self.name}: {e}") from e

    def recv(self, timeout: float) -> bytes:
        if self._sock is None:
            raise LinkDown(f"{self.name}: closed")
        self._sock.settimeout(timeout)
        try:
            return self._sock.recv(65536)
        except TimeoutError:
            return b""
        except ConnectionRefusedError:
            return b""  # nothing listens (yet): silence, the client's gap logic handles it
        except OSError as e:
            raise LinkDown(f"{self.name}: {e}") from e

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def open_transport(address: str) -> Transport:
    """``serial:/dev/ttyACM0`` (or a bare device path) or ``udp:HOST:PORT``."""
    if address.startswith("udp:"):
        host, port = address[4:].rsplit(":", 1)
        return UdpTransport(host, int(port))
    return SerialTransport(address.removeprefix("serial:"))
