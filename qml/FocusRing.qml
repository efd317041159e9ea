// A ring around whatever has the keyboard focus, drawn above everything (in the window's
// overlay), so every control shows where Tab went, whatever its style draws itself:
// Fusion marks buttons and fields faintly, and tab buttons, list rows, read-only text
// and our own rows not at all. Controls show it when focus came from the keyboard
// (`visualFocus`); plain items (rows) only ever take focus from the keyboard.
import QtQuick

Rectangle {
    id: ring
    objectName: "focusRing"
    // The window whose focus it shows.
    property var host: null
    readonly property Item target: host ? host.activeFocusItem : null
    readonly property bool wanted: target !== null && target.visible
                                    && target.width > 0 && target.height > 0
                                    && (target.visualFocus === undefined ? target.activeFocus : target.visualFocus)
    visible: wanted
    color: "transparent"
    border.width: 2
    border.color: host ? host.palette.highlight : "#308cc6"
    radius: 3
    z: 1000

    // Where the target is now; placed again on every frame the window draws, so the ring
    // follows it when a list scrolls or a layout moves it.
    function place() {
        if (!ring.wanted || !ring.parent)
            return
        const p = ring.target.mapToItem(ring.parent, 0, 0)
        ring.x = Math.round(p.x) - 3
        ring.y = Math.round(p.y) - 3
        ring.width = Math.round(ring.target.width) + 6
        ring.height = Math.round(ring.target.height) + 6
    }
    onTargetChanged: place()
    onWantedChanged: place()
    Connections {
        target: ring.host
        function onAfterAnimating() { ring.place() }
    }
}
