// The window's status colours, readable on the light palette and on a dark one: green
// for what passed, red for what failed, amber for what needs a look, blue for what runs,
// and the fills of banners and cells. Each view makes one, `Tones { id: tones }`, and
// it follows the palette of the window it is in (the system palette, see Main.qml).
import QtQuick

QtObject {
    // The window colour of the palette in use; dark when it is darker than mid-grey.
    property color window: "#efefef"
    readonly property bool dark: window.hslLightness < 0.5

    // Text and marks on the window or base colour (contrast 4.5:1 or more on both).
    readonly property color good: dark ? "#7fd18f" : "#276b3b"
    readonly property color bad: dark ? "#ff8f87" : "#b52a25"
    readonly property color warn: dark ? "#f0b85a" : "#8a5a00"
    readonly property color busy: dark ? "#8ab4f8" : "#2f5f9f"
    readonly property color muted: dark ? "#a3a9b2" : "#5f6670"

    // Banners: a warm one for what needs you, a red one for errors.
    readonly property color noticeFill: dark ? "#3a3018" : "#fff6d6"
    readonly property color noticeEdge: dark ? "#a8862c" : "#e0b040"
    readonly property color noticeText: dark ? "#f5e2ad" : "#5a3a00"
    readonly property color alertFill: dark ? "#3d2e17" : "#fdecc8"
    readonly property color alertEdge: dark ? "#c46a3a" : "#d9822b"
    readonly property color errorFill: dark ? "#3d2020" : "#fde7e7"
    readonly property color errorEdge: dark ? "#d0605b" : "#d9534f"
    readonly property color errorRow: dark ? "#2f2224" : "#ffffff"
    readonly property color errorChosen: dark ? "#553033" : "#f6d5d3"
    readonly property color errorHover: dark ? "#3b2729" : "#fae3e1"
    readonly property color errorText: dark ? "#ffb0aa" : "#8a1f1b"

    // Rows chosen or under the mouse (the host list, the log's filter chip).
    readonly property color chosenFill: dark ? "#213a57" : "#dbe8f7"
    readonly property color hoverFill: dark ? "#2a3440" : "#f0f4f9"
    readonly property color errLine: dark ? "#3a2325" : "#fdf0ef"
}
