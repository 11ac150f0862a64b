"""The look of the desktop app: one dark palette, status colours and pyqtgraph defaults.

Status colours carry meaning everywhere (device health, feasibility light, verdicts, flags),
so they are named by meaning, not by hue.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

BG = "#16191e"
PANEL = "#1e2229"
RAISED = "#262b34"
BORDER = "#323844"
TEXT = "#e3e7ee"
MUTED = "#8b94a3"
ACCENT = "#4c9aff"

OK = "#3ecf8e"
WARN = "#f5b942"
ERROR = "#ff5c5c"
IDLE = "#6b7482"

#: Verdicts of flags.summary and review states -> colour.
STATUS_COLOURS = {
    "usable": OK,
    "accepted": OK,
    "ok": OK,
    "feasible": OK,
    "check": WARN,
    "warn": WARN,
    "pending": MUTED,
    "degraded": WARN,
    "redo": ERROR,
    "rejected": ERROR,
    "error": ERROR,
    "infeasible": ERROR,
    "info": ACCENT,
    "idle": IDLE,
    "unknown": IDLE,
}


def status_colour(status: str) -> str:
    return STATUS_COLOURS.get(status, IDLE)


STYLESHEET = f"""
QWidget {{ background: {BG}; color: {TEXT}; font-size: 10pt; }}
QMainWindow::separator {{ background: {BORDER}; width: 1px; height: 1px; }}
QFrame#card, QGroupBox {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 8px; }}
QGroupBox {{ margin-top: 14px; padding: 10px 8px 8px 8px; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {MUTED}; }}
QLabel {{ background: transparent; }}
QLabel#title {{ font-size: 15pt; font-weight: 600; }}
QLabel#subtitle {{ color: {MUTED}; }}
QLabel#big {{ font-size: 20pt; font-weight: 600; }}
QListWidget#nav {{ background: {PANEL}; border: none; border-right: 1px solid {BORDER}; padding-top: 8px;
                   font-size: 11pt; outline: 0; }}
QListWidget#nav::item {{ padding: 10px 14px; border-radius: 6px; margin: 2px 8px; }}
QListWidget#nav::item:selected {{ background: {RAISED}; color: {ACCENT}; }}
QListWidget#nav::item:hover {{ background: {RAISED}; }}
QPushButton {{ background: {RAISED}; border: 1px solid {BORDER}; border-radius: 6px; padding: 6px 14px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed {{ background: {BORDER}; }}
QPushButton:disabled {{ color: {MUTED}; border-color: {RAISED}; }}
QPushButton#primary {{ background: {ACCENT}; color: #0b1220; border: none; font-weight: 600; }}
QPushButton#primary:disabled {{ background: {RAISED}; color: {MUTED}; }}
QPushButton#danger {{ background: {ERROR}; color: #1a0b0b; border: none; font-weight: 600; }}
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox, QPlainTextEdit, QTextEdit {{
    background: {PANEL}; border: 1px solid {BORDER}; border-radius: 6px; padding: 4px 6px; }}
QLineEdit:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QComboBox QAbstractItemView {{ background: {PANEL}; selection-background-color: {RAISED}; }}
QTableView, QTableWidget, QTreeWidget {{ background: {PANEL}; alternate-background-color: {RAISED};
    border: 1px solid {BORDER}; border-radius: 6px; gridline-color: {BORDER};
    selection-background-color: #2d4a72; }}
QHeaderView::section {{ background: {RAISED}; color: {MUTED}; border: none; border-bottom: 1px solid {BORDER};
                        padding: 5px 6px; font-weight: 600; }}
QProgressBar {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 5px; text-align: center;
                height: 16px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 4px; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {ACCENT}; width: 14px; margin: -6px 0; border-radius: 7px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; border-top: 1px solid {BORDER}; }}
QTabWidget::pane {{ border: 1px solid {BORDER}; border-radius: 6px; top: -1px; }}
QTabBar::tab {{ background: {PANEL}; padding: 6px 14px; border: 1px solid {BORDER}; border-bottom: none;
               border-top-left-radius: 6px; border-top-right-radius: 6px; color: {MUTED}; }}
QTabBar::tab:selected {{ background: {RAISED}; color: {TEXT}; }}
QScrollBar:vertical {{ background: {BG}; width: 10px; }}
QScrollBar::handle:vertical {{ background: {BORDER}; border-radius: 5px; min-height: 24px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ height: 0; width: 0; }}
QRadioButton::indicator, QCheckBox::indicator {{ width: 12px; height: 12px; border: 2px solid {MUTED};
    background: {PANEL}; }}
QRadioButton::indicator {{ border-radius: 8px; }}
QCheckBox::indicator {{ border-radius: 3px; }}
QRadioButton::indicator:checked, QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QRadioButton:disabled, QCheckBox:disabled {{ color: {MUTED}; }}
QSpinBox::up-button, QSpinBox::down-button, QDoubleSpinBox::up-button, QDoubleSpinBox::down-button {{
    width: 0; border: none; }}
QToolTip {{ background: {RAISED}; color: {TEXT}; border: 1px solid {BORDER}; }}
"""


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BG),
        (QPalette.ColorRole.Base, PANEL),
        (QPalette.ColorRole.AlternateBase, RAISED),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.Button, RAISED),
        (QPalette.ColorRole.ButtonText, TEXT),
        (QPalette.ColorRole.Highlight, ACCENT),
        (QPalette.ColorRole.HighlightedText, "#0b1220"),
    ):
        pal.setColor(role, QColor(colour))
    app.setPalette(pal)
    font = QFont("DejaVu Sans")
    font.setPointSize(10)
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
    import pyqtgraph as pg

    # Antialiasing costs several ms per plot repaint; plots redraw at 10-30 Hz beside a recording.
    # exitCleanup deletes scene items at interpreter exit, after Qt is gone: an abort under PySide6.
    pg.setConfigOptions(background=PANEL, foreground=MUTED, antialias=False, exitCleanup=False)


def style_plot(plot: Any, x: str = "", y: str = "", aspect: bool = False) -> Any:
    """Grid, axis labels in their own units (no automatic "x0.001" prefixes), optional equal aspect."""
    from PySide6.QtWidgets import QGraphicsItem

    plot.showGrid(x=True, y=True, alpha=0.2)
    for name, text in (("bottom", x), ("left", y)):
        axis = plot.getAxis(name)
        axis.enableAutoSIPrefix(False)
        # Axes repaint whenever anything in the view moves; replaying their text costs ~10 ms a time.
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        if text:
            plot.setLabel(name, text)
    if aspect:
        plot.setAspectLocked(True)
    return plot


def marker(plot: Any, **style: Any) -> Any:
    """A data item that moves often (cursor, current pose, robot): kept out of auto-range so moving it
    does not rescale (and repaint) the axes."""
    import pyqtgraph as pg

    item = pg.PlotDataItem(**style)
    plot.addItem(item, ignoreBounds=True)
    return item
