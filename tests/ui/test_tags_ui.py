"""Tags in the window (node50.xml): the Tags column, the tag filter, Select by Tag, the editor."""

from __future__ import annotations

from dataclasses import replace

import libvirt
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from tests.conftest import wait_until
from tests.ui.helpers import WindowFixture, names_in, row_of, select, selected_names, state_shown
from vmgui.core.model import GuestConfigEdit, GuestInfo, GuestState
from vmgui.core.xml.base import VMGUI_NS
from vmgui.core.xml.metadata import tags_metadata
from vmgui.ui.guests.configform import GuestConfigForm
from vmgui.ui.guests.model import GuestColumn, GuestModel, SortRole
from vmgui.ui.guests.tags import ALL_TAGS
from vmgui.ui.main.window import MainWindow
from vmgui.virt import inspect
from vmgui.virt.tags import add_tag, set_tags


def _guest(win: MainWindow, name: str) -> GuestInfo:
    return next(g for g in win.guest_list.model.guests() if g.name == name)


def _tags_shown(win: MainWindow, name: str) -> str:
    proxy = win.guest_list.proxy
    return str(proxy.index(row_of(win, name), GuestColumn.TAGS).data())


def _listed(win: MainWindow) -> list[str]:
    return sorted(g.name for g in win.guest_list.listed())


def _tag_outside_vmgui(win: MainWindow, name: str, tags: tuple[str, ...]) -> None:
    """Set tags the way another client would: no refresh request, only libvirt's event."""
    guest = _guest(win, name)
    host = win.controller.host(guest.host_uri)
    element = tags_metadata(None, tags)

    def apply(conn: libvirt.virConnect) -> None:
        dom = inspect.lookup(conn, guest.uuid)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, element, "vmgui", VMGUI_NS, flags)

    win.spawn(host.call(apply, "tag"))


def test_the_tags_column_and_filter_follow_the_guests(window: WindowFixture) -> None:
    win, dialogs, run = window
    gl = win.guest_list
    running = names_in(win, GuestState.RUNNING)[:2]
    off = names_in(win, GuestState.SHUTOFF)[0]
    host = win.controller.host(_guest(win, off).host_uri)
    run(set_tags(host, _guest(win, running[0]), ["web", "prod"]))
    run(add_tag(host, _guest(win, off), "Web"))
    _tag_outside_vmgui(win, running[1], ("db",))
    run(wait_until(lambda: _tags_shown(win, running[1]) == "db"))  # the event alone did it
    run(wait_until(lambda: gl.tag_filter.tags() == ["db", "prod", "Web"]))  # a tie: "W" < "w"
    assert _tags_shown(win, running[0]) == "web, prod" and _tags_shown(win, off) == "Web"
    header = gl.view.header()
    assert header.visualIndex(GuestColumn.TAGS) == header.visualIndex(GuestColumn.NAME) + 1
    assert gl.proxy.headerData(GuestColumn.TAGS, Qt.Orientation.Horizontal) == "Tags"

    gl.tag_filter.choose("web")
    assert _listed(win) == sorted([running[0], off])  # case-insensitive
    # Column 0 is still the name and the State column still says the state.
    assert gl.proxy.index(row_of(win, off), 0).data() == off
    assert state_shown(win, off) == "shut off"
    gl.state_filter.setCurrentIndex(2)  # "Running": both filters hold
    assert _listed(win) == [running[0]]
    gl.state_filter.setCurrentIndex(0)

    # The last "web" guests lose the tag: the chosen tag stays offered while chosen.
    run(set_tags(host, _guest(win, running[0]), ["prod"]))
    run(set_tags(host, _guest(win, off), []))
    run(wait_until(lambda: _listed(win) == []))
    gl.tag_filter.refresh()
    assert gl.tag_filter.current_tag() == "Web" and "Web" in gl.tag_filter.tags()
    gl.tag_filter.choose("")
    assert gl.tag_filter.currentText() == ALL_TAGS and gl.proxy.rowCount() == 60
    gl.tag_filter.refresh()
    assert gl.tag_filter.tags() == ["db", "prod"]
    assert not dialogs.errors


def test_select_by_tag_then_a_lifecycle_action(window: WindowFixture) -> None:
    win, dialogs, run = window
    gl = win.guest_list
    batch = names_in(win, GuestState.RUNNING)[2:5]
    host = win.controller.host(_guest(win, batch[0]).host_uri)
    for name in batch:
        run(add_tag(host, _guest(win, name), "batch"))
    run(wait_until(lambda: all(_tags_shown(win, n) == "batch" for n in batch)))
    select(win, [names_in(win, GuestState.SHUTOFF)[0]])

    menu = gl.tag_menu
    guest_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Guest")
    assert isinstance(guest_menu, QMenu) and menu.menuAction() in guest_menu.actions()
    menu.rebuild()
    entries = {a.text(): a for a in menu.actions()}
    assert "batch" in entries
    entries["batch"].trigger()
    assert selected_names(win) == sorted(batch)
    assert win.statusBar().currentMessage() == "Selected 3 guests tagged batch"
    pause = win.lifecycle_actions[next(k for k in win.lifecycle_actions if k.value == "pause")]
    assert pause.isEnabled()
    pause.trigger()
    run(wait_until(lambda: all(_guest(win, n).state is GuestState.PAUSED for n in batch)))
    assert not dialogs.errors

    # Only guests in view: with a name filter, the others are not selected.
    gl.filter_edit.setText(batch[0])
    menu.rebuild()
    {a.text(): a for a in menu.actions()}["batch"].trigger()
    assert selected_names(win) == [batch[0]]
    gl.filter_edit.setText("no-such-guest")
    menu.rebuild()
    assert [a.text() for a in menu.actions()] == ["No guest in view has a tag"]
    assert not menu.actions()[0].isEnabled()


def test_tags_are_edited_in_the_details_and_applied(window: WindowFixture) -> None:
    win, dialogs, run = window
    name = names_in(win, GuestState.SHUTOFF)[1]
    select(win, [name])
    pane = win.guest_details
    run(wait_until(lambda: pane.overview is not None and pane.overview.guest.name == name))
    edit = pane.tags_edit
    assert edit.line.text() == "" and edit.isEnabled()
    edit.line.setText("web, two words")
    assert edit.error == "Tag 'two words' has a space in it; use - or _ instead."
    assert not edit.error_label.isHidden()
    assert not pane.apply_button.isEnabled() and pane.revert_button.isEnabled()
    pane.title_edit.setText("Front end")  # another change does not let refused tags through
    assert not pane.apply_button.isEnabled()
    pane.title_edit.setText("")
    edit.line.setText("web, db, WEB")
    assert "given twice" in edit.error and not pane.apply_button.isEnabled()
    edit.line.setText(" web ,db ")
    assert edit.error == "" and edit.error_label.isHidden()
    assert pane.apply_button.isEnabled()
    pane.apply_button.click()
    run(wait_until(lambda: _guest(win, name).tags == ("web", "db"), 5.0))
    run(wait_until(lambda: pane.overview is not None and pane.overview.guest.tags == ("web", "db")))
    assert edit.line.text() == " web ,db " and not pane.apply_button.isEnabled()
    assert win.statusBar().currentMessage() == f"Saved the configuration of {name}"
    assert _tags_shown(win, name) == "web, db"
    # Revert brings back the applied tags over refused typing.
    edit.line.setText("a,,b c")
    pane.revert_button.click()
    assert edit.tags() == ("web", "db") and edit.error == ""
    assert not dialogs.errors


def test_config_form_sends_tags_only_when_changed(window: WindowFixture) -> None:
    win, _dialogs, run = window
    name = names_in(win, GuestState.SHUTOFF)[0]
    select(win, [name])
    pane = win.guest_details
    run(wait_until(lambda: pane.overview is not None))
    overview = pane.overview
    assert overview is not None
    form = GuestConfigForm()
    shown = form.load(overview, GuestConfigForm.values_of(overview))
    assert shown is not None and shown.tags == ()
    assert form.pending(shown) is None
    edit = form.pending(replace(shown, tags=("x",)))
    assert edit == GuestConfigEdit(guest=overview.guest, tags=("x",))


def test_sorting_by_tags_puts_untagged_guests_last(window: WindowFixture) -> None:
    win, _dialogs, run = window
    gl = win.guest_list
    names = names_in(win, GuestState.SHUTOFF)[:3]
    host = win.controller.host(_guest(win, names[0]).host_uri)
    run(set_tags(host, _guest(win, names[0]), ["zeta"]))
    run(set_tags(host, _guest(win, names[1]), ["Alpha"]))
    run(wait_until(lambda: _tags_shown(win, names[1]) == "Alpha"))
    gl.view.sortByColumn(GuestColumn.TAGS, Qt.SortOrder.AscendingOrder)
    first = [gl.proxy.index(r, 0).data() for r in range(3)]
    assert first[:2] == [names[1], names[0]]
    model: GuestModel = gl.model
    row = model.row_of(_guest(win, names[2]).host_uri, _guest(win, names[2]).uuid)
    assert model.index(row, GuestColumn.TAGS).data(SortRole) == (True, "")
