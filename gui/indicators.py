"""Small status widgets shared by the screens: a coloured light with a caption, a metric tile, a card."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui import theme


class StatusLight(QWidget):
    """A round light and a line of text; ``set(status, text)`` with a status of ``theme.STATUS_COLOURS``."""

    def __init__(self, text: str = "", status: str = "idle", size: int = 12, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        self.dot = QLabel()
        self.dot.setFixedSize(size, size)
        self._size = size
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        lay.addWidget(self.dot, 0, Qt.AlignmentFlag.AlignVCenter)
        lay.addWidget(self.label, 1)
        self.status = ""
        self.set(status, text)

    def set(self, status: str, text: str | None = None) -> None:
        self.status = status
        self.dot.setStyleSheet(f"background: {theme.status_colour(status)}; border-radius: {self._size // 2}px;")
        if text is not None:
            self.label.setText(text)

    @property
    def text(self) -> str:
        return self.label.text()


class Metric(QFrame):
    """A tile with a caption and a big value, e.g. "Dropped frames / 0"."""

    def __init__(self, caption: str, value: str = "–", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.setSpacing(2)
        self.caption = QLabel(caption)
        self.caption.setObjectName("subtitle")
        self.value = QLabel(value)
        self.value.setStyleSheet("font-size: 15pt; font-weight: 600;")
        lay.addWidget(self.caption)
        lay.addWidget(self.value)

    def set(self, value: str, status: str | None = None) -> None:
        self.value.setText(value)
        colour = theme.status_colour(status) if status else theme.TEXT
        self.value.setStyleSheet(f"font-size: 15pt; font-weight: 600; color: {colour};")


def header(title: str, subtitle: str = "") -> QWidget:
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 4)
    lay.setSpacing(2)
    t = QLabel(title)
    t.setObjectName("title")
    lay.addWidget(t)
    if subtitle:
        s = QLabel(subtitle)
        s.setObjectName("subtitle")
        s.setWordWrap(True)
        lay.addWidget(s)
    return w
