"""Commands: every user edit, as a small reversible change.

A command is a list of instance changes ``(before, after)`` (``None`` on one side for an
add or a delete) plus, at most, one change of the image's status and one of its tags. Applying it writes the
``after`` states, reverting it writes the ``before`` states; the Document it is applied to
(the SQLite store, or an in-memory one in tests) runs each apply or revert in one
transaction, so a command is either fully saved or not at all.

Commands are built from the current state with the constructors below; widgets and tools
never change instances directly. Each command has a kind (what it is, which the effort
meter counts by) and a label (what the undo menu shows).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Iterable, Protocol, ContextManager, Sequence

from .attributes import Value, normal_tags
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

    def set_image_tags(self, image_id: int, tags: Sequence[str]) -> None:
        """Only commands with a tags change call it."""
        ...


class CommandKind(Enum):
    """What a command is; its label is only what the undo menu shows."""

    ADD = "add"  # an instance added some other way
    ADD_POLYGON = "add polygon"  # drawn vertex by vertex
    ADD_RECTANGLE = "add rectangle"
    BOX_PROMPT = "box prompt"  # the model's mask for a box the person drew
    ASSISTED = "assisted"  # an assist tool's shape (its gestures say what it cost)
    RESHAPE = "reshape"  # vertices moved, inserted or deleted, or a shape moved
    STROKE = "stroke"  # a brush or eraser stroke, also one that starts or wipes out an instance
    DELETE = "delete"
    RELABEL = "relabel"
    REVIEW = "review"  # suggestions accepted or rejected
    MARK_IMAGE = "mark image"  # the image's status set
    ATTRIBUTE = "attribute"  # an instance attribute set (a key or the form)
    TAG_IMAGE = "tag image"  # image tags added or removed
    OTHER = "other"  # built by hand (Command(...)); the effort meter counts it as one key


# Statuses that a person's edit moves to "in review".
_UNREVIEWED = (ImageStatus.UNLABELED, ImageStatus.PROPOSED)


@dataclass
class Command:
    image_id: int
    label: str
    changes: list[tuple[Instance | None, Instance | None]] = field(default_factory=list)
    status_change: tuple[ImageStatus, ImageStatus] | None = None
    tags_change: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # the image's tags before, after
    starts_review: bool = True  # an edit on an unreviewed image puts it "in review"
    kind: CommandKind = CommandKind.OTHER
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
        if self.tags_change is not None:
            doc.set_image_tags(self.image_id, self.tags_change[1])
        self._applied_once = True

    def revert(self, doc: Document) -> None:
        for before, after in reversed(self.changes):
            if before is None:
                doc.remove_instance(after.id)  # type: ignore[union-attr]
            else:
                doc.put_instance(before)
        if self.status_change is not None:
            doc.set_image_status(self.image_id, self.status_change[0])
        if self.tags_change is not None:
            doc.set_image_tags(self.image_id, self.tags_change[0])

    @property
    def empty(self) -> bool:
        """Nothing would change (such a command is not pushed)."""
        return not self.changes and self.status_change is None and self.tags_change is None


def _edited(instance: Instance, **changes) -> Instance:
    """A person's change to an instance: a suggestion becomes an accepted, edited label."""
    return replace(
        instance,
        provenance=instance.provenance.edited(),
        status=InstanceStatus.ACCEPTED,
        **changes,
    )


def add_instance(instance: Instance, label: str = "Add instance", gestures: int | None = None,
                 kind: CommandKind = CommandKind.ADD) -> Command:
    """`gestures`: what it cost the person in pointer actions, when the tool that made the
    shape knows (the effort meter counts the rest from the kind of command)."""
    return Command(instance.image_id, label, [(None, instance)], gestures=gestures, kind=kind)


def delete_instances(instances: Iterable[Instance], label: str = "Delete instance",
                     kind: CommandKind = CommandKind.DELETE) -> Command:
    instances = list(instances)
    return Command(_one_image(instances), label, [(i, None) for i in instances], kind=kind)


def edit_shape(instance: Instance, shape: Shape, label: str = "Edit shape",
               kind: CommandKind = CommandKind.RESHAPE) -> Command:
    """Any geometric edit: moved vertices, inserted or deleted vertices, a brush or eraser
    stroke, a moved shape. The whole edit is one step, however many mouse events made it."""
    return Command(instance.image_id, label, [(instance, _edited(instance, shape=shape))], kind=kind)


def paint_mask(instance: Instance, mask: Shape, erase: bool = False) -> Command:
    return edit_shape(instance, mask, "Erase" if erase else "Paint", CommandKind.STROKE)


def relabel(instances: Iterable[Instance], category_id: int) -> Command:
    instances = list(instances)
    return Command(
        _one_image(instances),
        "Change class",
        [(i, _edited(i, category_id=category_id)) for i in instances if i.category_id != category_id],
        kind=CommandKind.RELABEL,
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
    return Command(_one_image(instances), label, changes, kind=CommandKind.REVIEW)


def set_image_status(image: ImageRecord, status: ImageStatus) -> Command:
    label = "Mark accepted" if status == ImageStatus.ACCEPTED else f"Mark {status.value}"
    return Command(image.id, label, [], (image.status, status), starts_review=False,  # type: ignore[arg-type]
                   kind=CommandKind.MARK_IMAGE)


def set_attributes(instances: Iterable[Instance], name: str, value: Value | None) -> Command:
    """One attribute of every given instance (of one image) set to `value` (None: back to
    the default), as one undo step. The shape, its provenance and the review status stay:
    an attribute says something about the object, not who drew it. The store checks the
    value against the class's spec (ProjectError if it does not fit)."""
    instances = list(instances)
    changes = [(i, replace(i, attributes=i.attributes.set(name, value))) for i in instances]
    changes = [(b, a) for b, a in changes if a.attributes != b.attributes]
    shown = "default" if value is None else (str(value).lower() if isinstance(value, bool) else value)
    label = f"Set {name} = {shown}" + (f" on {len(changes)}" if len(changes) > 1 else "")
    return Command(_one_image(instances), label, changes, kind=CommandKind.ATTRIBUTE)


def tag_image(image_id: int, current: Sequence[str], add: Iterable[str] = (),
              remove: Iterable[str] = ()) -> Command:
    """Add and remove image tags (`current`: the tags it has now). ValueError (one line) for
    a tag that is not a usable name. It does not start a review."""
    before = normal_tags(current)
    removed = set(remove)
    after = normal_tags([t for t in before if t not in removed] + [t for t in add if t not in removed])
    added = [t for t in after if t not in before]
    gone = [t for t in before if t not in after]
    label = ("Tag " + ", ".join(added) if added else "") + (" " if added and gone else "") + (
        "Untag " + ", ".join(gone) if gone else "")
    change = (before, after) if before != after else None
    return Command(image_id, label or "Tags", [], tags_change=change, starts_review=False,
                   kind=CommandKind.TAG_IMAGE)


def _one_image(instances: list[Instance]) -> int:
    ids = {i.image_id for i in instances}
    if len(ids) != 1:
        raise ValueError("a command acts on the instances of exactly one image")
    return ids.pop()
