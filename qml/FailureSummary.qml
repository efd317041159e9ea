// After a run with failures: one entry per failed step (node, step, exit code, the last
// lines it wrote on stderr). Choosing one shows that step's lines in the log.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: summary
    property var api
    readonly property int count: api.failures.count
    signal stepChosen()

    visible: count > 0
    implicitHeight: column.implicitHeight + 16
    radius: 4
    color: "#fdf0ef"
    border.color: "#c9302c"

    ColumnLayout {
        id: column
        anchors.fill: parent
        anchors.margins: 8
        spacing: 6

        Label {
            text: (summary.count === 1 ? "1 step failed" : summary.count + " steps failed")
                  + " — choose one to see its log"
            font.bold: true
            color: "#b52a25"
        }

        ListView {
            id: failureList
            objectName: "failureList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            implicitHeight: contentHeight
            clip: true
            spacing: 4
            model: summary.api.failures
            boundsBehavior: Flickable.StopAtBounds
            ScrollBar.vertical: ScrollBar {}

            delegate: Rectangle {
                id: failure
                required property int step
                required property string node
                required property string title
                required property int exitCode
                required property string message
                required property var stderrTail
                readonly property bool chosen: summary.api.filterStep === step
                width: ListView.view.width
                implicitHeight: lines.implicitHeight + 8
                radius: 3
                color: chosen ? "#f6d5d3" : (hover.containsMouse ? "#faE3e1" : "white")
                border.color: "#e6b8b5"

                MouseArea {
                    id: hover
                    anchors.fill: parent
                    hoverEnabled: true
                    cursorShape: Qt.PointingHandCursor
                    onClicked: {
                        summary.api.showStep(failure.step)
                        summary.stepChosen()
                    }
                }

                ColumnLayout {
                    id: lines
                    anchors.fill: parent
                    anchors.margins: 4
                    anchors.leftMargin: 8
                    spacing: 1
                    Label {
                        Layout.fillWidth: true
                        elide: Text.ElideRight
                        textFormat: Text.PlainText
                        font.bold: true
                        text: failure.node + " — step " + (failure.step + 1) + ": "
                              + failure.title
                              + (failure.exitCode >= 0 ? " — exit code " + failure.exitCode : "")
                    }
                    Label {
                        Layout.fillWidth: true
                        wrapMode: Text.Wrap
                        textFormat: Text.PlainText
                        text: failure.message
                    }
                    Label {
                        Layout.fillWidth: true
                        visible: failure.stderrTail.length > 0
                        textFormat: Text.PlainText
                        wrapMode: Text.WrapAnywhere
                        maximumLineCount: 4
                        elide: Text.ElideRight
                        font.family: "monospace"
                        color: "#8a1f1b"
                        text: failure.stderrTail.slice(-4).join("\n")
                    }
                }
            }
        }
    }
}
