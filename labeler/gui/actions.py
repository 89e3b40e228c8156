"""Every command of the window with its keys, in one table.

The main window builds its menus, toolbar and shortcuts from this table, and the shortcut
sheet (F1 or ?) lists it, so the sheet cannot drift from what the keys really do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionSpec:
    name: str  # the MainWindow slot is "do_<name>"
    text: str
    keys: tuple[str, ...] = ()
    menu: str = "Edit"  # empty: a window shortcut in no menu
    checkable: bool = False
    toolbar: str = ""  # its short label on the toolbar; empty: not on the toolbar
    arg: int | None = None  # given to the slot: do_<name>(arg)


MENUS = ("File", "Edit", "Image", "Tools", "Model", "View", "Help")

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("new_project", "New project from a folder of images...", ("Ctrl+N",), "File"),
    ActionSpec("open_project", "Open project...", ("Ctrl+O",), "File"),
    ActionSpec("import_labels", "Import labels (COCO, YOLO, labelme, CVAT)...", ("Ctrl+I",), "File"),
    ActionSpec("export_dataset", "Export dataset (COCO, YOLO, labelme, CVAT, mask PNGs)...", ("Ctrl+E",), "File"),
    ActionSpec("close_project", "Close project", ("Ctrl+W",), "File"),
    ActionSpec("prev_image", "Previous image", ("A",), "Image"),
    ActionSpec("next_image", "Next image", ("D",), "Image"),
    ActionSpec("accept_image", "Mark image accepted, go to the next unreviewed",
               ("Ctrl+Return", "Ctrl+Enter"), "Image", toolbar="Accept image"),
    ActionSpec("search", "Search images by name", ("Ctrl+F",), "Image"),
    ActionSpec("image_tags", "Tags of this image...", ("T",), "Image"),
    ActionSpec("undo", "Undo", ("Ctrl+Z",), "Edit", toolbar="Undo"),
    ActionSpec("redo", "Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Edit", toolbar="Redo"),
    ActionSpec("delete", "Delete the vertex or instance; reject a suggestion", ("Delete",), "Edit"),
    ActionSpec("change_class", "Change class of the selection...", ("C",), "Edit"),
    ActionSpec("class_attributes", "Attributes of the class (for new shapes)...", (), "Edit"),
    *(ActionSpec("toggle_attribute", f"Toggle boolean attribute {n} of the selection's class", (f"Alt+{n}",),
                 "", arg=n) for n in range(1, 10)),
    ActionSpec("tool_edit", "Select and edit tool", ("V",), "Tools", checkable=True, toolbar="Select"),
    ActionSpec("tool_polygon", "Polygon tool", ("P",), "Tools", checkable=True, toolbar="Polygon"),
    ActionSpec("tool_rectangle", "Rectangle tool", ("R",), "Tools", checkable=True, toolbar="Rectangle"),
    ActionSpec("tool_brush", "Brush tool (masks)", ("B",), "Tools", checkable=True, toolbar="Brush"),
    ActionSpec("tool_eraser", "Eraser tool", ("E",), "Tools", checkable=True, toolbar="Eraser"),
    ActionSpec("tool_assist", "Assisted mask: drag a box, click to add or remove (no model needed)", ("M",),
               "Tools", checkable=True, toolbar="Assist"),
    ActionSpec("tool_wand", "Magic wand: click a region of similar colour (Shift adds, Alt or right click "
               "removes, Ctrl+wheel tolerance)", ("W",), "Tools", checkable=True, toolbar="Wand"),
    ActionSpec("tool_scissors", "Intelligent scissors: a polygon whose segments follow edges", ("S",),
               "Tools", checkable=True, toolbar="Scissors"),
    ActionSpec("tool_prompt", "Model box prompt: the trained model segments the box you drag", ("Shift+M",),
               "Tools", checkable=True),  # not on the toolbar: it needs trained weights, Shift+M or the menu
    ActionSpec("brush_smaller", "Smaller brush", ("[",), "Tools"),
    ActionSpec("brush_bigger", "Bigger brush", ("]",), "Tools"),
    ActionSpec("accept_suggestion", "Accept the selected suggestion", ("Return", "Enter"), "Model"),
    ActionSpec("accept_all_suggestions", "Accept every suggestion at or above the score threshold",
               ("Shift+Return", "Shift+Enter"), "Model"),
    ActionSpec("next_suggestion", "Select the next suggestion", ("Tab",), "Model"),
    ActionSpec("prelabel", "Pre-label every unlabeled image", (), "Model"),
    ActionSpec("cancel_prelabel", "Cancel pre-labeling", (), "Model"),
    ActionSpec("train_now", "Train now: a round on the accepted labels", ("Ctrl+T",), "Model"),
    ActionSpec("stop_round", "Stop the training round (it is still scored)", (), "Model"),
    ActionSpec("retrain_every", "Retrain after N accepted images...", (), "Model"),
    ActionSpec("class_map", "Which COCO class each class takes...", (), "Model"),
    ActionSpec("model_info", "About the model and its weights", (), "Model"),
    ActionSpec("assist_weights", "Assist model (SAM 2.1) weights folder...", (), "Model"),
    ActionSpec("fit", "Fit image to window", ("F",), "View", toolbar="Fit"),
    ActionSpec("zoom_in", "Zoom in", ("+", "="), "View"),
    ActionSpec("zoom_out", "Zoom out", ("-",), "View"),
    ActionSpec("hide_all", "Hide all shapes", ("H",), "View", checkable=True),
    ActionSpec("show_names", "Class names on the canvas", ("L",), "View", checkable=True),
    ActionSpec("shortcuts", "Keyboard shortcuts", ("F1", "?"), "Help"),
    ActionSpec("quit", "Quit", ("Ctrl+Q",), "File"),
)

CLASS_KEYS = "Pick class 1-9 for new shapes; relabels the selection"

# Keys the canvas and its tools handle themselves (not window actions).
CANVAS_KEYS: tuple[tuple[str, str], ...] = (
    ("1 ... 9", CLASS_KEYS),
    ("Wheel", "Zoom around the cursor"),
    ("Middle drag / Space + drag", "Pan"),
    ("Click", "Polygon: add a vertex. Edit: select (Ctrl+click adds to the selection)"),
    ("Drag with the button held", "Polygon: add vertices freehand. Edit: move a vertex or the shape"),
    ("Click the first vertex / Enter", "Close the polygon"),
    ("Backspace", "Polygon and scissors: remove the last vertex. Assisted mask and wand: drop the last click"),
    ("Right click / Shift+click", "Assisted mask: remove what is extra (left click adds what is missing)"),
    ("Shift+click / Alt+click or right click", "Wand: add a region / remove one"),
    ("Ctrl+wheel", "Wand: tolerance"),
    ("Esc", "Cancel the shape being drawn, or clear the selection"),
    ("Click on an edge", "Edit: insert a vertex there"),
    ("Shift+click a vertex", "Edit: delete that vertex"),
)
