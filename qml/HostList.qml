// One row per node: name, role, how it is reached, its state, the step it runs with a
// progress bar, and its last result. Clicking a row shows only that node's log lines.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Frame {
    id: list
    property var api
    padding: 0
    Tones { id: tones; window: list.palette.window }

    readonly property var stateColors: ({
        "idle": "#8a8f98", "waiting": "#8a8f98", "reached": "#2f6fb3",
        "running": "#2f6fb3", "passed": "#2e8b47", "failed": "#c9302c",
        "unreachable": "#d9822b", "interrupted": "#b08a1e"
    })
    readonly property var stateWords: ({
        "idle": "idle", "waiting": "waiting", "reached": "connected",
        "running": "running", "passed": "passed", "failed": "failed",
        "unreachable": "unreachable", "interrupted": "stopped"
    })
    readonly property var widths: [150, 110, 250, 110, 0, 190]

    component Cell: Label {
        property int column
        Layout.preferredWidth: list.widths[column]
        Layout.fillWidth: list.widths[column] === 0
        elide: Text.ElideRight
    }

    ColumnLayout {
        anchors.left: parent.left
        anchors.right: parent.right
        spacing: 0

        Rectangle {
            Layout.fillWidth: true
            implicitHeight: 28
            color: palette.alternateBase
            RowLayout {
                anchors.fill: parent
                anchors.leftMargin: 10
                anchors.rightMargin: 10
                spacing: 10
                Cell { column: 0; text: "Host"; font.bold: true }
                Cell { column: 1; text: "Role"; font.bold: true }
                Cell { column: 2; text: "Address"; font.bold: true }
                Cell { column: 3; text: "State"; font.bold: true }
                Cell { column: 4; text: "Current step"; font.bold: true }
                Cell { column: 5; text: "Last result"; font.bold: true }
            }
        }

        Repeater {
            model: list.api.hosts

            // One row of the host model; each role is a property.
            delegate: Rectangle {
                id: hostRow
                required property int index
                required property string name
                required property string role
                required property var addresses
                required property string address
                required property string route
                // `state` is an Item's own property: the role is read through `model`.
                required property var model
                readonly property string hostState: model.state
                required property string step
                required property real progress
                required property string activity
                required property string detail
                required property string stalled
                required property string lastResult
                required property string lastTime
                required property var tried
                required property var checks
                required property bool checksOk
                readonly property bool chosen: list.api.filterNode === name
                objectName: "host_" + name
                Layout.fillWidth: true
                implicitHeight: Math.max(44, cells.implicitHeight + 12)
                color: chosen ? tones.chosenFill : (mouse.containsMouse ? tones.hoverFill : (index % 2 ? list.palette.alternateBase : list.palette.base))
                // Tab reaches each host; Space or Enter filters the log by it, as a click does.
                activeFocusOnTab: true
                Keys.onSpacePressed: list.api.toggleNodeFilter(hostRow.name)
                Keys.onReturnPressed: list.api.toggleNodeFilter(hostRow.name)
                Accessible.role: Accessible.ListItem
                Accessible.name: hostRow.name + ", " + hostRow.role + ", " + list.stateWords[hostRow.hostState]
                                 + (hostRow.lastResult !== "" ? ", last result " + hostRow.lastResult : "")
                Accessible.description: mouse.ToolTip.text
                Accessible.selected: hostRow.chosen
                Accessible.onPressAction: list.api.toggleNodeFilter(hostRow.name)

                MouseArea {
                    id: mouse
                    anchors.fill: parent
                    hoverEnabled: true
                    cursorShape: Qt.PointingHandCursor
                    onClicked: list.api.toggleNodeFilter(hostRow.name)
                    ToolTip.visible: containsMouse
                    ToolTip.delay: 800
                    ToolTip.text: hostRow.chosen ? "Click to show every node's lines" : "Click to show only " + hostRow.name + "'s log lines"
                }

                RowLayout {
                    id: cells
                    anchors.fill: parent
                    anchors.leftMargin: 10
                    anchors.rightMargin: 10
                    spacing: 10

                    Cell { column: 0; text: hostRow.name; font.bold: true; font.pixelSize: 15 }
                    Cell { column: 1; text: hostRow.role; color: tones.muted }
                    Cell {
                        column: 2
                        wrapMode: Text.Wrap
                        maximumLineCount: 2
                        text: {
                            const h = hostRow
                            if (h.hostState === "unreachable")
                                return "tried " + h.tried.join(", ")
                            if (h.route === "local")
                                return "local"
                            if (h.address !== "")
                                return h.address + "  (" + (h.route === "lan" ? "LAN" : "public") + ")"
                            return h.addresses.join(" | ")
                        }
                        color: hostRow.hostState === "unreachable" ? tones.warn
                             : (hostRow.address === "" ? tones.muted : palette.windowText)
                    }
                    Item {
                        Layout.preferredWidth: list.widths[3]
                        implicitHeight: badge.implicitHeight
                        Rectangle {
                            id: badge
                            objectName: "state"
                            readonly property string word: list.stateWords[hostRow.hostState]
                            implicitWidth: badgeText.implicitWidth + 16
                            implicitHeight: badgeText.implicitHeight + 6
                            radius: height / 2
                            color: list.stateColors[hostRow.hostState]
                            Label {
                                id: badgeText
                                anchors.centerIn: parent
                                text: badge.word
                                color: "white"
                                font.bold: true
                            }
                        }
                    }
                    ColumnLayout {
                        Layout.fillWidth: true
                        spacing: 2
                        // "uploading — backup home", or "receiving from laptop" while
                        // another node's copy comes here.
                        Label {
                            objectName: "activity"
                            Layout.fillWidth: true
                            Layout.preferredWidth: 1
                            elide: Text.ElideRight
                            text: hostRow.step !== ""
                                  ? (hostRow.activity !== "" ? hostRow.activity + " — " : "") + hostRow.step
                                  : (hostRow.activity !== "" ? hostRow.activity : "—")
                            color: hostRow.step !== "" || hostRow.activity !== "" ? palette.windowText : tones.muted
                        }
                        ProgressBar {
                            Layout.fillWidth: true
                            visible: hostRow.step !== ""
                            indeterminate: hostRow.progress < 0
                            value: Math.max(0, hostRow.progress)
                        }
                        // Percent, bytes, files, rate and time left, as far as known.
                        Label {
                            objectName: "detail"
                            Layout.fillWidth: true
                            Layout.preferredWidth: 1
                            visible: hostRow.detail !== "" && hostRow.stalled === ""
                            // All the figures, the time left last: wrapped, never cut.
                            wrapMode: Text.Wrap
                            text: hostRow.detail
                            color: tones.muted
                            font.pixelSize: 12
                        }
                        Label {
                            objectName: "stalled"
                            Layout.fillWidth: true
                            Layout.preferredWidth: 1
                            visible: hostRow.stalled !== ""
                            wrapMode: Text.Wrap
                            text: hostRow.stalled
                            color: tones.warn
                            font.pixelSize: 12
                            font.bold: true
                        }
                        // What prepare found before anything was written: shown while
                        // the run waits for a decision, and whenever an item failed.
                        Label {
                            objectName: "checks"
                            Layout.fillWidth: true
                            // Wrapped to the column: a long line must not widen it and
                            // push the last result out of line with the other rows.
                            Layout.preferredWidth: 1
                            visible: hostRow.checks.length > 0
                                     && (!hostRow.checksOk || list.api.question !== "")
                            text: hostRow.checks.join("\n")
                            wrapMode: Text.Wrap
                            color: hostRow.checksOk ? tones.good : tones.bad
                            font.pixelSize: 12
                        }
                    }
                    ColumnLayout {
                        Layout.preferredWidth: list.widths[5]
                        spacing: 0
                        Label {
                            text: hostRow.lastResult === "" ? "never run" : hostRow.lastResult
                            font.bold: hostRow.lastResult !== ""
                            color: ({ "passed": tones.good, "failed": tones.bad, "unreachable": tones.warn,
                                      "interrupted": tones.warn })[hostRow.lastResult] || tones.muted
                        }
                        Label {
                            visible: hostRow.lastTime !== ""
                            text: hostRow.lastTime
                            color: tones.muted
                            font.pixelSize: 11
                        }
                    }
                }
            }
        }
    }
}
