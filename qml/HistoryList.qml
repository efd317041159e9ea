// Past runs from the logs folder, newest first; each opens its full log.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Frame {
    id: history
    property var api
    readonly property var runs: JSON.parse(api.historyJson)
    padding: 1

    ListView {
        id: runList
        objectName: "historyList"
        anchors.fill: parent
        clip: true
        model: history.runs
        ScrollBar.vertical: ScrollBar {}

        delegate: Rectangle {
            id: run
            required property var modelData
            required property int index
            width: ListView.view.width
            implicitHeight: 36
            color: index % 2 ? palette.alternateBase : palette.base

            RowLayout {
                anchors.fill: parent
                anchors.leftMargin: 10
                anchors.rightMargin: 10
                spacing: 14
                Label { text: run.modelData.started; font.family: "monospace"; Layout.preferredWidth: 170 }
                Label {
                    Layout.preferredWidth: 90
                    text: run.modelData.status
                    font.bold: true
                    color: ({ "passed": "#2e8b47", "failed": "#c9302c", "interrupted": "#b08a1e" })[run.modelData.status] || "#8a8f98"
                }
                Label {
                    Layout.fillWidth: true
                    elide: Text.ElideRight
                    text: run.modelData.steps + " steps"
                          + (run.modelData.failed > 0 ? ", " + run.modelData.failed + " failed on " + run.modelData.nodesFailed.join(", ") : "")
                }
                Button {
                    text: "Open log"
                    onClicked: history.api.openHistory(run.index)
                }
            }
        }

        Label {
            anchors.centerIn: parent
            visible: runList.count === 0
            text: "No runs yet."
            color: "#8a8f98"
        }
    }
}
