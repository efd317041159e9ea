// Past runs from the logs folder, newest first; each opens its full log.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Frame {
    id: history
    property var api
    padding: 1
    Tones { id: tones; window: history.palette.window }

    ListView {
        id: runList
        objectName: "historyList"
        anchors.fill: parent
        clip: true
        model: history.api.history
        ScrollBar.vertical: ScrollBar {}

        delegate: Rectangle {
            id: run
            required property int index
            required property string started
            required property string status
            required property int steps
            required property int failed
            required property var nodesFailed
            width: ListView.view.width
            implicitHeight: 36
            color: index % 2 ? palette.alternateBase : palette.base

            RowLayout {
                anchors.fill: parent
                anchors.leftMargin: 10
                anchors.rightMargin: 10
                spacing: 14
                Label { text: run.started; font.family: "monospace"; Layout.preferredWidth: 170 }
                Label {
                    Layout.preferredWidth: 90
                    text: run.status
                    font.bold: true
                    color: ({ "passed": tones.good, "failed": tones.bad, "interrupted": tones.warn })[run.status] || tones.muted
                }
                Label {
                    Layout.fillWidth: true
                    elide: Text.ElideRight
                    text: run.steps + " steps"
                          + (run.failed > 0 ? ", " + run.failed + " failed on " + run.nodesFailed.join(", ") : "")
                }
                Button {
                    text: "Open log"
                    Accessible.name: "Open the log of the run of " + run.started + " (" + run.status + ")"
                    onClicked: history.api.openHistory(run.index)
                }
            }
        }

        Label {
            anchors.centerIn: parent
            visible: runList.count === 0
            text: "No runs yet."
            color: tones.muted
        }
    }
}
