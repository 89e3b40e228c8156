"""The open project as the window sees it: the store, the undo histories, the current image,
its instances, the selection and what is hidden.

Widgets and tools never write the store: they build core commands and hand them to ``push``
(classes go through ``add_category`` and ``update_category``), and they redraw when the
Session's signals say something changed. The store commits every command before ``push``
returns (autosave: there is nothing to save and nothing to lose on a crash). Besides the
Session, only the window's controllers write to the project, each what is its own: the model
controller the training settings (retrain every, class map), the effort counter its counts,
and the File menu's import and New project, each on a connection of its own.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..core.attributes import AttributeKind, AttributeSpec, Value
from ..core.commands import Command, accept, reject, relabel, set_attributes, set_image_status, tag_image
from ..core.entities import Category, ImageRecord, ImageStatus, Instance, InstanceStatus
from ..core.errors import UserError
from ..core.history import History, Histories
from ..store import ProjectStore


class Session(QObject):
    imageChanged = Signal(object)  # ImageRecord | None: another image is now current
    instancesChanged = Signal(object, object)  # (changed: list[Instance], removed ids: set[int])
    imageStatusChanged = Signal(object)  # ImageRecord with its new status (any image)
    selectionChanged = Signal(object)  # tuple[int, ...] of instance ids
    visibilityChanged = Signal()
    categoriesChanged = Signal()
    currentCategoryChanged = Signal(object)  # Category | None
    historyChanged = Signal()  # undo/redo availability or labels
    attributeSpecsChanged = Signal()  # a class's attribute specs were set
    imageTagsChanged = Signal(object)  # tuple[str, ...]: the current image's tags
    message = Signal(str)  # a line for the status bar

    def __init__(self, store: ProjectStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.histories = Histories(store)
        self.histories.listeners.append(self._on_command)
        self.image: ImageRecord | None = None
        self.instances: dict[int, Instance] = {}  # of the current image, in id order
        self.selection: tuple[int, ...] = ()
        self.selected_on_purpose = False  # picked by the person, not just drawn (see select)
        self.hidden: set[int] = set()
        self.hide_all = False
        self.score_threshold = 0.5  # suggestions scoring less are neither drawn nor accepted in bulk
        self.categories: dict[int, Category] = {c.id: c for c in store.categories()}  # type: ignore[misc]
        self.current_category_id: int | None = next(iter(self.categories), None)
        self.specs: dict[int, tuple[AttributeSpec, ...]] = store.specs_by_category()
        self.image_tags: tuple[str, ...] = ()  # of the current image
        self._pickers: dict[int, tuple[int | None, int | None]] = {}  # id(relabel command) -> picker before, after

    # --- images ------------------------------------------------------------------------

    def image_path(self, image: ImageRecord) -> Path:
        return self.store.image_path(image)

    def open_image(self, image_id: int | None) -> None:
        self.image = self.store.get_image(image_id) if image_id is not None else None
        self.instances = ({i.id: i for i in self.store.instances(image_id)}  # type: ignore[misc]
                          if image_id is not None else {})
        self.selection = ()
        self.hidden.clear()
        self.image_tags = self.store.image_tags(image_id) if image_id is not None else ()
        self.imageChanged.emit(self.image)
        self.imageTagsChanged.emit(self.image_tags)
        self.selectionChanged.emit(self.selection)
        self.historyChanged.emit()

    def visible_instances(self) -> list[Instance]:
        """What the canvas draws: everything but rejected suggestions, suggestions below the
        score threshold and hidden instances."""
        if self.hide_all:
            return []
        return [i for i in self.instances.values()
                if i.status != InstanceStatus.REJECTED and i.id not in self.hidden
                and not self._below_threshold(i)]

    def _below_threshold(self, instance: Instance) -> bool:
        return (instance.status == InstanceStatus.PROPOSED and instance.score is not None
                and instance.score < self.score_threshold)

    def suggestions(self) -> list[Instance]:
        """Suggestions waiting on this image at or above the threshold, best first."""
        waiting = [i for i in self.instances.values()
                   if i.status == InstanceStatus.PROPOSED and not self._below_threshold(i)]
        return sorted(waiting, key=lambda i: -(i.score if i.score is not None else 1.0))

    def set_score_threshold(self, threshold: float) -> None:
        if threshold != self.score_threshold:
            self.score_threshold = threshold
            visible = {i.id for i in self.visible_instances()}
            self._keep_selected(i for i in self.selection if i in visible)
            self.visibilityChanged.emit()

    def reload(self, image_id: int) -> None:
        """Another process (the model worker) wrote to this image: catch up with the store."""
        image = self.store.get_image(image_id)
        self.imageStatusChanged.emit(image)
        if self.image is None or image_id != self.image.id:
            return
        self.image = image
        now = {i.id: i for i in self.store.instances(image_id)}
        removed = set(self.instances) - set(now)
        changed = [i for i_id, i in now.items() if self.instances.get(i_id) != i]
        self.instances = now  # type: ignore[assignment]
        self.hidden -= removed
        if changed or removed:
            self.instancesChanged.emit(changed, removed)
        if removed & set(self.selection):
            self._keep_selected(i for i in self.selection if i not in removed)

    # --- commands ----------------------------------------------------------------------

    @property
    def history(self) -> History | None:
        return self.histories.for_image(self.image.id) if self.image else None  # type: ignore[arg-type]

    def push(self, command: Command) -> Command | None:
        """Apply, store and record a command; a command with nothing in it is dropped."""
        if command.empty:
            return None
        return self.histories.push(command)

    def undo(self) -> None:
        self._step_history("undo")

    def redo(self) -> None:
        self._step_history("redo")

    def _step_history(self, action: str) -> None:
        history = self.history
        try:
            done = getattr(history, action)() if history is not None else None
        except UserError as exc:  # e.g. a value a class's attribute no longer takes
            self.message.emit(f"Cannot {action}: {exc}")
            return
        if done is None:
            self.message.emit(f"Nothing to {action} on this image")

    def relabel_selected(self, category_id: int, move_picker: bool = True) -> Command | None:
        """Give the selection another class. `move_picker`: the class for new shapes follows
        (keys 1-9), and undo or redo of this relabel moves it back or forth with it."""
        selected = self.selected_instances()
        before = self.current_category_id
        if move_picker:
            self.set_current_category(category_id)
        command = self.push(relabel(selected, category_id)) if selected else None
        if command is not None and move_picker:
            self._pickers[id(command)] = (before, category_id)
        return command

    def mark_image(self, status: ImageStatus) -> None:
        if self.image is not None and self.image.status != status:
            self.push(set_image_status(self.image, status))

    def _on_command(self, command: Command, action: str) -> None:
        """Keep the in-memory view of the current image equal to what the store now holds."""
        if self.image is None or command.image_id != self.image.id:
            return
        changed: list[Instance] = []
        removed: set[int] = set()
        for before, after in command.changes:
            now = before if action == "undo" else after
            gone = after if action == "undo" else before
            if now is None:
                removed.add(gone.id)  # type: ignore[union-attr,arg-type]
                self.instances.pop(gone.id, None)  # type: ignore[union-attr,arg-type]
            else:
                self.instances[now.id] = now  # type: ignore[index]
                changed.append(now)
        self.instances = dict(sorted(self.instances.items()))
        if removed:
            self.hidden -= removed
        self.instancesChanged.emit(changed, removed)
        if command.status_change is not None:
            self.image = self.store.get_image(self.image.id)  # type: ignore[arg-type]
            self.imageStatusChanged.emit(self.image)
        if command.tags_change is not None:
            self.image_tags = self.store.image_tags(self.image.id)  # type: ignore[arg-type]
            self.imageTagsChanged.emit(self.image_tags)
        if removed & set(self.selection):
            self._keep_selected(i for i in self.selection if i not in removed)
        picker = self._pickers.get(id(command))
        if picker is not None and action != "do":
            self.set_current_category(picker[0] if action == "undo" else picker[1])
        verb = {"do": "", "undo": "Undid: ", "redo": "Redid: "}[action]
        self.message.emit(f"{verb}{command.label}")
        self.historyChanged.emit()

    # --- reviewing suggestions -----------------------------------------------------------

    def selected_suggestions(self) -> list[Instance]:
        return [i for i in self.selected_instances() if i.status == InstanceStatus.PROPOSED]

    def review_selected(self, accepted: bool) -> bool:
        """Accept (Enter) or reject (Del) the selected suggestions, then go to the next one."""
        chosen = self.selected_suggestions()
        if not chosen:
            return False
        self.push(accept(chosen) if accepted else reject(chosen))
        self.next_suggestion()
        return True

    def accept_all_suggestions(self) -> int:
        """Shift+Enter: every suggestion at or above the threshold, as one undo step."""
        waiting = self.suggestions()
        if waiting:
            self.push(accept(waiting))
        return len(waiting)

    def next_suggestion(self) -> int | None:
        """Tab: select the suggestion after the selected one (best score first), cycling."""
        waiting = [i.id for i in self.suggestions()]
        if not waiting:
            self.select([])
            return None
        current = self.selection[0] if self.selection else None
        after = waiting.index(current) + 1 if current in waiting else 0
        target = waiting[after % len(waiting)]
        self.select([target])
        return target

    # --- selection and visibility --------------------------------------------------------

    def select(self, ids, on_purpose: bool = True) -> None:
        """`on_purpose`: the person picked these (a click, the list, Tab); False for a shape
        selected only because it was just drawn. The brush adds to a selection picked on
        purpose only (or with Shift): a stroke never joins a rectangle drawn just before."""
        ids = tuple(i for i in dict.fromkeys(ids) if i in self.instances)
        changed = ids != self.selection
        self.selected_on_purpose = on_purpose and bool(ids)
        if changed:
            self.selection = ids
            self.selectionChanged.emit(ids)

    def _keep_selected(self, ids) -> None:
        """The selection less what is gone or hidden, as purposeful as it was."""
        self.select(ids, on_purpose=self.selected_on_purpose)

    def describe(self, instance: Instance) -> str:
        """How the person can find an instance: its class and its row in the instance list."""
        category = self.category(instance.category_id)
        row = list(self.instances).index(instance.id) + 1 if instance.id in self.instances else 0
        return f"{category.name if category else 'class ' + str(instance.category_id)} #{row}"

    def selected_instances(self) -> list[Instance]:
        return [self.instances[i] for i in self.selection if i in self.instances]

    def set_hidden(self, instance_id: int, hidden: bool) -> None:
        (self.hidden.add if hidden else self.hidden.discard)(instance_id)
        self.visibilityChanged.emit()

    def toggle_hide_all(self) -> None:
        self.hide_all = not self.hide_all
        self.visibilityChanged.emit()
        self.message.emit("All shapes hidden (H shows them)" if self.hide_all else "Shapes shown")

    # --- categories --------------------------------------------------------------------

    def category(self, category_id: int) -> Category | None:
        return self.categories.get(category_id)

    def current_category(self) -> Category | None:
        return self.categories.get(self.current_category_id)  # type: ignore[arg-type]

    def set_current_category(self, category_id: int | None) -> None:
        if category_id != self.current_category_id:
            self.current_category_id = category_id
            self.currentCategoryChanged.emit(self.current_category())

    def add_category(self, name: str, color: str | None = None) -> Category:
        category = self.store.add_category(name, color)
        self.categories[category.id] = category  # type: ignore[index]
        self.categoriesChanged.emit()
        if self.current_category_id is None:
            self.set_current_category(category.id)
        return category

    def update_category(self, category: Category) -> None:
        self.store.update_category(category)
        self.categories[category.id] = category  # type: ignore[index]
        self.categoriesChanged.emit()

    # --- attributes and tags -------------------------------------------------------------

    def attribute_specs(self, category_id: int) -> tuple[AttributeSpec, ...]:
        return self.specs.get(category_id, ())

    def set_attribute_specs(self, category_id: int, specs) -> int:
        """Define a class's attributes (not undoable, like classes); returns how many
        instances lost a value (store/attributes.py)."""
        dropped = self.store.set_attribute_specs(category_id, list(specs))
        self.specs = self.store.specs_by_category()
        self.attributeSpecsChanged.emit()
        if dropped and self.image is not None:
            self.reload(self.image.id)  # type: ignore[arg-type]
        return dropped

    def set_attribute(self, name: str, value: Value | None) -> Command | None:
        """One undo step: `name` set on every selected instance whose class defines it."""
        chosen = [i for i in self.selected_instances()
                  if any(s.name == name for s in self.attribute_specs(i.category_id))]
        return self.push(set_attributes(chosen, name, value)) if chosen else None

    def toggle_attribute(self, n: int) -> Command | None:
        """Alt+n: the n-th boolean attribute of the (first) selected instance's class, set on
        the selection (off if all of it has it on, else on)."""
        selected = self.selected_instances()
        if not selected:
            self.message.emit("Select an instance first")
            return None
        booleans = [s for s in self.attribute_specs(selected[0].category_id) if s.kind == AttributeKind.BOOLEAN]
        if n > len(booleans):
            category = self.category(selected[0].category_id)
            self.message.emit(f"{category.name if category else 'This class'} has no boolean attribute {n} "
                              f"(Edit > Attributes of the class)")
            return None
        spec = booleans[n - 1]
        same = [i for i in selected if i.category_id == selected[0].category_id]
        on = all(i.attributes.get(spec.name, spec.default) for i in same)
        return self.set_attribute(spec.name, not on)

    def tag_image(self, add=(), remove=()) -> Command | None:
        """Add and remove tags of the current image, as one undo step."""
        if self.image is None:
            return None
        return self.push(tag_image(self.image.id, self.image_tags, add, remove))  # type: ignore[arg-type]
