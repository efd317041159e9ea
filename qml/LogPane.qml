// The live log: lines tagged with node and step, stderr marked. It follows the tail
// unless the user scrolled up; search and the host/step filter are applied by the
// backend, which also keeps the number of lines bounded. The full log opens from disk.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ColumnLayout {
    id: pane
    property var api
    spacing: 6
    Tones { id: tones; window: counts.palette.window }

    RowLayout {
        Layout.fillWidth: true
        spacing: 8

        TextField {
            objectName: "searchField"
            Layout.preferredWidth: 260
            placeholderText: "Search the log"
            Accessible.name: "Search the log"
            selectByMouse: true
            onTextChanged: pane.api.setSearch(text)
        }
        Rectangle {
            visible: pane.api.filterText !== ""
            implicitWidth: chip.implicitWidth + 12
            implicitHeight: chip.implicitHeight + 6
            radius: height / 2
            color: tones.chosenFill
            RowLayout {
                id: chip
                anchors.centerIn: parent
                Label { text: "Showing " + pane.api.filterText }
                ToolButton {
                    text: "Show all"
                    Accessible.name: "Show every node's lines"
                    implicitHeight: 24
                    onClicked: pane.api.clearFilter()
                }
            }
        }
        Item { Layout.fillWidth: true }
        Label {
            id: counts
            objectName: "logCounts"
            text: pane.api.logCounts
            color: tones.muted
        }
        Button {
            text: "Open full log"
            Accessible.name: "Open the full log file"
            enabled: pane.api.logPath !== ""
            onClicked: pane.api.openLog()
        }
    }

    Frame {
        Layout.fillWidth: true
        Layout.fillHeight: true
        padding: 1

        ListView {
            id: lines
            objectName: "logView"
            Accessible.role: Accessible.List
            Accessible.name: "Live log"
            anchors.fill: parent
            clip: true
            model: pane.api
            boundsBehavior: Flickable.StopAtBounds
            reuseItems: true
            // Follow the tail until the user scrolls away from it; back at the end, follow again.
            property bool follow: true
            // Asked for once per event-loop turn, and decided then: a scroll made in the
            // meantime wins.
            function toTail() {
                if (follow)
                    positionViewAtEnd()
            }
            onMovementEnded: follow = atYEnd
            onCountChanged: if (follow) Qt.callLater(toTail)
            onHeightChanged: if (follow) Qt.callLater(toTail)
            ScrollBar.vertical: ScrollBar {
                policy: ScrollBar.AlwaysOn
                onPressedChanged: if (!pressed) lines.follow = lines.atYEnd
            }

            delegate: Rectangle {
                id: line
                required property string text
                required property string tag
                required property string stream
                width: ListView.view.width - 12
                implicitHeight: row.implicitHeight + 2
                color: stream === "err" ? tones.errLine : "transparent"

                RowLayout {
                    id: row
                    anchors.left: parent.left
                    anchors.right: parent.right
                    anchors.leftMargin: 4
                    spacing: 8
                    Label {
                        Layout.preferredWidth: 150
                        elide: Text.ElideRight
                        text: line.tag
                        color: tones.muted
                        font.family: "monospace"
                        font.pixelSize: 12
                    }
                    Label {
                        Layout.preferredWidth: 14
                        text: line.stream === "err" ? "!" : (line.stream === "info" ? "›" : "")
                        color: line.stream === "err" ? tones.bad : tones.busy
                        font.bold: true
                        font.family: "monospace"
                    }
                    Label {
                        Layout.fillWidth: true
                        textFormat: Text.PlainText
                        elide: Text.ElideRight
                        text: line.text
                        font.family: "monospace"
                        font.pixelSize: 12
                        font.italic: line.stream === "info"
                        color: line.stream === "err" ? tones.bad : (line.stream === "info" ? tones.busy : palette.windowText)
                    }
                }
            }

            Label {
                anchors.centerIn: parent
                visible: lines.count === 0
                text: pane.api.filterText !== "" ? "No lines match." : "The run's output appears here."
                color: tones.muted
            }
        }
    }
}
