"""Commands: every user edit, as a small reversible change.

A command is a list of instance changes ``(before, after)`` (``None`` on one side for an
add or a delete) plus, at most, one change of the image's status. Applying it writes the
``after`` states, reverting it writes the ``before`` states; the Document it is applied to
(the SQLite store, or an in-memory one in tests) runs each apply or revert in one
transaction, so a command is either fully saved or not at all.

Commands are built from the current state with the constructors below; widgets and tools
never change instances directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Protocol, ContextManager

from .entities import ImageRecord, ImageStatus, Instance, InstanceStatus, Shape


class Document(Protocol):
    """What a command needs from the place where instances live."""

    def transaction(self) -> ContextManager[None]: ...

    def get_image(self, image_id: int) -> ImageRecord: ...

    def set_image_status(self, image_id: int, status: ImageStatus) -> None: ...

    def put_instance(self, instance: Instance) -> Instance:
        """Insert (id None: a new id is assigned) or replace by id; returns what was stored."""
        ...

    def remove_instance(self, instance_id: int) -> None: ...


# Statuses that a person's edit moves to "in review".
_UNREVIEWED = (ImageStatus.UNLABELED, ImageStatus.PROPOSED)


@dataclass
class Command:
    image_id: int
    label: str
    changes: list[tuple[Instance | None, Instance | None]] = field(default_factory=list)
    status_change: tuple[ImageStatus, ImageStatus] | None = None
    starts_review: bool = True  # an edit on an unreviewed image puts it "in review"
    gestures: int | None = None  # pointer actions the tool counted (an assisted mask: box and clicks)
    _applied_once: bool = field(default=False, repr=False)

    def apply(self, doc: Document) -> None:
        if not self._applied_once:
            current = doc.get_image(self.image_id).status
            if self.status_change is None and self.starts_review and current in _UNREVIEWED:
                self.status_change = (current, ImageStatus.IN_REVIEW)
        for i, (before, after) in enumerate(self.changes):
            if after is None:
                doc.remove_instance(before.id)  # type: ignore[union-attr]
            else:
                stored = doc.put_instance(after)
                # An add gets its id on the first apply; redo re-inserts with that id.
                self.changes[i] = (before, stored)
        if self.status_change is not None:
            doc.set_image_status(self.image_id, self.status_change[1])
        self._applied_once = True

    def revert(self, doc: Document) -> None:
        for before, after in reversed(self.changes):
            if before is None:
                doc.remove_instance(after.id)  # type: ignore[union-attr]
            else:
                doc.put_instance(before)
        if self.status_change is not None:
            doc.set_image_status(self.image_id, self.status_change[0])

    @property
    def instance_ids(self) -> set[int]:
        """Ids this command touches (after its first apply)."""
        return {i.id for pair in self.changes for i in pair if i is not None and i.id is not None}


def _edited(instance: Instance, **changes) -> Instance:
    """A person's change to an instance: a suggestion becomes an accepted, edited label."""
    return replace(
        instance,
        provenance=instance.provenance.edited(),
        status=InstanceStatus.ACCEPTED,
        **changes,
    )


def add_instance(instance: Instance, label: str = "Add instance", gestures: int | None = None) -> Command:
    """`gestures`: what it cost the person in pointer actions, when the tool that made the
    shape knows (the effort meter counts the rest from the kind of command)."""
    return Command(instance.image_id, label, [(None, instance)], gestures=gestures)


def delete_instances(instances: Iterable[Instance], label: str = "Delete instance") -> Command:
    instances = list(instances)
    return Command(_one_image(instances), label, [(i, None) for i in instances])


def edit_shape(instance: Instance, shape: Shape, label: str = "Edit shape") -> Command:
    """Any geometric edit: moved vertices, inserted or deleted vertices, a brush or eraser
    stroke, a moved shape. The whole edit is one step, however many mouse events made it."""
    return Command(instance.image_id, label, [(instance, _edited(instance, shape=shape))])


def edit_vertices(instance: Instance, shape: Shape) -> Command:
    return edit_shape(instance, shape, "Edit vertices")


def paint_mask(instance: Instance, mask: Shape, erase: bool = False) -> Command:
    return edit_shape(instance, mask, "Erase" if erase else "Paint")


def relabel(instances: Iterable[Instance], category_id: int) -> Command:
    instances = list(instances)
    return Command(
        _one_image(instances),
        "Change class",
        [(i, _edited(i, category_id=category_id)) for i in instances if i.category_id != category_id],
    )


def accept(instances: Iterable[Instance]) -> Command:
    """Accept suggestions as they are: the provenance stays "model vN" (unedited)."""
    return _review(instances, InstanceStatus.ACCEPTED, "Accept")


def reject(instances: Iterable[Instance]) -> Command:
    """Reject suggestions; they are kept (as rejected) so they are not suggested again."""
    return _review(instances, InstanceStatus.REJECTED, "Reject")


def _review(instances: Iterable[Instance], status: InstanceStatus, verb: str) -> Command:
    instances = list(instances)
    label = verb if len(instances) == 1 else f"{verb} {len(instances)}"
    changes = [(i, replace(i, status=status)) for i in instances if i.status != status]
    return Command(_one_image(instances), label, changes)


def set_image_status(image: ImageRecord, status: ImageStatus) -> Command:
    label = "Mark accepted" if status == ImageStatus.ACCEPTED else f"Mark {status.value}"
    return Command(image.id, label, [], (image.status, status), starts_review=False)  # type: ignore[arg-type]


def _one_image(instances: list[Instance]) -> int:
    ids = {i.image_id for i in instances}
    if len(ids) != 1:
        raise ValueError("a command acts on the instances of exactly one image")
    return ids.pop()
