"""The clips of a map selection: listed with their label, the model's guess and status (kept
current as decisions are made), and acted on together: label all (a class must be chosen, and
the count confirmed), queue all, find similar.

Part of :class:`~alwidget.widgets.MapView`; it talks to the session only.
"""

from __future__ import annotations

from typing import Callable

import ipywidgets as W
import numpy as np

from ..session import DOUBT, STATUS_NAMES, Session
from .map_style import escaped

__all__ = ["MAX_ROWS", "SelectionPanel"]

MAX_ROWS = 50  # clips listed for a selection
_OPEN = [STATUS_NAMES.index(s) for s in ("unlabeled", "proposed", "pseudo-labeled")]


class SelectionPanel(W.VBox):
    """The selected clips of a map and what can be done with all of them.

    Parameters
    ----------
    session : Session
    pick : callable(clip_id)
        Shows a listed clip (in the labeler).
    act : callable(fn, *args)
        Runs an action, showing its error in the map (never swallowed).
    search : callable()
        Finds the clips most like the selection.

    Examples
    --------
    >>> panel = SelectionPanel(session, pick=print, act=lambda f, *a: f(*a),
    ...                        search=print)  # doctest: +SKIP
    >>> panel.show([3, 8, 12], session.pool.view())  # doctest: +SKIP
    >>> panel.label_all.value = "target"; panel.ask_label_all()  # doctest: +SKIP
    >>> panel.confirm_button.click()  # "Label 3 clips as target?"  # doctest: +SKIP
    """

    def __init__(self, session: Session, *, pick: Callable, act: Callable, search: Callable):
        self.session = session
        self._pick, self._act = pick, act
        self.selected: np.ndarray = np.zeros(0, np.int64)
        self.head = W.HTML()
        self.label_all = W.Dropdown(
            options=[("choose a class", "")] + [(c, c) for c in list(session.classes) + [DOUBT]],
            value="", description="Label all as", style={"description_width": "initial"},
            layout=W.Layout(width="250px"))
        self.label_all_button = W.Button(description="Label all…", icon="tag",
                                          tooltip="label the selected clips (asks first)")
        self.queue_button = W.Button(description="Queue all", icon="list",
                                     tooltip="ask the selected clips next")
        self.search_button = W.Button(description="Find similar", icon="search",
                                      tooltip="the clips nearest to the selection, to label")
        self.confirm_text = W.HTML()
        self.confirm_button = W.Button(button_style="warning", icon="check")
        self.cancel_button = W.Button(description="Cancel")
        self.confirm = W.HBox()
        self.confirm.add_class("alwm-confirm")
        self.note = W.HTML()
        self.rows = W.VBox()
        self.actions = W.HBox([self.head, self.label_all, self.label_all_button, self.queue_button,
                               self.search_button],
                              layout=W.Layout(flex_flow="row wrap", align_items="center"))
        self.label_all_button.on_click(lambda _: act(self.ask_label_all))
        self.confirm_button.on_click(lambda _: act(self.confirm_label_all))
        self.cancel_button.on_click(lambda _: self._ask(None))
        self.queue_button.on_click(lambda _: act(self.queue))
        self.search_button.on_click(lambda _: act(search))
        self._pending: str | None = None
        self._texts: list = []  # the HTML of each listed row
        super().__init__()

    # -- showing -------------------------------------------------------------------------
    def show(self, clip_ids, view) -> None:
        """Make ``clip_ids`` the selection and list them (``view``: the pool now)."""
        self.selected = np.asarray(clip_ids, dtype=np.int64)
        self._ask(None)
        self.note.value = ""
        rows, self._texts = [], []
        for c in self.selected[:MAX_ROWS]:
            b = W.Button(description=f"▶ clip {c}", layout=W.Layout(width="110px"),
                         tooltip=f"show and play clip {c} in the labeler")
            b.on_click(lambda _, c=int(c): self._act(self._pick, c))
            text = W.HTML()
            self._texts.append(text)
            rows.append(W.HBox([b, text]))
        self.rows.children = rows
        self.children = ([self.actions, self.confirm, self.note, self.rows]
                         if len(self.selected) else [])
        self.refresh(view)

    def refresh(self, view) -> None:
        """Show each listed clip's label, the model's guess and status as they are now (called
        after every decision: a clip labeled since it was selected no longer says "unlabeled")."""
        if not len(self.selected):
            return
        rows = np.searchsorted(view.clip_ids, self.selected)
        names = list(view.classes) + [DOUBT]
        for text, r in zip(self._texts, rows):
            lab = view.label[r]
            status = STATUS_NAMES[view.status[r]] + ("" if lab < 0 else f": {names[lab]}")
            pred = ("no model yet" if view.predicted[r] < 0
                    else f"model {view.classes[view.predicted[r]]} {view.p_target[r]:.2f}")
            text.value = escaped(f"{status} · {pred}")
        open_ = int(np.isin(view.status[rows], _OPEN).sum())
        listed = len(self._texts)
        more = f" (first {listed} listed)" if listed < len(self.selected) else ""
        self.head.value = (f"<b>{len(self.selected)} clips selected</b>{more} · {open_} to label, "
                           f"{len(self.selected) - open_} decided or held out")

    # -- acting ----------------------------------------------------------------------------
    def ask_label_all(self) -> None:
        """Ask to confirm labeling the selection with the chosen class (the count is shown)."""
        label = self.label_all.value
        if not label:
            raise ValueError("choose the class of the selected clips in 'Label all as' first")
        todo, left = self._split()
        if not len(todo):
            raise ValueError(f"nothing to label: the {len(self.selected)} selected clips are "
                             "decided already or in the validation set")
        self._ask(label, len(todo), left)

    def confirm_label_all(self) -> int:
        """Label the selection as confirmed; returns the number of clips labeled."""
        label = self._pending
        self._ask(None)
        if label is None:
            raise ValueError("no labeling to confirm: press 'Label all…' first")
        self.label_all.value = ""  # the next group label needs a class chosen again
        return self.label(label)

    def label(self, label: str) -> int:
        """Give the selected clips that are still undecided ``label`` (one commit, one refit,
        one undo). Clips already labeled, skipped or in the validation set are left as they are;
        the panel says how many. Returns the number of clips labeled."""
        todo, left = self._split()
        if len(todo):
            self.session.label_many(todo, label)
        self.refresh(self.session.pool.view())
        note = f"labeled {len(todo)} clips as {label}"
        if left:
            note += f"; left {left} alone (already decided or in the validation set)"
        self.note.value = f"<span class='alwm-note' role='status'>{escaped(note)}</span>"
        return len(todo)

    def queue(self) -> None:
        """Ask the selected clips next, before the strategy's picks."""
        self.session.queue(self.selected)
        self.note.value = (f"<span class='alwm-note' role='status'>{len(self.selected)} clips "
                           "queued: they are asked next</span>")

    def _split(self) -> tuple[np.ndarray, int]:
        v = self.session.pool.view()
        status = v.status[np.searchsorted(v.clip_ids, self.selected)]
        open_ = np.isin(status, _OPEN)
        return self.selected[open_], int((~open_).sum())

    def _ask(self, label: str | None, n: int = 0, left: int = 0) -> None:
        self._pending = label
        if label is None:
            self.confirm.children = []
            return
        kept = f" {left} decided or held-out clips stay as they are." if left else ""
        self.confirm_text.value = (f"Label <b>{n}</b> clips as <b>{escaped(label)}</b>?{kept} "
                                   "One undo takes them all back.")
        self.confirm_button.description = f"Label {n} clips"
        self.confirm.children = [self.confirm_text, self.confirm_button, self.cancel_button]
