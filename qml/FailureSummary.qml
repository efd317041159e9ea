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
    Tones { id: tones; window: summary.palette.window }
    color: tones.errLine
    border.color: tones.errorEdge

    ColumnLayout {
        id: column
        anchors.fill: parent
        anchors.margins: 8
        spacing: 6

        Label {
            text: (summary.count === 1 ? "1 step failed" : summary.count + " steps failed")
                  + " — choose one to see its log"
            font.bold: true
            color: tones.bad
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
                color: chosen ? tones.errorChosen : (hover.containsMouse ? tones.errorHover : tones.errorRow)
                border.color: tones.errorEdge
                // Tab reaches each failed step; Space or Enter shows its log, as a click does.
                function choose() {
                    summary.api.showStep(failure.step)
                    summary.stepChosen()
                }
                activeFocusOnTab: true
                Keys.onSpacePressed: choose()
                Keys.onReturnPressed: choose()
                Accessible.role: Accessible.ListItem
                Accessible.name: failure.node + ", step " + (failure.step + 1) + ": " + failure.title + " failed"
                Accessible.description: failure.message
                Accessible.selected: failure.chosen
                Accessible.onPressAction: choose()

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
                        color: tones.errorText
                        text: failure.stderrTail.slice(-4).join("\n")
                    }
                }
            }
        }
    }
}
