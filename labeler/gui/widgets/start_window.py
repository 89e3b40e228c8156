"""The window shown when no project is open (``labeler gui`` alone, or after File > Close
project): make a new project, open one, or pick a recent one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from ...store import DB_NAME


class StartWindow(QWidget):
    newRequested = Signal()
    openRequested = Signal()
    recentChosen = Signal(str)  # a project folder

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("labeler")
        self.setObjectName("start_window")
        self.resize(620, 460)
        heading = QLabel("<h2>labeler</h2>No project is open.")
        self.new_button = QPushButton("New project from a folder of images... (Ctrl+N)")
        self.open_button = QPushButton("Open project... (Ctrl+O)")
        self.new_button.clicked.connect(self.newRequested)
        self.open_button.clicked.connect(self.openRequested)
        self.recent_label = QLabel("Recent projects (double-click or Enter to open):")
        self.recent_list = QListWidget()
        self.recent_list.itemActivated.connect(lambda item: self.recentChosen.emit(item.data(Qt.ItemDataRole.UserRole)))
        quit_button = QPushButton("Quit (Ctrl+Q)")
        quit_button.clicked.connect(self.close)
        for keys, slot in (("Ctrl+N", self.newRequested.emit), ("Ctrl+O", self.openRequested.emit),
                           ("Ctrl+Q", self.close)):
            QShortcut(QKeySequence(keys), self, slot)
        layout = QVBoxLayout(self)
        for widget in (heading, self.new_button, self.open_button, self.recent_label, self.recent_list):
            layout.addWidget(widget)
        layout.addWidget(quit_button, alignment=Qt.AlignmentFlag.AlignRight)

    def set_recent(self, projects: list[Path]) -> None:
        self.recent_list.clear()
        for project in projects:
            there = (project / DB_NAME).is_file()
            item = QListWidgetItem(str(project) if there else f"{project}  (not found)")
            item.setData(Qt.ItemDataRole.UserRole, str(project))
            item.setToolTip(str(project))
            self.recent_list.addItem(item)
        self.recent_label.setVisible(bool(projects))
        self.recent_list.setVisible(bool(projects))
        if projects:
            self.recent_list.setCurrentRow(0)
            self.recent_list.setFocus()  # Enter opens the last project
        else:
            self.new_button.setFocus()
